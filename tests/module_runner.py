"""Run a custom module's main() in-process, as Ansible would call it, and read its result.

The module talks to the emulator over real HTTP (boto3); only the Ansible
process boundary is skipped, which keeps module tests fast.
"""
from __future__ import annotations

import importlib.util
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

from ansible.module_utils.testing import patch_module_args

import module_utils.cutover as _cutover

# `from ansible.module_utils.cutover.x import ...` in a module resolves to the project's module_utils.
sys.modules.setdefault("ansible.module_utils.cutover", _cutover)

PROJECT_DIR = Path(__file__).resolve().parent.parent
_LOADED: dict = {}


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
    return json.loads(text[text.index("{"):])
