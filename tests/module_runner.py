"""Run a custom module's main() in-process, as Ansible would call it, and read its result.

The module talks to the emulator over real HTTP (boto3); only the Ansible
process boundary is skipped, which keeps module tests fast.
"""
from __future__ import annotations

import functools
import importlib.util
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import botocore.loaders
import botocore.session
import yaml
from ansible.module_utils.testing import patch_module_args

import module_utils.cutover as _cutover

# `from ansible.module_utils.cutover.x import ...` in a module resolves to the project's module_utils.
sys.modules.setdefault("ansible.module_utils.cutover", _cutover)

PROJECT_DIR = Path(__file__).resolve().parent.parent
_LOADED: dict = {}

# Every module run makes a new boto3 session, and each session's loader parses botocore's JSON again (endpoints,
# the service model, its rules: about 0.1 s of CPU per run). In one test process the sessions share one loader
# (its caches hold the parsed files, as they do for the clients of one session): what a module does with its
# clients does not change.
class _SearchPaths(list):
    """boto3 appends its data directory to the loader of each new session: once is enough."""

    def append(self, path):
        if path not in self:
            super().append(path)


@functools.lru_cache(maxsize=None)
def _shared_loader(data_path=None):
    loader = botocore.loaders.create_loader(data_path)
    loader._search_paths = _SearchPaths(loader.search_paths)  # pylint: disable=protected-access
    return loader


botocore.session.create_loader = _shared_loader


def _load(name: str):
    if name not in _LOADED:
        spec = importlib.util.spec_from_file_location(f"cutover_library_{name}", PROJECT_DIR / "library" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _LOADED[name] = module
    return _LOADED[name]


PROJECT_ARGS = {"region": "ap-northeast-2", "access_key": "testing", "secret_key": "testing"}


def run_module(name: str, args: dict, endpoint: str, check: bool = False, diff: bool = False) -> dict:
    """The module's JSON result; ``failed`` is set when it called fail_json."""
    module = _load(name)
    full = dict(PROJECT_ARGS, endpoint_url=endpoint, **args)
    full.update(_ansible_check_mode=check, _ansible_diff=diff)
    out = io.StringIO()
    with patch_module_args(full), redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    text = out.getvalue()
    result = json.loads(text[text.index("{"):])
    if not result.get("failed"):
        assert undocumented_keys(name, result) == [], f"{name} returned keys its RETURN does not document"
    return result


# Keys every module result may carry that RETURN does not list (Ansible's own).
COMMON_RESULT_KEYS = {"changed", "failed", "msg", "diff", "invocation", "warnings", "deprecations", "skipped"}


def undocumented_keys(name: str, result: dict) -> list[str]:
    """Top-level keys of a module result that its RETURN does not document."""
    documented = set(yaml.safe_load(_load(name).RETURN) or {})
    return sorted(set(result) - documented - COMMON_RESULT_KEYS)


def library_modules() -> list[str]:
    """Names of the custom modules in library/."""
    return sorted(path.stem for path in (PROJECT_DIR / "library").glob("*.py") if not path.name.startswith("_"))


class _Captured(Exception):
    pass


def argument_spec(name: str) -> dict:
    """The full argument_spec the module gives AnsibleAWSModule (amazon.aws's common options included),
    captured by calling main() with the module class stubbed: no AWS call, no argument parsing."""
    from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec

    module = _load(name)
    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        raise _Captured()

    original = module.AnsibleAWSModule
    module.AnsibleAWSModule = capture
    try:
        module.main()
    except _Captured:
        pass
    finally:
        module.AnsibleAWSModule = original
    return dict(aws_argument_spec(), **seen["argument_spec"])
