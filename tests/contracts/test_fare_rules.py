"""A taxi's fare rules on-chain: the demand-factor cap and the emergency, set by the
governor alone (a thief holding the agent key, which prices the rides, cannot raise its
own cap or lift an emergency), bounded, one event per change, on both chains."""

from __future__ import annotations

from contracts.profit_center import EmergencyChanged, FareCapChanged, FareRules
from tests.contracts.conftest import World, reverts

NO_SURGE = 10_000
MAX_CAP = 50_000


def test_a_new_machine_has_no_surge_and_no_emergency(world: World) -> None:
    assert world.pc.fare_rules() == FareRules(cap_bp=NO_SURGE, emergency=False)


def test_the_governor_sets_the_cap_within_bounds_with_an_event(world: World) -> None:
    tx = world.pc.set_fare_cap(15_000, sender=world.governor)
    assert tx.events == (FareCapChanged(tx.events[0].meta, 15_000),)
    assert world.pc.fare_rules() == FareRules(cap_bp=15_000, emergency=False)
    for wrong in (0, NO_SURGE - 1, MAX_CAP + 1):
        with reverts("InvalidFareCap", wrong, NO_SURGE, MAX_CAP):
            world.pc.set_fare_cap(wrong, sender=world.governor)
    world.pc.set_fare_cap(MAX_CAP, sender=world.governor)
    world.pc.set_fare_cap(NO_SURGE, sender=world.governor)
    assert world.pc.fare_rules().cap_bp == NO_SURGE


def test_the_governor_declares_and_ends_an_emergency_keeping_the_cap(world: World) -> None:
    world.pc.set_fare_cap(20_000, sender=world.governor)
    tx = world.pc.set_emergency(True, sender=world.governor)
    assert tx.events == (EmergencyChanged(tx.events[0].meta, True),)
    assert world.pc.fare_rules() == FareRules(cap_bp=20_000, emergency=True)
    world.pc.set_emergency(False, sender=world.governor)
    assert world.pc.fare_rules() == FareRules(cap_bp=20_000, emergency=False)


def test_a_thief_with_the_agent_key_changes_no_fare_rule(world: World) -> None:
    world.pc.set_emergency(True, sender=world.governor)
    for sender in (world.agent, world.supplier, world.outsider):
        who = sender if isinstance(sender, str) else sender.address
        with reverts("NotGovernor", who):
            world.pc.set_fare_cap(MAX_CAP, sender=sender)
        with reverts("NotGovernor", who):
            world.pc.set_emergency(False, sender=sender)
    assert world.pc.fare_rules() == FareRules(cap_bp=NO_SURGE, emergency=True)


def test_fare_rule_setters_stay_cheap(world: World) -> None:
    """Measured in benchmarks/gas.py; a governor's emergency call must stay a plain one."""
    assert world.pc.set_fare_cap(15_000, sender=world.governor).gas_used <= 35_000
    assert world.pc.set_emergency(True, sender=world.governor).gas_used <= 35_000
