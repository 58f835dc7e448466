"""cutover.yml and rollback.yml on the rehearsal world, as an operator runs them.

The world: the legacy rule and the new rule (target: the alias, shadow) on the aligned schedule, the
ledger bootstrapped, a few parallel slots run. Time is the rehearsal's: a `Follower` (rehearsal/follow.py)
runs a slot whenever a playbook waits for one (the check of the first execution after a switch), and
never otherwise, so the clock never moves under a switch or a reconcile.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from rehearsal.follow import Follower
from rehearsal.invariants import check_world
from tests.ansible_runner import run_playbook
from tests.conftest import LEDGER_TABLE, bootstrap_state, migration_writes
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


@pytest.mark.slow
def test_no_sms_twice_missed_or_late_over_cutover_live_slots_rollback_3_and_re_cutover(rehearsal, aws, proxy):
    dp2(proxy.url)
    proxy.clear()
    run = play("cutover.yml", proxy, rehearsal)
    assert run.rc == 0, run.messages()
    assert pair(aws) == ("DISABLED", "ENABLED", "live")
    (event,) = events(proxy.url, "cutover.yml")
    facts = event["facts"]
    assert event["result"] == "ok" and facts["live"] == "new" and facts["verified"] == "ok", facts
    assert float(facts["gap_seconds"]) < 2 and facts["switched_at"].endswith("+00:00")  # ISO UTC, last write
    assert set(facts["backup_arns"]) == {CFG.old_table, CFG.new_table} and all(facts["backup_arns"].values())
    assert {"started_at", "backups_at", "switched_at", "verified_at", "ended_at"} <= set(facts["timestamps"])
    writes = migration_writes(proxy.calls())  # backups first, then old rule disabled, then the new input live
    assert writes.index("CreateBackup") < writes.index("DisableRule") < writes.index("PutTargets"), writes
    # the first live slot ran (the follower ran exactly the slot the check waited for) and delivered
    last = rehearsal.scheduler.recorders.runs.all()[-1]
    assert last["function"] == CFG.new_function and last["mode"] == "live" and last["slot"] == facts["verified_slot"]
    sent = [m["body"]["text"] for m in rehearsal.notify() if m.get("via") == "direct"]
    assert any("Cutover starts" in t for t in sent) and any("Cutover done" in t for t in sent)
    proxy.clear()
    again = play("cutover.yml", proxy, rehearsal)
    assert again.rc == 0 and again.changed == 0, again.messages()
    assert migration_writes(proxy.calls()) == []
    assert rehearsal.scheduler.recorders.runs.all()[-1] == last  # no slot was needed: already verified

    rehearsal.scheduler.run(3)  # live slots
    proxy.clear()
    back = play("rollback.yml", proxy, rehearsal, scenario=3)
    assert back.rc == 0, back.messages()
    assert pair(aws) == ("ENABLED", "ENABLED", "shadow")
    (event,) = events(proxy.url, "rollback.yml")
    facts = event["facts"]
    assert facts["live"] == "old" and facts["scenario"] == 3 and facts["sla_s"] == 900, facts
    assert float(facts["elapsed_s"]) < 900 and facts["verified"] == "ok" and facts["reconciled"]["writes"] > 0
    assert facts["catch_up"]["writes"] == 0  # the clock never moved between the two passes
    assert facts["restored_table"] == "sms-restored-" + facts["report"].rsplit("missed-sms-", 1)[1][:-5]
    assert facts["report_bookings"] == 0  # a clean world: nothing to replay by hand
    assert "of the 900 s SLA (met)" in back.stdout
    # the old function ran the slot the check waited for; the flags sms_v2 learned are in sms
    assert any(r["function"] == CFG.old_function and r["slot"] == facts["verified_slot"]
               for r in rehearsal.scheduler.recorders.runs.all())
    writes = migration_writes(proxy.calls())  # reconcile first, then the new side stopped, then the old rule enabled
    assert writes.index("BatchWriteItem") < writes.index("PutTargets") < writes.index("EnableRule"), writes
    assert "RestoreTableFromBackup" in writes

    rehearsal.scheduler.run(3)  # the old function again
    assert play("cutover.yml", proxy, rehearsal).rc == 0  # re-cutover under the same DP2 go
    rehearsal.scheduler.run(2)
    report = check_world(rehearsal.cfg)
    assert report.ok, report.violations[:5]
    assert report.counts() == {} or not any(report.counts().values()), report.counts()


@pytest.mark.slow
def test_bad_input_is_refused_with_no_write_and_scenario_1_stops_the_new_side_only(rehearsal, aws, proxy):
    cases = [("cutover.yml", {}, "no Decision Point 2 go recorded in the last 24 h: the ledger holds no cutover"),
             ("rollback.yml", {"scenario": 4}, "unknown scenario '4'"),
             ("rollback.yml", {"scenario": 2}, "nothing to roll back: no cutover is recorded"),
             ("rollback.yml", {"scenario": 1, "cutover_switch_margin": 10}, "cutover_switch_margin must be 30-600"),
             ("cutover.yml", {"cutover_switch_max_wait": 4000}, "0-3600 seconds (got 4000)")]
    with ThreadPoolExecutor(len(cases)) as pool:
        runs = list(pool.map(lambda c: play(c[0], proxy, rehearsal, **c[1]), cases))
    for (playbook, extra, message), run in zip(cases, runs):
        assert run.rc != 0 and message in run.messages(), (playbook, extra, run.messages())
        assert "nothing was changed" in run.messages()
    assert proxy.mutating_calls() == []

    stop = play("rollback.yml", proxy, rehearsal, scenario=1)
    assert stop.rc == 0, stop.messages()
    assert pair(aws)[:2] == ("ENABLED", "DISABLED")  # the old rule untouched, the new one stopped
    assert [c["operation"] for c in proxy.mutating_calls() if c["service"] == "events"] == ["DisableRule"]
    assert aws("dynamodb").describe_table(TableName=CFG.new_table)["Table"]["ItemCount"] >= 0  # evidence kept


@pytest.mark.slow
def test_two_cutovers_at_once_one_proceeds_and_a_rollback_meanwhile_is_refused_naming_the_holder(rehearsal, aws, proxy):
    dp2(proxy.url)
    env = {"CUTOVER_EMULATOR_URL": proxy.url}
    with ThreadPoolExecutor(2) as pool:
        # no follower yet: the run that takes the lock switches, then waits for its first live slot
        runs = [pool.submit(run_playbook, "cutover.yml", env=env) for _ in range(2)]
        loser = next(iter(wait_first(runs)))
        assert loser.rc != 0 and "the migration is locked by another run" in loser.messages(), loser.messages()
        assert "cutover.yml" in loser.messages()
        waited = 0
        while pair(aws)[2] != "live" and waited < 120:  # the winner switched and waits for the slot
            time.sleep(0.5)
            waited += 0.5
        refused = run_playbook("rollback.yml", extra_vars={"scenario": 2}, env=env)
        assert refused.rc != 0 and "the migration is locked by another run" in refused.messages()
        assert "cutover.yml" in refused.messages()  # names the holder's playbook (and owner, ticket, age)
        with Follower(rehearsal.cfg):
            winner = [f.result() for f in runs if f.result() is not loser][0]
    assert winner.rc == 0, winner.messages()
    assert sorted(e["result"] for e in events(proxy.url, "cutover.yml")) == ["ok", "refused"]


def wait_first(futures):
    from concurrent.futures import FIRST_COMPLETED
    from concurrent.futures import wait as wait_futures

    done, _ = wait_futures(futures, timeout=300, return_when=FIRST_COMPLETED)
    return [f.result() for f in done]
