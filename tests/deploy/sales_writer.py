"""A stand-in for the agent's write load: commits one sale after another, printing each id.

Run as ``python -m tests.deploy.sales_writer DB``; a line ``<id>`` on stdout means that
sale is committed (durably, through the store's own engine). Stops when killed.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from device.logs import configure_logging
from device.store.db import open_store
from device.store.models import PaymentMethod, Sale, SaleState

LIMIT = 200_000  # a runaway writer stops on its own


def main(database: Path) -> None:
    configure_logging("warning")  # stdout carries only the committed ids
    store = open_store(database)
    for n in range(LIMIT):
        sale = Sale(
            slot_id=1 + n % 6,
            gtin="05449000000996",
            price=2_000_000,
            payment=PaymentMethod.COIN,
            state=SaleState.COMPLETED,
            created_at=datetime.now(UTC),
        )
        with store.write() as session:
            session.add(sale)
            session.flush()
            sale_id = sale.id
        sys.stdout.write(f"{sale_id}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
