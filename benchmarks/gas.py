"""Gas of the ProfitCenter calls the machine makes, measured on eth-tester (py-evm, Prague).

    .venv/bin/python benchmarks/gas.py            # table
    .venv/bin/python benchmarks/gas.py --json     # machine-readable

Figures are total transaction gas as in receipts (21,000 intrinsic + calldata +
execution). The setting is the common one: the treasury and the supplier already
hold the settlement token, quote nonces are full 256-bit numbers (the worst case
for calldata), and three members share the profit.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_profit_center
from contracts.profit_center import Autonomy, Policy, ProfitCenter
from contracts.quote import Quote, sign_quote

USDC = 1_000_000
TARGETS = {"placeOrder": 70_000, "confirmDelivery (full)": 60_000}
POLICY = Policy(
    autonomy=Autonomy.AUTONOMOUS,
    auto_approval_threshold=0,
    per_order_cap=1_000 * USDC,
    budget_per_period=100_000 * USDC,
    period_length=7 * 24 * 3600,
    operating_reserve=50 * USDC,
    dispute_window=24 * 3600,
)


def measure() -> dict[str, int]:
    """Deploy a fresh machine on eth-tester and return gas used per call."""
    w3 = Web3(EthereumTesterProvider())
    accounts = [str(a) for a in w3.eth.accounts]
    governor, members = accounts[0], accounts[3:6]
    agent: LocalAccount = Account.from_key(b"\x01" * 32)
    supplier: LocalAccount = Account.from_key(b"\x02" * 32)
    for account in (agent, supplier):
        tx = w3.eth.send_transaction({"from": governor, "to": account.address, "value": 10**19})  # type: ignore[typeddict-item]
        w3.eth.wait_for_transaction_receipt(tx)
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent.address, policy=POLICY
    )
    pc = ProfitCenter(w3, deployment.profit_center)
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    send(w3, usdc.functions.mint(governor, 100_000 * USDC), governor)
    send(w3, usdc.functions.mint(supplier.address, 1), governor)
    send(w3, usdc.functions.approve(pc.address, 100_000 * USDC), governor)
    pc.set_supplier(supplier.address, True, sender=governor)
    pc.set_members({member: 1 for member in members}, sender=governor)
    pc.deposit_revenue(1_000 * USDC, sender=governor)
    gas: dict[str, int] = {}
    gas["depositRevenue"] = pc.deposit_revenue(500 * USDC, sender=governor).gas_used
    chain_id = int(w3.eth.chain_id)
    nonce = 2**255

    def place(amount: int) -> tuple[bytes, int]:
        nonlocal nonce
        nonce += 7919
        now = int(w3.eth.get_block("latest")["timestamp"])
        quote = Quote(
            supplier=supplier.address,
            buyer=pc.address,
            token=usdc.address,
            amount=amount,
            items_hash=bytes(range(32)),
            deliver_by=now + 2 * 24 * 3600,
            expiry=now + 3600,
            nonce=nonce,
        )
        placed = pc.place_order(quote, sign_quote(quote, chain_id, supplier.key), sender=agent)
        return placed.order_id, placed.tx.gas_used

    full, gas["placeOrder"] = place(123_450_000)
    gas["confirmDelivery (full)"] = pc.confirm_delivery(full, 123_450_000, sender=agent).gas_used
    partial, _ = place(123_450_000)
    gas["confirmDelivery (partial)"] = pc.confirm_delivery(
        partial, 100_000_000, sender=agent
    ).gas_used
    delivered, _ = place(50 * USDC)
    gas["markDelivered"] = pc.mark_delivered(delivered, sender=supplier).gas_used
    pc.set_policy(replace(POLICY, autonomy=Autonomy.BOUND), sender=governor)
    waiting, gas["placeOrder (awaiting approval)"] = place(80 * USDC)
    gas["approveOrder"] = pc.approve_order(waiting, sender=governor).gas_used
    gas["distribute (3 members)"] = pc.distribute(sender=governor).gas_used
    gas["claim"] = pc.claim(sender=members[0]).gas_used
    gas["setFareCap"] = pc.set_fare_cap(15_000, sender=governor).gas_used
    gas["setEmergency (on)"] = pc.set_emergency(True, sender=governor).gas_used
    gas["setEmergency (off)"] = pc.set_emergency(False, sender=governor).gas_used
    return gas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    gas = measure()
    if args.json:
        sys.stdout.write(json.dumps(gas, indent=2) + "\n")
        return 0
    width = max(len(name) for name in gas)
    lines = [f"{'call':<{width}}  {'gas':>7}  target"]
    for name, used in gas.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"<= {target:,} {'ok' if used <= target else 'MISSED'}"
        lines.append(f"{name:<{width}}  {used:>7,}  {verdict}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
