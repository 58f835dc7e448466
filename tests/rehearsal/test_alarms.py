"""On the rehearsal clock, the alarms monitoring.yml creates are evaluated and notify Slack and Telegram."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from rehearsal import notify_recorder
from tests.ansible_runner import run_playbook
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.conftest import CFG, DAY

RATE = "naver-sms-cutover-v2-error-rate"
WARNING = "naver-sms-cutover-v2-error-rate-warning"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_crashing_live_run_pages_slack_and_telegram_within_5_minutes(notify, world, bootstrapped, aws):
    setup = run_playbook("monitoring.yml")
    assert setup.rc == 0, setup.messages()
    world.new_rule(mode="live")
    world.old_rule("DISABLED")  # cutover done: the new function is live
    summary = world.scheduler.run(12, start=DAY, fault="crash", jitter_s=0)

    crashed = [r for r in world.scheduler.recorders.runs.all() if r["function"] == CFG.new_function and r["error"]]
    assert crashed, "the crash fault made no run fail in 12 slots"
    first_crash = _at(crashed[0]["slot"])
    to_alarm = [t for t in summary["alarm_transitions"] if t["alarm"] == RATE and t["to"] == "ALARM"]
    assert to_alarm, summary["alarm_transitions"]
    paged_after = _at(to_alarm[0]["at"]) - first_crash
    assert timedelta(0) < paged_after <= timedelta(minutes=5), paged_after
    assert len(to_alarm) == len({r["slot"] for r in crashed})  # each failing run pages once

    lines = [line for line in notify_recorder.read(notify_recorder.record_file()) if line["via"] == "sns"]
    by_alarm: dict = {}
    for line in lines:
        message = json.loads(line["body"]["Message"])
        if message["NewStateValue"] == "ALARM":
            by_alarm.setdefault(message["AlarmName"], set()).add(line["channel"])
    assert by_alarm[RATE] == {"slack", "telegram"}
    assert by_alarm[WARNING] == {"slack"}  # the 1 % warning goes to Slack only
    # no comparison ever ran in this world: the heartbeat pages at its first evaluation (missing data =
    # breaching) and stays in ALARM; the duration and the comparison alarms stay quiet
    assert set(by_alarm) == {RATE, WARNING, "naver-sms-cutover-comparison-heartbeat"}
    heartbeat = [t for t in summary["alarm_transitions"] if t["alarm"] == "naver-sms-cutover-comparison-heartbeat"]
    assert [(t["to"], _at(t["at"]) - DAY) for t in heartbeat] == [("ALARM", timedelta(minutes=1))]
    state = aws("cloudwatch").describe_alarms(AlarmNames=[RATE])["MetricAlarms"][0]
    assert "simulated clock" in state["StateReason"]
