"""What ``custobot run`` builds on a real machine besides the pins: the buying side.

With ``chain.kind = "rpc"``, a deployed ProfitCenter and a keystore, the agent buys:
it discovers the configured suppliers (pinning the signing key each one advertises),
reads their catalogs, and places orders through the durable outbox. Without them the
machine still sells and counts; buying is off and the log says why.
"""

from __future__ import annotations

import asyncio

import structlog
from web3 import Web3

from contracts.profit_center import ProfitCenter
from device.errors import CustobotError
from device.keys import load_agent_account
from device.negotiation.buyer import Buyer
from device.procurement.cycle import (
    ChainContext,
    KnownSupplier,
    Procurement,
    supplier_option,
)
from device.procurement.outbox import Outbox
from device.settings import Settings
from device.store.db import Store

log = structlog.get_logger()
SUPPLIER_RELIABILITY_PRIOR = 0.9


def build_procurement(settings: Settings, store: Store) -> Procurement | None:
    """The machine's buyer from its config, or None (logged) when it cannot buy."""
    chain = settings.chain
    if chain.kind != "rpc":
        log.warning("buying_off", reason="chain.kind is eth-tester (the demo chain)")
        return None
    if not chain.profit_center or not chain.keystore:
        log.warning("buying_off", reason="no ProfitCenter or keystore (custobot chain deploy)")
        return None
    assert chain.rpc_url is not None  # settings refuse rpc without a URL
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url, request_kwargs={"timeout": 10}))
    pc = ProfitCenter(w3, chain.profit_center)
    account = load_agent_account(chain.keystore)
    buyer = Buyer()
    known: list[KnownSupplier] = []
    for endpoint in settings.suppliers:
        try:
            ref = asyncio.run(
                buyer.discover(endpoint.name, endpoint.url, reliability=SUPPLIER_RELIABILITY_PRIOR)
            )
            catalog = asyncio.run(buyer.catalog(ref))
        except (CustobotError, OSError, ValueError) as exc:  # one bad supplier is skipped
            log.warning("supplier_unavailable", supplier=endpoint.name, error=str(exc)[:200])
            continue
        known.append(KnownSupplier(ref, supplier_option(endpoint.name, catalog, ref.reliability)))
    if not known:
        log.warning("buying_off", reason="no configured supplier answered")
        return None
    try:  # `custobot chain deploy` writes both, so a node that is down at boot is fine
        chain_id = chain.chain_id or int(w3.eth.chain_id)
        token = chain.token or pc.token()
    except Exception as exc:
        log.warning(
            "buying_off",
            reason=f"node unreachable and chain_id/token not in the config ({type(exc).__name__})",
        )
        return None
    return Procurement(
        settings,
        store,
        Outbox(store, w3, pc, account),
        pc,
        ChainContext(chain_id, pc.address, token, chain.token_decimals),
        buyer,
        known,
    )
