"""Issue 13 items 1 and 2 for stories 5.1 and 5.2: deploy_image.yml and create_function.yml
converge through transient faults (the per-service mix at 20 %), and through Lambda's
Pending / InProgress states and ResourceConflictException, to the end state of a run without them."""
from __future__ import annotations

import json

import pytest

from rehearsal import emulator as emu
from rehearsal.image_archive import build_archive
from rehearsal.proxy import TRANSIENT, run_playbook
from tests.conftest import bootstrap_state, migration_writes

FUNCTION = "naverplace_send_inform_v2"
RULE = "naver-sms-automation-v2-trigger"
ROLE = "naver-sms-automation-lambda-role"
REPO = "naver-sms-automation"
PLAYBOOKS = ("deploy_image.yml", "create_function.yml")


@pytest.fixture
def archive(tmp_path):
    return build_archive(tmp_path / "naver-sms-automation.tar", layers=[4096, 8192])


def _env(tmp_path, archive, name):
    return {"CUTOVER_IMAGE_ARCHIVE": str(archive), "CUTOVER_REPORTS_DIR": str(tmp_path / name)}


def end_state(aws) -> dict:
    """What an operator would look at after stories 5.1 and 5.2."""
    ecr, awslambda, events, iam = aws("ecr"), aws("lambda"), aws("events"), aws("iam")
    images = sorted((d["imageDigest"], sorted(d.get("imageTags", [])))
                    for d in ecr.describe_images(repositoryName=REPO)["imageDetails"])
    function = awslambda.get_function(FunctionName=FUNCTION)
    config = function["Configuration"]
    versions = [v["Version"] for v in awslambda.list_versions_by_function(FunctionName=FUNCTION)["Versions"]]
    alias = awslambda.get_alias(FunctionName=FUNCTION, Name="live")
    rule = events.describe_rule(Name=RULE)
    targets = [(t["Id"], t["Arn"], json.loads(t.get("Input") or "{}"))
               for t in events.list_targets_by_rule(Rule=RULE)["Targets"]]
    role = iam.get_role(RoleName=ROLE)["Role"]
    policies = {name: iam.get_role_policy(RoleName=ROLE, PolicyName=name)["PolicyDocument"]
                for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]}
    return {
        "images": images, "image_uri": function["Code"]["ImageUri"],
        "function": {k: config.get(k) for k in ("PackageType", "MemorySize", "Timeout", "Role", "Environment",
                                                "Description", "Architectures")},
        "versions": versions, "alias": alias["FunctionVersion"],
        "rule": (rule["State"], rule["ScheduleExpression"]), "targets": targets,
        "role": (role["AssumeRolePolicyDocument"], role.get("Description")), "policies": policies,
    }


def converge(proxy, env) -> list:
    runs = []
    for playbook in PLAYBOOKS:
        run = run_playbook(proxy, playbook, env=env)
        assert run.rc == 0, f"{playbook} failed with faults {[(c['operation'], c['fault']) for c in run.faults]}:" \
                            f"\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
        runs.append(run)
    return runs


@pytest.mark.slow
def test_transient_faults_change_nothing_in_the_end_state(bootstrapped, emulator, proxy, aws, archive, tmp_path):
    converge(proxy, _env(tmp_path, archive, "clean"))
    reference = end_state(aws)

    emu.reset(emulator)
    bootstrap_state(emulator)
    proxy.set_faults(rate=0.2, kinds=list(TRANSIENT), seed=13, max_faults=500)
    runs = converge(proxy, _env(tmp_path, archive, "faulty"))
    faults = [c for run in runs for c in run.faults]
    calls = sum(len(run.calls) for run in runs)
    assert len(faults) >= 0.1 * calls and {c["fault"] for c in faults} == set(TRANSIENT), faults
    # where most calls go (since the ledger, its lock and events take IAM's share of seed 13's faults)
    assert {c["service"] for c in faults} >= {"ecr", "lambda", "dynamodb"}
    assert end_state(aws) == reference

    proxy.set_faults()  # no fault: the faulty run left nothing to do
    for run in converge(proxy, _env(tmp_path, archive, "faulty")):
        assert run.recap()["changed"] == 0 and migration_writes(run.mutating) == [], run.stdout[-3000:]


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
