"""The ``custobot`` command line: one entry point for the machine, its owners and suppliers."""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from contracts.cli import chain_app as contracts_app
from dashboard.cli import dashboard_serve, owner_app
from device.backup import backup, migrate, restore
from device.chain_deploy import chain_app
from device.chain_govern import chain_policy  # noqa: F401  (registers chain policy|allow|deposit)
from device.errors import ConfigError, CustobotError
from device.keys import keys_app
from device.logs import configure_logging
from device.money import money
from device.orders_cli import orders_app
from device.settings import Kind, Settings, load_settings
from supplier.cli import supplier_app

if TYPE_CHECKING:
    from rich.live import Live

    from device.demo_shell import DemoDashboard
    from device.taxi.demo import TaxiDemo

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

DEFAULT_PLOTS = Path(tempfile.gettempdir()) / "custobot-plots"  # simulate's plots, named
PROGRESS_EVERY_S = 10.0  # wall seconds between the demo's progress lines off a terminal


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: embedded demo machine)"),
]

KindOption = Annotated[
    Kind | None,
    typer.Option("--kind", help="vending or taxi (default: the config's kind, vending)"),
]


def settings_or_exit(config: Path | None) -> Settings:
    """Load the config; a wrong one exits 2 with one line naming the key and the problem."""
    try:
        return load_settings(config)
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(code=2) from None


def kind_or_config(kind: Kind | None, config: Path | None) -> Kind:
    """The machine kind a command runs: ``--kind`` when given, else the config's ``kind``."""
    return kind if kind is not None else settings_or_exit(config).kind


def _no_taxi_yet(command: str) -> None:
    """The taxi kind has its demo and simulation only: say so and exit 2 rather than run a vending
    machine."""
    typer.echo(
        f"custobot {command} --kind taxi: the taxi has no {command} yet; "
        "`custobot demo --kind taxi` runs one and `custobot simulate --kind taxi` its city",
        err=True,
    )
    raise typer.Exit(code=2)


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
    for column in ("slot", "item", "price (USDC)", "capacity", "par", "sensor"):
        table.add_column(column)
    for slot in settings.slots:
        table.add_row(
            str(slot.id),
            slot.name,
            money(slot.retail_price, settings.chain.token_decimals),
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
    kind: KindOption = None,
) -> None:
    """The whole machine customer on accelerated time: it sells, negotiates, pays, restocks.

    ``--kind taxi``: the robotaxi on a virtual CAN bus and a simulated GPS sells rides
    to simulated riders through its rider API and buys charging, cleaning and upkeep
    from reference sellers over HTTP.

    It shows every path an owner meets: orders above 20 USDC wait for the owners' approval
    (adaptable autonomy; approve one in the dashboard, or the demo owners do after 12
    simulated hours), three members with shares and the weekly payout (above a 200 USDC reserve), a supplier
    that delivers half an order (paid for what arrived) and one that claims a delivery it
    never made (disputed on-chain). The dashboard URL and login are printed first.
    """
    if kind_or_config(kind, config) is Kind.TAXI:
        taxi_demo(seconds, speed, seed)
        return
    from rich.console import Group
    from rich.live import Live

    from device.demo_shell import DemoProgress, login_lines, orders_table
    from device.devchain import DevChain
    from device.vending.demo import (
        SHOWCASE_OWNERS,
        SHOWCASE_POLICY,
        SHOWCASE_SUPPLIERS,
        DemoWorld,
        showcase_start,
    )
    from device.vending.demo_view import machine_table
    from device.vending.sim.scenarios import OFFICE_SNACKS

    settings = settings_or_exit(config)
    start = showcase_start(datetime.now(UTC))
    decimals = settings.chain.token_decimals
    days = seconds * speed / 86_400
    progress = DemoProgress(start, start + timedelta(days=days), seconds)
    with tempfile.TemporaryDirectory(prefix="custobot-demo-") as scratch:
        world = DemoWorld(
            settings,
            OFFICE_SNACKS,
            scratch=Path(scratch),
            start=start,
            seed=seed,
            speed=speed,
            chain=DevChain.in_process(SHOWCASE_POLICY),
            suppliers=SHOWCASE_SUPPLIERS,
            owners=SHOWCASE_OWNERS,
        )
        procurement = world.machine.agent.procurement
        assert procurement is not None
        dashboard = world.serve_dashboard(settings, Path(scratch))
        # First, on any output (a terminal, a file, journald): where to look and how to log in.
        for line in login_lines(dashboard, days, seconds):
            console.print(line, soft_wrap=True, highlight=False)
        sys.stdout.flush()
        began = time.monotonic()

        def progress_line() -> str:
            elapsed = time.monotonic() - began
            return (
                f"progress: {progress.line(world.driver.now(), elapsed)} · "
                f"one-time code now {dashboard.totp.now()}"
            )

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
                f"{dashboard.password!r} (throwaway demo login)",
                progress_line(),
            )

        with world, Live(console=console, refresh_per_second=4) as live:
            shown = 0.0
            told = began

            def show(_now: datetime) -> None:
                nonlocal shown, told
                if world.machine.agent.state is not None and time.monotonic() - shown > 0.25:
                    live.update(view())
                    shown = time.monotonic()
                if not console.is_terminal and time.monotonic() - told >= PROGRESS_EVERY_S:
                    # The live table reaches a file only at the end: a line now and then.
                    console.print(progress_line(), soft_wrap=True, highlight=False)
                    sys.stdout.flush()
                    told = time.monotonic()

            world.run(days=days, on_advance=show)
            world.machine.agent.poll(world.driver.now())
            live.update(view())
            if not console.is_terminal:
                console.print(progress_line(), soft_wrap=True, highlight=False)


def taxi_demo(seconds: float, speed: float, seed: int) -> None:
    """The robotaxi demo: one simulated minute per tick, paced to ``speed``."""
    from rich.live import Live

    from device.demo_shell import DEMO_POLICY, login_lines
    from device.devchain import DevChain
    from device.taxi.demo import TaxiDemo

    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    with (
        tempfile.TemporaryDirectory(prefix="custobot-taxi-demo-") as scratch,
        TaxiDemo(Path(scratch), start, DevChain.in_process(DEMO_POLICY), seed) as demo,
    ):
        dashboard = demo.serve_dashboard(Path(scratch))
        for line in login_lines(dashboard, seconds * speed / 86_400, seconds):
            console.print(line, soft_wrap=True, highlight=False)
        console.print(f"rides page: {dashboard.url}/rides", soft_wrap=True, highlight=False)
        sys.stdout.flush()
        with Live(console=console, refresh_per_second=4) as live:
            run_taxi(demo, live, dashboard, seconds, speed)


def run_taxi(
    demo: TaxiDemo, live: Live, dashboard: DemoDashboard, seconds: float, speed: float
) -> None:
    """Tick the taxi demo for ``seconds`` of wall time, ``speed`` simulated seconds each;
    off a terminal a progress line with a fresh one-time code now and then."""
    from rich.console import Group

    from device.taxi.demo import STEP, taxi_view

    began = told = time.monotonic()
    ticks = 0

    def view() -> Group:
        return Group(taxi_view(demo), f"one-time code now {dashboard.totp.now()}")

    while (elapsed := time.monotonic() - began) < seconds:
        demo.tick()
        ticks += 1
        ahead = ticks * STEP.total_seconds() / speed - elapsed
        if ahead > 0:
            time.sleep(ahead)
        live.update(view())
        if not console.is_terminal and time.monotonic() - told >= PROGRESS_EVERY_S:
            console.print(
                f"progress: {demo.now:%a %H:%M} UTC simulated · one-time code now "
                f"{dashboard.totp.now()}",
                soft_wrap=True,
                highlight=False,
            )
            sys.stdout.flush()
            told = time.monotonic()
    live.update(view())


@app.command()
def sensors(config: ConfigOption = None) -> None:
    """Read every sensor once (the wiring check); exits 1 if any slot is in fault."""
    from device.vending.hardware.report import read_machine, snapshot_table

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
            stock = repo.stock_estimates(session, [s.id for s in settings.slots])
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
    console.print(f"food waste: {settings.agent.waste_policy()}")
    for change in changes:
        console.print(
            f"price {change.at:%Y-%m-%d %H:%M} slot {change.slot_id}: "
            f"{money(change.price, decimals)} USDC — {change.reason}",
            soft_wrap=True,
        )
    console.print(f"revenue today: {money(revenue, settings.chain.token_decimals)} USDC")
    console.print(f"vends awaiting resolution: {len(pending)}")
    for alert in alerts:
        console.print(f"alert [{alert.severity}] {alert.message}")


@app.command()
def run(config: ConfigOption = None, kind: KindOption = None) -> None:
    """Run the machine in real time: poll the sensors, settle interrupted vends, record visits."""
    if kind_or_config(kind, config) is Kind.TAXI:
        _no_taxi_yet("run")
    from apscheduler.schedulers.background import BackgroundScheduler

    from device.drivers.realtime import RealTimeDriver
    from device.sdnotify import Notifier
    from device.store.db import open_store
    from device.vending.agent import Agent
    from device.vending.hardware.factory import make_pin_factory
    from device.vending.hardware.poller import HardwarePoller
    from device.vending.hardware.report import mock_stand_in, recount_full
    from device.vending.runtime import build_procurement

    settings = settings_or_exit(config)
    try:
        factory = make_pin_factory(settings.pin_factory)
        store = open_store(settings.database)
        stand_in = mock_stand_in(settings, factory)  # as `sensors` reads it on mock pins
        # A real HC-SR04 needs ~60 ms between pings or it hears the last echo.
        gap = 0.06 if settings.pin_factory == "lgpio" else 0.0
        poller = HardwarePoller(settings, pin_factory=factory, ping_gap_s=gap)
        if stand_in is not None:
            recount_full(settings, poller)
    except CustobotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    try:
        procurement = build_procurement(settings, store)
    except CustobotError as exc:  # a wrong keystore or passphrase: say so, touch nothing
        poller.close()
        if stand_in is not None:
            stand_in.close()
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
        if stand_in is not None:
            stand_in.close()
        store.close()
        structlog.get_logger().info("agent_stopped")


def _tune(
    settings: Settings, what: str, scenario: str, days: float, workers: int, out: Path | None
) -> None:
    """``simulate --tune classic|agent``: search a policy's knobs on seeds 1-3, print what won."""
    import dataclasses
    import json

    from device.vending.sim.classic import ClassicParams
    from device.vending.sim.policies import AgentTuning
    from device.vending.sim.tune import Tuned, tune_agent, tune_classic

    if what not in ("classic", "agent"):
        typer.echo(f"only 'classic' or 'agent' can be tuned, not {what!r}", err=True)
        raise typer.Exit(code=2)

    def tried(params: object, profit: int) -> None:
        console.print(f"{money(profit, settings.chain.token_decimals)}  {params}", soft_wrap=True)

    found: Tuned[ClassicParams] | Tuned[AgentTuning]
    if what == "classic":
        found = tune_classic(settings, scenario, days=days, workers=workers, progress=tried)
    else:
        found = tune_agent(settings, scenario, days=days, workers=workers, progress=tried)
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
        Path | None,
        typer.Option(
            "--plots",
            help="Write profit.png and stock.png into this directory "
            "(default: custobot-plots in the temp directory)",
        ),
    ] = None,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="Write no plots")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Parallel worker processes")] = 2,
    tune: Annotated[
        str | None,
        typer.Option(help="Tune on training seeds 1-3 instead ('classic' or 'agent')"),
    ] = None,
    markdowns: Annotated[
        bool | None,
        typer.Option(
            "--markdowns/--no-markdowns",
            help="Mark near-expiry fresh units down (default: the config's pricing.markdowns)",
        ),
    ] = None,
    config: ConfigOption = None,
    kind: KindOption = None,
) -> None:
    """Run restocking policies through the simulated machine, as fast as it goes, and compare."""
    import json

    from rich.progress import Progress

    if kind_or_config(kind, config) is Kind.TAXI:
        _simulate_taxi(days, seed, policy, compare_all, json_out)
        return

    from device.vending.sim.compare import compare, comparison_table, result_json
    from device.vending.sim.policies import POLICIES
    from device.vending.sim.scenarios import SCENARIOS

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
        from device.vending.sim.ceiling import ceiling
        from device.vending.sim.gap import GAP_POLICIES, decompose, gap_json, gap_table

        bound = ceiling(settings, SCENARIOS[scenario], days=round(days), seed=seed)
        data["ceiling_without_foresight"] = bound.profit
        decimals = settings.chain.token_decimals
        shown = money(bound.profit, decimals)
        console.print(f"ceiling without foresight (device/vending/sim/ceiling.py): profit {shown}")
        gaps = [decompose(comparison.results[p], bound) for p in GAP_POLICIES]
        data["gap"] = {g.policy: gap_json(g) for g in gaps}
        console.print(
            gap_table(gaps, "where the profit falls short of the ceiling", decimals),
            soft_wrap=True,
        )
    for target, met in comparison.targets().items():
        if len(chosen) > 1:
            console.print(f"agent {target}: {'met' if met else 'MISSED'}")
    if json_out is not None:
        json_out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    if not no_plots:
        from device.vending.sim.plots import write_plots

        items = {slot.id: slot.name for slot in settings.slots}
        folder = plots or DEFAULT_PLOTS
        written = write_plots(comparison, folder, settings.chain.token_decimals, items=items)
        console.print(
            f"plots in {folder}: "
            + ", ".join(p.name for p in written)
            + " (--plots DIR to choose)",
            soft_wrap=True,
        )


def _simulate_taxi(
    days: float, seed: int, policy: str, compare_all: bool, json_out: Path | None
) -> None:
    """``simulate --kind taxi``: driver-rules, surge, agent and oracle on one seeded city."""
    import json

    from device.taxi.policies import POLICIES as TAXI_POLICIES
    from device.taxi.simulate import cap_cost, compare, comparison_table, result_json

    if not compare_all and policy not in TAXI_POLICIES:
        typer.echo(
            f"unknown taxi policy {policy!r}; expected one of {list(TAXI_POLICIES)}", err=True
        )
        raise typer.Exit(code=2)
    chosen = TAXI_POLICIES if compare_all else (policy,)
    comparison = compare(seed, max(1, round(days)), chosen)
    console.print(comparison_table(comparison))
    if compare_all:
        console.print(
            f"the fairness cap costs {cap_cost(comparison):.1%} of uncapped surge's profit"
        )
        for target, met in comparison.targets().items():
            console.print(f"agent {target}: {'met' if met else 'MISSED'}")
    if json_out is not None:
        json_out.write_text(json.dumps(result_json(comparison), indent=2, sort_keys=True) + "\n")
