"""structlog set-up: key/value events (``vend_completed slot=3 sale=12``), never print.

People read a console rendering in which money is shown with its currency, enum states
as words and 32-byte order ids shortened; ``--log-json`` keeps the raw values for machines.
"""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from device.money import money

# Log keys whose integer value is an amount of the token in base units.
MONEY_KEYS = frozenset(
    {
        "amount",
        "paid",
        "price",
        "reservation",
        "revenue",
        "treasury",
        "deposit",
        "budget",
        "cap",
        "reserve",
        "due",
        "cost",
        "profit",
        "balance",
    }
)
ORDER_KEYS = frozenset({"order", "order_id"})
ORDER_ID_LENGTH = 66  # "0x" + 32 bytes in hex


def readable(value: object) -> object:
    """An enum as the word it stands for, not its repr."""
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, str) else value.name.lower()
    return value


class ForPeople:
    """Processor for the console: money with its currency, states as words, short order ids."""

    def __init__(self, decimals: int = 6, currency: str = "USDC") -> None:
        self.decimals = decimals
        self.currency = currency

    def __call__(
        self, _logger: object, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if key in MONEY_KEYS and isinstance(value, int) and not isinstance(value, bool):
                event[key] = f"{money(value, self.decimals)} {self.currency}"
            elif key in ORDER_KEYS and isinstance(value, str) and len(value) == ORDER_ID_LENGTH:
                event[key] = value[:10]
            elif key == "key" and isinstance(value, str) and value.count(":0x") == 1:
                kind, order = value.split(":", 1)  # an outbox intent: "place:<order id>"
                event[key] = f"{kind}:{order[:10]}" if len(order) == ORDER_ID_LENGTH else value
            else:
                event[key] = readable(value)
        return event


def configure_logging(
    level: str = "info", *, json: bool = False, decimals: int = 6, currency: str = "USDC"
) -> None:
    """Route every custobot log event to stderr: readable lines for people, or JSON lines
    (raw base units, full ids) for journald and other machines."""
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json:
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors += [
            ForPeople(decimals, currency),
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(),
                pad_event_to=24,
                # Rich tracebacks print every frame's locals: a key being signed with.
                exception_formatter=structlog.dev.plain_traceback,
            ),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        # Look up sys.stderr at every event, not once: whoever replaced it (a test
        # runner, a CLI runner) may have closed the stream it replaced since.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
