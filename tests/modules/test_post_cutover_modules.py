"""post_cutover_check and lambda_retire against the emulator (through the recording proxy)."""
from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from rehearsal import world
from tests.module_runner import run_module
from tests.modules.ecr_helpers import operations

NEW, OLD = "naverplace_send_inform_v2", "naverplace_send_inform"
STEP = timedelta(minutes=20)
# a cutover of yesterday (CloudWatch keeps what we put for two weeks; the parallel "week" is one day here)
CUT = datetime.now(timezone.utc).replace(minute=10, second=30, microsecond=0) - timedelta(days=1)
DAY = 120  # minutes: a short post-cutover day of 6 slots
ALARM = "naver-sms-cutover-v2-duration"


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def cutover_event(at=CUT):
    return {"playbook": "cutover.yml", "result": "ok", "started_at": iso(at),
            "facts": {"live": "new", "switched_at": iso(at), "switch_clock_at": iso(at)}}


def put_world(cloudwatch, skip_slot=None, sms_per_slot=8):
    first = CUT.replace(minute=20, second=0)
    lam, fn_metrics, comparison = [], [], []
    for index in range(6):
        slot = first + STEP * index
        if slot == skip_slot:
            continue
        dims = [{"Name": "FunctionName", "Value": NEW}]
        lam += [{"MetricName": "Invocations", "Dimensions": dims, "Timestamp": slot, "Value": 1},
                {"MetricName": "Errors", "Dimensions": dims, "Timestamp": slot, "Value": 0},
                {"MetricName": "Duration", "Dimensions": dims, "Timestamp": slot, "Value": 3200}]
        fn_metrics.append({"MetricName": "sens_api_calls", "Dimensions": dims, "Timestamp": slot, "Value": sms_per_slot})
    for index in range(1, 19):  # the parallel run: 18 slots before the cutover, 10 SMS each
        comparison.append({"MetricName": "sms_sent_old", "Timestamp": first - STEP * index, "Value": 10})
    cloudwatch.put_metric_alarm(AlarmName=ALARM, Namespace="AWS/Lambda", MetricName="Duration", Statistic="Maximum",
                                Period=60, EvaluationPeriods=1, Threshold=240000,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=lam)
    cloudwatch.put_metric_data(Namespace="naver-sms/automation", MetricData=fn_metrics)
    cloudwatch.put_metric_data(Namespace="naver-sms/comparison", MetricData=comparison)


def check(url, events, **extra):
    args = {"events": events, "function": NEW, "as_of": iso(CUT + timedelta(minutes=DAY + 30)), "day_minutes": DAY,
            "parallel_days": 0.25, "alarms": [ALARM]}
    args.update(extra)
    return run_module("post_cutover_check", args, url)


@pytest.mark.parametrize("skip, sms, findings", [
    (False, 8, []),                                                        # 48 delivered vs 60 expected: in line
    (True, 8, ["every slot executed once"]),                               # a slot without a run
    (False, 2, ["SMS delivered in line with the parallel week"]),         # a sudden drop: 12 of 60
])
def test_a_day_after_the_cutover(proxy, aws, skip, sms, findings):
    put_world(aws("cloudwatch"), skip_slot=CUT.replace(minute=40, second=0) if skip else None, sms_per_slot=sms)
    day = check(proxy.url, [cutover_event()])
    assert not day.get("failed"), day
    assert (day["day"], day["window"]["complete"], len(day["window"]["slots"])) == (1, True, 6)
    assert day["findings"] == findings and day["ok"] is (not findings)
    assert day["expected"] == 60 and not day["changed"]
    assert operations(proxy, mutating_only=True) == []


@pytest.mark.parametrize("events, message", [
    ([], "no cutover recorded in the ledger"),
    ([cutover_event(), {"playbook": "rollback.yml", "result": "ok", "started_at": iso(CUT + STEP),
                        "facts": {"live": "old", "switch_clock_at": iso(CUT + STEP)}}], "the old function is live"),
])
def test_refused_before_any_cutover_without_an_aws_call(proxy, events, message):
    day = check(proxy.url, events)
    assert day.get("failed") and message in day["msg"]
    assert operations(proxy) == []


def layer_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/x.py", "x = 1\n")
    return buffer.getvalue()


@pytest.mark.slow
def test_retire_four_steps_layers_and_purge(proxy, aws, emulator):
    world.seed(emulator)
    lam = aws("lambda")
    unused = lam.publish_layer_version(LayerName="chromedriver", Content={"ZipFile": layer_zip()})["LayerVersionArn"]
    args = {"function": OLD, "layers": ["chromedriver", "selenium"], "as_of": "2026-12-10T02:00:00Z"}
    runs = []
    for check_mode in (True, False, True, False):
        before = len(operations(proxy, mutating_only=True))
        result = run_module("lambda_retire", args, proxy.url, check=check_mode, diff=True)
        assert not result.get("failed"), result
        runs.append((result["changed"], len(operations(proxy, mutating_only=True)) - before))
    assert runs == [(True, 0), (True, 3), (False, 0), (False, 0)]  # tag, concurrency 0, one layer version
    assert result["layers_deleted"] == [] and sorted(result["layers_kept"]) == [
        "arn:aws:lambda:ap-northeast-2:123456789012:layer:chromedriver:1",
        "arn:aws:lambda:ap-northeast-2:123456789012:layer:selenium:1"]
    assert all(users == [f"{OLD}:$LATEST"] for users in result["layers_kept"].values())  # named
    tags = lam.list_tags(Resource=lam.get_function(FunctionName=OLD)["Configuration"]["FunctionArn"])["Tags"]
    assert (tags["archived-at"], tags["delete-after"]) == ("2026-12-10T02:00:00Z", "2027-01-09T02:00:00Z")
    assert lam.get_function_concurrency(FunctionName=OLD)["ReservedConcurrentExecutions"] == 0
    assert lam.get_function(FunctionName=OLD)["Code"]  # code and configuration kept
    assert unused not in [v["LayerVersionArn"] for v in lam.list_layer_versions(LayerName="chromedriver")["LayerVersions"]]
    # a later run never moves the archive date
    assert run_module("lambda_retire", dict(args, as_of="2026-12-20T00:00:00Z"), proxy.url)["changed"] is False

    before = len(operations(proxy, mutating_only=True))
    early = run_module("lambda_retire", dict(args, purge=True, as_of="2027-01-09T01:59:59Z"), proxy.url)
    assert early.get("failed") and "kept until 2027-01-09T02:00:00Z" in early["msg"]
    assert len(operations(proxy, mutating_only=True)) == before
    purged = run_module("lambda_retire", dict(args, purge=True, as_of="2027-01-09T02:00:00Z"), proxy.url)
    assert purged["purged"] and len(purged["layers_deleted"]) == 2 and not purged["exists"]
    assert run_module("lambda_retire", dict(args, purge=True, as_of="2027-01-10T00:00:00Z"), proxy.url)["changed"] is False
