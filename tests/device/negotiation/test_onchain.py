"""Acceptance: negotiate over real HTTP with several reference suppliers, then the
ProfitCenter on a real EVM (eth-tester) accepts the winning quote as it is."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_profit_center
from contracts.profit_center import Autonomy, OrderPlaced, OrderStatus, Policy, ProfitCenter
from device.negotiation import Buyer, HttpLimits
from tests.device.negotiation.conftest import make_need, reference_supplier

USDC = 1_000_000
DAY = 86400
POLICY = Policy(
    autonomy=Autonomy.AUTONOMOUS,
    auto_approval_threshold=100 * USDC,
    per_order_cap=100 * USDC,
    budget_per_period=300 * USDC,
    period_length=7 * DAY,
    operating_reserve=50 * USDC,
    dispute_window=DAY,
)


def test_winning_quote_is_placed_on_chain_by_the_profit_center(
    tmp_path: Path, fast_limits: HttpLimits
) -> None:
    w3 = Web3(EthereumTesterProvider())
    governor = str(w3.eth.accounts[0])
    agent: LocalAccount = Account.create()
    tx = w3.eth.send_transaction({"from": governor, "to": agent.address, "value": 10**18})  # type: ignore[typeddict-item]
    w3.eth.wait_for_transaction_receipt(tx)
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent.address, policy=POLICY
    )
    pc = ProfitCenter(w3, deployment.profit_center)
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    send(w3, usdc.functions.mint(governor, 500 * USDC), governor)
    send(w3, usdc.functions.approve(pc.address, 500 * USDC), governor)
    pc.deposit_revenue(500 * USDC, sender=governor)
    chain_id = int(w3.eth.chain_id)

    need = make_need(
        reservation=30 * USDC,
        urgency=0.4,
        chain_id=chain_id,
        profit_center=pc.address,
        token=deployment.token,
    )
    market: dict[str, Any] = {"chain_id": chain_id, "token": deployment.token}
    with ExitStack() as stack:
        suppliers = [
            stack.enter_context(
                reference_supplier(
                    tmp_path, "boulware", strategy={"kind": "boulware", "beta": 0.3}, **market
                )
            ),
            stack.enter_context(
                reference_supplier(
                    tmp_path,
                    "conceder",
                    strategy={"kind": "conceder", "beta": 3.0},
                    cola=(480_000, 340_000),
                    **market,
                )
            ),
            stack.enter_context(
                reference_supplier(
                    tmp_path, "tit_for_tat", strategy={"kind": "tit_for_tat"}, **market
                )
            ),
        ]
        for supplier in suppliers:
            pc.set_supplier(supplier.signing_address, True, sender=governor)
        result = asyncio.run(Buyer(limits=fast_limits).negotiate(need, suppliers))

    assert result.offer is not None, result.transcript.decision.summary
    assert result.supplier is not None
    offer = result.offer
    assert offer.amount <= need.reservation
    placed = pc.place_order(offer.to_quote(), offer.signature_bytes(), sender=agent)
    assert not placed.awaiting_approval
    event = next(e for e in placed.tx.events if isinstance(e, OrderPlaced))
    assert event.amount == offer.amount
    order = pc.order(placed.order_id)
    assert order.status is OrderStatus.OPEN
    assert order.supplier == result.supplier.signing_address
    assert order.amount == offer.amount
    assert pc.reserved() == offer.amount
