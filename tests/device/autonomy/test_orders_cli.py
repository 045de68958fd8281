"""``custobot orders``: owners list, inspect, approve and reject the machine's orders.

A bound machine on anvil has negotiated two orders that wait for the governor; the
CLI reads the machine's database and sends the governor's call over JSON-RPC with
a key from an encrypted keystore, or prints the exact call for a Safe or wallet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.profit_center import Autonomy, OrderStatus
from device.devchain import DevChain
from device.negotiation.transcript import Transcript
from device.orders_cli import orders_app
from device.procurement.models import OrderState, PurchaseOrder
from device.settings import DEFAULTS_FILE
from tests.clock import midnight_ahead
from tests.device.autonomy.world import FIRST_PLAN, demo_policy, demo_world, procurement_of

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

PASSPHRASE = "governor passphrase 1"
runner = CliRunner()


@pytest.fixture
def start() -> datetime:
    return midnight_ahead(weekday=0)


@pytest.fixture
def anvil_chain(anvil_binary: Path, start: datetime) -> Iterator[DevChain]:
    # Genesis just before the world's start, so the chain's clock can follow simulated time.
    genesis = str(int(start.timestamp()) - 3600)
    with run_anvil(anvil_binary, extra_args=("--timestamp", genesis)) as url:
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        yield DevChain(w3, demo_policy(Autonomy.BOUND))


def _keystore(path: Path, account: LocalAccount) -> Path:
    path.write_text(json.dumps(Account.encrypt(account.key, PASSPHRASE)))
    path.chmod(0o600)
    return path


def _config(path: Path, database: Path, chain: DevChain, rpc_url: str) -> Path:
    """The demo machine's config, pointed at this database and the anvil node."""
    text = DEFAULTS_FILE.read_text()
    text = text.replace('database = "custobot-demo.db"', f'database = "{database}"')
    text = text.replace(
        '[chain]\nkind = "eth-tester"',
        "[chain]\n"
        'kind = "rpc"\n'
        f'rpc_url = "{rpc_url}"\n'
        f"chain_id = {chain.chain_id}\n"
        f'profit_center = "{chain.pc.address}"\n'
        f'token = "{chain.token_address}"',
    )
    assert f'profit_center = "{chain.pc.address}"' in text
    path.write_text(text)
    return path


def _orders(world_orders: list[PurchaseOrder]) -> tuple[PurchaseOrder, PurchaseOrder]:
    big, small = sorted(world_orders, key=lambda o: o.amount, reverse=True)[:2]
    return big, small


def test_owner_lists_shows_approves_and_rejects_from_the_cli(
    tmp_path: Path, anvil_chain: DevChain, start: datetime
) -> None:
    chain = anvil_chain
    scratch = tmp_path / "world"
    scratch.mkdir()
    with demo_world(scratch, chain, start=start) as world:
        procurement = procurement_of(world)
        world.run(FIRST_PLAN)
        first, second = _orders(procurement.orders())
        assert first.state is second.state is OrderState.AWAITING_APPROVAL
        rpc_url = str(chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
        config = _config(tmp_path / "machine.toml", scratch / "machine.db", chain, rpc_url)
        governor_key = _keystore(tmp_path / "governor.json", chain.governor)
        agent_key = _keystore(tmp_path / "agent.json", chain.agent)
        secret = tmp_path / "passphrase"
        secret.write_text(PASSPHRASE + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOBOT_")}
        env.pop("CREDENTIALS_DIRECTORY", None)

        def cli(*args: str) -> tuple[int, str]:
            result = runner.invoke(orders_app, [*args, "--config", str(config)], env=env)
            return result.exit_code, result.output

        # list and show: what waits, with the negotiation behind it.
        code, out = cli("list")
        assert code == 0, out
        assert first.order_id[:10] in out
        assert second.order_id[:10] in out
        assert out.count("awaiting_approval") == 2
        code, out = cli("list", "--state", "open")
        assert code == 0, out
        assert "no orders open" in out
        code, out = cli("show", first.order_id[:12])
        assert code == 0, out
        assert first.order_id in out
        assert first.supplier_name in out
        # The negotiation behind it: its summary and where each supplier stood.
        decision = Transcript.model_validate_json(first.transcript).decision
        assert decision.summary in out
        ranked = {s.supplier for s in decision.standings}
        assert ranked  # every supplier that sells these items was asked and ranked
        assert ranked <= set(world.watchers)
        assert all(s.supplier in out for s in decision.standings)
        assert "negotiation:" in out
        assert "place_order mined 0x" in out

        # A wrong id is refused clearly and nothing happens.
        for bad, why in (("0xdeadbeef", "no such order"), ("zz", "not an order id")):
            code, out = cli("approve", bad)
            assert code == 1, out
            assert why in out
        assert chain.pc.order(bytes.fromhex(first.order_id[2:])).status is (
            OrderStatus.AWAITING_APPROVAL
        )

        # No governor key: the exact call for a Safe or wallet, nothing sent.
        code, out = cli("approve", first.order_id)
        assert code == 0, out
        assert "nothing was sent" in out
        fields = dict(
            line.strip().split(None, 1) for line in out.splitlines() if line.startswith("  ")
        )
        assert fields["contract"] == chain.pc.address
        assert fields["function"] == "approveOrder(bytes32)"
        assert fields["argument"] == first.order_id
        function, args = chain.pc.contract.decode_function_input(fields["calldata"])
        assert function.fn_name == "approveOrder"
        assert args == {"orderId": bytes.fromhex(first.order_id[2:])}
        code, out = cli("reject", second.order_id)
        assert code == 0, out
        reject_calldata = out.split("calldata")[1].strip()
        function, args = chain.pc.contract.decode_function_input(reject_calldata)
        assert function.fn_name == "rejectOrder"
        assert chain.pc.reserved() == first.amount + second.amount  # still both waiting

        # A wrong key or passphrase changes nothing.
        code, out = cli("approve", first.order_id, "--governor-keystore", str(agent_key),
                        "--passphrase-file", str(secret))  # fmt: skip
        assert code == 1, out
        assert "is not the governor" in out
        wrong = tmp_path / "wrong"
        wrong.write_text("not the passphrase")
        code, out = cli("approve", first.order_id, "--governor-keystore", str(governor_key),
                        "--passphrase-file", str(wrong))  # fmt: skip
        assert code == 1, out
        assert "wrong passphrase" in out
        assert chain.pc.order(bytes.fromhex(first.order_id[2:])).status is (
            OrderStatus.AWAITING_APPROVAL
        )

        # With the governor key the CLI sends the approval itself.
        env["CUSTOBOT_GOVERNOR_KEYSTORE"] = str(governor_key)
        code, out = cli("approve", first.order_id[:12], "--passphrase-file", str(secret))
        assert code == 0, out
        assert "approved order" in out
        assert "open on-chain" in out
        code, out = cli("approve", first.order_id, "--passphrase-file", str(secret))
        assert code == 1, out
        assert "is open, not awaiting approval" in out

        # Any wallet holding the governor key sends the printed call as a plain transaction.
        w3 = chain.w3
        tx: dict[str, Any] = {
            "to": chain.pc.address,
            "data": reject_calldata,
            "nonce": w3.eth.get_transaction_count(chain.governor.address),
            "chainId": chain.chain_id,
            "gas": 200_000,
            "maxFeePerGas": 2 * w3.eth.gas_price,
            "maxPriorityFeePerGas": 0,
        }
        signed = chain.governor.sign_transaction(tx)
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(signed.raw_transaction)
        )
        assert receipt["status"] == 1
        code, out = cli("reject", second.order_id, "--passphrase-file", str(secret))
        assert code == 1, out
        assert "is rejected, not awaiting approval" in out

        # The machine follows the chain: open here, rejected and released.
        procurement.reconcile(world.driver.now())
        states = {o.order_id: o.state for o in procurement.orders()}
        assert states[first.order_id] is OrderState.OPEN
        assert states[second.order_id] is OrderState.REJECTED
        assert chain.pc.reserved() == first.amount
        code, out = cli("list", "--state", "rejected")
        assert code == 0, out
        assert second.order_id[:10] in out
        assert first.order_id[:10] not in out
