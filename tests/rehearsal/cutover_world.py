"""The rehearsal world for cutover.yml and rollback.yml, and how the tests run them (fixture `rehearsal`).

The world: the legacy rule and the new rule (target: the alias, shadow) on the aligned schedule, the
ledger bootstrapped, a few parallel slots run. Time is the rehearsal's: a `Follower` (rehearsal/follow.py)
runs a slot whenever a playbook waits for one (the check of the first execution after a switch), and
never otherwise, so the clock never moves under a switch or a reconcile.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from rehearsal.follow import Follower
from tests.ansible_runner import run_playbook
from tests.conftest import LEDGER_TABLE, bootstrap_state
from tests.module_runner import run_module
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.conftest import CFG, DAY, SCHEDULE

ALIAS_ARN = f"arn:aws:lambda:ap-northeast-2:123456789012:function:{CFG.new_function}:live"


@pytest.fixture
def rehearsal(notify, world, aws, emulator):  # noqa: F811 (fixture)
    """The parallel run as start_parallel.yml leaves it, 3 slots run, the ledger bootstrapped."""
    bootstrap_state(emulator)
    aws("events").put_rule(Name=CFG.new_rule, ScheduleExpression=SCHEDULE, State="ENABLED")
    aws("events").put_targets(Rule=CFG.new_rule, Targets=[
        {"Id": "v2", "Arn": ALIAS_ARN, "Input": json.dumps({"mode": "shadow"})}])
    world.scheduler.run(3, start=DAY + timedelta(hours=1))
    world.notify = notify
    return world


def dp2(url, outcome="go"):
    result = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "decision", "decision": "cutover",
                                           "outcome": outcome, "criteria": [], "evidence": {},
                                           "expires_in_hours": 24, "decided_by": "test"}, url)
    assert not result.get("failed"), result


def events(url, playbook):
    return run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "read", "playbook": playbook}, url)["events"]


def pair(aws):
    events_api = aws("events")
    (target,) = events_api.list_targets_by_rule(Rule=CFG.new_rule)["Targets"]
    return (events_api.describe_rule(Name=CFG.old_rule)["State"], events_api.describe_rule(Name=CFG.new_rule)["State"],
            json.loads(target["Input"])["mode"])


def play(name, proxy, world, **extra):
    with Follower(world.cfg):
        return run_playbook(name, extra_vars=extra or None, env={"CUTOVER_EMULATOR_URL": proxy.url})


