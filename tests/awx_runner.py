"""Run a playbook the way AWX / Automation Platform runs a job: ansible-runner's Python API.

An AWX job starts from a fresh private data directory: the project copied into ``project/``
(no ``reports/``, no ``.state/`` from an earlier job), the extra vars handed to the API, and an
environment built by AWX itself (awx/main/tasks/jobs.py ``RunJob.build_env``): job ids, the
collection / role / callback paths read from the project's ansible.cfg with AWX's own folders in
front, ``ANSIBLE_CALLBACKS_ENABLED`` with the project's callbacks, and what the job's credentials
inject. Nothing of the operator's shell leaks in: the ANSIBLE_* and CUTOVER_* variables of the
test process are removed first (``awx_process_env``).
"""
from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.ansible_runner import BIN, PROJECT_DIR

# What a project checkout holds; everything else (the venv, reports, the emulator's state) is the
# operator's machine, not the project.
NOT_IN_CHECKOUT = shutil.ignore_patterns(".git", ".venv", "reports", ".state", "__pycache__", ".pytest_cache",
                                         "*.pyc", "context")
JOB_ID = 4242


def private_data_dir(root: Path) -> Path:
    """A fresh AWX private data directory with the project checked out in project/."""
    directory = root / f"awx_{JOB_ID}_job"
    for sub in ("inventory", "env"):
        (directory / sub).mkdir(parents=True)
    shutil.copytree(PROJECT_DIR, directory / "project", symlinks=True, ignore=NOT_IN_CHECKOUT)
    return directory


def imported_inventory(directory: Path, inventory: str) -> Path:
    """The inventory as AWX hands it to a job: imported from the project's source (``ansible-inventory
    --list``, variables as written, templates unrendered) into the private data dir as an executable
    ``inventory/hosts`` script. ``inventory_dir`` is then ``<private data dir>/inventory``: no
    group_vars next to it, no project above it."""
    source = directory / "project" / "inventories" / inventory
    listed = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"], check=True,
                            capture_output=True, text=True, timeout=120, cwd=directory / "project",
                            env=dict(os.environ, ANSIBLE_CONFIG=str(directory / "project" / "ansible.cfg")))
    data = json.loads(listed.stdout)
    script = directory / "inventory" / "hosts"
    script.write_text(f"#!{sys.executable}\nimport json, sys\nDATA = {json.dumps(data)!r}\n"
                      "print(json.dumps({}) if '--host' in sys.argv else DATA)\n")
    script.chmod(0o700)
    return script


def awx_env(directory: Path, credentials: dict | None = None) -> dict:
    """The environment AWX builds for a job (RunJob.build_env), for a job run on this controller."""
    config = configparser.ConfigParser()
    config.read(directory / "project" / "ansible.cfg")
    defaults = config["defaults"] if config.has_section("defaults") else {}
    env = {
        "JOB_ID": str(JOB_ID), "INVENTORY_ID": "7", "PROJECT_REVISION": "0" * 40,
        "ANSIBLE_RETRY_FILES_ENABLED": "False", "MAX_EVENT_RES": "700000", "AWX_HOST": "https://awx.example.invalid",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(directory / "cp"), "AWX_PRIVATE_DATA_DIR": str(directory),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    for key, setting, folder, default in (
            ("ANSIBLE_ROLES_PATH", "roles_path", "requirements_roles",
             "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"),
            ("ANSIBLE_COLLECTIONS_PATH", "collections_path", "requirements_collections",
             "~/.ansible/collections:/usr/share/ansible/collections"),
            ("ANSIBLE_CALLBACK_PLUGINS", "callback_plugins", "plugins_path",
             "~/.ansible/plugins:/plugins/callback:/usr/share/ansible/plugins/callback")):
        paths = default.split(":")
        if setting in defaults:
            paths = [defaults[setting]] + paths
        env[key] = ":".join([str(directory / folder)] + paths)
    env["ANSIBLE_CALLBACKS_ENABLED"] = "indirect_instance_count"
    if "callbacks_enabled" in defaults:
        env["ANSIBLE_CALLBACKS_ENABLED"] += "," + defaults["callbacks_enabled"]
    env.update(credentials or {})
    return env


def awx_process_env(monkeypatch) -> None:
    """Drop what the test process has that an AWX job would not (ANSIBLE_*, CUTOVER_*, AWS_*)."""
    for name in list(os.environ):
        if name.startswith(("ANSIBLE_", "CUTOVER_", "AWS_")):
            monkeypatch.delenv(name)


def run_job(directory: Path, playbook: str, inventory: str = "test", extravars: dict | None = None,
            credentials: dict | None = None, check: bool = False, diff: bool = True, timeout: int = 600):
    """One job: ``playbooks/<playbook>`` on ``inventories/<inventory>`` of the copied project, imported
    into the private data dir as AWX does (``imported_inventory``)."""
    import ansible_runner

    hosts = directory / "inventory" / "hosts"
    if not hosts.exists():
        imported_inventory(directory, inventory)
    cmdline = " ".join(flag for flag, on in (("--check", check), ("--diff", diff)) if on)
    return ansible_runner.run(
        private_data_dir=str(directory), project_dir=str(directory / "project"),
        playbook=f"playbooks/{playbook}", inventory=str(hosts),
        extravars=dict(extravars or {}, awx_job_id=JOB_ID, awx_job_template_name=f"naver-sms {playbook}",
                       awx_user_name="awx-operator"),
        envvars=awx_env(directory, credentials), cmdline=cmdline or None, quiet=True, timeout=timeout,
        settings={"suppress_ansible_output": True, "suppress_output_file": False}, ident=str(JOB_ID))


def task_results(runner, name_contains: str = "") -> list[dict]:
    """event_data.res of every finished task whose name contains ``name_contains``, in order."""
    return [event["event_data"]["res"] for event in runner.events
            if event.get("event") in ("runner_on_ok", "runner_on_failed")
            and name_contains in event["event_data"].get("task", "")]


def custom_stats(runner) -> dict:
    """What the run's set_stats recorded (AWX shows it as the job's artifacts)."""
    for event in runner.events:
        if event.get("event") == "playbook_on_stats":
            return event["event_data"].get("artifact_data") or {}
    return {}


def failure_messages(runner) -> str:
    return "\n".join(str(res.get("msg", "")) for res in task_results(runner) if res.get("failed")) + \
        runner.stdout.read()[-3000:]
