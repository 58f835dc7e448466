"""schedule_switch against the emulator: order of the writes, undo, quiet window on an injected clock."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.module_runner import run_module
from tests.modules.ecr_helpers import operations

OLD_RULE, NEW_RULE = "naverplace_send_inform_trigger", "naver-sms-automation-v2-trigger"
ARN = "arn:aws:lambda:ap-northeast-2:123456789012:function:"
OLD_ARN, NEW_ALIAS = ARN + "naverplace_send_inform", ARN + "naverplace_send_inform_v2:live"
CRON = "cron(0/20 * * * ? *)"
# a slot of an hour ago: CloudWatch Logs takes events of the last 14 days only, and none more than 2 h ahead (today's
# 03:00 was that between 00:00 and 01:00 UTC, and the logged runs vanished)
SLOT = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def pair(aws):
    """The parallel run: old rule live, new rule enabled in shadow (with a retry policy that must survive)."""
    events = aws("events")
    events.put_rule(Name=OLD_RULE, ScheduleExpression=CRON, State="ENABLED")
    events.put_targets(Rule=OLD_RULE, Targets=[{"Id": "legacy", "Arn": OLD_ARN}])
    events.put_rule(Name=NEW_RULE, ScheduleExpression=CRON, State="ENABLED")
    events.put_targets(Rule=NEW_RULE, Targets=[{"Id": "function", "Arn": NEW_ALIAS, "Input": '{"mode": "shadow"}',
                                                "RetryPolicy": {"MaximumRetryAttempts": 2}}])
    return events


@pytest.fixture
def clock(tmp_path):
    path = tmp_path / "clock.json"

    def set_at(t):
        path.write_text(json.dumps({"at": iso(t)}))
        return str(path)

    set_at(SLOT + timedelta(minutes=10))
    set_at.path = str(path)
    return set_at


def switch(endpoint, clock_path, live="new", check=False, diff=False, **extra):
    args = {"live": live, "old_rule": OLD_RULE, "new_rule": NEW_RULE, "new_target_arn": NEW_ALIAS,
            "clock": clock_path, "poll_interval": 0.05}
    args.update(extra)
    return run_module("schedule_switch", args, endpoint, check=check, diff=diff)


def sides(events):
    (target,) = events.list_targets_by_rule(Rule=NEW_RULE)["Targets"]
    return (events.describe_rule(Name=OLD_RULE)["State"], events.describe_rule(Name=NEW_RULE)["State"],
            json.loads(target["Input"])["mode"])


def test_cutover_four_steps_old_disabled_first_then_input_live(proxy, pair, clock):
    check = switch(proxy.url, clock.path, check=True, diff=True)
    assert check["changed"] and not check.get("failed"), check
    assert check["planned"] == ["old rule state ENABLED -> DISABLED", "new rule input mode shadow -> live"]
    assert check["diff"]["before"]["live"] == "old" and check["diff"]["after"]["live"] == "new"
    assert check["quiet"]["quiet"] is True and operations(proxy, mutating_only=True) == []

    done = switch(proxy.url, clock.path)
    assert done["changed"] and not done.get("failed"), done
    assert operations(proxy, mutating_only=True) == ["DisableRule", "PutTargets"]
    assert sides(pair) == ("DISABLED", "ENABLED", "live")
    assert [w["what"] for w in done["writes"]] == ["old_state", "new_mode"]
    assert 0 <= done["gap_seconds"] < 2 and done["first_write_at"] <= done["last_write_at"]
    assert done["quiet"]["at"] == iso(SLOT + timedelta(minutes=10))
    (target,) = pair.list_targets_by_rule(Rule=NEW_RULE)["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2} and target["Id"] == "function"
    assert [t["Arn"] for t in pair.list_targets_by_rule(Rule=OLD_RULE)["Targets"]] == [OLD_ARN]

    for check_mode in (True, False):
        proxy.clear()
        again = switch(proxy.url, clock.path, check=check_mode)
        assert not again["changed"] and again["gap_seconds"] is None, again
        assert operations(proxy, mutating_only=True) == []


@pytest.mark.parametrize("after, expected_ops, expected", [
    ("shadow", ["PutTargets", "EnableRule"], ("ENABLED", "ENABLED", "shadow")),
    ("disabled", ["DisableRule", "PutTargets", "EnableRule"], ("ENABLED", "DISABLED", "shadow")),
])
def test_rollback_stops_the_new_side_before_the_old_rule_is_enabled(proxy, pair, clock, after, expected_ops, expected):
    assert not switch(proxy.url, clock.path).get("failed")
    proxy.clear()
    back = switch(proxy.url, clock.path, live="old", after_rollback=after)
    assert back["changed"] and not back.get("failed"), back
    assert operations(proxy, mutating_only=True) == expected_ops
    assert sides(pair) == expected
    assert back["after"]["live"] == "old"
    proxy.clear()
    assert not switch(proxy.url, clock.path, live="old", after_rollback=after)["changed"]
    assert operations(proxy, mutating_only=True) == []


def log_run(aws, function, at, request_id):
    """One finished invocation of ``function`` logged at ``at`` (START, END)."""
    logs, group = aws("logs"), f"/aws/lambda/{function}"
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
    started = int(at.timestamp() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": started, "message": f"START RequestId: {request_id} Version: $LATEST"},
        {"timestamp": started + 2000, "message": f"END RequestId: {request_id}"}])


@pytest.mark.parametrize("run_at, ran", [
    (None, False),                                  # nothing ran: the state read at 03:10 is still current
    (SLOT + timedelta(seconds=3), False),           # the 03:00 run, over before the reading
    (SLOT + timedelta(minutes=11), True),           # an off-schedule invocation after the reading
])
def test_rollback_says_whether_anything_ran_since_an_earlier_reading(proxy, pair, clock, aws, run_at, ran):
    assert not switch(proxy.url, clock.path).get("failed")
    reading = switch(proxy.url, clock.path, live="old", check=True)["quiet"]  # rollback.yml: before the reconcile
    assert reading["at"] == iso(SLOT + timedelta(minutes=10)) and reading["last_fire"] == iso(SLOT)
    if run_at:
        log_run(aws, "naverplace_send_inform_v2", run_at, "r-1")
    clock(SLOT + timedelta(minutes=12))
    back = switch(proxy.url, clock.path, live="old", since=reading)
    assert back["changed"] and not back.get("failed"), back
    assert back["ran_since"]["ran"] is ran, back["ran_since"]
    assert back["quiet"]["last_start"] == (iso(run_at) if run_at else None)
    # nothing to switch (cutover.yml's rerun after a run killed mid-alignment): a quiet reading only, no write
    proxy.clear()
    again = switch(proxy.url, clock.path, live="old", since=reading)
    assert not again["changed"] and again["writes"] == [] and again["read_at"], again
    assert again["ran_since"]["ran"] is ran, again["ran_since"]
    assert operations(proxy, mutating_only=True) == []


def test_a_slot_between_the_reading_and_the_switch_counts_as_a_run(proxy, pair, clock):
    assert not switch(proxy.url, clock.path).get("failed")
    reading = switch(proxy.url, clock.path, live="old", check=True)["quiet"]
    clock(SLOT + timedelta(minutes=30))  # the 03:20 slot fired (no log needed: the schedule says so)
    back = switch(proxy.url, clock.path, live="old", since=reading)
    assert back["ran_since"] == {"ran": True, "reason": f"a run fired at {iso(SLOT + timedelta(minutes=20))}, between "
                                 f"{iso(SLOT + timedelta(minutes=10))} and the switch at "
                                 f"{iso(SLOT + timedelta(minutes=30))}"}


def test_a_failed_second_write_undoes_the_first_and_says_what_it_left(proxy, pair, clock):
    proxy.script("PutTargets", "conflict", count=1)
    failed = switch(proxy.url, clock.path)
    assert failed.get("failed"), failed
    assert "'new rule input mode shadow -> live' failed" in failed["msg"]
    assert "undid 1 of 1" in failed["msg"] and "left: old rule ENABLED" in failed["msg"]
    assert "live side: old" in failed["msg"]
    assert operations(proxy, mutating_only=True) == ["DisableRule", "PutTargets", "EnableRule"]
    assert sides(pair) == ("ENABLED", "ENABLED", "shadow")


def test_refused_near_the_next_fire_without_waiting_when_max_wait_is_0(proxy, pair, clock):
    clock(SLOT + timedelta(minutes=19))
    refused = switch(proxy.url, clock.path, max_wait=0)
    assert refused.get("failed") and "no quiet window within max_wait=0 s" in refused["msg"], refused
    assert f"fires at {SLOT + timedelta(minutes=20):%H:%M:%S}Z, 60 s away (margin 120 s)" in refused["msg"]
    assert f"opens at {iso(SLOT + timedelta(minutes=21))}" in refused["msg"]
    assert operations(proxy, mutating_only=True) == []


def test_refused_while_a_run_is_in_flight(proxy, pair, clock, aws):
    logs = aws("logs")
    group = "/aws/lambda/naverplace_send_inform"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    started = int((SLOT + timedelta(seconds=4)).timestamp() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": started, "message": "START RequestId: abc-1 Version: $LATEST"},
        {"timestamp": started + 10, "message": "START RequestId: abc-2 Version: $LATEST"},
        {"timestamp": started + 5000, "message": "END RequestId: abc-2"}])
    refused = switch(proxy.url, clock.path, max_wait=0)
    assert refused.get("failed") and "1 invocation(s) still running (naverplace_send_inform:abc-1)" in refused["msg"]
    assert operations(proxy, mutating_only=True) == []
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": started + 9000, "message": "END RequestId: abc-1"}])
    assert not switch(proxy.url, clock.path, max_wait=0).get("failed")


def test_waits_on_the_injected_clock_until_the_window_opens(proxy, pair, clock):
    clock(SLOT + timedelta(minutes=19))
    mover = threading.Timer(0.3, clock, [SLOT + timedelta(minutes=22)])
    mover.start()
    try:
        started = time.monotonic()
        done = switch(proxy.url, clock.path, poll_interval=0.1)
    finally:
        mover.cancel()
    assert done["changed"] and not done.get("failed"), done
    assert done["quiet"]["at"] == iso(SLOT + timedelta(minutes=22))
    assert time.monotonic() - started < 10


def test_a_clock_that_does_not_move_ends_the_wait_with_not_quiet_until(proxy, pair, clock):
    clock(SLOT + timedelta(minutes=19))
    stalled = switch(proxy.url, clock.path)
    assert stalled.get("failed"), stalled
    assert f"not quiet until {SLOT + timedelta(minutes=21)}" in stalled["msg"]
    assert "advance it" in stalled["msg"] and operations(proxy, mutating_only=True) == []


def test_the_rehearsal_clock_stands_mid_slot(proxy, pair, tmp_path):
    path = tmp_path / "rehearsal-clock.json"
    path.write_text(json.dumps({"now": iso(SLOT + timedelta(minutes=20)), "world_start": iso(SLOT), "seed": 1}))
    done = switch(proxy.url, str(path), max_wait=0)
    assert not done.get("failed") and done["quiet"]["at"] == iso(SLOT + timedelta(minutes=10)), done


def test_a_missing_legacy_rule_is_an_error_never_created(proxy, aws, clock):
    aws("events").put_rule(Name=NEW_RULE, ScheduleExpression=CRON, State="ENABLED")
    failed = switch(proxy.url, clock.path)
    assert failed.get("failed") and f"the old rule {OLD_RULE} does not exist" in failed["msg"], failed
    assert "never created" in failed["msg"]
    assert operations(proxy, mutating_only=True) == []


@pytest.mark.parametrize("extra, message", [
    ({"margin": 10}, "margin must be between 30 and 600 seconds, got 10"),
    ({"max_wait": 5000}, "max_wait must be between 0 and 3600 seconds, got 5000"),
    ({"new_rule": OLD_RULE}, "name the same rule"),
    ({"new_target_arn": ARN + "other"}, "has 0 targets with ARN"),
])
def test_bad_input_fails_before_any_write(proxy, pair, clock, extra, message):
    failed = switch(proxy.url, clock.path, **extra)
    assert failed.get("failed") and message in failed["msg"], failed
    assert operations(proxy, mutating_only=True) == []


def test_a_rate_rule_has_no_quiet_window(proxy, pair, clock):
    pair.put_rule(Name=OLD_RULE, ScheduleExpression="rate(20 minutes)", State="ENABLED")
    failed = switch(proxy.url, clock.path)
    assert failed.get("failed") and "a rate rule's phase is undefined" in failed["msg"], failed
    assert operations(proxy, mutating_only=True) == []
