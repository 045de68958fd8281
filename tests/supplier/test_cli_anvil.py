"""The operator's commands against a real JSON-RPC node: anvil with the real ProfitCenter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner
from web3 import Web3

from contracts.anvil import run_anvil
from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_profit_center
from contracts.profit_center import OrderStatus, ProfitCenter
from device.money import money
from supplier.cli import supplier_app
from supplier.desk import Desk
from supplier.keys import PASSPHRASE_ENV, Signer, create_keystore
from supplier.protocol import Offer, Rfq, RfqLine
from supplier.settings import load_supplier_settings
from supplier.store import SupplierStore
from tests.supplier.conftest import DAY, LOCK, POLICY, USDC

EXAMPLE = Path(__file__).resolve().parents[2] / "supplier" / "examples" / "supplier.toml"
PASSPHRASE = "anvil operator"
pytestmark = [pytest.mark.anvil, pytest.mark.e2e]


@pytest.fixture
def anvil(anvil_binary: Path) -> Iterator[str]:
    with run_anvil(anvil_binary) as url:
        yield url


def test_operator_syncs_orders_and_marks_a_delivery_on_chain(anvil: str, tmp_path: Path) -> None:
    w3 = Web3(Web3.HTTPProvider(anvil))
    governor = str(w3.eth.accounts[0])
    agent: LocalAccount = Account.create()
    supplier: LocalAccount = Account.create()
    for account in (agent, supplier):
        tx = w3.eth.send_transaction({"from": governor, "to": account.address, "value": 10**20})  # type: ignore[typeddict-item]
        w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.02)
    deployment = deploy_profit_center(
        w3, deployer=governor, governor=governor, agent=agent.address, policy=POLICY
    )
    pc = ProfitCenter(w3, deployment.profit_center)
    usdc = w3.eth.contract(address=deployment.token, abi=load_artifact("MockUSDC").abi)  # type: ignore[call-overload]
    pc.set_supplier(supplier.address, True, sender=governor)
    send(w3, usdc.functions.mint(governor, 100 * USDC), governor)
    send(w3, usdc.functions.approve(pc.address, 100 * USDC), governor)
    pc.deposit_revenue(100 * USDC, sender=governor)

    text = EXAMPLE.read_text()
    text = text.replace("0x5FbDB2315678afecb367f032d93F642f64180aa3", deployment.token)
    text = text.replace("http://127.0.0.1:8545", anvil)
    text = text.replace("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", pc.address)
    config = tmp_path / "supplier.toml"
    config.write_text(text)
    create_keystore(
        tmp_path / "supplier-key.json", PASSPHRASE, private_key=supplier.key, iterations=2**10
    )

    settings = load_supplier_settings(config)
    store = SupplierStore(settings.database)
    now = int(w3.eth.get_block("latest")["timestamp"])
    offer = Desk(settings, Signer(supplier), store).open(
        Rfq(
            rfq_id="anvil-cli-rfq-0001",
            items=[RfqLine(gtin="05449000000996", quantity=48)],
            deliver_by=now + 3 * DAY,
            answer_by=now + 60,
            chain_id=31337,
            buyer=pc.address,
            token=deployment.token,
            machine_customer=True,
            counter_lock=LOCK,
        ),
        now,
    )
    store.close()
    assert isinstance(offer, Offer)
    order_id = pc.place_order(offer.to_quote(), offer.signature_bytes(), sender=agent).order_id

    runner = CliRunner()
    env = {PASSPHRASE_ENV: PASSPHRASE}
    listed = runner.invoke(supplier_app, ["orders", "--sync", "--config", str(config)], env=env)
    assert listed.exit_code == 0, listed.output
    assert money(offer.amount) in listed.output  # in USDC, as the operator reads it
    assert "open" in listed.output

    delivered = runner.invoke(supplier_app, ["deliver", "1", "--config", str(config)], env=env)
    assert delivered.exit_code == 0, delivered.output
    assert "marked delivered" in delivered.output
    assert pc.order(order_id).status is OrderStatus.DELIVERED

    again = runner.invoke(supplier_app, ["deliver", "1", "--config", str(config)], env=env)
    assert again.exit_code == 1
    assert "is delivered" in again.output
    missing = runner.invoke(supplier_app, ["deliver", "7", "--config", str(config)], env=env)
    assert missing.exit_code == 1
    assert "no order 7" in missing.output
