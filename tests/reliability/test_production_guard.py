"""Issue 13 item 7: every playbook in playbooks/ (discovered, so new ones are covered when they land)
refuses before any mutating call when
- the production inventory runs with test credentials from a shell that reaches the emulator, with no
  change ticket (three problems, one message), and
- the test inventory points at an endpoint that is not loopback, with a ticket of the wrong shape.

All runs go in parallel (each playbook fails in preflight within seconds); one proxy per run counts its calls.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rehearsal.proxy import FaultProxy
from tests.ansible_runner import run_playbook

PROJECT_DIR = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted(p.name for p in (PROJECT_DIR / "playbooks").glob("*.yml"))
TEST_ACCOUNT, PROD_ACCOUNT = "123456789012", "654654307503"
# What some playbooks need before preflight runs (their own input checks come first).
EXTRA = {"decision": "cutover", "notify_event": "cutover_start", "notify_what": "guard test",
         "notify_baseline": "none", "notify_when": "2026-12-03T02:10:00Z", "reason": "guard test"}
FOREIGN = "http://emulator.invalid:4566"  # not loopback (and .invalid never resolves): nothing may be sent there
SCENARIOS = {
    "production with test credentials and no ticket": (
        "production", {},
        [f"belong to account {TEST_ACCOUNT}", f"expects account {PROD_ACCOUNT}",
         "production needs a change ticket, none given: add -e change_ticket=CHG<digits>"]),
    "test with a foreign endpoint and a malformed ticket": (
        "test", {"change_ticket": "chg-42"},
        [f"endpoint {FOREIGN} is not a loopback http(s) URL", "change ticket 'chg-42' is malformed"]),
}
# A playbook may refuse an environment by its own first check (seed_world.yml: test inventory only).
OWN_REFUSALS = {("seed_world.yml", "production with test credentials and no ticket"): ["test"]}


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
    pairs = [(p, s) for p in PLAYBOOKS for s in SCENARIOS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {pair: pool.submit(_run, emulator_server.url, *pair, tmp_path_factory.mktemp("guard"))
                   for pair in pairs}
        return {pair: future.result() for pair, future in futures.items()}


def test_the_guard_covers_every_playbook():
    assert len(PLAYBOOKS) >= 10 and "preflight.yml" in PLAYBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_refuses_before_any_write(playbook, scenario, outcomes):
    outcome = outcomes[(playbook, scenario)]
    assert outcome["rc"] != 0, f"{playbook} ran under {scenario}"
    assert outcome["mutating"] == [], f"{playbook} wrote under {scenario}"
    expected = OWN_REFUSALS.get((playbook, scenario), SCENARIOS[scenario][2])
    missing = [part for part in expected if part not in outcome["text"]]
    assert not missing, f"{playbook}: refusal lacks {missing}: {outcome['text'][-1500:]}"
    if SCENARIOS[scenario][0] == "test":
        assert outcome["calls"] == 0
