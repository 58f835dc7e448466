"""Stories 5.1 and 5.2 as an operator runs them: deploy_image.yml then create_function.yml.

Each playbook goes through the four steps (check -> changed, apply -> changed, check -> not
changed, apply -> not changed); the last apply makes no mutating AWS call (seen by the proxy).
The apply meets 20 % transient faults (issue 13 item 1: the proxy's per-service mix of throttling, 500,
503 and dropped connections): the fault-free check and apply after it find nothing left to do, and the
end state is the one asserted below, the one a run without faults leaves. create_function.yml's apply also
meets Lambda not ready at every step of the creation (issue 13 item 2: Pending / InProgress and
ResourceConflictException, scripted), and an update afterwards (a new image, more memory) meets them at every
step of the update. (This was tests/reliability/test_transient_faults.py, which ran deploy_image.yml and
create_function.yml twice more for the creation; the phases after these two: bench/bench_soak.py.)
Their refusals of bad input (no archive, environment variables on production) are in tests/test_bad_inputs.py.
"""
from __future__ import annotations

import json

import pytest

from rehearsal.image_archive import build_archive
from rehearsal.proxy import TRANSIENT
from tests.ansible_runner import run_playbook
from tests.conftest import STATE_BUCKET, migration_writes
from tests.module_runner import run_module

FUNCTION = "naverplace_send_inform_v2"
RULE = "naver-sms-automation-v2-trigger"
ROLE = "naver-sms-automation-lambda-role"


@pytest.fixture
def operator_env(bootstrapped, proxy, tmp_path, state_dir):
    archive = build_archive(tmp_path / "naver-sms-automation.tar", layers=[4096, 8192])
    return {"CUTOVER_EMULATOR_URL": proxy.url, "CUTOVER_IMAGE_ARCHIVE": str(archive),
            "CUTOVER_REPORTS_DIR": str(tmp_path / "reports")}


FAULTS = {"rate": 0.2, "kinds": list(TRANSIENT), "seed": 13, "max_faults": 500}
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


def script(proxy, phases: dict) -> None:
    proxy.state.scripts.clear()
    for scripts in phases.values():
        for match, kind, count in scripts:
            proxy.script(match, kind, count)


def unused(proxy) -> list:
    """Scripted answers never given: the module never made that call (the test would prove nothing)."""
    return [(s.match, s.kind, s.count) for s in proxy.state.scripts if s.count]


def four_steps(playbook, env, proxy, seen=None, not_ready=None):
    """The four steps; the apply through FAULTS (and the scripted answers ``not_ready``), its calls and faults
    appended to `seen`."""
    runs = {}
    for step, check in (("check", True), ("apply", False), ("recheck", True), ("reapply", False)):
        proxy.clear()
        if step == "apply":
            proxy.set_faults(**FAULTS)
            script(proxy, not_ready or {})
        try:
            run = run_playbook(playbook, check=check, diff=True, env=env)
        finally:
            proxy.set_faults()
        faults = [(c["service"], c["operation"], c["fault"]) for c in proxy.injected()]
        assert run.rc == 0, f"{playbook} {step} (faults {faults}):\n{run.messages()}\n{run.stdout[-3000:]}"
        runs[step] = (run, migration_writes(proxy.calls()))
        if step == "apply" and seen is not None:
            seen.append((len(proxy.calls()), proxy.injected()))
        if step == "apply" and not_ready:
            assert unused(proxy) == [], "a scripted not-ready answer was never given"
            assert {c["fault"] for c in proxy.injected()} >= {"pending", "conflict"}
    assert runs["check"][0].changed > 0 and runs["apply"][0].changed > 0
    assert runs["check"][1] == [], f"check mode wrote: {runs['check'][1]}"
    assert runs["recheck"][0].changed == 0 and runs["reapply"][0].changed == 0, runs["reapply"][0].stdout[-3000:]
    assert runs["reapply"][1] == [], f"second apply wrote: {runs['reapply'][1]}"
    return runs["apply"][0]


@pytest.mark.slow
def test_deploy_then_create_four_steps_each(operator_env, bootstrapped, proxy, aws, tmp_path):
    seen = []
    deployed = four_steps("deploy_image.yml", operator_env, proxy, seen)
    digest = deployed.task_results("Push the archive")[0]["digest"]
    details = aws("ecr").describe_images(repositoryName="naver-sms-automation")["imageDetails"]
    assert [(d["imageDigest"], sorted(d["imageTags"])) for d in details] == [(digest, ["latest", "v1.0.0"])]
    record = json.loads(aws("s3").get_object(Bucket=STATE_BUCKET, Key="image/123456789012/ap-northeast-2/"
                                             "naver-sms-automation/v1.0.0.json")["Body"].read())
    assert record["digest"] == digest
    assert json.loads((tmp_path / "reports" / "image-v1.0.0.json").read_text()) == record  # the local copy
    assert deployed.result["global_custom_stats"]["image_digest"] == digest

    four_steps("create_function.yml", operator_env, proxy, seen, not_ready=NOT_READY)
    faults = [c for _, injected in seen for c in injected if c["fault"] in TRANSIENT]
    assert len(faults) >= 0.1 * sum(calls for calls, _ in seen), faults  # the applies met the mix, and converged
    assert {c["fault"] for c in faults} == set(TRANSIENT) and {c["service"] for c in faults} >= {"ecr", "lambda"}
    function = aws("lambda").get_function(FunctionName=FUNCTION)
    config = function["Configuration"]
    assert function["Code"]["ImageUri"].endswith("@" + digest)
    assert (config["MemorySize"], config["Timeout"], config["PackageType"]) == (512, 300, "Image")
    assert not (config.get("Environment") or {}).get("Variables")
    alias = aws("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "1"
    versions = [v["Version"] for v in aws("lambda").list_versions_by_function(FunctionName=FUNCTION)["Versions"]]
    assert versions == ["$LATEST", "1"]  # one version published, also where the publish met a fault
    rule = aws("events").describe_rule(Name=RULE)
    assert (rule["State"], rule["ScheduleExpression"]) == ("DISABLED", "cron(0/20 * * * ? *)")
    targets = aws("events").list_targets_by_rule(Rule=RULE)["Targets"]
    assert [(t["Arn"], json.loads(t["Input"])) for t in targets] == [(alias["AliasArn"], {"mode": "shadow"})]
    iam = aws("iam")
    trust = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    policy = iam.get_role_policy(RoleName=ROLE, PolicyName="naver-sms-automation-least-privilege")["PolicyDocument"]
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["Tables"]["Resource"] == ["arn:aws:dynamodb:ap-northeast-2:123456789012:table/sms_v2",
                                            "arn:aws:dynamodb:ap-northeast-2:123456789012:table/session"]
    assert all(r.startswith("arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:naver-sms/")
               for r in by_sid["Secrets"]["Resource"])
    assert by_sid["OwnMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "naver-sms/automation"}}
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    for statement in policy["Statement"]:
        if statement["Sid"] != "OwnMetrics":
            assert "*" not in statement["Resource"]

    # an update: a new image (pushed in-process: deploy_image.yml is proven above) and more memory; every Lambda
    # write meets a conflict, every read Pending
    other = build_archive(tmp_path / "v101.tar", layers=[4096, 16384])
    pushed = run_module("ecr_image", {"repository": "naver-sms-automation", "archive": str(other), "tags": ["v1.0.1"],
                                      "scan": False}, bootstrapped)
    assert not pushed.get("failed") and pushed["digest"] != digest, pushed
    script(proxy, NOT_READY_UPDATE)
    proxy.clear()
    run = run_playbook("create_function.yml", env=operator_env, extra_vars={
        "cutover_image_version": "v1.0.1", "cutover_new_memory_mb": 1024, "cutover_image_digest": pushed["digest"]})
    assert run.rc == 0, f"{run.messages()}\n{run.stdout[-4000:]}"
    assert unused(proxy) == [] and {c["fault"] for c in proxy.injected()} == {"pending", "conflict"}
    assert aws("lambda").get_function_configuration(FunctionName=FUNCTION)["MemorySize"] == 1024
    alias = aws("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "2"
    assert aws("lambda").get_function(FunctionName=FUNCTION, Qualifier="2")["Code"]["ImageUri"].endswith(
        "@" + pushed["digest"])
