"""The ``custobot`` command line: one entry point for the machine, its owners and suppliers."""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from contracts.cli import chain_app as contracts_app
from dashboard.cli import dashboard_serve, owner_app
from device.backup import backup, migrate, restore
from device.chain_deploy import chain_app
from device.errors import ConfigError, CustobotError
from device.keys import keys_app
from device.logs import configure_logging
from device.money import money
from device.orders_cli import orders_app
from device.settings import Settings, load_settings
from supplier.cli import supplier_app

app = typer.Typer(
    name="custobot",
    help="A vending machine that buys for itself.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
app.add_typer(supplier_app, name="supplier", help="Run a reference supplier (custobot/2).")
app.add_typer(orders_app, name="orders", help="Purchase orders: list, show, approve, reject.")
app.add_typer(owner_app, name="owner")
app.add_typer(keys_app, name="keys")
app.add_typer(chain_app, name="chain")
app.add_typer(
    contracts_app, name="contracts", help="Developer tools: deploy from an env key, status, anvil."
)
app.command("backup")(backup)
app.command("restore")(restore)
app.command("migrate")(migrate)
app.command("dashboard")(dashboard_serve)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: embedded demo machine)"),
]


def settings_or_exit(config: Path | None) -> Settings:
    """Load the config; a wrong one exits 2 with one line naming the key and the problem."""
    try:
        return load_settings(config)
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(code=2) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"custobot {version('custobot')}")
        raise typer.Exit()


@app.callback()
def main(
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    log_json: Annotated[bool, typer.Option(help="JSON log lines (for journald)")] = False,
    _version_flag: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version")
    ] = False,
) -> None:
    configure_logging(log_level, json=log_json)


@app.command()
def check(config: ConfigOption = None) -> None:
    """Validate a config file and summarise the machine it describes."""
    settings = settings_or_exit(config)
    table = Table(title=f"{settings.device_id} ({settings.pin_factory} pins)")
    for column in ("slot", "item", "price", "capacity", "par", "sensor"):
        table.add_column(column)
    for slot in settings.slots:
        table.add_row(
            str(slot.id),
            slot.name,
            str(slot.retail_price),
            str(slot.capacity),
            str(slot.par),
            slot.sensor.kind,
        )
    console.print(table)


@app.command()
def demo(
    seconds: Annotated[
        float, typer.Option("--for", min=1, help="Stop after this many real seconds")
    ] = 90,
    speed: Annotated[float, typer.Option(min=1, help="Simulated seconds per real second")] = 3600,
    seed: Annotated[int, typer.Option(help="Seed of the simulated customers")] = 1,
    config: ConfigOption = None,
) -> None:
    """The whole machine customer on accelerated time: it sells, negotiates, pays, restocks."""
    from rich.console import Group
    from rich.live import Live

    from device.demo import DemoWorld
    from device.demo_view import machine_table, orders_table
    from device.sim.scenarios import OFFICE_SNACKS

    settings = settings_or_exit(config)
    # Simulated time drives the chain's clock, which cannot go back: start at the next hour.
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    decimals = settings.chain.token_decimals
    with tempfile.TemporaryDirectory(prefix="custobot-demo-") as scratch:
        world = DemoWorld(
            settings, OFFICE_SNACKS, scratch=Path(scratch), start=start, seed=seed, speed=speed
        )
        procurement = world.machine.agent.procurement
        assert procurement is not None
        dashboard = world.serve_dashboard(settings, Path(scratch))

        def view() -> Group:
            state = world.machine.agent.state
            assert state is not None
            treasury = world.chain.pc.treasury()
            return Group(
                machine_table(state, world.machine.totals, decimals),
                orders_table(procurement.orders(), decimals),
                f"treasury on-chain: {money(treasury, decimals)} USDC · suppliers: "
                + ", ".join(f"{name} {url}" for name, url in world.supplier_urls.items()),
                f"dashboard: {dashboard.url} · owner {dashboard.owner!r}, password "
                f"{dashboard.password!r}, one-time code now {dashboard.totp.now()} "
                "(throwaway demo login)",
            )

        with world, Live(console=console, refresh_per_second=4) as live:
            shown = 0.0

            def show(_now: datetime) -> None:
                nonlocal shown
                if world.machine.agent.state is not None and time.monotonic() - shown > 0.25:
                    live.update(view())
                    shown = time.monotonic()

            world.run(days=seconds * speed / 86_400, on_advance=show)
            world.machine.agent.poll(world.driver.now())
            live.update(view())


@app.command()
def sensors(config: ConfigOption = None) -> None:
    """Read every sensor once (the wiring check); exits 1 if any slot is in fault."""
    from device.hardware.report import read_machine, snapshot_table

    settings = settings_or_exit(config)
    try:
        snapshot = read_machine(settings, datetime.now(UTC))
    except CustobotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    console.print(snapshot_table(settings, snapshot))
    if snapshot.alerts:
        raise typer.Exit(code=1)


@app.command()
def status(config: ConfigOption = None) -> None:
    """What the machine's database says now: stock, today's sales, open alerts."""
    from device.store import repo
    from device.store.db import open_store

    settings = settings_or_exit(config)
    try:
        store = open_store(settings.database)
    except CustobotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    now = datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        with store.read() as session:
            stock = {s.id: repo.stock_estimate(session, s.id) for s in settings.slots}
            revenue = repo.revenue(session, day, now)
            pending = repo.pending_sales(session)
            alerts = repo.open_alerts(session)
            prices = repo.current_prices(session)
            changes = repo.price_changes(session, limit=10)
    finally:
        store.close()
    decimals = settings.chain.token_decimals
    table = Table(title=f"{settings.device_id} · {settings.database}")
    for column in ("slot", "item", "stock", "capacity", "price (USDC)", "list (USDC)"):
        table.add_column(column)
    for slot in settings.slots:
        count = stock[slot.id]
        change = prices.get(slot.id)
        price = slot.retail_price if change is None else change.price
        table.add_row(
            str(slot.id),
            slot.name,
            "?" if count is None else str(count),
            str(slot.capacity),
            money(price, decimals),
            money(slot.retail_price, decimals),
        )
    console.print(table)
    pricing = settings.pricing
    console.print(
        f"markdowns: {'on' if pricing.markdowns else 'off'} "
        f"(at most {pricing.max_markdown_pct}% off list, never below a slot's floor)"
    )
    for change in changes:
        console.print(
            f"price {change.at:%Y-%m-%d %H:%M} slot {change.slot_id}: "
            f"{money(change.price, decimals)} USDC — {change.reason}",
            soft_wrap=True,
        )
    console.print(f"revenue today: {money(revenue, settings.chain.token_decimals)}")
    console.print(f"vends awaiting resolution: {len(pending)}")
    for alert in alerts:
        console.print(f"alert [{alert.severity}] {alert.message}")


@app.command()
def run(config: ConfigOption = None) -> None:
    """Run the machine in real time: poll the sensors, settle interrupted vends, record visits."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from device.agent import Agent
    from device.drivers.realtime import RealTimeDriver
    from device.hardware.factory import make_pin_factory
    from device.hardware.poller import HardwarePoller
    from device.runtime import build_procurement
    from device.sdnotify import Notifier
    from device.store.db import open_store

    settings = settings_or_exit(config)
    try:
        factory = make_pin_factory(settings.pin_factory)
        store = open_store(settings.database)
        # A real HC-SR04 needs ~60 ms between pings or it hears the last echo.
        gap = 0.06 if settings.pin_factory == "lgpio" else 0.0
        poller = HardwarePoller(settings, pin_factory=factory, ping_gap_s=gap)
    except CustobotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    try:
        procurement = build_procurement(settings, store)
    except CustobotError as exc:  # a wrong keystore or passphrase: say so, touch nothing
        poller.close()
        store.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    scheduler = BackgroundScheduler(timezone=UTC)
    driver = RealTimeDriver(scheduler)
    agent = Agent(settings, store, poller, procurement)
    # systemd stops the service with SIGTERM: finish the running job, release the pins.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    notifier = Notifier()
    try:
        agent.start(driver.now())
        agent.install(driver)
        period = notifier.watchdog_period()
        if period is not None:  # systemd restarts the machine if the scheduler stalls
            scheduler.add_job(notifier.watchdog, "interval", seconds=period, id="watchdog")
        scheduler.start()
        notifier.ready(f"selling; buying {'on' if procurement is not None else 'off'}")
        stop.wait()
        notifier.stopping()
    except KeyboardInterrupt:
        pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        poller.close()
        store.close()
        structlog.get_logger().info("agent_stopped")


def _tune(
    settings: Settings, what: str, scenario: str, days: float, workers: int, out: Path | None
) -> None:
    """``simulate --tune classic``: search the classic policy's knobs, print what won."""
    import dataclasses
    import json

    from device.sim.classic import ClassicParams
    from device.sim.tune import tune_classic

    if what != "classic":
        typer.echo(f"only 'classic' can be tuned, not {what!r}", err=True)
        raise typer.Exit(code=2)

    def tried(params: ClassicParams, profit: int) -> None:
        console.print(f"{money(profit, settings.chain.token_decimals)}  {params}", soft_wrap=True)

    found = tune_classic(settings, scenario, days=days, workers=workers, progress=tried)
    console.print(
        f"best for {scenario} on seeds {list(found.seeds)} ({found.days:g} days each, "
        f"total profit {money(found.profit, settings.chain.token_decimals)}):"
    )
    console.print(f'    "{scenario}": {found.best!r},', soft_wrap=True)
    if out is not None:
        data = {
            "scenario": scenario,
            "days": days,
            "seeds": list(found.seeds),
            "best": dataclasses.asdict(found.best),
            "profit": found.profit,
            "tried": [{"params": dataclasses.asdict(p), "profit": v} for p, v in found.tried],
        }
        out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@app.command()
def simulate(
    days: Annotated[float, typer.Option(min=0.01, help="Simulated days")] = 365,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world")] = 1,
    scenario: Annotated[str, typer.Option(help="office, gym, volatile or unreliable")] = "office",
    policy: Annotated[
        str,
        typer.Option(
            help="route, telemetry, classic-list, classic-neg, agent or oracle "
            "(ignored with --compare)"
        ),
    ] = "agent",
    compare_all: Annotated[
        bool,
        typer.Option("--compare", help="Run every policy on the same world, with the ceiling"),
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the result as JSON")
    ] = None,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Write PNG plots into this directory")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Parallel worker processes")] = 2,
    tune: Annotated[
        str | None,
        typer.Option(help="Tune a baseline on training seeds 1-3 instead ('classic')"),
    ] = None,
    markdowns: Annotated[
        bool | None,
        typer.Option(
            "--markdowns/--no-markdowns",
            help="Mark near-expiry fresh units down (default: the config's pricing.markdowns)",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run restocking policies through the simulated machine, as fast as it goes, and compare."""
    import json

    from rich.progress import Progress

    from device.sim.compare import compare, comparison_table, result_json
    from device.sim.policies import POLICIES
    from device.sim.scenarios import SCENARIOS

    settings = settings_or_exit(config)
    if markdowns is not None:
        pricing = settings.pricing.model_copy(update={"markdowns": markdowns})
        settings = settings.model_copy(update={"pricing": pricing})
    if scenario not in SCENARIOS:
        typer.echo(f"unknown scenario {scenario!r}; expected one of {sorted(SCENARIOS)}", err=True)
        raise typer.Exit(code=2)
    if tune is not None:
        _tune(settings, tune, scenario, days, workers, json_out)
        return
    if policy not in POLICIES:
        typer.echo(f"unknown policy {policy!r}; expected one of {list(POLICIES)}", err=True)
        raise typer.Exit(code=2)
    chosen = POLICIES if compare_all else (policy,)
    with Progress(console=console, transient=True) as progress:
        tasks = {name: progress.add_task(name, total=1.0) for name in chosen}
        comparison = compare(
            settings,
            scenario,
            days=days,
            seed=seed,
            policies=chosen,
            workers=workers,
            progress=lambda name, done: progress.update(tasks[name], completed=done),
        )
    console.print(comparison_table(comparison, settings.chain.token_decimals))
    data = result_json(comparison)
    if compare_all:
        from device.sim.ceiling import ceiling

        bound = ceiling(settings, SCENARIOS[scenario], days=round(days), seed=seed)
        data["ceiling_without_foresight"] = bound.profit
        shown = money(bound.profit, settings.chain.token_decimals)
        console.print(f"ceiling without foresight (device/sim/ceiling.py): profit {shown}")
    for target, met in comparison.targets().items():
        if len(chosen) > 1:
            console.print(f"agent {target}: {'met' if met else 'MISSED'}")
    if json_out is not None:
        json_out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    if plots is not None:
        from device.sim.plots import write_plots

        for path in write_plots(comparison, plots, settings.chain.token_decimals):
            console.print(f"plot: {path}")
