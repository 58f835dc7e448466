"""Issue 13 item 2 for stories 5.1 and 5.2: create_function.yml converges through Lambda's Pending /
InProgress states and ResourceConflictException, on creation and on update.

Item 1 (transient faults, the per-service mix at 20 %) for deploy_image.yml and create_function.yml: their
apply step in tests/playbooks/test_deploy_and_create.py goes through the mix and a fault-free rerun finds
nothing to do (it had its own test here, three more runs of each playbook); the later phases in
tests/rehearsal/test_two_controllers.py (compare.yml) and bench/bench_soak.py (every phase, many seeds)."""
from __future__ import annotations

import json

import pytest

from rehearsal.image_archive import build_archive
from rehearsal.proxy import run_playbook

FUNCTION = "naverplace_send_inform_v2"


@pytest.fixture
def archive(tmp_path):
    return build_archive(tmp_path / "naver-sms-automation.tar", layers=[4096, 8192])


def _env(tmp_path, archive, name):
    return {"CUTOVER_IMAGE_ARCHIVE": str(archive), "CUTOVER_REPORTS_DIR": str(tmp_path / name)}


FN = r"/2015-03-31/functions/[^/]+"
NOT_READY = {  # phase -> (regex of the operation, scripted answer, count)
    "creation": [(r"^POST /2015-03-31/functions$", "pending", 1), (rf"^GET {FN}$", "pending", 2)],
    "version publish": [(rf"^POST {FN}/versions$", "conflict", 2)],
    "alias creation": [(rf"^POST {FN}/aliases$", "conflict", 2)],
}
NOT_READY_UPDATE = {
    "code update": [(rf"^PUT {FN}/code$", "conflict", 2), (rf"^PUT {FN}/code$", "pending", 1)],
    "configuration update": [(rf"^PUT {FN}/configuration$", "conflict", 2),
                             (rf"^PUT {FN}/configuration$", "pending", 1)],
    "wait": [(rf"^GET {FN}$", "pending", 3)],
    "version publish": [(rf"^POST {FN}/versions$", "conflict", 2)],
    "alias move": [(rf"^PUT {FN}/aliases/[^/]+$", "conflict", 2)],
}


def _script(proxy, phases: dict) -> None:
    for scripts in phases.values():
        for match, kind, count in scripts:
            proxy.script(match, kind, count)


def _unused(proxy) -> list:
    """Scripted answers never given: the module never made that call (the test would prove nothing)."""
    return [(s.match, s.kind, s.count) for s in proxy.state.scripts if s.count]


@pytest.mark.slow
def test_lambda_not_ready_every_step_waits_and_succeeds(bootstrapped, proxy, aws, archive, tmp_path):
    """Pending / InProgress and ResourceConflictException during creation, update, publish and alias moves."""
    env = _env(tmp_path, archive, "reports")
    assert run_playbook(proxy, "deploy_image.yml", env=env).rc == 0
    _script(proxy, NOT_READY)
    run = run_playbook(proxy, "create_function.yml", env=env)
    assert run.rc == 0, f"{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    assert _unused(proxy) == []
    assert {c["fault"] for c in run.faults} == {"pending", "conflict"}
    assert aws("lambda").get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == "1"

    # an update: a new image and more memory; every Lambda write meets a conflict, every read Pending
    other = build_archive(tmp_path / "v101.tar", layers=[4096, 16384])
    env101 = dict(env, CUTOVER_IMAGE_ARCHIVE=str(other))
    assert run_playbook(proxy, "deploy_image.yml", "-e", "cutover_image_version=v1.0.1", env=env101).rc == 0
    proxy.state.scripts.clear()
    _script(proxy, NOT_READY_UPDATE)
    run = run_playbook(proxy, "create_function.yml", "-e", "cutover_image_version=v1.0.1",
                       "-e", "cutover_new_memory_mb=1024", env=env101)
    assert run.rc == 0, f"{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    assert _unused(proxy) == []
    config = aws("lambda").get_function_configuration(FunctionName=FUNCTION)
    assert config["MemorySize"] == 1024
    alias = aws("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "2"
    digest = json.loads((tmp_path / "reports" / "image-v1.0.1.json").read_text())["digest"]
    assert aws("lambda").get_function(FunctionName=FUNCTION, Qualifier="2")["Code"]["ImageUri"].endswith(digest)
