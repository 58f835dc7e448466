"""Run statistics (set_stats) are replaced, never aggregated.

ansible's set_stats aggregates by default: a playbook imported twice in one run (molecule/rollback's prepare
imports gate.yml for Decision Points 1 and 2; post_cutover.yml imports gate.yml) joined strings, so the
change ticket's statistics read gate_outcome "gogo". Every set_stats in playbooks/, roles/ and molecule/
says `aggregate: false`, as the preflight role's did first.
"""
from __future__ import annotations

from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
NAMES = ("ansible.builtin.set_stats", "set_stats", "ansible.legacy.set_stats")


def set_stats_tasks(node, where):
    if isinstance(node, dict):
        for name in NAMES:
            if name in node:
                yield where, node.get("name", "(unnamed)"), node[name]
        for value in node.values():
            yield from set_stats_tasks(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from set_stats_tasks(item, where)


def all_set_stats():
    for top in ("playbooks", "roles", "molecule"):
        for path in sorted((PROJECT_DIR / top).rglob("*.y*ml")):
            yield from set_stats_tasks(yaml.safe_load(path.read_text()), path.relative_to(PROJECT_DIR))


def test_every_set_stats_replaces_instead_of_aggregating():
    found = list(all_set_stats())
    assert len(found) >= 11  # preflight and every playbook that records for the change ticket
    aggregating = [f"{where}: {name}" for where, name, args in found
                   if not isinstance(args, dict) or args.get("aggregate") is not False]
    assert aggregating == [], "set_stats without `aggregate: false` (imported twice, values add up):\n" + \
        "\n".join(aggregating)


def test_the_scan_sees_an_aggregating_set_stats():
    tasks = yaml.safe_load("- block:\n    - name: x\n      ansible.builtin.set_stats:\n        data: {a: 1}\n")
    assert [(name, args) for _, name, args in set_stats_tasks(tasks, "x")] == [("x", {"data": {"a": 1}})]
