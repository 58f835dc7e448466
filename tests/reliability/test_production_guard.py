"""Issue 13 item 7: every playbook in playbooks/ (discovered, so new ones are covered when they land)
refuses before any mutating call when
- the production inventory runs with test credentials from a shell that reaches the emulator, with no
  change ticket (three problems, one message), and
- the test inventory points at an endpoint that is not loopback, with a ticket of the wrong shape.

The refusal is the shared preflight role's: a static check proves that every play of every playbook runs that
role first (before it only input assertions, which call nothing), and one run of each playbook proves its wiring
(inventory, module defaults, the role's variables) ends in the refusal. The two scenarios alternate over the
sorted playbooks, so each scenario meets half of them (preflight.yml meets the other one, with every other
refusal of preflight, in tests/playbooks/test_preflight.py). All runs go in parallel (each fails in preflight
within seconds); one proxy per run counts its calls.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from rehearsal.proxy import FaultProxy
from tests.ansible_runner import run_playbook

PROJECT_DIR = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted(p.name for p in (PROJECT_DIR / "playbooks").glob("*.yml"))
TEST_ACCOUNT, PROD_ACCOUNT = "123456789012", "654654307503"
# What some playbooks need before preflight runs (their own input checks come first).
EXTRA = {"decision": "cutover", "notify_event": "cutover_start", "notify_what": "guard test",
         "notify_baseline": "none", "notify_when": "2026-12-03T02:10:00Z", "reason": "guard test"}
FOREIGN = "http://emulator.invalid:4566"  # not loopback (and .invalid never resolves): nothing may be sent there
PRODUCTION, FOREIGN_ENDPOINT = "production with test credentials and no ticket", \
    "test with a foreign endpoint and a malformed ticket"
SCENARIOS = {
    PRODUCTION: (
        "production", {},
        [f"belong to account {TEST_ACCOUNT}", f"expects account {PROD_ACCOUNT}",
         "production needs a change ticket, none given: add -e change_ticket=CHG<digits>"]),
    FOREIGN_ENDPOINT: (
        "test", {"change_ticket": "chg-42"},
        [f"endpoint {FOREIGN} is not a loopback http(s) URL", "change ticket 'chg-42' is malformed"]),
}
# seed_world.yml refuses production by its own first check, before preflight (test inventory only; that refusal:
# tests/test_world.py): it meets the other scenario.
RUNS = [(p, list(SCENARIOS)[i % 2]) for i, p in enumerate(p for p in PLAYBOOKS if p != "seed_world.yml")] \
    + [("seed_world.yml", FOREIGN_ENDPOINT)]
# Tasks a play may run before the preflight role: input checks that call nothing.
BEFORE_PREFLIGHT = {"ansible.builtin.assert", "ansible.builtin.fail"}


def _role_name(entry) -> str:
    return entry if isinstance(entry, str) else entry.get("role") or entry.get("name", "")


def _module(task: dict) -> str:
    keys = set(task) - {"name", "when", "tags", "vars", "register", "changed_when", "failed_when", "check_mode",
                        "no_log", "delegate_to", "run_once", "become", "ignore_errors"}
    assert len(keys) == 1, f"cannot tell the module of {task}"
    return keys.pop()


def test_every_play_runs_preflight_before_anything_that_calls_aws():
    assert len(PLAYBOOKS) >= 10 and "preflight.yml" in PLAYBOOKS
    plays = 0
    for playbook in PLAYBOOKS:
        for play in yaml.safe_load((PROJECT_DIR / "playbooks" / playbook).read_text()):
            if "ansible.builtin.import_playbook" in play or "import_playbook" in play:
                imported = play.get("ansible.builtin.import_playbook") or play["import_playbook"]
                assert imported in PLAYBOOKS, f"{playbook} imports {imported}, which the guard does not run"
                continue
            plays += 1
            where = f"{playbook}: play '{play.get('name')}'"
            assert play.get("hosts") == "localhost", where
            roles = [_role_name(r) for r in play.get("roles", [])]
            assert roles[:1] == ["preflight"], f"{where} runs roles {roles}: preflight must be first"
            assert "preflight_require_state" not in play.get("vars", {}), where
            early = [_module(t) for t in play.get("pre_tasks", [])]
            assert set(early) <= BEFORE_PREFLIGHT, f"{where} runs {early} before preflight"
            assert not play.get("gather_facts", False), f"{where} gathers facts before preflight"
    assert plays >= len(PLAYBOOKS)


def test_each_playbook_is_run_and_each_scenario_meets_half_of_them():
    assert sorted({p for p, _ in RUNS}) == PLAYBOOKS
    for scenario in SCENARIOS:
        assert len({p for p, s in RUNS if s == scenario}) >= len(PLAYBOOKS) // 2, scenario


def _run(url: str, playbook: str, scenario: str, tmp: Path) -> dict:
    inventory, extra, _ = SCENARIOS[scenario]
    archive = tmp / "image.tar"
    archive.write_bytes(b"")
    env = {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "CUTOVER_REPORTS_DIR": str(tmp / "reports"), "CUTOVER_STATE_DIR": str(tmp / "state"),
           "CUTOVER_IMAGE_ARCHIVE": str(archive)}
    with FaultProxy(url) as proxy:
        if inventory == "production":
            env["AWS_ENDPOINT_URL"] = proxy.url  # the operator's shell reaches the emulator, never AWS
        else:
            env["CUTOVER_EMULATOR_URL"] = FOREIGN
        run = run_playbook(playbook, inventory=inventory, extra_vars=dict(EXTRA, **extra), env=env, timeout=300)
        return {"rc": run.rc, "text": " ".join((run.messages() + run.stdout).split()),
                "mutating": [c["operation"] for c in proxy.mutating_calls()], "calls": len(proxy.calls())}


@pytest.fixture(scope="module")
def outcomes(emulator_server, tmp_path_factory):
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {pair: pool.submit(_run, emulator_server.url, *pair, tmp_path_factory.mktemp("guard"))
                   for pair in RUNS}
        return {pair: future.result() for pair, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("playbook, scenario", RUNS, ids=[f"{p}-{s.split()[0]}" for p, s in RUNS])
def test_every_playbook_refuses_before_any_write(playbook, scenario, outcomes):
    outcome = outcomes[(playbook, scenario)]
    assert outcome["rc"] != 0, f"{playbook} ran under {scenario}"
    assert outcome["mutating"] == [], f"{playbook} wrote under {scenario}"
    missing = [part for part in SCENARIOS[scenario][2] if part not in outcome["text"]]
    assert not missing, f"{playbook}: refusal lacks {missing}: {outcome['text'][-1500:]}"
    if SCENARIOS[scenario][0] == "test":
        assert outcome["calls"] == 0
