"""Issue 13 item 1 for the amazon.aws / community.aws modules the playbooks call (cloudwatch_metric_alarm,
iam_role, iam_policy, s3_object, aws_caller_info): they make their calls without a retry decorator, so
botocore's own retries are all they have. The inventories give them botocore's standard mode with 10 retries
(`cutover_aws.aws_config`, group_vars/all/aws.yml); with botocore's default (3 attempts) one burst of throttling
failed monitoring.yml in the soak (seeds 3 and 5). Here a play that calls amazon.aws.cloudwatch_metric_alarm
the way monitoring.yml does (module_defaults group/cutover.local.aws: cutover_aws) rides out a burst of
Throttling on PutMetricAlarm and of 503 on DescribeAlarms, and fails on the same bursts without the setting."""
from __future__ import annotations

import json

from rehearsal.proxy import run_playbook

ALARM = "naver-sms-cutover-sdk-retries"
BURST = 4  # more than botocore's default attempts (3), fewer than the inventories' (11)
PLAY = f"""---
- name: Create one alarm with an amazon.aws module, as monitoring.yml does
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/cutover.local.aws: "{{{{ cutover_aws }}}}"
  tasks:
    - name: Create the alarm
      amazon.aws.cloudwatch_metric_alarm:
        name: {ALARM}
        namespace: NaverSms/Cutover
        metric_name: Errors
        statistic: Sum
        period: 300
        comparison: GreaterThanOrEqualToThreshold
        threshold: 1
        evaluation_periods: 1
        state: present
"""
BURSTS = (("^DescribeAlarms$", "503"), ("^PutMetricAlarm$", "throttle"))


def _run(proxy, tmp_path, *args):
    play = tmp_path / "alarm.yml"
    play.write_text(PLAY)
    for match, kind in BURSTS:
        proxy.script(match, kind, BURST)
    return run_playbook(proxy, str(play), *args, env={"CUTOVER_REPORTS_DIR": str(tmp_path / "reports")},
                        timeout=300)


def _alarms(aws):
    return [a["AlarmName"] for a in aws("cloudwatch").describe_alarms(AlarmNamePrefix=ALARM)["MetricAlarms"]]


def test_an_amazon_aws_module_rides_out_bursts_of_throttling_and_503(proxy, aws, tmp_path):
    run = _run(proxy, tmp_path)
    assert run.rc == 0, f"{run.stdout[-3000:]}\n{run.stderr[-1500:]}"
    faulted = [(c["operation"], c["fault"]) for c in run.faults]
    assert faulted == [("DescribeAlarms", "503")] * BURST + [("PutMetricAlarm", "throttle")] * BURST, faulted
    assert _alarms(aws) == [ALARM]


def test_without_the_setting_the_same_bursts_fail_the_task(proxy, aws, tmp_path):
    """The control: botocore's default (3 attempts) and no retry decorator in the module."""
    run = _run(proxy, tmp_path, "-e", json.dumps({"cutover_aws_sdk_config": {}}))
    assert run.rc != 0
    assert "fatal: [localhost]: FAILED!" in run.stdout and "ServiceUnavailable" in run.stdout, run.stdout[-3000:]
    assert len(run.faults) == 3  # botocore's 3 attempts, nothing more
    assert _alarms(aws) == []
