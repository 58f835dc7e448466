"""Preflight refuses what does not belong together, before any mutating call, in one message.

Production-inventory runs here always reach the emulator (AWS_ENDPOINT_URL or a profile's
endpoint_url): never AWS itself.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.ansible_runner import BIN, PROJECT_DIR, run_playbook
from tests.conftest import _free_port

PROD_ACCOUNT = "654654307503"
TEST_ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def quiet_shell(tmp_path, monkeypatch):
    """A shell with no AWS settings of the operator's own; preflight's log in tmp."""
    for name in list(os.environ):
        if name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE")) or name in ("AWS_REGION", "AWS_URL", "EC2_URL"):
            monkeypatch.delenv(name)
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("CUTOVER_REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports" / "preflight.jsonl"


def failure(run) -> str:
    """The message of the task that refused."""
    failed = [r for r in run.task_results() if r.get("failed")]
    assert failed, f"expected a refusal, got rc={run.rc}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    return str(failed[0]["msg"])


def emulator_is_untouched(aws) -> None:
    assert aws("ecr").describe_repositories()["repositories"] == []
    assert aws("lambda").list_functions()["Functions"] == []
    assert aws("events").list_rules()["Rules"] == []
    assert aws("dynamodb").list_tables()["TableNames"] == []


def test_test_inventory_passes_and_records_the_run(emulator, quiet_shell):
    run = run_playbook("preflight.yml", extra_vars={"change_ticket": "CHG0012345"})
    assert run.rc == 0, run.stdout[-3000:]
    assert run.changed == 0
    assert run.result["global_custom_stats"]["change_ticket"] == "CHG0012345"
    record = json.loads(quiet_shell.read_text().splitlines()[-1])
    assert record["environment"] == "test" and record["account_id"] == TEST_ACCOUNT
    assert record["change_ticket"] == "CHG0012345"
    assert record["caller_arn"].startswith(f"arn:aws:sts::{TEST_ACCOUNT}:")
    assert record["check_mode"] is False


def test_check_mode_without_a_ticket_passes_and_records_nothing(emulator, quiet_shell):
    run = run_playbook("preflight.yml", check=True, diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.changed == 0
    assert not quiet_shell.exists()


def test_production_credentials_of_another_account_are_refused_even_without_endpoint_variables(
        emulator, aws, tmp_path, monkeypatch):
    """A profile whose endpoint_url leads elsewhere: only the account check can notice."""
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\nendpoint_url = {emulator}\naws_access_key_id = testing\n"
                      "aws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    run = run_playbook("preflight.yml", inventory="production", extra_vars={"change_ticket": "CHG0012345"})
    msg = failure(run)
    assert msg == (f"these credentials belong to account {TEST_ACCOUNT} (arn:aws:sts::{TEST_ACCOUNT}:user/moto) "
                   f"but inventory production expects account {PROD_ACCOUNT}: use credentials of account "
                   f"{PROD_ACCOUNT}, or the inventory that belongs to account {TEST_ACCOUNT}")
    emulator_is_untouched(aws)


@pytest.mark.parametrize("url", [
    "http://10.1.2.3:4566",
    "http://127.0.0.1.nip.io:4566",
])
def test_test_inventory_refuses_a_non_loopback_endpoint_before_sending_anything(url, emulator):
    started = time.monotonic()
    run = run_playbook("preflight.yml", env={"CUTOVER_EMULATOR_URL": url})
    msg = failure(run)
    assert msg.startswith(f"endpoint {url} is not a loopback http(s) URL")
    for task in ("Check that the emulator answers", "Ask which account"):
        assert run.task_results(task)[0].get("skipped"), f"{task} ran against {url}"
    assert time.monotonic() - started < 30


def test_emulator_down_says_so_in_one_line(emulator):
    url = f"http://127.0.0.1:{_free_port()}"
    run = run_playbook("preflight.yml", env={"CUTOVER_EMULATOR_URL": url})
    assert failure(run) == f"no emulator at {url}: run make emulator"
    assert "Traceback" not in run.stdout + run.stderr


def test_a_shell_region_and_a_malformed_ticket_are_refused_on_the_test_inventory_too(emulator):
    msg = failure(run_playbook("preflight.yml", extra_vars={"change_ticket": "CHG-1"}, env={"AWS_REGION": "us-east-1"}))
    assert msg.startswith("preflight found 2 problems: ")
    assert "AWS_REGION=us-east-1 in this shell, but the inventory's region is ap-northeast-2" in msg
    assert "change ticket 'CHG-1' is malformed" in msg


@pytest.mark.parametrize("extra, expected", [
    ({"cutover_account_id": TEST_ACCOUNT, "cutover_region": "us-east-1", "change_ticket": "CHG1"},
     [f"cutover_account_id is {TEST_ACCOUNT} but inventory {PROJECT_DIR}/inventories/production pins account "
      f"{PROD_ACCOUNT}", "region us-east-1 is not the region ap-northeast-2 that inventory"]),
    ({"cutover_environment": "staging", "change_ticket": "CHG1"}, ["cutover_environment is 'staging'"]),
], ids=["account-and-region", "environment"])
def test_overriding_what_the_inventory_pins_is_refused(extra, expected, emulator, aws):
    """Each pinned value overridden with -e, named in the refusal (the account and the region in one run)."""
    msg = failure(run_playbook("preflight.yml", inventory="production", extra_vars=extra,
                               env={"AWS_ENDPOINT_URL": emulator}))
    for part in expected:
        assert part in msg
    emulator_is_untouched(aws)


def test_production_from_a_shell_that_reaches_the_emulator_reports_every_problem_at_once(proxy, aws):
    """Production from a shell whose AWS_ENDPOINT_URL reaches the emulator (the proxy), with a wrong region and
    a malformed ticket: one refusal naming all four problems (both accounts, the endpoint override, the region,
    the ticket), after nothing but the identity call. (A missing ticket on production, with test credentials:
    tests/reliability/test_production_guard.py, which runs preflight.yml that way.)"""
    msg = failure(run_playbook("preflight.yml", inventory="production", extra_vars={"change_ticket": "x"},
                               env={"AWS_ENDPOINT_URL": proxy.url, "AWS_DEFAULT_REGION": "eu-west-1"}))
    assert msg.startswith("preflight found 4 problems: ")
    for part in ("AWS_DEFAULT_REGION=eu-west-1 in this shell, but the inventory's region is ap-northeast-2",
                 "overrides the AWS endpoint (AWS_ENDPOINT_URL=", "change ticket 'x' is malformed",
                 f"belong to account {TEST_ACCOUNT}", f"expects account {PROD_ACCOUNT}"):
        assert part in msg
    assert proxy.mutating_calls() == []
    assert {c["operation"] for c in proxy.calls()} <= {"GetCallerIdentity", "ListAccountAliases"}
    emulator_is_untouched(aws)


def _ansible_playbook(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(BIN / "ansible-playbook"), *args, str(PROJECT_DIR / "playbooks" / "preflight.yml")],
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [["-i", "inventories/prod"], ["-i", "inventories/test/nothing.yml"], []],
                         ids=["unknown-dir", "unknown-file", "no-inventory"])
def test_unknown_or_missing_inventory_fails_at_once(args):
    proc = _ansible_playbook(*args)
    assert proc.returncode != 0
    assert "No inventory was parsed" in proc.stderr
    assert "TASK [" not in proc.stdout
    if not args:
        assert "none-given--use-i-inventories-test-or-i-inventories-production" in proc.stderr
