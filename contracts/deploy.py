"""Deploy the contracts from their committed artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3

from contracts.artifacts import load_artifact
from contracts.chain import Sender, send
from contracts.profit_center import Autonomy, Policy

# A cautious starting policy: every order waits for the owners, 100 USDC per order,
# 500 USDC per week, 50 USDC kept as operating reserve, one day to dispute a delivery.
DEFAULT_POLICY = Policy(
    autonomy=Autonomy.BOUND,
    auto_approval_threshold=0,
    per_order_cap=100_000_000,
    budget_per_period=500_000_000,
    period_length=7 * 24 * 3600,
    operating_reserve=50_000_000,
    dispute_window=24 * 3600,
)


# The most decimals a settlement token may have (ProfitCenter.MAX_TOKEN_DECIMALS: the
# books hold 56-bit amounts, 72 billion units of a 6-decimal token).
MAX_TOKEN_DECIMALS = 8

# The agent key may place orders for a year after deployment unless the owners say
# otherwise; they renew (or rotate) it with ``ProfitCenter.set_agent``.
AGENT_KEY_LIFETIME = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Deployment:
    """Addresses of one machine's contracts."""

    token: str
    profit_center: str


def deploy_contract(w3: Web3, name: str, *args: Any, sender: Sender) -> str:
    """Deploy artifact ``name`` with constructor ``args``; returns its address."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = send(w3, factory.constructor(*args), sender)
    return to_checksum_address(receipt["contractAddress"])


def deploy_profit_center(
    w3: Web3,
    *,
    deployer: Sender,
    governor: str,
    agent: str,
    policy: Policy = DEFAULT_POLICY,
    token: str | None = None,
    agent_valid_until: int | None = None,
) -> Deployment:
    """Deploy a ProfitCenter (and a MockUSDC first when no ``token`` is given).

    The agent key is valid until ``agent_valid_until`` (default: a year from the latest block).
    """
    token_address = (
        to_checksum_address(token)
        if token is not None
        else deploy_contract(w3, "MockUSDC", sender=deployer)
    )
    profit_center = deploy_contract(
        w3,
        "ProfitCenter",
        to_checksum_address(governor),
        to_checksum_address(agent),
        agent_valid_until
        if agent_valid_until is not None
        else int(w3.eth.get_block("latest")["timestamp"]) + AGENT_KEY_LIFETIME,
        token_address,
        policy.as_tuple(),
        sender=deployer,
    )
    return Deployment(token=token_address, profit_center=profit_center)
