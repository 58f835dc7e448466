"""The migration's state in AWS: bootstrap.yml, preflight's requirement of it, and the lock between operators."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from rehearsal.image_archive import build_archive
from tests.ansible_runner import run_playbook
from tests.conftest import migration_writes
from tests.module_runner import run_module
from tests.modules.ecr_helpers import set_scan_findings

LEDGER = "naver-sms-cutover-ledger"


def test_every_playbook_refuses_before_bootstrap_and_bootstrap_is_idempotent(emulator, proxy, tmp_path):
    env = {"CUTOVER_EMULATOR_URL": proxy.url, "CUTOVER_REPORTS_DIR": str(tmp_path)}
    refused = run_playbook("compare.yml", env=env)
    assert refused.rc != 0 and "run playbooks/bootstrap.yml first" in refused.messages(), refused.messages()
    assert proxy.mutating_calls() == []

    steps = []
    for check in (True, False, True, False):
        proxy.clear()
        run = run_playbook("bootstrap.yml", check=check, diff=True, env=env)
        assert run.rc == 0, run.messages()
        steps.append((run.changed, [c["operation"] for c in proxy.mutating_calls()]))
    assert steps[0] == (2, []) and steps[1][0] == 2 and steps[1][1]
    assert steps[2] == (0, []) and steps[3] == (0, [])

    proxy.clear()
    other = run_playbook("compare.yml", env=env, extra_vars={"cutover_state_bucket": "naver-sms-cutover-state-654654307503"})
    assert other.rc != 0 and "does not name this inventory's account 123456789012" in other.messages()
    assert proxy.mutating_calls() == []


def _end(run) -> float:
    ends = [t["hosts"]["localhost"] and t["task"]["duration"]["end"]
            for p in run.result["plays"] for t in p["tasks"] if t["task"].get("duration")]
    return datetime.fromisoformat(max(ends).replace("Z", "+00:00")).timestamp()


def _task_start(run, name) -> float:
    for play in run.result["plays"]:
        for task in play["tasks"]:
            if name in task["task"]["name"]:
                return datetime.fromisoformat(task["task"]["duration"]["start"].replace("Z", "+00:00")).timestamp()
    raise AssertionError(f"no task {name}")


@pytest.mark.slow
def test_two_operators_one_proceeds_the_other_is_refused_and_the_lock_is_free_after_a_failure(
        bootstrapped, tmp_path):
    archive = build_archive(tmp_path / "image.tar", layers=[4096, 8192])
    set_scan_findings(bootstrapped, {"CRITICAL": 1})  # the run that gets the lock fails on purpose at the scan gate
    env = {"CUTOVER_IMAGE_ARCHIVE": str(archive), "CUTOVER_REPORTS_DIR": str(tmp_path / "reports")}

    def operator(delay):
        time.sleep(delay)
        return run_playbook("deploy_image.yml", env=env)

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(operator, (0, 0.5)))
    assert all(run.rc != 0 for run in runs)
    refused = [r for r in runs if "the migration is locked by another run" in r.messages()]
    proceeded = [r for r in runs if r not in refused]
    assert len(refused) == 1 and len(proceeded) == 1, [r.messages()[-500:] for r in runs]
    message = refused[0].messages()
    assert "owner " in message and "playbook deploy_image.yml" in message
    assert _end(refused[0]) - _task_start(refused[0], "Take the migration lock") <= 10
    assert "CRITICAL" in proceeded[0].messages() and proceeded[0].task_results("Push the archive")

    ledger = run_module("cutover_ledger", {"table": LEDGER, "action": "read"}, bootstrapped)
    assert ledger["lock"] is None
    assert sorted(e["result"] for e in ledger["events"]) == ["failed", "refused"]
    assert {e["playbook"] for e in ledger["events"]} == {"deploy_image.yml"}


def test_the_lock_is_released_when_the_runs_event_cannot_be_recorded(bootstrapped):
    """The ledger role's fallback (roles/ledger/tasks/unlock.yml): when the run's event cannot be built (here a
    fact names an undefined variable), the lock is still released and the run fails saying the event is missing;
    the next run takes the lock and records its event."""
    probe = "../tests/playbooks/files/ledger_event_probe.yml"
    broken = run_playbook(probe, extra_vars={"change_ticket": "CHG0000078", "probe_break_event": True})
    assert broken.rc != 0
    assert "the lock is released, but this run's event is not in the ledger" in broken.messages(), broken.messages()
    assert "probe_undefined_fact" in broken.messages()
    ledger = run_module("cutover_ledger", {"table": LEDGER, "action": "read"}, bootstrapped)
    assert ledger["lock"] is None
    assert [e for e in ledger["events"] if e["playbook"] == "ledger_event_probe.yml"] == []

    after = run_playbook(probe, extra_vars={"change_ticket": "CHG0000078"})
    assert after.rc == 0, after.messages()
    ledger = run_module("cutover_ledger", {"table": LEDGER, "action": "read"}, bootstrapped)
    assert ledger["lock"] is None
    [event] = [e for e in ledger["events"] if e["playbook"] == "ledger_event_probe.yml"]
    assert (event["result"], event["ticket"], event["facts"]) == ("ok", "CHG0000078", {"probe": "recorded"})
