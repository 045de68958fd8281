"""A real DAO as the governor: OpenZeppelin Governor + ERC20Votes shares + TimelockController.

The owners vote to raise the machine's budget; after the vote and the timelock
delay the proposal executes against the ProfitCenter, and the agent's next order
is checked against the new budget. Runs on eth-tester, where blocks are mined and
time is moved at will.
"""

from __future__ import annotations

from dataclasses import replace

from eth_utils import keccak
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts.artifacts import load_artifact
from contracts.chain import send
from contracts.deploy import deploy_contract
from tests.contracts.conftest import TEST_POLICY, USDC, Backend, World, build_world, reverts

VOTING_DELAY = 2  # blocks
VOTING_PERIOD = 10  # blocks
TIMELOCK_DELAY = 3600  # seconds
ZERO = "0x" + "00" * 20
SUCCEEDED, QUEUED, EXECUTED = 4, 5, 7


def test_dao_raises_the_budget_and_the_agent_can_spend_it() -> None:
    world: World = build_world(Backend("eth-tester", Web3(EthereumTesterProvider())))
    w3, deployer = world.w3, world.governor
    tester = w3.provider.ethereum_tester  # type: ignore[attr-defined]
    alice, bob, carol = world.members

    shares_address = deploy_contract(
        w3,
        "OwnerShares",
        [alice, bob, carol],
        [50 * 10**18, 30 * 10**18, 20 * 10**18],
        sender=deployer,
    )
    shares = w3.eth.contract(address=shares_address, abi=load_artifact("OwnerShares").abi)  # type: ignore[call-overload]
    for member in (alice, bob, carol):
        send(w3, shares.functions.delegate(member), member)
    timelock_address = deploy_contract(
        w3, "OwnersTimelock", TIMELOCK_DELAY, [], [ZERO], deployer, sender=deployer
    )
    timelock = w3.eth.contract(address=timelock_address, abi=load_artifact("OwnersTimelock").abi)  # type: ignore[call-overload]
    governor_address = deploy_contract(
        w3,
        "OwnersGovernor",
        shares_address,
        timelock_address,
        VOTING_DELAY,
        VOTING_PERIOD,
        sender=deployer,
    )
    dao = w3.eth.contract(address=governor_address, abi=load_artifact("OwnersGovernor").abi)  # type: ignore[call-overload]
    for role in ("PROPOSER_ROLE", "CANCELLER_ROLE"):
        send(
            w3,
            timelock.functions.grantRole(timelock.functions[role]().call(), governor_address),
            deployer,
        )
    admin_role = timelock.functions.DEFAULT_ADMIN_ROLE().call()
    send(w3, timelock.functions.renounceRole(admin_role, deployer), deployer)

    # The owners propose their DAO as governor; it takes over by accepting, in a vote.
    world.pc.transfer_governance(timelock_address, sender=deployer)
    assert world.pc.pending_governor() == timelock_address
    raised = replace(TEST_POLICY, budget_per_period=500 * USDC)

    # Spend the current budget (300 USDC): a fourth order of 100 USDC is over it.
    for _ in range(3):
        quote = world.quote(100 * USDC)
        world.pc.place_order(quote, world.sign(quote), sender=world.agent)
    over = world.quote(100 * USDC)
    with reverts("BudgetExceeded"):
        world.pc.place_order(over, world.sign(over), sender=world.agent)

    # Propose, vote, queue, wait for the timelock, execute: accept governance, raise the budget.
    targets, values = [world.pc.address, world.pc.address], [0, 0]
    calldatas = [
        world.pc.encode_call("acceptOwnership"),
        world.pc.encode_call("setPolicy", raised.as_tuple()),
    ]
    description = "Take over the machine and raise the weekly restocking budget to 500 USDC"
    description_hash = keccak(text=description)
    send(w3, dao.functions.propose(targets, values, calldatas, description), alice)
    proposal_id = dao.functions.hashProposal(targets, values, calldatas, description_hash).call()
    tester.mine_blocks(VOTING_DELAY + 1)
    send(w3, dao.functions.castVote(proposal_id, 1), alice)  # for
    send(w3, dao.functions.castVote(proposal_id, 1), bob)  # for
    send(w3, dao.functions.castVote(proposal_id, 0), carol)  # against
    tester.mine_blocks(VOTING_PERIOD + 1)
    assert dao.functions.state(proposal_id).call() == SUCCEEDED
    send(w3, dao.functions.queue(targets, values, calldatas, description_hash), alice)
    assert dao.functions.state(proposal_id).call() == QUEUED
    with reverts("TimelockUnexpectedOperationState"):
        send(w3, dao.functions.execute(targets, values, calldatas, description_hash), carol)
    world.backend.advance(TIMELOCK_DELAY + 1)
    send(w3, dao.functions.execute(targets, values, calldatas, description_hash), carol)
    assert dao.functions.state(proposal_id).call() == EXECUTED
    assert world.pc.governor() == timelock_address
    assert world.pc.policy() == raised
    with reverts("NotGovernor", deployer):
        world.pc.set_policy(TEST_POLICY, sender=deployer)

    # The raise applies at once: 200 USDC more than what was left (plus an hour's refill).
    left = world.pc.budget_left()
    assert 200 * USDC <= left <= 210 * USDC
    for _ in range(2):
        quote = world.quote(100 * USDC)
        world.pc.place_order(quote, world.sign(quote), sender=world.agent)
    beyond = world.quote(left - 200 * USDC + 2 * USDC)
    with reverts("BudgetExceeded"):
        world.pc.place_order(beyond, world.sign(beyond), sender=world.agent)
