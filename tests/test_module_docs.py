"""Every module in library/ renders with ansible-doc, and its documentation matches its argument_spec.

What `ansible-doc cutover.local.NAME` shows an operator must be what the module accepts: DOCUMENTATION,
EXAMPLES and RETURN parse, and every option has the same type, default, choices, elements and
required in the docs as in ``argument_spec`` (both ways; the amazon.aws fragments document the
connection options the module gets from AnsibleAWSModule).
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.module_runner import argument_spec, library_modules

PROJECT_DIR = Path(__file__).resolve().parent.parent
MODULES = library_modules()
# Modules being rewritten elsewhere right now, with no `author` yet (issue 9); remove as they are fixed.
NO_AUTHOR_YET: set = set()
KEYS = ("type", "default", "choices", "elements", "required")


def _ansible_doc(*names: str):
    """`ansible-doc --json cutover.local.NAME ...` as an operator would run it (the collection's plugins/modules
    is library/, through the relative symlink)."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), "--json", *(f"cutover.local.{name}" for name in names)],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg")),
    )


@functools.cache
def _rendered_together() -> dict:
    """Every module rendered by one ansible-doc run (one start-up of about a second instead of one per module);
    empty when that run reports an error, so each module is then rendered alone and the error names it."""
    done = _ansible_doc(*MODULES)
    if done.returncode != 0 or "[ERROR]" in done.stderr or "[WARNING]" in done.stderr:
        return {}
    return json.loads(done.stdout)


@functools.cache
def render(name: str) -> dict:
    """What `ansible-doc --json cutover.local.NAME` shows."""
    fqcn = f"cutover.local.{name}"
    if fqcn in _rendered_together():
        return _rendered_together()[fqcn]
    done = _ansible_doc(name)
    assert done.returncode == 0 and "[ERROR]" not in done.stderr, done.stderr
    return json.loads(done.stdout)[fqcn]


def normalized(option: dict) -> dict:
    """The fields validate-modules compares, with the defaults Ansible applies filled in."""
    return {
        "type": option.get("type") or "str",
        "default": option.get("default"),
        "choices": list(option["choices"]) if option.get("choices") is not None else None,
        "elements": option.get("elements"),
        "required": bool(option.get("required", False)),
    }


@pytest.mark.parametrize("name", MODULES)
def test_documentation_examples_and_return_parse(name):
    doc = render(name)
    assert doc["doc"]["module"] == name and doc["doc"]["collection"] == "cutover.local", doc["doc"]
    assert Path(doc["doc"]["filename"]).resolve() == PROJECT_DIR / "library" / f"{name}.py", doc["doc"]["filename"]
    if name not in NO_AUTHOR_YET:
        assert doc["doc"].get("author"), f"{name}: DOCUMENTATION has no author"
    examples = yaml.safe_load(doc["examples"])
    assert isinstance(examples, list) and all("name" in task for task in examples), doc["examples"]
    assert any(f"cutover.local.{name}" in task for task in examples), f"{name}: no example calls cutover.local.{name}"
    assert isinstance(doc["return"], dict) and doc["return"], f"{name}: RETURN is empty or not a mapping"
    for key, spec in doc["return"].items():
        assert {"description", "returned", "type"} <= set(spec), f"{name}: RETURN {key} lacks a field: {spec}"


@pytest.mark.parametrize("name", MODULES)
def test_every_option_is_documented_as_the_module_takes_it(name):
    documented = {key: normalized(option) for key, option in render(name)["doc"]["options"].items()}
    taken = {key: normalized(option) for key, option in argument_spec(name).items()}
    assert sorted(set(taken) - set(documented)) == [], f"{name}: options not documented"
    assert sorted(set(documented) - set(taken)) == [], f"{name}: documented options the module does not take"
    mismatches = {key: {"doc": documented[key], "argument_spec": spec}
                  for key, spec in taken.items() if spec != documented[key]}
    assert mismatches == {}, f"{name}: documentation differs from argument_spec"
