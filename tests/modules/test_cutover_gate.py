"""cutover_gate, Decision Point 1, against the emulator: the image, function, rule, monitoring, backup
and the shadow probe (rehearsal/probe.py) measured in AWS; read-only."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from rehearsal.config import Config
from rehearsal.image_archive import build_archive
from rehearsal.probe import probe
from tests.conftest import SharedWorld, aws_client
from tests.module_runner import run_module
from tests.modules.ecr_helpers import REPO, push

REGISTRY = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
FUNCTION = "naverplace_send_inform_v2"
ROLE = "naver-sms-automation-lambda-role"
RULE = "naver-sms-automation-v2-trigger"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}
ALARMS = ["naver-sms-comparison-discrepancies"]
TOPICS = {"critical": "naver-sms-cutover-critical"}
ACKS = {"rollback_rehearsed": {"by": "Kim Minsu", "ref": "CHG0012345"}}


def _build(url: str, archive, directory) -> dict:
    """What phases 5.1-5.4 leave before Decision Point 1: every DP1 item in place, and the shadow probe measured."""
    digest = push(url, archive, tags=["v1.0.0", "latest"], scan=False)["digest"]
    aws_client("iam", url).create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    created = run_module("lambda_image_function", {"name": FUNCTION, "image": f"{REGISTRY}/{REPO}:v1.0.0",
                                                   "role": ROLE}, url)
    assert created["changed"], created
    alias_arn = aws_client("lambda", url).get_alias(FunctionName=FUNCTION, Name="live")["AliasArn"]
    assert run_module("schedule_rule", {"name": RULE, "schedule": "cron(0/20 * * * ? *)", "state": "DISABLED",
                                        "mode": "shadow", "target_arn": alias_arn}, url)["changed"]
    cloudwatch, sns = aws_client("cloudwatch", url), aws_client("sns", url)
    cloudwatch.put_metric_alarm(AlarmName=ALARMS[0], Namespace="naver-sms/comparison", MetricName="discrepancies",
                                Statistic="Maximum", Period=1200, EvaluationPeriods=1, Threshold=0,
                                ComparisonOperator="GreaterThanThreshold")
    topic = sns.create_topic(Name=TOPICS["critical"])["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="https://hooks.example/slack")
    cloudwatch.put_dashboard(DashboardName="naver-sms-cutover", DashboardBody=json.dumps({"widgets": []}))
    aws_client("dynamodb", url).create_table(
        TableName="sms", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "booking_num", "KeyType": "HASH"}, {"AttributeName": "phone", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "booking_num", "AttributeType": "S"},
                              {"AttributeName": "phone", "AttributeType": "S"}])
    for action in ("backup", "restore"):
        assert run_module("dynamodb_state", {"action": action, "table": "sms", "backup_name": "sms-before-parallel-run",
                                             "target_table": "sms_v2"}, url)["changed"]
    cfg = Config(url=url, directory=directory)
    return {"digest": digest, "cfg": cfg, "probe": probe(cfg, FUNCTION)}


def _present(world: dict) -> bool:
    try:
        aws_client("lambda", world["cfg"].url).get_alias(FunctionName=FUNCTION, Name="live")
    except ClientError:
        return False
    return True


@pytest.fixture(scope="module")
def dp1_world(emulator_server, tmp_path_factory):
    """One DP1 world for the module: the gate only reads AWS, and the probe writes the shadow table only (the
    deliveries it counts are those of its own invocation), so the tests cannot disturb each other."""
    root = tmp_path_factory.mktemp("gate")
    archive = build_archive(root / "img.tar", layers=[2048], seed=7)
    return SharedWorld(emulator_server.url, lambda url: _build(url, archive, root / "rehearsal"), _present)


@pytest.fixture
def ready(dp1_world, shared_emulator):
    """What phases 5.1-5.4 leave before Decision Point 1 (the module's shared world, built once)."""
    return dp1_world.get()


def dp1(endpoint, **overrides):
    args = {"decision": "parallel", "function": FUNCTION, "repository": REPO, "image_tags": ["latest", "v1.0.0"],
            "new_rule": RULE, "alarms": ALARMS, "alarm_topics": TOPICS, "dashboard": "naver-sms-cutover",
            "backup_name": "sms-before-parallel-run", "acknowledgements": ACKS}
    args.update(overrides)
    return run_module("cutover_gate", args, endpoint)


def by_name(result):
    return {c["name"]: c for c in result["criteria"]}


def test_dp3_replays_alarms_from_their_series_where_alarm_history_is_not_offered(emulator, aws):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    cutover_at = now - timedelta(days=8)
    cloudwatch = aws("cloudwatch")
    dims = [{"Name": "FunctionName", "Value": FUNCTION}]
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": name, "Dimensions": dims, "Timestamp": now - timedelta(days=day), "Value": value}
        for day in range(1, 8) for name, value in (("Invocations", 72.0), ("Errors", 0.0), ("Duration", 4000.0))])
    cloudwatch.put_metric_data(Namespace="naver-sms/comparison", MetricData=[
        {"MetricName": "discrepancies", "Timestamp": now - timedelta(days=2), "Value": 3.0}])
    cloudwatch.put_metric_alarm(AlarmName=ALARMS[0], Namespace="naver-sms/comparison", MetricName="discrepancies",
                                Statistic="Maximum", Period=1200, EvaluationPeriods=1, Threshold=0,
                                ComparisonOperator="GreaterThanThreshold")
    acks = {"zero_customer_complaints": ACKS["rollback_rehearsed"], "po_approval": ACKS["rollback_rehearsed"]}
    args = {"decision": "decommission", "function": FUNCTION, "alarms": ALARMS, "acknowledgements": acks,
            "history": [{"playbook": "cutover.yml", "result": "ok",  # the ledger's run event of the cutover
                         "facts": {"live": "new", "switched_at": cutover_at.strftime("%Y-%m-%dT%H:%M:%SZ")}}]}
    result = run_module("cutover_gate", args, emulator)
    criteria = by_name(result)
    assert result["outcome"] == "no_go", result
    assert criteria["no alarm went to ALARM since cutover"]["status"] == "fail"
    assert ALARMS[0] in criteria["no alarm went to ALARM since cutover"]["measured"]
    assert result["evidence"]["alarms_since"]["source"] == "recomputed from the metric series"
    assert criteria["error rate since cutover"]["measured"] == "0.00% (0 of 504)"
    assert criteria["days since cutover"]["status"] == criteria["no rollback recorded"]["status"] == "pass"
    unknown = by_name(run_module("cutover_gate", dict(args, history=None), emulator))
    assert unknown["no rollback recorded"]["status"] == unknown["days since cutover"]["status"] == "inconclusive"
    never = by_name(run_module("cutover_gate", dict(args, history=[]), emulator))
    assert never["days since cutover"]["status"] == "inconclusive" and never["no rollback recorded"]["status"] == "pass"


def test_dp1_is_go_when_every_item_is_measured_and_the_probe_delivered_nothing(ready, shared_proxy):
    proxy, measured = shared_proxy, ready["probe"]
    assert (measured["deliveries"], measured["digest"]) == (0, ready["digest"]), measured
    proxy.clear()
    result = dp1(proxy.url, shadow_probe=measured, image_digest=ready["digest"])
    assert result["outcome"] == "go", result["reasons"]
    assert not result["changed"] and proxy.mutating_calls() == []
    assert result["expires_at"] is None
    criteria = by_name(result)
    assert criteria["image in ECR with its tags"]["measured"] == (
        f"latest={ready['digest'][:19]}, v1.0.0={ready['digest'][:19]}")
    assert criteria["shadow probe"]["measured"].startswith("0 deliveries")


def test_a_probe_of_an_image_that_ignores_shadow_or_of_a_missing_alias_is_no_go(ready):
    leaked = probe(ready["cfg"], FUNCTION, fault="shadow_leak")
    assert leaked["deliveries"] >= 1
    missing = probe(ready["cfg"], FUNCTION, alias="nope")
    assert missing["deliveries"] is None and "alias nope of function" in missing["error"]
    for measured, reason in ((leaked, "ignores {\"mode\": \"shadow\"}"), (missing, "alias nope")):
        result = dp1(ready["cfg"].url, shadow_probe=measured)
        assert result["outcome"] == "no_go"
        criterion = by_name(result)["shadow probe"]
        assert criterion["status"] == "fail" and reason in criterion["reason"], criterion


NO_GO = [
    ({"acknowledgements": {}}, "attested: rollback_rehearsed", "fail", "missing acknowledgement"),
    ({"image_tags": ["latest", "v9.9.9"]}, "image in ECR with its tags", "fail", "v9.9.9"),
    ({"alarms": []}, "monitoring alarms present", "inconclusive", "cutover_monitoring_alarms is empty"),
    ({"alarm_topics": {"critical": "naver-sms-typo"}}, "alarm topics subscribed", "fail", "naver-sms-typo"),
    ({"backup_name": "no-such-backup"}, "old table backed up", "fail", "take the backup"),
    ({"probe_mode": "acknowledge"}, "shadow probe (attested)", "fail", "missing acknowledgement shadow_probe"),
]


def test_dp1_no_go_names_what_is_missing(ready):
    measured = ready["probe"]
    for overrides, name, status, reason in NO_GO:  # one world, one case per gate run
        result = dp1(ready["cfg"].url, shadow_probe=measured, **overrides)
        assert result["outcome"] == "no_go", overrides
        criterion = by_name(result)[name]
        assert criterion["status"] == status and reason in criterion["reason"], criterion


@pytest.mark.slow
def test_gate_playbook_records_a_dp1_go_that_the_ledger_shows(ready, shared_emulator, state_dir):
    """gate.yml -e decision=parallel: the probe runs, every DP1 item passes, the go is in the ledger
    (start_parallel.yml reads it there)."""
    from tests.ansible_runner import run_playbook
    from tests.conftest import LEDGER_TABLE, bootstrap_state

    bootstrap_state(shared_emulator)  # what playbooks/bootstrap.yml creates (idempotent on the shared world)
    run = run_playbook("gate.yml", extra_vars={
        "decision": "parallel", "change_ticket": "CHG0012345", "cutover_image_digest": ready["digest"],
        "cutover_monitoring_alarms": ALARMS, "cutover_alarm_topics": TOPICS, "cutover_gate_acks": ACKS})
    assert run.rc == 0, run.messages()
    read = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "read"}, shared_emulator)
    decision = read["decisions"]["parallel"]
    assert (decision["outcome"], decision["expired"]) == ("go", False)
    recorded, expires = (datetime.fromisoformat(decision[k].replace("Z", "+00:00")) for k in ("recorded_at", "expires_at"))
    assert expires - recorded == timedelta(hours=24)  # cutover_gate_expires_in_hours.parallel
    assert {c["name"]: c["status"] for c in decision["criteria"]}["shadow probe"] == "pass"
    assert read["lock"] is None
    assert (read["events"][0]["playbook"], read["events"][0]["result"], read["events"][0]["facts"]["outcome"]) == \
        ("gate.yml", "ok", "go")
