"""schedule_switch and reconcile on the rehearsal world: its clock, its logs, the customer invariant.

Parallel run, cutover, live slots, rollback, more slots: with the reconcile step before the old rule
comes back no booking gets an SMS twice; without it the legacy job re-sends what the new one sent.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from rehearsal.invariants import check_world
from tests.module_runner import run_module
from tests.rehearsal.conftest import CFG, DAY


def _switch(world, aws, live):
    (target,) = aws("events").list_targets_by_rule(Rule=CFG.new_rule)["Targets"]
    return run_module("schedule_switch", {
        "live": live, "old_rule": CFG.old_rule, "new_rule": CFG.new_rule, "new_target_arn": target["Arn"],
        "clock": str(world.scheduler.clock_path), "poll_interval": 0.05, "max_wait": 0}, world.cfg.url)


@pytest.mark.parametrize("reconciled", [True, False])
def test_cutover_and_rollback_on_the_rehearsal_clock(world, aws, reconciled):
    world.new_rule("shadow")
    world.scheduler.run(6, start=DAY + timedelta(hours=1), jitter_s=0)
    cut = _switch(world, aws, "new")
    assert cut["changed"] and not cut.get("failed"), cut
    assert cut["quiet"]["at"] == (DAY + timedelta(hours=2, minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cut["quiet"]["in_flight"] == [] and cut["gap_seconds"] < 2
    world.scheduler.run(6, jitter_s=0)
    live_runs = {r["function"] for r in world.scheduler.recorders.runs.all()[-6:]}
    assert live_runs == {CFG.new_function}  # the old rule no longer fires

    if reconciled:
        merged = run_module("dynamodb_state", {"action": "reconcile", "table": CFG.new_table,
                                               "target_table": CFG.old_table}, world.cfg.url)
        assert merged["changed"] and merged["reconcile"]["writes"] > 0, merged
    back = _switch(world, aws, "old")
    assert back["changed"] and back["after"]["live"] == "old", back
    world.scheduler.run(6, jitter_s=0)

    report = check_world(world.cfg)
    twice = [v for v in report.violations if v["kind"] == "twice"]
    if reconciled:
        assert report.ok, report.violations[:5]
    else:
        assert twice, "rolling back without reconcile must re-send what the new function sent"
