"""What one client can hold on the supplier service: real uvicorn on 127.0.0.1, raw sockets.

The server set-up is ``device.http_serving.bounded_config``, the one the
dashboard's ``serve`` uses too; short limits keep each test to a few seconds.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from sqlmodel import select

from device.http_serving import ServerLimits
from supplier.app import create_app
from supplier.keys import Signer
from supplier.store import IssuedOffer, ObservedOrder, SupplierStore
from supplier.testing import serve_in_thread
from tests.supplier.conftest import DAY, Clock, counter_body, make_config, rfq_body

LIMITS = ServerLimits(head_timeout_s=0.5, body_timeout_s=0.5, max_connections=20)


@pytest.fixture(params=[LIMITS])
def served(
    tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> Iterator[tuple[str, SupplierStore]]:
    config = make_config(tmp_path, rfq_per_minute=5, rfq_burst=5)
    store = SupplierStore(config.database)
    app = create_app(config, Signer.from_key(Account.create().key), store, clock=clock)
    with serve_in_thread(app, limits=request.param) as url:
        yield url, store
    store.close()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=3)
    return sock


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``sock`` (sending one ``trickle`` byte every 0.1 s)."""
    started = time.monotonic()
    sock.settimeout(0.1)
    received = b""
    while time.monotonic() - started < seconds:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            if trickle:
                try:
                    sock.send(trickle)
                except OSError:
                    return time.monotonic() - started
            continue
        except OSError:
            return time.monotonic() - started
        if not chunk:
            return time.monotonic() - started
        received += chunk
    raise AssertionError(f"still open after {seconds} s (got {received[:60]!r})")


def test_a_client_that_trickles_its_head_is_closed(served: tuple[str, SupplierStore]) -> None:
    url, _ = served
    with _connect(url) as sock:
        sock.sendall(b"POST /rfq HTTP/1.1\r\nhost: x\r\n")
        assert _closed_within(sock, 3.0, trickle=b"x") < 1.5
    with _connect(url) as silent:  # connects and says nothing
        assert _closed_within(silent, 3.0) < 1.5


def test_a_body_that_never_arrives_gets_408(served: tuple[str, SupplierStore]) -> None:
    url, store = served
    with _connect(url) as sock:
        sock.sendall(
            b"POST /rfq HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 400\r\n\r\n{"
        )
        sock.settimeout(3)
        answer = b""
        while chunk := sock.recv(4096):  # the answer, then the server closes
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert b'"request_timeout"' in answer
    assert store.rfq_count() == 0


@pytest.mark.parametrize(
    "served", [ServerLimits(head_timeout_s=10, max_connections=20)], indirect=True
)
def test_connections_beyond_the_limit_get_503_at_once(served: tuple[str, SupplierStore]) -> None:
    url, _ = served
    held = [_connect(url) for _ in range(20)]  # idle, within their head deadline
    try:
        time.sleep(0.3)  # uvicorn accepts them
        started = time.monotonic()
        refused = httpx.get(f"{url}/catalog", timeout=3)
        assert refused.status_code == 503
        assert time.monotonic() - started < 1.5
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert httpx.get(f"{url}/catalog", timeout=3).status_code == 200


def test_rfqs_beyond_the_rate_get_429_and_other_clients_go_on(
    served: tuple[str, SupplierStore],
) -> None:
    url, store = served
    with httpx.Client(base_url=url, timeout=5) as flood:
        codes = [flood.post("/rfq", json=rfq_body()).status_code for _ in range(8)]
        limited = flood.post("/rfq", json=rfq_body())
    assert codes == [200] * 5 + [429] * 3
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=url, timeout=5, transport=other) as client:
        assert client.post("/rfq", json=rfq_body()).status_code == 200
    assert store.rfq_count() == 6


def test_a_third_party_cannot_counter_an_rfq_it_saw(served: tuple[str, SupplierStore]) -> None:
    url, store = served
    body = rfq_body()
    rfq_id = body["rfq_id"]
    with httpx.Client(base_url=url, timeout=5) as http:
        assert http.post("/rfq", json=body).status_code == 200
        before = store.rfq_session(rfq_id)
        # A stranger knows the id (and the lock): without the opener's key it gets 403.
        forged = {"round": 0, "price": 1, "final": True, "counter_key": "0x" + "ab" * 32}
        refused = http.post(f"/rfq/{rfq_id}/counter", json=forged)
        assert refused.status_code == 403
        assert refused.json()["code"] == "not_your_rfq"
        assert store.rfq_session(rfq_id) == before
        # The opener bargains on; the key it sent opens only that round, now stale.
        assert http.post(f"/rfq/{rfq_id}/counter", json=counter_body(0, 1)).status_code == 200
        sniffed = counter_body(0, 2)
        assert http.post(f"/rfq/{rfq_id}/counter", json=sniffed).status_code == 409
        lower = {**sniffed, "round": 1}  # a round-0 key does not open round 1
        assert http.post(f"/rfq/{rfq_id}/counter", json=lower).status_code == 403


def test_rfqs_that_never_became_orders_are_pruned_after_retention(
    served: tuple[str, SupplierStore], clock: Clock
) -> None:
    url, store = served
    with httpx.Client(base_url=url, timeout=5) as http:
        ids = [rfq_body()["rfq_id"] for _ in range(3)]
        for rfq_id in ids:
            assert http.post("/rfq", json=rfq_body(rfq_id=rfq_id)).status_code == 200
        # One of them became an order on chain: it is kept.
        with store.session() as db:
            issued = db.exec(select(IssuedOffer).where(IssuedOffer.rfq_id == ids[0])).first()
        assert issued is not None
        store.save_order(
            ObservedOrder(
                chain_id=1,
                profit_center="0x" + "11" * 20,
                order_id="0x" + "22" * 32,
                nonce=int(issued.nonce),
                amount=1,
                known_quote=True,
                placed_block=1,
                placed_tx="0x",
                observed_at=clock.now,
                updated_at=clock.now,
            )
        )
        clock.now += 29 * DAY
        assert http.post("/rfq", json=rfq_body(answer_by=clock.now + 60)).status_code == 200
        assert store.rfq_count() == 4  # not yet 30 days
        clock.now += 2 * DAY
        assert http.post("/rfq", json=rfq_body(answer_by=clock.now + 60)).status_code == 200
    kept = {s for s in ids if store.rfq_session(s) is not None}
    assert kept == {ids[0]}
    assert store.rfq_count() == 3  # the order's RFQ and the two recent ones
