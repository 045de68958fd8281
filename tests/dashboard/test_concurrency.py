"""Logins under real parallel clients on a real uvicorn server (issue 17: findings 2, 3, 8).

Every test fires its requests from threads, each with its own httpx client (its own
cookies, so its own CSRF token), released together by a barrier; every wait is bounded.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from gpiozero.pins.mock import MockFactory

from contracts.chain import send
from dashboard.app import RunningServer
from dashboard.auth import LoginThrottle
from device.procurement.outbox import Outbox
from device.store import repo
from device.store.db import Store
from device.store.models import RecountSource, SaleState
from device.vending.vend import VendFlow
from tests.dashboard.chain import USDC, Chain
from tests.dashboard.conftest import OwnerLogin, csrf_from, make_owner
from tests.device.vending.vend.machine import COLA, PRICES, T0, MockPinMachine, demo_slots

SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
)


@dataclass
class Attempt:
    """One browser about to post the login form (it has fetched the form's CSRF token)."""

    client: httpx.Client
    csrf: str


def browser(url: str, source: str = "127.0.0.1") -> httpx.Client:
    """A client from ``source`` (any 127.0.0.0/8 address): many attackers on one host."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=url, follow_redirects=False, timeout=60, transport=transport)


def ready(client: httpx.Client) -> Attempt:
    return Attempt(client, csrf_from(client.get("/login").text))


def post_login(attempt: Attempt, name: str, password: str, code: str) -> httpx.Response:
    form = {"name": name, "password": password, "code": code, "csrf_token": attempt.csrf}
    return attempt.client.post("/login", data=form)


def all_at_once(
    attempts: list[Attempt], send: Callable[[Attempt], httpx.Response]
) -> list[httpx.Response]:
    """Send one request per attempt, all released at the same moment; bounded by timeouts."""
    barrier = threading.Barrier(len(attempts), timeout=60)

    def go(attempt: Attempt) -> httpx.Response:
        barrier.wait()
        return send(attempt)

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return list(pool.map(go, attempts, timeout=120))


def close_all(attempts: list[Attempt]) -> None:
    for attempt in attempts:
        attempt.client.close()


@pytest.fixture
def hammer(store: Store) -> Iterator[Callable[[], threading.Event]]:
    """Start a writer that holds the write lock for 20 ms every 25 ms until the test ends."""
    stops: list[threading.Event] = []
    threads: list[threading.Thread] = []
    with store.transaction() as db:
        db.execute("CREATE TABLE IF NOT EXISTS hammer (n INTEGER)")

    def start() -> threading.Event:
        stop = threading.Event()

        def write() -> None:
            while not stop.is_set():
                with store.transaction() as db:
                    db.execute("INSERT INTO hammer (n) VALUES (1)")
                    stop.wait(0.02)
                stop.wait(0.005)

        thread = threading.Thread(target=write, name="hammer", daemon=True)
        thread.start()
        stops.append(stop)
        threads.append(thread)
        return stop

    yield start
    for stop in stops:
        stop.set()
    for thread in threads:
        thread.join(timeout=10)


def test_forty_parallel_wrong_passwords_get_at_most_max_failures_checks(
    server: RunningServer, owner: OwnerLogin, throttle: LoginThrottle
) -> None:
    # 40 attackers on 40 addresses: the per-owner bound must hold on its own.
    attempts = [ready(browser(server.url, f"127.0.0.{10 + i}")) for i in range(40)]
    try:
        answers = all_at_once(
            attempts, lambda a: post_login(a, owner.name, "wrong password guess", "000000")
        )
    finally:
        close_all(attempts)
    codes = Counter(r.status_code for r in answers)
    assert set(codes) <= {401, 429}, codes
    assert codes[401] <= throttle.max_failures, codes  # each 401 is one password check
    for response in answers:
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) > 0


def test_eight_parallel_logins_with_one_code_give_one_session_and_no_500(
    server: RunningServer, owner: OwnerLogin, hammer: Callable[[], threading.Event]
) -> None:
    hammer()  # the agent writes all the time on a real machine
    code = owner.code()
    attempts = [ready(browser(server.url, f"127.0.1.{1 + i}")) for i in range(8)]
    try:
        answers = all_at_once(attempts, lambda a: post_login(a, owner.name, owner.password, code))
        codes = Counter(r.status_code for r in answers)
        assert codes[303] == 1, codes
        assert set(codes) <= {303, 401, 429}, codes
        sessions = [a for a, r in zip(attempts, answers, strict=True) if r.status_code == 303]
        assert sessions[0].client.get("/api/status").status_code == 200
    finally:
        close_all(attempts)
    for response in answers:
        for header in SECURITY_HEADERS:
            assert header in response.headers


def test_logins_while_a_writer_holds_the_database_never_fail_with_500(
    server: RunningServer, store: Store, hammer: Callable[[], threading.Event]
) -> None:
    owners = [make_owner(store, f"owner{i}") for i in range(4)]
    hammer()
    hammer()
    attempts = [ready(browser(server.url, f"127.0.2.{1 + i}")) for i in range(4)]
    try:
        answers = all_at_once(
            attempts,
            lambda a: post_login(a, *_owner_of(attempts, owners, a)),
        )
    finally:
        close_all(attempts)
    assert [r.status_code for r in answers] == [303] * 4, [r.text[:200] for r in answers]


def _owner_of(
    attempts: list[Attempt], owners: list[OwnerLogin], attempt: Attempt
) -> tuple[str, str, str]:
    owner = owners[attempts.index(attempt)]
    return owner.name, owner.password, owner.totp.now()


def test_a_500_carries_the_security_headers(
    client: httpx.Client, store: Store, owner: OwnerLogin
) -> None:
    token = csrf_from(client.get("/login").text)
    with store.transaction() as db:  # the login can no longer count: a real server error
        db.execute("DROP TABLE dashboard_login_failures")
    form = {"name": owner.name, "password": "x", "code": "000000", "csrf_token": token}
    response = client.post("/login", data=form)
    assert response.status_code == 500
    for header in SECURITY_HEADERS:
        assert header in response.headers
    assert response.headers["cache-control"] == "no-store"


def test_an_attackers_lockout_does_not_lock_out_the_owners_known_browser(
    server: RunningServer, owner: OwnerLogin, throttle: LoginThrottle
) -> None:
    known = browser(server.url)  # the owner's browser, on 127.0.0.1
    fresh = browser(server.url, "127.0.0.1")  # a browser that never logged in
    try:
        first = post_login(ready(known), owner.name, owner.password, owner.code())
        assert first.status_code == 303
        assert "custobot_device" in known.cookies
        token = csrf_from(known.get("/").text)
        assert known.post("/logout", data={"csrf_token": token}).status_code == 303

        # Twenty attackers on other addresses guess alice's password at once...
        attackers = [ready(browser(server.url, f"127.0.3.{1 + i}")) for i in range(20)]
        # ...and one behind the owner's own address guesses other names.
        neighbour = [ready(browser(server.url)) for _ in range(throttle.max_failures + 2)]
        try:
            guessed = all_at_once(
                attackers, lambda a: post_login(a, owner.name, "a wrong guess", "000000")
            )
            for attempt in neighbour:
                post_login(attempt, "bob", "a wrong guess", "000000")
            # They stay bounded: the name and the address are locked for unknown browsers.
            later = all_at_once(
                attackers, lambda a: post_login(a, owner.name, owner.password, owner.totp.now())
            )
            tampered = ready(browser(server.url, "127.0.3.99"))
            tampered.client.cookies.set("custobot_device", "x" + known.cookies["custobot_device"])
            forged = post_login(tampered, owner.name, "a wrong guess", "000000")
        finally:
            close_all([*attackers, *neighbour])
        codes = Counter(r.status_code for r in guessed)
        assert codes[401] <= throttle.max_failures, codes
        assert codes[429] >= 20 - throttle.max_failures, codes
        assert {r.status_code for r in later} == {429}
        assert forged.status_code == 429
        assert post_login(ready(fresh), owner.name, owner.password, owner.code()).status_code == 429

        # The owner's known browser is not subject to the lockout the attackers caused.
        again = post_login(ready(known), owner.name, owner.password, owner.code())
        assert again.status_code == 303, again.text[:300]
        assert known.get("/api/status").status_code == 200
    finally:
        known.close()
        fresh.close()


def test_a_known_browser_is_itself_bounded(
    server: RunningServer, owner: OwnerLogin, throttle: LoginThrottle
) -> None:
    """A stolen device cookie buys no more guesses than any attacker gets."""
    known = browser(server.url)
    try:
        assert post_login(ready(known), owner.name, owner.password, owner.code()).status_code == 303
        stolen = known.cookies["custobot_device"]
        thieves = []
        for i in range(12):
            thief = browser(server.url, f"127.0.4.{1 + i}")
            thief.cookies.set("custobot_device", stolen, path="/login")
            thieves.append(ready(thief))
        try:
            answers = all_at_once(thieves, lambda a: post_login(a, owner.name, "guess", "000000"))
        finally:
            close_all(thieves)
        codes = Counter(r.status_code for r in answers)
        assert codes[401] <= throttle.max_failures, codes
        assert set(codes) <= {401, 429}, codes
    finally:
        known.close()


def test_a_writer_hammering_the_database_while_logins_approvals_vends_and_the_outbox_run(
    server: RunningServer,
    store: Store,
    chain: Chain,
    logged_in: httpx.Client,
    hammer: Callable[[], threading.Event],
) -> None:
    """The whole machine on one SQLite file under a hostile writer: not one error anywhere."""
    owners = [make_owner(store, f"busy{i}") for i in range(6)]
    slots = demo_slots(PRICES)
    machine = MockPinMachine(MockFactory(), slots)
    flow = VendFlow(store, machine, slots)
    with store.write() as session:
        repo.record_recount(session, COLA, 10, RecountSource.RESTOCK, T0)
    # The agent's revenue deposits go out through the outbox; it holds and allowed the USDC.
    send(chain.w3, chain.usdc.functions.mint(chain.agent.address, 5 * USDC), chain.agent)
    send(chain.w3, chain.usdc.functions.approve(chain.pc.address, 5 * USDC), chain.agent)
    outbox = Outbox(store, chain.w3, chain.pc, chain.agent)
    csrf = csrf_from(logged_in.get("/approvals").text)
    errors: list[str] = []
    done: dict[str, object] = {}
    for _ in range(3):
        hammer()

    def logins() -> None:
        attempts = [ready(browser(server.url, f"127.0.5.{1 + i}")) for i in range(len(owners))]
        try:
            answers = all_at_once(
                attempts,
                lambda a: post_login(a, *_owner_of(attempts, owners, a)),
            )
        finally:
            close_all(attempts)
        done["logins"] = [r.status_code for r in answers]

    def vends() -> None:
        sold = []
        for i in range(10):
            at = T0 + timedelta(minutes=i)
            flow.deposit(PRICES[COLA], at)
            sold.append(flow.vend(COLA, at).state)
        done["vends"] = sold

    def chain_work() -> None:
        decided = [
            logged_in.post(
                f"/api/orders/{order_id}/approve", headers={"X-CSRF-Token": csrf}
            ).status_code
            for order_id in chain.placed
        ]
        now = datetime.now(UTC)
        for i in range(5):
            outbox.enqueue(f"deposit:{i}", "deposit_revenue", {"amount": USDC}, now)
        mined = 0
        for _ in range(20):
            mined += outbox.drain(now).mined
            if mined == 5:
                break
        done["approvals"], done["mined"], done["depth"] = decided, mined, outbox.depth()

    def reads() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as reader:
            reader.cookies = httpx.Cookies(logged_in.cookies)
            done["reads"] = [reader.get(p).status_code for p in ("/", "/api/status") * 10]

    def run(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:
            errors.append(f"{work.__name__}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(w,)) for w in (logins, vends, chain_work, reads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    machine.close()
    assert errors == []
    assert done["logins"] == [303] * len(owners)
    assert done["vends"] == [SaleState.COMPLETED] * 10
    assert done["approvals"] == [200] * len(chain.placed)
    assert (done["mined"], done["depth"]) == (5, 0)
    assert set(done["reads"]) == {200}  # type: ignore[call-overload]
    with store.transaction() as db:
        assert db.execute("SELECT count(*) FROM hammer").fetchone()[0] > 10
