"""Two controllers, one migration (about 2 minutes idle; 7 under a heavy load): compare.yml run alternately from two separate clones of the
repository (separate reports/, nothing shared but AWS) gives the same evidence and metrics as one
controller running every slot; a third fresh clone's status.yml sees every compared slot."""
from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest

from module_utils.cutover import compare_aws
from module_utils.cutover.compare_plan import parse_time
from rehearsal.comparison import compare_slot, grace
from tests.ansible_runner import PROJECT_DIR, run_playbook
from tests.conftest import STATE_BUCKET
from tests.rehearsal.conftest import DAY, bucket_baseline

SLOT = timedelta(minutes=20)
SLOTS = 12
PREFIX = "comparison/123456789012/ap-northeast-2/evidence/"


def clone(target):
    subprocess.run(["git", "clone", "-q", str(PROJECT_DIR), str(target)], check=True, timeout=120)
    return target


@pytest.mark.slow
def test_two_controllers_alternating_equal_one_controller(world, bootstrapped, aws, tmp_path, monkeypatch):
    controllers = [clone(tmp_path / "cron-host"), clone(tmp_path / "laptop")]
    # the reference: one controller comparing every slot in-process, its state in its own directory
    # (it publishes nothing, so every datapoint in CloudWatch comes from the two clones)
    monkeypatch.setattr(compare_aws, "publish", lambda *args, **kwargs: None)
    reference = tmp_path / "one-controller"

    world.new_rule("shadow")
    start = DAY + timedelta(hours=1)
    world.scheduler.run(1, start=start)
    bucket_baseline(bootstrapped, start + grace())
    assert compare_slot(start + grace(), reference, world.cfg)["baseline"]
    for index in range(SLOTS):
        world.scheduler.run(1)
        as_of = (start + (index + 1) * SLOT + grace()).strftime("%Y-%m-%dT%H:%M:%SZ")
        home = controllers[index % 2]
        run = run_playbook("compare.yml", extra_vars={"cutover_compare_as_of": as_of}, project_dir=home,
                           env={"CUTOVER_REPORTS_DIR": str(home / "reports")})
        assert run.rc == 0, f"slot {index} from {home.name}: {run.messages()}"
        compare_slot(start + (index + 1) * SLOT + grace(), reference, world.cfg)

    s3 = aws("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=PREFIX)["Contents"])
    assert len(keys) == SLOTS  # the 12 compared slots (the baseline, start_parallel.yml, publishes nothing)
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
    assert sum(row["executions_compared"] for row in summaries) >= SLOTS - 1
    # each clone's reports/ holds only its own convenience copies
    copies = [sorted(p.name for p in (home / "reports" / "comparison").iterdir()) for home in controllers]
    assert len(copies[0]) == len(copies[1]) == SLOTS // 2 and not set(copies[0]) & set(copies[1])

    fresh = clone(tmp_path / "awx-job")
    status = run_playbook("status.yml", project_dir=fresh, env={"CUTOVER_REPORTS_DIR": str(fresh / "reports")})
    assert status.rc == 0, status.messages()
    stats = status.result["global_custom_stats"]
    assert stats["status_compared_slots"] == [k.rsplit("/", 1)[1][:-5] for k in keys]
    assert stats["status_phase"] == "parallel"
    assert stats["status_lock"] is None
