"""The supplier's SQLite store: durable settings, big integers intact, nonces in bounds."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from supplier.protocol import NONCE_BOUND
from supplier.store import ObservedOrder, OrderState, SupplierStore


def test_store_uses_wal_and_full_sync(tmp_path: Path) -> None:
    store = SupplierStore(tmp_path / "s.db")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_amounts_beyond_64_bits_survive_a_round_trip(tmp_path: Path) -> None:
    store = SupplierStore(tmp_path / "s.db")
    amount = 10**27 + 7
    saved = store.save_order(
        ObservedOrder(
            chain_id=1,
            profit_center="0x00000000000000000000000000000000000000c1",
            order_id="0x" + "11" * 32,
            nonce=NONCE_BOUND - 1,
            amount=amount,
            known_quote=False,
            state=OrderState.OPEN,
            placed_block=1,
            placed_tx="0x" + "22" * 32,
            observed_at=1,
            updated_at=1,
        )
    )
    store.close()
    assert saved.id is not None
    again = SupplierStore(tmp_path / "s.db").order(saved.id)
    assert again is not None
    assert (again.amount, again.nonce) == (amount, NONCE_BOUND - 1)


def test_nonces_stay_inside_the_protocol_bound_and_never_repeat(tmp_path: Path) -> None:
    store = SupplierStore(tmp_path / "s.db")
    first = [store.allocate_nonce() for _ in range(50)]
    store.close()
    reopened = SupplierStore(tmp_path / "s.db")
    second = [reopened.allocate_nonce() for _ in range(3)]
    reopened.close()
    nonces = first + second
    assert len(set(nonces)) == len(nonces)
    assert all(0 < n < NONCE_BOUND for n in nonces)
    assert nonces == sorted(nonces)
