"""Custom modules reach AWS only through the action group cutover.local.aws, and fail closed otherwise.

1. Every module in library/ that builds an AnsibleAWSModule is listed in the group in
   collections/ansible_collections/cutover/local/meta/runtime.yml under its collection name
   cutover.local.<name> (the collection's plugins/modules is library/), so `module_defaults:
   group/cutover.local.aws: "{{ cutover_aws }}"` gives it the inventory's region, endpoint and keys.
2. Playbooks, roles and molecule scenarios call custom modules only as cutover.local.<name>: a bare
   `<name>:` or `ansible.legacy.<name>:` call (task or module_defaults key) is outside the group, and
   does not even resolve (ansible.cfg sets no `library`).
3. A module missing from the group, or called by a name outside it, gets none of that. From the test
   inventory it then falls back to tests/ansible_runner.TEST_AWS_ENV: AWS_ENDPOINT_URL on a loopback
   port where nothing listens and no shared config, so it fails instead of reaching real AWS. A probe
   module shows which endpoint botocore would use, without calling it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.ansible_runner import BLACKHOLE_ENDPOINT, run_playbook
from tests.module_runner import library_modules

PROJECT_DIR = Path(__file__).resolve().parent.parent
COLLECTION = PROJECT_DIR / "collections" / "ansible_collections" / "cutover" / "local"
RUNTIME = COLLECTION / "meta" / "runtime.yml"
FQCN = "cutover.local."

PROBE = '''#!/usr/bin/python
from __future__ import annotations
DOCUMENTATION = "module: aws_probe"
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def main():
    module = AnsibleAWSModule(argument_spec={}, supports_check_mode=True)
    client = module.client("sts")  # no call: only where it would go
    module.exit_json(changed=False, endpoint=client.meta.endpoint_url)


if __name__ == "__main__":
    main()
'''

PLAYBOOK = '''---
- name: Probe where a module's calls would go, by how it is called
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/cutover.local.aws: "{{ cutover_aws }}"
  tasks:
    - name: Build a client in a module of the collection the group lists
      cutover.local.aws_probe_listed:
      register: probe_listed
    - name: Build a client in a module of the collection the group does not list
      cutover.local.aws_probe_not_listed:
      register: probe_not_listed
    - name: Build a client in a listed module called by its bare name
      aws_probe_listed:
      register: probe_bare
    - name: Build a client in a listed module called as ansible.legacy
      ansible.legacy.aws_probe_listed:
      register: probe_legacy
    - name: Build a client in an unlisted module with the inventory's endpoint given explicitly
      cutover.local.aws_probe_not_listed:
        endpoint_url: "{{ cutover_endpoint_url }}"
      register: probe_explicit
'''


def aws_modules() -> list[str]:
    return sorted(path.stem for path in (PROJECT_DIR / "library").glob("*.py")
                  if re.search(r"\bAnsibleAWSModule\(", path.read_text()))


def group_entries(runtime: Path = RUNTIME) -> list[str]:
    return [entry for entry in yaml.safe_load(runtime.read_text())["action_groups"]["aws"] if isinstance(entry, str)]


def test_the_collection_modules_are_library_through_a_relative_symlink():
    modules = COLLECTION / "plugins" / "modules"
    assert modules.is_symlink() and not os.path.isabs(os.readlink(modules)), "plugins/modules: a relative symlink"
    assert modules.resolve() == PROJECT_DIR / "library"


def test_every_custom_aws_module_is_in_the_action_group_under_its_fqcn():
    listed = group_entries()
    assert aws_modules(), "no AWS module found in library/: the scan is broken"
    missing = [name for name in aws_modules() if FQCN + name not in listed]
    assert missing == [], f"add to {RUNTIME.relative_to(PROJECT_DIR)}: " + ", ".join(FQCN + name for name in missing)
    other = [entry for entry in listed if not entry.startswith(FQCN)]
    assert other == [], f"list custom modules as {FQCN}<name> only (nothing calls them otherwise): {other}"


# --- every call by its collection name --------------------------------------------------------

TASK_LISTS = ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always")


class _Loader(yaml.SafeLoader):
    """Safe YAML that reads Ansible's tags (!unsafe, !vault) as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def module_names(node) -> list[tuple[str, str]]:
    """(where, name) for every key of a play, block or task and every module_defaults key, in the
    plays or task list ``node`` (a playbook or a tasks file)."""
    found = []
    for item in node if isinstance(node, list) else []:
        if not isinstance(item, dict):
            continue
        found += [("task or play key", key) for key in item]
        for key in ("action", "local_action"):
            value = item.get(key)
            if isinstance(value, dict):
                value = value.get("module")
            if isinstance(value, str) and value.split():
                found.append((key, value.split()[0]))
        defaults = item.get("module_defaults")
        for entry in defaults if isinstance(defaults, list) else [defaults]:
            if isinstance(entry, dict):
                found += [("module_defaults key", key) for key in entry]
        for key in TASK_LISTS:
            found += module_names(item.get(key))
    return found


def yaml_calls() -> dict[str, list[tuple[str, str]]]:
    """Module names per playbook, tasks file and scenario playbook (files whose top level is a list)."""
    calls = {}
    for top in ("playbooks", "roles", "molecule"):
        for path in sorted((PROJECT_DIR / top).rglob("*.y*ml")):
            document = yaml.load(path.read_text(), Loader=_Loader)
            if isinstance(document, list):
                calls[str(path.relative_to(PROJECT_DIR))] = module_names(document)
    return calls


def test_playbooks_roles_and_molecule_call_custom_modules_by_their_collection_name():
    custom = set(library_modules())
    calls = yaml_calls()
    wrong = [f"{path}: {where} {name!r} -> {FQCN}{name.rsplit('.', 1)[-1]}"
             for path, found in calls.items() for where, name in found
             if name in custom or (name.startswith("ansible.legacy.") and name[len("ansible.legacy."):] in custom)]
    assert wrong == [], ("call custom modules as cutover.local.<name> (outside the action group otherwise):\n"
                         + "\n".join(wrong))
    # The scan sees the calls: most custom modules are called somewhere, each by its collection name.
    called = {name[len(FQCN):] for found in calls.values() for _, name in found if name.startswith(FQCN)}
    assert len(called & custom) >= len(custom) // 2, sorted(called)
    assert called <= custom, f"unknown cutover.local modules called: {sorted(called - custom)}"


@pytest.mark.parametrize("text, wrong", [
    ("- hosts: localhost\n  tasks:\n    - name: x\n      output_compare: {}\n", "output_compare"),
    ("- name: x\n  block:\n    - name: y\n      ansible.legacy.cutover_gate: {}\n", "ansible.legacy.cutover_gate"),
    ("- name: x\n  module_defaults:\n    schedule_rule: {region: r}\n  cutover.local.schedule_rule: {}\n",
     "schedule_rule"),
    ("- name: x\n  local_action: ecr_image name=a\n", "ecr_image"),
])
def test_the_call_scan_sees_a_bare_name_wherever_a_playbook_can_write_it(text, wrong):
    assert wrong in [name for _, name in module_names(yaml.load(text, Loader=_Loader))]


def test_a_custom_module_called_by_its_bare_name_does_not_resolve(tmp_path):
    """ansible.cfg sets no `library`: a bare name stops the run before any task, wherever it comes from."""
    playbook = tmp_path / "bare.yml"
    playbook.write_text("- name: Bare\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        "    - name: Collection\n      cutover.local.output_compare:\n"
                        "    - name: Bare\n      output_compare:\n")
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check",
                           "-i", str(PROJECT_DIR / "inventories" / "test"), str(playbook)],
                          cwd=PROJECT_DIR, capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"), ANSIBLE_NOCOLOR="1"))
    assert done.returncode != 0, done.stdout
    assert "couldn't resolve module/action 'output_compare'" in done.stderr, done.stderr
    assert "bare.yml:7:" in done.stderr, done.stderr  # the bare task; the cutover.local one above it resolved


# --- fail closed --------------------------------------------------------------------------------

def test_a_module_outside_the_group_fails_closed_on_the_test_inventory(emulator, tmp_path):
    """The project's collection (its real runtime.yml) with two probe modules, one of them added to
    the group: only the listed one called by its collection name gets the inventory's endpoint."""
    collection = tmp_path / "collections" / "ansible_collections" / "cutover" / "local"
    shutil.copytree(COLLECTION, collection, symlinks=False,
                    ignore=lambda directory, names: ["plugins"] if Path(directory) == COLLECTION else [])
    runtime = collection / "meta" / "runtime.yml"
    runtime.write_text(runtime.read_text() + "    - cutover.local.aws_probe_listed\n")
    assert FQCN + "aws_probe_listed" in group_entries(runtime)
    (collection / "plugins" / "modules").mkdir(parents=True)
    for name in ("aws_probe_listed", "aws_probe_not_listed"):
        (collection / "plugins" / "modules" / f"{name}.py").write_text(PROBE.replace("aws_probe", name))
    (tmp_path / "library").mkdir()  # the same module also reachable by a bare (ansible.legacy) name
    (tmp_path / "library" / "aws_probe_listed.py").write_text(PROBE.replace("aws_probe", "aws_probe_listed"))
    (tmp_path / "probe.yml").write_text(textwrap.dedent(PLAYBOOK))
    run = run_playbook(str(tmp_path / "probe.yml"),
                       env={"ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
                            "ANSIBLE_LIBRARY": str(tmp_path / "library")})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    endpoints = {name: result["endpoint"] for name in ("listed", "not_listed", "bare", "legacy", "explicit")
                 for result in run.task_results(_TASK_NAMES[name])}
    assert endpoints == {"listed": emulator, "not_listed": BLACKHOLE_ENDPOINT, "bare": BLACKHOLE_ENDPOINT,
                         "legacy": BLACKHOLE_ENDPOINT, "explicit": emulator}, endpoints


_TASK_NAMES = {
    "listed": "of the collection the group lists",
    "not_listed": "of the collection the group does not list",
    "bare": "by its bare name",
    "legacy": "called as ansible.legacy",
    "explicit": "given explicitly",
}
