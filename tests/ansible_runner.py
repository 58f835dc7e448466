"""Run a playbook as an operator would, and read what it reported."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Fail closed: a module that does not get the inventory's endpoint_url (one missing from the action
# group cutover.local.aws in collections/ansible_collections/cutover/local/meta/runtime.yml) falls back
# to these: a loopback port where nothing listens, and no shared config or profile, so it can never
# reach real AWS from the test inventory. Modules in the group get endpoint_url as a parameter, which
# wins over AWS_ENDPOINT_URL. Production runs (the operator's shell) never have these set.
BLACKHOLE_ENDPOINT = "http://127.0.0.1:9"
TEST_AWS_ENV = {
    "AWS_ENDPOINT_URL": BLACKHOLE_ENDPOINT,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    result: dict | None

    @property
    def stats(self) -> dict:
        return (self.result or {}).get("stats", {}).get("localhost", {})

    @property
    def changed(self) -> int:
        return self.stats.get("changed", 0)

    @property
    def failed(self) -> bool:
        return self.rc != 0

    def task_results(self, name_contains: str = "") -> list[dict]:
        out = []
        for play in (self.result or {}).get("plays", []):
            for task in play.get("tasks", []):
                if name_contains in task["task"]["name"]:
                    out.append(task["hosts"].get("localhost", {}))
        return out

    def messages(self) -> str:
        """Every failure message, joined: what the operator reads."""
        msgs = []
        for res in self.task_results():
            if res.get("failed") or res.get("unreachable"):
                msgs.append(str(res.get("msg", "")))
        return "\n".join(msgs) + "\n" + self.stderr


def run_playbook(
    playbook: str,
    inventory: str = "test",
    extra_vars: dict | None = None,
    check: bool = False,
    diff: bool = False,
    env: dict | None = None,
    timeout: int = 600,
    project_dir: Path = PROJECT_DIR,
) -> PlaybookRun:
    """``project_dir``: another checkout of the project (a second controller), default this one."""
    cmd = [str(BIN / "ansible-playbook"), "-i", str(project_dir / "inventories" / inventory),
           str(project_dir / "playbooks" / playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    full_env = dict(os.environ)
    full_env.update(
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_CONFIG=str(project_dir / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{full_env.get('PATH', '')}",
    )
    if inventory == "test":
        full_env.update(TEST_AWS_ENV)
        full_env.pop("AWS_PROFILE", None)
    full_env.update(env or {})
    proc = subprocess.run(cmd, cwd=project_dir, env=full_env, capture_output=True, text=True, timeout=timeout)
    try:
        result = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        result = None
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, result)
