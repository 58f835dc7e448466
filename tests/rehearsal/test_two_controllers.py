"""Two controllers, one migration: compare.yml run alternately from two separate clones of the repository
(separate reports/, nothing shared but AWS) gives the same evidence and metrics as one controller running
every slot, also for a slot compared through 20 % transient faults; compare.yml's own contract on the first slot
(refused without a baseline, check mode writes nothing, the apply's writes in order, a rerun changes nothing);
both clones comparing the same slot at once: one proceeds, the other is refused by the lock naming owner, ticket, playbook and age; a third fresh
clone's status.yml sees every compared slot.

`make test` runs 2 alternating slots (one from each clone, the second through the faults); the count is all
that changes in bench/bench_long_tests.py, which runs the same test with 12 (CUTOVER_TWO_CONTROLLERS_SLOTS)."""
from __future__ import annotations

import json
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from module_utils.cutover import compare_aws
from module_utils.cutover.compare_plan import parse_time
from rehearsal.comparison import compare_slot, grace
from rehearsal.proxy import TRANSIENT
from tests.ansible_runner import PROJECT_DIR, run_playbook
from tests.conftest import STATE_BUCKET, migration_writes
from tests.rehearsal.conftest import DAY, bucket_baseline

SLOT = timedelta(minutes=20)
SLOTS = int(os.environ.get("CUTOVER_TWO_CONTROLLERS_SLOTS", "2"))  # alternating slots (the bench: 12)
FIRST = 0  # the slot whose compare.yml runs in check mode first, then applies, then reruns (through the proxy)
FAULTY = 1  # the slot whose compare.yml goes through the proxy's transient faults
TICKET = "CHG0000042"
PREFIX = "comparison/123456789012/ap-northeast-2/evidence/"


def clone(target):
    subprocess.run(["git", "clone", "-q", str(PROJECT_DIR), str(target)], check=True, timeout=120)
    return target


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def first_writes(aws, proxy, run):
    """compare.yml's first apply (was test_comparison.py's playbook test): it publishes at the slot time (metric, log
    line), then writes the evidence and the new snapshots to the bucket."""
    assert run.changed == 1, run.messages()
    (key,) = [o["Key"] for o in aws("s3").list_objects_v2(Bucket=STATE_BUCKET, Prefix=PREFIX)["Contents"]]
    snapshots = f"PUT /{STATE_BUCKET}/comparison/123456789012/ap-northeast-2/snapshots/"
    assert migration_writes(proxy.calls()) == [
        "PutMetricData", "CreateLogGroup", "CreateLogStream", "PutLogEvents", f"PUT /{STATE_BUCKET}/{key}",
        snapshots + "sms.json", snapshots + "sms_v2.json"]
    evidence = json.loads(aws("s3").get_object(Bucket=STATE_BUCKET, Key=key)["Body"].read())
    assert evidence["summary"]["match_percentage"] == 100.0
    lines = [json.loads(e["message"]) for e in
             aws("logs").filter_log_events(logGroupName="/naver-sms/comparison")["events"]]
    assert [(line["slot"], line["match_percentage"], line["shadow_leaks"]) for line in lines] == [
        (evidence["slot"], 100.0, 0)]


def both_at_once(controllers, as_of):
    """compare.yml started from both clones at the same moment, for the same slot."""
    start = threading.Barrier(len(controllers))

    def operator(home):
        start.wait()
        return run_playbook("compare.yml", extra_vars={"cutover_compare_as_of": as_of, "change_ticket": TICKET},
                            project_dir=home, env={"CUTOVER_REPORTS_DIR": str(home / "reports")})

    with ThreadPoolExecutor(len(controllers)) as pool:
        return list(pool.map(operator, controllers))


@pytest.mark.slow
def test_two_controllers_alternating_equal_one_controller(world, bootstrapped, aws, proxy, tmp_path, monkeypatch):
    controllers = [clone(tmp_path / "cron-host"), clone(tmp_path / "laptop")]
    # the reference: one controller comparing every slot in-process, its state in its own directory
    # (it publishes nothing, so every datapoint in CloudWatch comes from the two clones)
    monkeypatch.setattr(compare_aws, "publish", lambda *args, **kwargs: None)
    reference = tmp_path / "one-controller"

    world.new_rule("shadow")
    start = DAY + timedelta(hours=1)
    world.scheduler.run(1, start=start)
    # without the baseline start_parallel.yml takes, compare.yml refuses, saying what to run first
    first = controllers[0]
    no_baseline = run_playbook("compare.yml", extra_vars={"cutover_compare_as_of": iso(start + grace())},
                               project_dir=first, env={"CUTOVER_REPORTS_DIR": str(first / "reports")})
    assert no_baseline.rc != 0 and "no comparison snapshot of table sms at s3://" in no_baseline.messages()
    assert "Run start_parallel.yml first" in no_baseline.messages()
    bucket_baseline(bootstrapped, start + grace())
    assert compare_slot(start + grace(), reference, world.cfg)["baseline"]
    for index in range(SLOTS):
        world.scheduler.run(1)
        as_of = iso(start + (index + 1) * SLOT + grace())
        home = controllers[index % 2]
        env = {"CUTOVER_REPORTS_DIR": str(home / "reports")}
        if index == FIRST:  # through the proxy without faults: check mode first, then the apply below
            env["CUTOVER_EMULATOR_URL"] = proxy.url
            proxy.clear()
            check = run_playbook("compare.yml", check=True, extra_vars={"cutover_compare_as_of": as_of},
                                 project_dir=home, env=env)
            assert check.rc == 0 and check.changed == 1, check.messages()
            assert proxy.mutating_calls() == []
            assert aws("s3").list_objects_v2(Bucket=STATE_BUCKET, Prefix=PREFIX).get("KeyCount", 0) == 0
        if index == FAULTY:  # through the proxy, 20 % of the calls answered by a transient fault
            env["CUTOVER_EMULATOR_URL"] = proxy.url
            proxy.set_faults(rate=0.2, kinds=list(TRANSIENT), seed=21, max_faults=400)
        run = run_playbook("compare.yml", extra_vars={"cutover_compare_as_of": as_of}, project_dir=home, env=env)
        if index == FAULTY:
            proxy.set_faults()
            assert proxy.injected(), "the faulty slot met no fault"
        assert run.rc == 0, f"slot {index} from {home.name}: {run.messages()}"
        if index == FIRST:
            first_writes(aws, proxy, run)
            proxy.clear()
            again = run_playbook("compare.yml", extra_vars={"cutover_compare_as_of": as_of}, project_dir=home, env=env)
            assert again.rc == 0 and again.changed == 0, again.messages()
            assert migration_writes(proxy.calls()) == []
        compare_slot(start + (index + 1) * SLOT + grace(), reference, world.cfg)

    # the next slot, compared by both clones at once: one proceeds, the other is refused naming the holder
    world.scheduler.run(1)
    as_of = start + (SLOTS + 1) * SLOT + grace()
    runs = both_at_once(controllers, as_of.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert sorted(run.rc != 0 for run in runs) == [False, True], [run.messages()[-2000:] for run in runs]
    refused = " ".join(next(run for run in runs if run.rc).messages().split())
    for part in ("the migration is locked by another run: owner", f"ticket {TICKET}", "playbook compare.yml",
                 "ago (", "Wait until that run ends"):
        assert part in refused, refused[-3000:]
    compare_slot(as_of, reference, world.cfg)
    compared = SLOTS + 1

    s3 = aws("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=PREFIX)["Contents"])
    assert len(keys) == compared  # the baseline (start_parallel.yml's) publishes nothing
    expected = sorted(p.name for p in (reference / "state" / "comparison" / "evidence").iterdir())
    assert [k.rsplit("/", 1)[1] for k in keys] == expected
    cloudwatch = aws("cloudwatch")
    for key in keys:
        stored = json.loads(s3.get_object(Bucket=STATE_BUCKET, Key=key)["Body"].read())
        alone = json.loads((reference / "state" / "comparison" / "evidence" / key.rsplit("/", 1)[1]).read_text())
        assert stored == alone, key
        slot = parse_time(stored["slot"], "slot")
        summary = stored["summary"]
        for metric, value in (("executions_compared", summary["executions_compared"]),
                              ("discrepancies", summary["discrepancies"]),
                              ("records_created_new", summary["records_created"]["new"])):
            points = cloudwatch.get_metric_statistics(
                Namespace="naver-sms/comparison", MetricName=metric, StartTime=slot, EndTime=slot + SLOT,
                Period=1200, Statistics=["SampleCount", "Sum"])["Datapoints"]
            assert [(p["SampleCount"], p["Sum"]) for p in points] == [(1.0, float(value))], (key, metric)
    summaries = [json.loads(s3.get_object(Bucket=STATE_BUCKET, Key=k)["Body"].read())["summary"] for k in keys]
    assert sum(row["records_created"]["old"] for row in summaries) > 0  # tables compared, not only SMS and Telegram
    assert sum(row["executions_compared"] for row in summaries) >= compared - 1
    # each clone's reports/ holds only its own convenience copies
    copies = [sorted(p.name for p in (home / "reports" / "comparison").iterdir()) for home in controllers]
    assert sorted(map(len, copies)) == [SLOTS // 2, SLOTS // 2 + 1] and not set(copies[0]) & set(copies[1])

    fresh = clone(tmp_path / "awx-job")
    status = run_playbook("status.yml", project_dir=fresh, env={"CUTOVER_REPORTS_DIR": str(fresh / "reports")})
    assert status.rc == 0, status.messages()
    stats = status.result["global_custom_stats"]
    assert stats["status_compared_slots"] == [k.rsplit("/", 1)[1][:-5] for k in keys]
    assert stats["status_phase"] == "parallel"
    assert stats["status_lock"] is None
