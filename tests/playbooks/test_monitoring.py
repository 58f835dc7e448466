"""monitoring.yml: topics, subscriptions, the seed's alarms and the dashboard; idempotent, no secret printed
(its -vvv apply is also the secrets scan of monitoring.yml: tests/reliability/test_secrets.py). An invalid e-mail
address is refused before any write: tests/test_bad_inputs.py (playbook cases)."""
from __future__ import annotations

import json

import pytest

from rehearsal import world, world_data
from tests.ansible_runner import run_playbook
from tests.conftest import migration_writes
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.secret_scan import leaks, stored_text

ALARMS = {  # alarm -> the channels the seed routes it to, exactly
    "naver-sms-cutover-discrepancies": {"slack", "telegram", "email"},
    "naver-sms-cutover-v2-error-rate": {"slack", "telegram"},
    "naver-sms-cutover-v2-error-rate-warning": {"slack"},
    "naver-sms-cutover-v2-duration": {"slack"},
    "naver-sms-cutover-match-percentage": {"slack", "telegram", "email"},
    "naver-sms-cutover-comparison-heartbeat": {"slack", "telegram", "email"},
    "naver-sms-cutover-shadow-leak": {"slack", "telegram", "email"},
    "naver-sms-cutover-old-rule-enabled-while-new-live": {"slack", "telegram", "email"},
}


def _secret_values() -> list[str]:
    """Every value of the alert secrets (URLs, tokens): none may appear in any output."""
    names = world.Names.from_inventory().secrets
    values = []
    for key in ("alerts_slack", "alerts_telegram"):
        values += [v for v in json.loads(world_data.secret_values(names)[names[key]]).values()]
    return values


@pytest.mark.slow
def test_four_steps_create_everything_once_and_print_no_secret(emulator, bootstrapped, aws, proxy, notify, tmp_path):
    world.seed(emulator)
    env = {"CUTOVER_EMULATOR_URL": proxy.url}
    proxy.clear()
    check = run_playbook("monitoring.yml", check=True, env=env)
    assert check.rc == 0, check.messages()
    assert check.changed > 0
    assert proxy.mutating_calls() == []
    assert aws("cloudwatch").describe_alarms()["MetricAlarms"] == []

    # the apply runs with -vvv: whatever ansible prints, the alert secrets are not in it
    applied = run_playbook("monitoring.yml", env=dict(env, ANSIBLE_VERBOSITY="3"))
    assert applied.rc == 0, applied.messages()
    assert applied.changed > 0
    printed = applied.stdout + applied.stderr
    for value in _secret_values():
        assert value not in printed, "a secret value of the alert channels was printed"
    # nor any seeded secret (SENS, Telegram, Naver, Slack) in the output, the run's reports, or anything stored
    found = {"monitoring.yml -vvv": leaks(printed)}
    reports = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert reports, "the run wrote no report: the scan would prove nothing"
    found.update({str(p): leaks(p.read_text("utf-8", "replace")) for p in reports})
    found.update({where: leaks(text) for where, text in stored_text(aws).items()})
    assert {where: names for where, names in found.items() if names} == {}

    cloudwatch, sns = aws("cloudwatch"), aws("sns")
    topics = {t["TopicArn"]: t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics()["Topics"]}
    channel = {arn: name.rsplit("-", 1)[-1] for arn, name in topics.items()}
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert {name: {channel[arn] for arn in a["AlarmActions"]} for name, a in alarms.items()} == ALARMS
    assert len(alarms["naver-sms-cutover-v2-error-rate"]["AlarmActions"]) == 2
    assert alarms["naver-sms-cutover-comparison-heartbeat"]["TreatMissingData"] == "breaching"
    assert alarms["naver-sms-cutover-v2-duration"]["Threshold"] == 240000
    rate = alarms["naver-sms-cutover-v2-error-rate"]["Metrics"]
    assert rate[0]["Expression"] == "100 * errors / invocations"
    subscriptions = {(channel[s["TopicArn"]], s["Protocol"], s["Endpoint"])
                     for s in sns.list_subscriptions()["Subscriptions"]}
    assert {(c, p) for c, p, _ in subscriptions} == {("slack", "https"), ("telegram", "https"), ("email", "email")}
    assert ("email", "email", "cutover-rehearsal@example.com") in subscriptions
    body = json.loads(cloudwatch.get_dashboard(DashboardName="naver-sms-cutover")["DashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert "SMS sent by store" in titles and "SENS API calls" in titles and "Alarm states" in titles

    for check_mode in (True, False):
        proxy.clear()
        again = run_playbook("monitoring.yml", check=check_mode, env=env)
        assert again.rc == 0 and again.changed == 0, (check_mode, again.messages())
        assert migration_writes(proxy.calls()) == []  # the lock and the run's event only
