"""Money and time as owners read them: integer base units to decimal text, unix to UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def money(amount: int, decimals: int = 6, places: int = 2) -> str:
    """``1234567`` (6 decimals) -> ``"1.23"``; exact integer arithmetic, rounds half away."""
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    places = min(places, decimals)
    step = 10 ** (decimals - places)
    rounded = (value + step // 2) // step if step > 1 else value
    whole, frac = divmod(rounded, 10**places)
    text = f"{whole:,}" if places == 0 else f"{whole:,}.{frac:0{places}d}"
    return sign + text


def utc(ts: int | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def short_hex(value: str | None, keep: int = 6) -> str:
    if not value:
        return "—"
    return value if len(value) <= 2 + 2 * keep else f"{value[: 2 + keep]}…{value[-keep:]}"


CURRENCY = "USDC"


def money_label(amount: int, decimals: int = 6, currency: str = CURRENCY) -> str:
    """Money as owners read it, always with its currency: ``1234567`` -> ``"1.23 USDC"``."""
    return f"{money(amount, decimals)} {currency}"


def duration(seconds: float | None) -> str:
    """A span in the units people use: minutes, hours or days, never raw seconds."""
    if seconds is None:
        return "—"
    value = abs(seconds)
    if value < 60:
        text = "under a minute"
    elif value < 3600:
        text = f"{round(value / 60)} min"
    elif value < 2 * 86_400:
        hours = value / 3600
        text = f"{hours:.0f} h" if hours >= 10 else f"{hours:.1f} h".replace(".0 h", " h")
    else:
        days = value / 86_400
        text = f"{days:.1f} days".replace(".0 days", " days")
    return ("-" if seconds < 0 else "") + text


def short_id(order_id: str) -> str:
    """The short form owners quote for an order: ``#`` and its first 4 bytes."""
    return "#" + order_id.removeprefix("0x")[:8]


def state_words(state: str) -> str:
    """A state as a phrase: ``AwaitingApproval`` or ``picked_up`` -> ``Awaiting approval``,
    ``Picked up``."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", state).lower().replace("_", " ")
    return words[:1].upper() + words[1:]
