"""What every kind's demo shares: the dev chain's policy, the owners' dashboard with a
throwaway login, the progress line and the table of the machine's purchases."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyotp
from rich.table import Table

from contracts.profit_center import Autonomy, Policy
from dashboard.app import create_app as create_dashboard
from dashboard.app import start_in_thread
from dashboard.auth import add_owner
from dashboard.machine import LiveMachineView
from device.money import money
from device.procurement.models import PurchaseOrder
from device.settings import Settings
from device.store.db import Store

USDC = 1_000_000
DEMO_POLICY = Policy(
    autonomy=Autonomy.AUTONOMOUS,
    auto_approval_threshold=0,
    per_order_cap=150 * USDC,
    budget_per_period=1_000 * USDC,
    period_length=7 * 24 * 3600,
    operating_reserve=20 * USDC,
    dispute_window=24 * 3600,
)


@dataclass(frozen=True, slots=True)
class DemoDashboard:
    """Where the demo's dashboard listens and its throwaway owner (demo data only)."""

    url: str
    owner: str
    password: str
    totp: pyotp.TOTP


def serve_owner_dashboard(
    settings: Settings, view: LiveMachineView, store: Store, scratch: Path, stack: ExitStack
) -> DemoDashboard:
    """The owners' dashboard over ``view`` on 127.0.0.1 with a throwaway demo owner
    (shown once), stopped when ``stack`` closes (the vending and the taxi demos)."""
    password = secrets.token_urlsafe(12)
    owner = add_owner(store.engine, "demo", password)
    app = create_dashboard(settings, view, engine=store.engine, secret_file=scratch / "session.key")
    server = start_in_thread(app)
    stack.callback(server.stop)
    totp = pyotp.parse_uri(owner.provisioning_uri)
    assert isinstance(totp, pyotp.TOTP)
    return DemoDashboard(server.url, "demo", password, totp)


def orders_table(
    orders: Sequence[PurchaseOrder],
    decimals: int = 6,
    title: str = "restocking orders (negotiated, paid on-chain)",
) -> Table:
    """The machine's purchases: who won, at what price against the reservation, and where."""
    table = Table(title=title)
    for column in ("order", "supplier", "price (USDC)", "max (USDC)", "state", "paid (USDC)"):
        table.add_column(column, justify="right" if "USDC" in column else "left")
    for order in orders[-6:]:
        table.add_row(
            order.order_id[:10] + "…",
            order.supplier_name,
            money(order.amount, decimals),
            money(order.reservation_price, decimals),
            order.state.value.replace("_", " "),
            "-" if order.paid is None else money(order.paid, decimals),
        )
    return table


@dataclass(frozen=True, slots=True)
class DemoProgress:
    """How far the demo is, in simulated time and in wall time (what is left is estimated
    from the pace so far, since a loaded machine runs slower than ``--speed``)."""

    start: datetime
    end: datetime
    planned_s: float

    def line(self, now: datetime, elapsed_s: float) -> str:
        total = (self.end - self.start).total_seconds()
        done = min(1.0, max(0.0, (now - self.start).total_seconds() / total)) if total else 1.0
        left = self.planned_s - elapsed_s
        if done > 0.05:  # enough pace measured to estimate
            left = elapsed_s / done - elapsed_s
        day = (now - self.start).total_seconds() / 86_400
        return (
            f"simulated {now:%a %Y-%m-%d %H:%M} UTC (day {day:.1f} of {total / 86_400:.1f}) · "
            f"{elapsed_s:.0f} s elapsed, about {max(0.0, left):.0f} s left"
        )


def login_lines(dashboard: DemoDashboard, days: float, seconds: float) -> list[str]:
    """What the newcomer needs first: where the dashboard is and how to log in."""
    return [
        f"custobot demo: {days:.1f} simulated days in about {seconds:.0f} s of wall time",
        f"dashboard: {dashboard.url} (open it while the demo runs; it stops with the demo)",
        f"log in as {dashboard.owner!r} with password {dashboard.password!r} and the one-time "
        f"code (now {dashboard.totp.now()}; a fresh one is on every progress line) "
        "- a throwaway demo login",
    ]
