"""The simulated scheduler fires what the emulator's rules say, when they say it."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rehearsal.config import Config
from rehearsal.scheduler import RehearsalError, Scheduler
from tests.rehearsal.conftest import CFG, DAY


def runs(world):
    return world.scheduler.recorders.runs.all()


def test_only_enabled_rules_fire_at_their_cron_times_in_time_order(world):
    world.new_rule("shadow", state="DISABLED")
    world.scheduler.run(3, start=DAY)
    assert [(r["function"], r["slot"]) for r in runs(world)] == [
        (CFG.old_function, "2026-11-23T00:00:00Z".replace("2026-11-23", DAY.strftime("%Y-%m-%d"))),
        (CFG.old_function, DAY.strftime("%Y-%m-%dT00:20:00Z")),
        (CFG.old_function, DAY.strftime("%Y-%m-%dT00:40:00Z")),
    ]
    world.new_rule("shadow", state="ENABLED")
    world.scheduler.run(1)
    last = runs(world)[-2:]
    assert {r["function"] for r in last} == {CFG.old_function, CFG.new_function}
    assert {r["slot"] for r in last} == {DAY.strftime("%Y-%m-%dT01:00:00Z")}
    delivered = [r["delivered_at"] for r in runs(world)]
    assert delivered == sorted(delivered)


def test_delivery_is_a_few_seconds_late_at_most(world):
    world.new_rule("shadow")
    world.scheduler.run(6, start=DAY, jitter_s=5)
    delays = [(datetime.fromisoformat(r["delivered_at"]) - datetime.fromisoformat(r["fired_at"])).total_seconds()
              for r in runs(world)]
    assert all(0 <= d <= 5 for d in delays)
    assert len(set(delays)) > 1  # not a constant offset


def test_a_rate_rule_counts_from_when_it_was_enabled(world):
    world.old_rule("DISABLED")
    world.scheduler.run(1, start=DAY)  # the rule does not exist yet
    world.new_rule("shadow", schedule="rate(30 minutes)")
    world.scheduler.run(4)  # enabled seen at 00:20 -> fires 00:50, 01:20
    assert [(r["fired_at"], r["slot"]) for r in runs(world)] == [
        ((DAY + timedelta(minutes=50)).isoformat(), DAY.strftime("%Y-%m-%dT00:40:00Z")),
        ((DAY + timedelta(minutes=80)).isoformat(), DAY.strftime("%Y-%m-%dT01:20:00Z")),
    ]


def test_an_invalid_schedule_is_reported_and_not_fired(world):
    world.new_rule("shadow", schedule="rate(20 minute)")  # EventBridge refuses it; moto stores it
    summary = world.scheduler.run(2, start=DAY)
    assert "plural" in summary["skipped_rules"][CFG.new_rule]
    assert {r["function"] for r in runs(world)} == {CFG.old_function}


def test_a_target_without_a_function_is_a_failed_invocation(world, aws):
    aws("lambda").delete_function(FunctionName=CFG.old_function)
    summary = world.scheduler.run(1, start=DAY)
    assert summary["failed_invocations"][0]["function"] == CFG.old_function
    assert world.scheduler.recorders.sens.all() == []


def test_the_clock_survives_between_calls_and_refuses_a_different_start(world):
    world.scheduler.run(2, start=DAY)
    again = Scheduler(world.cfg)  # a new CLI call
    summary = again.run(1)
    assert summary["from"] == DAY.strftime("%Y-%m-%dT00:40:00Z")
    assert again.load()["now"] == DAY.strftime("%Y-%m-%dT01:00:00Z")
    with pytest.raises(RehearsalError, match="already stands at"):
        again.run(1, start=DAY)
    with pytest.raises(RehearsalError, match="seed"):
        again.run(1, seed=99)


def test_a_clock_outside_the_logs_window_is_refused(state_dir):
    scheduler = Scheduler(Config(url="http://127.0.0.1:9", directory=state_dir / "rehearsal"))
    with pytest.raises(RehearsalError, match="14 days"):
        scheduler.run(1, start=DAY - timedelta(days=30))  # refused before any call
