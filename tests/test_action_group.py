"""Custom modules reach AWS only through the action group cutover.local.aws, and fail closed otherwise.

1. Every module in library/ that builds an AnsibleAWSModule is listed in the group in
   collections/ansible_collections/cutover/local/meta/runtime.yml, so `module_defaults:
   group/cutover.local.aws: "{{ cutover_aws }}"` gives it the inventory's region, endpoint and keys.
2. A module missing from the group gets none of that. From the test inventory it then falls back to
   tests/ansible_runner.TEST_AWS_ENV: AWS_ENDPOINT_URL on a loopback port where nothing listens and no
   shared config, so it fails instead of reaching real AWS. A probe module (not in the group) shows
   which endpoint botocore would use, without calling it.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import yaml

from tests.ansible_runner import BLACKHOLE_ENDPOINT, run_playbook

PROJECT_DIR = Path(__file__).resolve().parent.parent
RUNTIME = PROJECT_DIR / "collections" / "ansible_collections" / "cutover" / "local" / "meta" / "runtime.yml"

PROBE = '''#!/usr/bin/python
from __future__ import annotations
DOCUMENTATION = "module: aws_probe_not_in_group"
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def main():
    module = AnsibleAWSModule(argument_spec={}, supports_check_mode=True)
    client = module.client("sts")  # no call: only where it would go
    module.exit_json(changed=False, endpoint=client.meta.endpoint_url)


if __name__ == "__main__":
    main()
'''

PLAYBOOK = '''---
- name: Probe where a module outside the action group would send its calls
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/cutover.local.aws: "{{ cutover_aws }}"
  tasks:
    - name: Build a client in a module the group does not list
      ansible.legacy.aws_probe_not_in_group:
      register: probe
    - name: Build a client with the inventory's endpoint given explicitly
      ansible.legacy.aws_probe_not_in_group:
        endpoint_url: "{{ cutover_endpoint_url }}"
      register: probe_explicit
'''


def aws_modules() -> list[str]:
    return sorted(path.stem for path in (PROJECT_DIR / "library").glob("*.py")
                  if re.search(r"\bAnsibleAWSModule\(", path.read_text()))


def test_every_custom_aws_module_is_in_the_action_group():
    group = yaml.safe_load(RUNTIME.read_text())["action_groups"]["aws"]
    listed = {entry for entry in group if isinstance(entry, str)}
    assert aws_modules(), "no AWS module found in library/: the scan is broken"
    missing = [name for name in aws_modules() if f"ansible.legacy.{name}" not in listed]
    assert missing == [], f"add to {RUNTIME.relative_to(PROJECT_DIR)}: " + ", ".join(
        f"ansible.legacy.{name}" for name in missing)


def test_a_module_outside_the_group_fails_closed_on_the_test_inventory(emulator, tmp_path):
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "aws_probe_not_in_group.py").write_text(PROBE)
    (tmp_path / "probe.yml").write_text(textwrap.dedent(PLAYBOOK))
    run = run_playbook(str(tmp_path / "probe.yml"),
                       env={"ANSIBLE_LIBRARY": f"{tmp_path / 'library'}:{PROJECT_DIR / 'library'}"})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    [probe] = run.task_results("not list")
    [explicit] = run.task_results("explicitly")
    assert probe["endpoint"] == BLACKHOLE_ENDPOINT, probe
    assert explicit["endpoint"] == emulator, explicit
