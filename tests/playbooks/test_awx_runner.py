"""The playbooks run unchanged under AWX's engine: ansible-runner, a fresh private data directory,
AWX's environment, extra vars through the API; the job's events say what happened.

Two jobs: status.yml (which runs the preflight role: it also carries the preflight.yml job) and compare.yml
over four slots (a job reads the tables' snapshots from the state bucket). The inventory is imported into the
job's private data dir as AWX does (tests/awx_runner.py ``imported_inventory``): nothing of the project next to it.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from rehearsal.comparison import grace
from tests.awx_runner import awx_process_env, custom_stats, failure_messages, private_data_dir, run_job, task_results
from tests.rehearsal.conftest import DAY, bucket_baseline, world  # noqa: F401  (fixture)

SLOT = timedelta(minutes=20)
TICKET = "CHG0004242"


@pytest.fixture
def job_dir(tmp_path, world, bootstrapped, monkeypatch):  # noqa: F811
    """A fresh private data dir; the emulator (bootstrapped: ledger table, state bucket) reached as a
    credential of the job would inject it."""
    url = world.cfg.url
    awx_process_env(monkeypatch)
    directory = private_data_dir(tmp_path)
    assert not (directory / "project" / "reports").exists()
    # AWX's imported inventory: nothing of the project next to it (preflight reads the pin from the project)
    assert not (directory / "inventory" / "group_vars").exists()
    return directory, {"CUTOVER_EMULATOR_URL": url}


def assert_the_job_ran_as_awx_runs_it(directory, runner, playbook: str, tasks: list[str]) -> None:
    """What every job shows: successful, the tasks' results among its events, the change ticket and
    environment in its artifacts, its change record (AWX's job id and user) in its own project copy."""
    assert (runner.status, runner.rc) == ("successful", 0), failure_messages(runner)
    assert runner.stats["failures"] == {} and "localhost" in runner.stats["ok"]
    for task in tasks:
        assert task_results(runner, task), f"no result of task '{task}' among the job's events"
    assert custom_stats(runner) | {"change_ticket": TICKET, "cutover_environment": "test",
                                   "cutover_account_id": "123456789012"} == custom_stats(runner)
    [record] = (directory / "project" / "reports" / "test" / TICKET).glob("*.json")
    record = json.loads(record.read_text())
    assert (record["job"], record["operator"]) == (f"AWX job 4242 (naver-sms {playbook})", "awx-operator")
    assert record["playbook"] == f"playbooks/{playbook}" and record["status"] == "ok"
    assert record["inventory"].endswith("inventory/hosts")
    # the reports dir is the project's, not a sibling of the imported inventory
    assert (directory / "project" / "reports" / "test" / "preflight.jsonl").is_file()
    assert not (directory.parent / "reports").exists()


def test_the_status_job_runs_from_a_fresh_private_data_dir(job_dir):
    """Also carries the preflight.yml job (its role's result is among this job's events: the same role, the same
    task; preflight.yml's own refusals: tests/playbooks/test_preflight.py)."""
    directory, credentials = job_dir
    runner = run_job(directory, "status.yml", extravars={"change_ticket": TICKET}, credentials=credentials)
    assert_the_job_ran_as_awx_runs_it(directory, runner, "status.yml", [
        "Publish what preflight established", "Work out the phase, the figures and the next step"])
    # the page in the job's project copy; the job's artifacts say the phase
    assert (directory / "project" / "reports" / "test" / "status.html").read_text().startswith("<!DOCTYPE html>")
    stats = custom_stats(runner)
    assert stats["status_phase"] == "not_started"  # bootstrapped, no playbook has run yet
    assert stats["status_next_step"]["command"] == \
        f"ansible-playbook -i inventories/test playbooks/deploy_image.yml -e change_ticket={TICKET}"


def slots_run(world, count):  # noqa: F811
    """count slots; the comparison's baseline (start_parallel.yml's, in the state bucket) after the first."""
    start = DAY + timedelta(hours=1)  # 10:00 KST: bookings arrive, guides are due
    world.new_rule("shadow")
    world.scheduler.run(1, start=start)
    bucket_baseline(world.cfg.url, start + grace())
    world.scheduler.run(count - 1)
    return start


def test_compare_reports_each_slot_through_the_job_events(job_dir, world):  # noqa: F811
    """Also what every job shows (assert_the_job_ran_as_awx_runs_it): this was a second compare.yml job."""
    directory, credentials = job_dir
    start = slots_run(world, 4)
    as_of = start + 4 * SLOT + grace()
    runner = run_job(directory, "compare.yml", credentials=credentials,
                     extravars={"change_ticket": TICKET, "cutover_compare_as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert_the_job_ran_as_awx_runs_it(directory, runner, "compare.yml", ["Compare both tables and both log groups"])
    [result] = task_results(runner, "Compare both tables and both log groups")
    # a job has nothing of an earlier one on its disk: the tables' snapshots come from the state bucket
    assert result["baseline"] is False
    settled = (start + 2 * SLOT).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result["observed_slot"] == (start + 4 * SLOT).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result["end"] == settled and result["slots"][settled]["sms_sent"]["old"]["total"] > 0
    [loop] = task_results(runner, "Show the result of each compared slot")
    shown = [item["msg"] for item in loop["results"]]
    assert any(line.startswith(f"{settled}: ") and "% match" in line for line in shown)

