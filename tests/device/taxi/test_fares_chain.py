"""Fairness acceptance on a real chain (eth-tester) and a real alert feed (HTTP on 127.0.0.1).

No quote is ever above the cap the owners set on-chain; surge is zero while the governor
or the alert feed declares an emergency; the same trip at the same time costs every rider
the same. A chain that cannot be read, or is stale, means no surge at all; a feed that is
down or answers garbage is logged and changes nothing.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h3
import pytest
import sqlalchemy as sa
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.deploy import deploy_profit_center
from contracts.profit_center import Autonomy, Policy, ProfitCenter
from device.taxi.fares import (
    CITY_TARIFF,
    ONE,
    AlertFeed,
    ChainFareRules,
    FareSettings,
    OwnersMarket,
    Trip,
    feed_emergency,
    quote,
)
from device.taxi.payments import FarePayments
from device.taxi.rides import RideDesk, ServiceArea
from device.taxi.store import open_store
from tests.device.taxi.test_rides_api import charged

USDC = 1_000_000
POLICY = Policy(Autonomy.AUTONOMOUS, 10 * USDC, 100 * USDC, 300 * USDC, 7 * 86_400, 0, 86_400)
MIDTOWN, UPTOWN = (40.7540, -73.9840), (40.7800, -73.9650)


@dataclass
class Chain:
    w3: Web3
    pc: ProfitCenter
    governor: str

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])


@pytest.fixture(scope="module")
def chain() -> Chain:
    w3 = Web3(EthereumTesterProvider())
    governor = str(w3.eth.accounts[0])
    agent = Account.from_key(b"\x01" * 32).address
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent, policy=POLICY
    )
    return Chain(w3, ProfitCenter(w3, deployment.profit_center), governor)


@pytest.fixture
def calm(chain: Chain) -> Iterator[Chain]:
    """The chain with no emergency and no surge again after each test."""
    yield chain
    chain.pc.set_emergency(False, sender=chain.governor)
    chain.pc.set_fare_cap(ONE, sender=chain.governor)


@dataclass
class Feed:
    """A real HTTP alert feed: answers ``status`` with ``body`` until told otherwise."""

    url: str
    status: int = 200
    body: bytes = b'{"emergency": false}'
    drip_s: float = 0  # > 0: the body is sent one byte at a time, this far apart
    drip_head: bool = False  # the head too
    head_sent: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = field(default=None, repr=False)

    def says(self, document: object, status: int = 200) -> None:
        self.body, self.status = json.dumps(document).encode(), status


@pytest.fixture
def feed() -> Iterator[Feed]:
    served = Feed(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if served.drip_head:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                head = b"content-type: application/json\r\nx-pad: " + b"x" * 200 + b"\r\n\r\n"
                self.drip(head)
                served.head_sent.set()
                self.drip(served.body)
                return
            self.send_response(served.status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            if served.drip_s:
                self.drip(served.body)
            else:
                self.wfile.write(served.body)

        def drip(self, data: bytes) -> None:
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(served.drip_s)
            except OSError:  # the taxi hung up
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url, served.server = f"http://127.0.0.1:{server.server_address[1]}/alerts", server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()


busy = st.integers(0, 60 * ONE)
AREA = ServiceArea()
ZONES = sorted(AREA.zones)
points = st.sampled_from(ZONES).map(h3.cell_to_latlng)


@pytest.fixture(scope="module")
def desk_store(tmp_path_factory: pytest.TempPathFactory) -> sa.Engine:
    return open_store(tmp_path_factory.mktemp("fares") / "taxi.sqlite")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cap=st.integers(ONE, 50_000),
    demand=busy,
    pickup=points,
    dropoff=points,
    later=st.integers(0, 7 * 86_400),
)
def test_no_quote_is_above_the_cap_read_from_the_chain(
    calm: Chain,
    desk_store: sa.Engine,
    cap: int,
    demand: int,
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
    later: int,
) -> None:
    """Random requests in the service area at random times of the week, random caps."""
    calm.pc.set_fare_cap(cap, sender=calm.governor)
    t = calm.now()
    rules = ChainFareRules(calm.pc, poll_s=0, max_age_s=8 * 86_400)
    market = OwnersMarket(rules, demand=lambda zone, at: demand)
    payments = FarePayments(calm.w3, calm.pc.token(), calm.pc.agent())
    desk = RideDesk(desk_store, payments, market=market, battery=charged, area=AREA)
    q = desk.quote(pickup, dropoff, t + later, "rider")
    assert q.cap_bp == calm.pc.fare_rules().cap_bp == cap
    assert q.factor_bp <= cap
    assert q.price * ONE <= q.metered * cap
    assert q.price == sum(amount for _, amount in q.lines)


def test_the_governors_emergency_sets_surge_to_zero(calm: Chain) -> None:
    calm.pc.set_fare_cap(30_000, sender=calm.governor)
    market = OwnersMarket(ChainFareRules(calm.pc, poll_s=0), demand=lambda z, t: 5 * ONE)
    trip = Trip(8_000, 1_200)
    assert quote(CITY_TARIFF, trip, market("z", calm.now())).factor_bp == 30_000
    calm.pc.set_emergency(True, sender=calm.governor)
    during = quote(CITY_TARIFF, trip, market("z", calm.now()))
    assert (during.surge, during.factor_bp, during.emergency) == (0, ONE, True)
    assert during.rules_source.startswith("on-chain policy, block ")


def test_an_unreachable_or_stale_chain_means_no_surge_and_says_so(calm: Chain) -> None:
    calm.pc.set_fare_cap(30_000, sender=calm.governor)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    rpc = f"http://127.0.0.1:{port}/v3/k3y0fth3h0st3drpc"  # a hosted RPC URL carries its key
    away = ProfitCenter(Web3(Web3.HTTPProvider(rpc)), calm.pc.address)
    market = OwnersMarket(ChainFareRules(away, poll_s=0), demand=lambda z, t: 5 * ONE)
    with capture_logs() as logs:
        q = quote(CITY_TARIFF, Trip(8_000, 1_200), market("z", calm.now()))
        stale = ChainFareRules(calm.pc, poll_s=0, max_age_s=300)(calm.now() + 301)
    assert (q.factor_bp, q.surge, q.cap_bp) == (ONE, 0, ONE)
    assert q.rules_source == "chain unreachable: no surge (factor 1.0)"  # the rider is told
    assert (stale.cap_bp, stale.emergency) == (ONE, False)
    assert "chain stale" in stale.source
    assert [e["event"] for e in logs] == ["fare_rules_unreadable", "fare_rules_stale"]
    assert all(e["log_level"] == "error" for e in logs)
    assert "k3y0fth3h0st3drpc" not in repr(logs)
    fresh = ChainFareRules(calm.pc, poll_s=0)(calm.now())
    assert (fresh.cap_bp, fresh.emergency) == (30_000, False)


def test_a_chain_clock_far_ahead_of_the_taxis_means_no_surge(calm: Chain) -> None:
    """A taxi clock an hour behind would see a node stale by half an hour as 30 min in
    the future, never as stale: clocks that disagree by more than the limit are not trusted."""
    calm.pc.set_fare_cap(30_000, sender=calm.governor)
    with capture_logs() as logs:
        ahead = ChainFareRules(calm.pc, poll_s=0, max_age_s=300)(calm.now() - 301)
    assert (ahead.cap_bp, ahead.emergency) == (ONE, False)
    assert "no surge" in ahead.source
    assert [(e["event"], e["log_level"]) for e in logs] == [("fare_rules_stale", "error")]


def test_the_alert_feed_sets_surge_to_zero(calm: Chain, feed: Feed) -> None:
    calm.pc.set_fare_cap(30_000, sender=calm.governor)
    settings_ = FareSettings(alert_feed_url=feed.url, alert_feed_poll_s=1, chain_poll_s=0)
    market = OwnersMarket.from_settings(settings_, calm.pc, demand=lambda z, t: 5 * ONE)
    t = calm.now()
    assert market("z", t).factor_bp == 30_000
    feed.says({"emergency": True})
    assert market("z", t).factor_bp == 30_000  # polled once a second at most
    assert market("z", t + 1).factor_bp == ONE
    assert market("z", t + 1).emergency
    assert market("z", t + 1).rules_source.endswith("; public alert feed: emergency")
    severe = {"type": "FeatureCollection", "features": [
        {"properties": {"status": "Actual", "severity": "Minor", "event": "Fog"}},
        {"properties": {"status": "Actual", "severity": "Extreme", "event": "Flood Warning"}},
    ]}  # fmt: skip
    feed.says(severe)
    assert market("z", t + 2).factor_bp == ONE
    feed.says({"type": "FeatureCollection", "features": []})
    assert market("z", t + 3).factor_bp == 30_000


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b"<html>not json"), (200, b'{"emergency": "yes"}'), (200, b"[1, 2]"), (503, b"{}")],
)
def test_a_feed_that_answers_garbage_changes_nothing_but_the_log(
    feed: Feed, status: int, body: bytes
) -> None:
    alerts = AlertFeed(feed.url, poll_s=1)
    assert alerts(0) is False
    feed.status, feed.body = status, body
    with capture_logs() as logs:
        assert alerts(1) is False  # garbage does not declare an emergency
    assert [(e["event"], e["log_level"]) for e in logs] == [("alert_feed_failed", "error")]
    feed.says({"emergency": True})
    assert alerts(2) is True
    feed.status, feed.body = status, body
    assert alerts(3) is True  # nor does it lift one (no surge comes back by a failure)


def test_a_feed_that_drips_its_answer_is_given_up_on(feed: Feed) -> None:
    """A feed sending one byte per 0.2 s (each read inside the 1 s timeout) must not hold
    the quote path for the whole document (6 s): the fetch has one deadline."""
    feed.body, feed.drip_s = b'{"emergency": true' + b" " * 30 + b"}", 0.2
    alerts = AlertFeed(feed.url, poll_s=1, timeout_s=1)
    with capture_logs() as logs:
        assert alerts(0) is False
    assert [e["event"] for e in logs] == ["alert_feed_failed"]


def test_a_feed_that_drips_its_head_is_given_up_on(feed: Feed) -> None:
    """No body deadline helps while the head is still coming (httpx reads up to 100 KiB
    of it, each byte inside the timeout): quotes wait ``timeout_s`` at most, not 20 s."""
    feed.body, feed.drip_s, feed.drip_head = b'{"emergency": true}', 0.1, True
    alerts = AlertFeed(feed.url, poll_s=1, timeout_s=1)
    with capture_logs() as logs:
        assert alerts(0) is False
    assert not feed.head_sent.is_set()  # it gave up while the head was still coming
    assert [e["event"] for e in logs] == ["alert_feed_failed"]


def test_a_huge_feed_is_not_read_whole(feed: Feed) -> None:
    feed.body = b'{"emergency": true, "pad": "' + b"x" * 1_000_000 + b'"}'
    alerts = AlertFeed(feed.url, poll_s=1, max_bytes=64 * 1024)
    with capture_logs() as logs:
        assert alerts(0) is False
    assert [e["event"] for e in logs] == ["alert_feed_failed"]


def test_a_deeply_nested_feed_changes_nothing_but_the_log(feed: Feed) -> None:
    """With web3 loaded the recursion limit is 100,000: parsing this would kill the process."""
    feed.body = b'{"features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    alerts = AlertFeed(feed.url, poll_s=1)
    with capture_logs() as logs:
        assert alerts(0) is False
    assert [e["event"] for e in logs] == ["alert_feed_failed"]


def test_a_feed_that_is_down_changes_nothing_but_the_log(feed: Feed) -> None:
    alerts = AlertFeed(feed.url, poll_s=1, timeout_s=1)
    feed.says({"emergency": True})
    assert alerts(0) is True
    assert feed.server is not None
    feed.server.shutdown()
    feed.server.server_close()
    with capture_logs() as logs:
        assert alerts(1) is True
    assert logs[0]["event"] == "alert_feed_failed"


def test_feed_documents_are_read_strictly() -> None:
    assert feed_emergency({"emergency": True}) is True
    assert feed_emergency({"features": [{"properties": {"severity": "Severe"}}]}) is True
    test_alert = {"status": "Test", "severity": "Extreme"}
    assert feed_emergency({"features": [{"properties": test_alert}]}) is False


def test_identical_trips_at_the_same_time_cost_every_rider_the_same(
    calm: Chain, tmp_path: Path
) -> None:
    calm.pc.set_fare_cap(20_000, sender=calm.governor)
    market = OwnersMarket(ChainFareRules(calm.pc), demand=lambda z, t: 3 * ONE)
    payments = FarePayments(calm.w3, calm.pc.token(), calm.pc.agent())
    desk = RideDesk(open_store(tmp_path / "taxi.sqlite"), payments, market=market, battery=charged)
    t = calm.now()
    quotes = [desk.quote(MIDTOWN, UPTOWN, t, rider) for rider in ("ana", "bo", None, "0xabc")]
    assert len({(q.price, q.lines_json, q.factor_bp, q.cap_bp) for q in quotes}) == 1
    assert quotes[0].factor_bp == 20_000
