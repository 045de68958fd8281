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
from device.procurement.cycle import ChainContext
from device.procurement.outbox import Outbox
from device.settings import Settings
from device.store.db import Store
from device.vending.restock import KnownSupplier, Restocking, meet_supplier

log = structlog.get_logger()
SUPPLIER_RELIABILITY_PRIOR = 0.9


def build_procurement(settings: Settings, store: Store) -> Restocking | None:
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
    known = meet_suppliers(buyer, settings)
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
    return Restocking(
        settings,
        store,
        Outbox(store, w3, pc, account),
        pc,
        ChainContext(chain_id, pc.address, token, chain.token_decimals),
        buyer,
        known,
    )


def meet_suppliers(buyer: Buyer, settings: Settings) -> list[KnownSupplier]:
    """Every configured supplier at once (a slow one does not hold up the others);
    one that cannot be reached or answers badly is skipped."""
    endpoints = settings.suppliers

    async def meet_all() -> list[KnownSupplier | BaseException]:
        return await asyncio.gather(
            *(meet_supplier(buyer, e.name, e.url, SUPPLIER_RELIABILITY_PRIOR) for e in endpoints),
            return_exceptions=True,
        )

    met = asyncio.run(meet_all())
    known: list[KnownSupplier] = []
    for endpoint, result in zip(endpoints, met, strict=True):
        if isinstance(result, CustobotError | OSError | ValueError):
            log.warning("supplier_unavailable", supplier=endpoint.name, error=str(result)[:200])
        elif isinstance(result, BaseException):
            raise result
        else:
            known.append(result)
    return known
