"""Issue 13 item 5: the bad-input catalogue. Every case is refused with a message that says what is
wrong and what to do (asserted on the message), and the proxy counts 0 mutating calls.

Module cases run the module's main() in-process through the proxy (tests/module_runner.py): fast.
A few playbook cases prove the same at the operator's level (ansible-playbook through the proxy); there
the ledger's own lock/event bookkeeping is the only write allowed (tests.conftest.migration_writes).
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field

import boto3
import pytest

from rehearsal import emulator as emu
from rehearsal.image_archive import build_archive
from rehearsal.proxy import FaultProxy, run_playbook
from tests.conftest import LEDGER_TABLE, STATE_BUCKET, bootstrap_state, migration_writes
from tests.module_runner import run_module

ACCOUNT = "123456789012"
OTHER = "999999999999"
REGION = "ap-northeast-2"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:naverplace_send_inform_v2"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/naver-sms-automation:v1.0.0"
ROLE = "naver-sms-automation-lambda-role"
LAMBDA = {"name": "naverplace_send_inform_v2", "image": IMAGE, "role": ROLE}
RULE = {"name": "naver-sms-automation-v2-trigger", "schedule": "rate(20 minutes)", "target_arn": FUNCTION_ARN}
SWITCH = {"live": "new", "old_rule": "naverplace-send-inform-trigger", "new_rule": "naver-sms-automation-v2-trigger",
          "new_target_arn": FUNCTION_ARN}
COMPARE = {"old_table": "sms", "new_table": "sms_v2", "old_log_group": "/aws/lambda/naverplace_send_inform",
           "new_log_group": "/aws/lambda/naverplace_send_inform_v2", "state_bucket": STATE_BUCKET,
           "account_id": ACCOUNT}
GATE = {"function": "naverplace_send_inform_v2"}
ALARM = {"name": "v2-errors", "expression": "errors / invocations", "function": "naverplace_send_inform_v2",
         "period": 300, "comparison": "GreaterThanThreshold", "threshold": 0.01}
ECR = {"repository": "naver-sms-automation", "tags": ["v1.0.0"], "scan": False}


@dataclass(frozen=True)
class Case:
    id: str
    module: str
    args: dict
    expect: tuple  # every substring must be in the refusal message
    setup: tuple = field(default=())  # "function" (the new function exists), "archive:<defect>" (fills args["archive"])


def not_one_of(option, *values):
    return (f"value of {option} must be one of: {', '.join(values)}",)


CASES = [
    # --- wrong types and missing required options (Ansible's argument spec, before any call)
    Case("lambda memory not a number", "lambda_image_function", dict(LAMBDA, memory="lots"),
         ("argument 'memory' is of type", "unable to convert to int")),
    Case("lambda image missing", "lambda_image_function", {"name": "f", "role": ROLE},
         ("missing required arguments: image",)),
    Case("lambda architecture unknown", "lambda_image_function", dict(LAMBDA, architecture="sparc"),
         not_one_of("architecture", "x86_64", "arm64")),
    Case("rule schedule missing", "schedule_rule", {"name": "r", "target_arn": FUNCTION_ARN},
         ("missing required arguments: schedule",)),
    Case("rule mode unknown", "schedule_rule", dict(RULE, mode="both"), not_one_of("mode", "shadow", "live")),
    Case("switch live unknown", "schedule_switch", dict(SWITCH, live="both"), not_one_of("live", "new", "old")),
    Case("switch margin not a number", "schedule_switch", dict(SWITCH, margin="two minutes"),
         ("argument 'margin' is of type",)),
    Case("ledger action unknown", "cutover_ledger", {"table": LEDGER_TABLE, "action": "steal_lock"},
         ("value of action must be one of: ensure_table, ensure_bucket, lock, unlock",)),
    Case("ledger event not a mapping", "cutover_ledger",
         {"table": LEDGER_TABLE, "action": "event", "event": "went fine"}, ("argument 'event' is of type",)),
    Case("ledger force_unlock not a boolean", "cutover_ledger",
         {"table": LEDGER_TABLE, "action": "unlock", "force_unlock": "please"}, ("argument 'force_unlock' is of type",)),
    Case("alarm threshold not a number", "metric_math_alarm", dict(ALARM, threshold="high"),
         ("argument 'threshold' is of type",)),
    Case("alarm comparison unknown", "metric_math_alarm", dict(ALARM, comparison="Above"),
         ("value of comparison must be one of: GreaterThanThreshold",)),
    Case("dynamodb_state action unknown", "dynamodb_state", {"action": "truncate", "table": "sms"},
         not_one_of("action", "backup", "restore", "reconcile")),
    Case("compare state bucket missing", "output_compare", {k: v for k, v in COMPARE.items() if k != "state_bucket"},
         ("missing required arguments: state_bucket",)),

    # --- decision names
    Case("gate decision unknown", "cutover_gate", dict(GATE, decision="golive"),
         not_one_of("decision", "parallel", "cutover", "decommission")),
    Case("ledger decision unknown", "cutover_ledger",
         {"table": LEDGER_TABLE, "action": "decision", "decision": "launch", "outcome": "go"},
         not_one_of("decision", "parallel", "cutover", "decommission")),
    Case("ledger outcome unknown", "cutover_ledger",
         {"table": LEDGER_TABLE, "action": "decision", "decision": "cutover", "outcome": "maybe"},
         not_one_of("outcome", "go", "no_go")),
    Case("gate as_of not a time", "cutover_gate", dict(GATE, decision="cutover", as_of="yesterday"),
         ("as_of", "'yesterday'", "2026-11-26T04:00:00Z")),

    # --- out-of-range sizes and counts
    Case("lambda memory too small", "lambda_image_function", dict(LAMBDA, memory=64),
         ("memory 64 is out of range: Lambda takes 128 to 10240 MB",)),
    Case("lambda memory too large", "lambda_image_function", dict(LAMBDA, memory=20480),
         ("memory 20480 is out of range: Lambda takes 128 to 10240 MB",)),
    Case("lambda timeout too long", "lambda_image_function", dict(LAMBDA, timeout=901),
         ("timeout 901 is out of range: Lambda takes 1 to 900 seconds",)),
    Case("lambda ephemeral storage too large", "lambda_image_function", dict(LAMBDA, ephemeral_storage=20000),
         ("ephemeral_storage 20000 is out of range: Lambda takes 512 to 10240 MB",)),
    Case("lambda negative concurrency", "lambda_image_function", dict(LAMBDA, reserved_concurrency=-1),
         ("reserved_concurrency must be 0 or more",)),
    Case("switch margin out of range", "schedule_switch", dict(SWITCH, margin=-5), ("margin",)),
    Case("ledger limit zero", "cutover_ledger", {"table": LEDGER_TABLE, "action": "read", "limit": 0},
         ("limit must be at least 1",)),
    Case("compare slot minutes zero", "output_compare", dict(COMPARE, slot_minutes=0),
         ("slot_minutes and scan_segments must be positive",)),

    # --- unknown names (nothing of that name exists)
    Case("lambda role unknown", "lambda_image_function", dict(LAMBDA, role="no-such-role", image=IMAGE),
         ("does not exist in ECR repository naver-sms-automation", "playbooks/deploy_image.yml")),
    Case("rule must exist but does not", "schedule_rule", dict(RULE, name="naverplace-typo", must_exist=True),
         ("rule naverplace-typo does not exist", "fix the rule name in the inventory", "Nothing was changed")),
    Case("switch old rule unknown", "schedule_switch", dict(SWITCH, old_rule="naverplace-typo"),
         ("the old rule naverplace-typo does not exist", "check the name in the inventory")),
    Case("switch same rule twice", "schedule_switch", dict(SWITCH, old_rule=SWITCH["new_rule"]),
         ("old_rule and new_rule name the same rule",)),
    Case("ledger table unknown", "cutover_ledger", {"table": "no-such-ledger", "action": "read"},
         ("ledger table no-such-ledger does not exist", "bootstrap.yml")),
    Case("backup of an unknown table", "dynamodb_state", {"action": "backup", "table": "no_such", "backup_name": "before-cutover"},
         ("table no_such does not exist: nothing to back up",)),
    Case("restore of an unknown backup", "dynamodb_state",
         {"action": "restore", "table": LEDGER_TABLE, "backup_name": "never-taken", "target_table": "sms_restored"},
         ("no backup named never-taken", "take it first (action=backup)")),
    Case("reconcile onto itself", "dynamodb_state", {"action": "reconcile", "table": "sms", "target_table": "sms"},
         ("target_table must differ from table",)),
    Case("backup without a name", "dynamodb_state", {"action": "backup", "table": "sms"},
         ("action is backup but all of the following are missing: backup_name",)),
    Case("table name with spaces", "dynamodb_state", {"action": "backup", "table": "sms table", "backup_name": "b"},
         ("table 'sms table' may hold only letters, digits",)),
    Case("rule name with spaces", "schedule_rule", dict(RULE, name="naver sms"),
         ("rule name naver sms may hold only letters, digits",)),
    Case("rule name too long", "schedule_rule", dict(RULE, name="r" * 65),
         ("is 65 characters; EventBridge allows at most 64", "choose a shorter name")),
    Case("dashboard name with spaces", "cloudwatch_dashboard", {"name": "cut over", "body": {"widgets": []}},
         ("dashboard name 'cut over' may hold only letters, digits",)),
    Case("dashboard body without widgets", "cloudwatch_dashboard", {"name": "cutover", "body": {"panels": []}},
         ("body must be a dict with a 'widgets' list",)),
    Case("sns e-mail not an address", "sns_channel",
         {"name": "naver-sms-cutover-alarms", "subscriptions": [{"protocol": "email", "endpoint": "ops at example"}]},
         ("subscriptions[0] is not an e-mail address", "fix the address")),
    Case("compare tables unknown", "output_compare", dict(COMPARE, slot="2026-11-26T04:00:00Z"),
         ("no comparison snapshot of table sms", "Run start_parallel.yml first")),

    # --- ARNs and images of another account or region
    Case("image of another region", "lambda_image_function",
         dict(LAMBDA, image=IMAGE.replace(REGION, "us-east-1")),
         ("is in region us-east-1 but the function is in region ap-northeast-2", "push the image to ECR in ap-northeast-2")),
    Case("role of another account", "lambda_image_function",
         dict(LAMBDA, role=f"arn:aws:iam::{OTHER}:role/{ROLE}"),
         (f"role arn:aws:iam::{OTHER}:role/{ROLE} belongs to account {OTHER} but the image is in account {ACCOUNT}",
          f"give a role of account {ACCOUNT}")),
    Case("image not an ECR reference", "lambda_image_function", dict(LAMBDA, image="naver-sms-automation:v1"),
         ("is not an ECR image reference", "ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG")),
    Case("rule target in another region", "schedule_rule",
         dict(RULE, target_arn=FUNCTION_ARN.replace(REGION, "us-east-1")),
         ("target_arn", "is in region us-east-1 but the rule is in region ap-northeast-2", "fix the ARN")),
    Case("rule target of another account", "schedule_rule",
         dict(RULE, target_arn=FUNCTION_ARN.replace(ACCOUNT, OTHER)),
         ("target_arn", f"belongs to account {OTHER} but the rule is in account {ACCOUNT}", "Nothing was changed"),
         ("function",)),
    Case("rule target function missing", "schedule_rule", dict(RULE),
         ("target function naverplace_send_inform_v2 does not exist", "playbooks/create_function.yml",
          "Nothing was changed")),
    Case("switch target in another region", "schedule_switch",
         dict(SWITCH, new_target_arn=FUNCTION_ARN.replace(REGION, "eu-west-1")),
         ("new_target_arn", "is in region eu-west-1 but the new rule is in region ap-northeast-2")),
    Case("state bucket of another account", "cutover_ledger",
         {"table": LEDGER_TABLE, "action": "ensure_bucket", "bucket": "naver-sms-cutover-state-999999999999",
          "account_id": ACCOUNT}, (f"is named after account {OTHER} but account_id is {ACCOUNT}", "cutover_state_bucket")),

    # --- schedule strings
    Case("schedule in words", "schedule_rule", dict(RULE, schedule="every 20 minutes"),
         ("it must be cron(...) or rate(...)",)),
    Case("schedule hour 25", "schedule_rule", dict(RULE, schedule="cron(0 25 * * ? *)"),
         ("hours value 25 is outside 0-23",)),
    Case("schedule rate zero", "schedule_rule", dict(RULE, schedule="rate(0 minutes)"),
         ("rate value '0' must be a positive whole number",)),
    Case("schedule rate singular", "schedule_rule", dict(RULE, schedule="rate(1 minutes)"),
         ("a value of 1 takes the singular unit: rate(1 minute)",)),
    Case("schedule cron five fields", "schedule_rule", dict(RULE, schedule="cron(0/20 * * * *)"),
         ("cron takes 6 fields",)),
    Case("schedule both days given", "schedule_rule", dict(RULE, schedule="cron(0 12 1 * MON *)"),
         ("exactly one of day-of-month and day-of-week must be '?'",)),

    # --- times and slots
    Case("compare slot not a time", "output_compare", dict(COMPARE, slot="noon"),
         ("slot 'noon' is not an ISO date-time such as 2026-11-26T04:00:00Z",)),
    Case("compare slot and range", "output_compare",
         dict(COMPARE, slot="2026-11-26T04:00:00Z", start="2026-11-26T04:00:00Z"),
         ("give either slot or start/end, not both",)),
    Case("compare range half given", "output_compare", dict(COMPARE, start="2026-11-26T04:00:00Z"),
         ("a range needs both start and end",)),
    Case("compare range backwards", "output_compare",
         dict(COMPARE, start="2026-11-26T06:00:00Z", end="2026-11-26T04:00:00Z"),
         ("end 2026-11-26T04:00:00Z is before start 2026-11-26T06:00:00Z",)),
    Case("compare log format unknown", "output_compare", dict(COMPARE, old_log_format="xml"),
         ("old_log_format must be one of", "or a format mapping, got 'xml'")),

    # --- ledger actions missing what they need
    Case("unlock without run id", "cutover_ledger", {"table": LEDGER_TABLE, "action": "unlock"},
         ("unlock needs the run_id returned by action=lock, or force_unlock=true with an unlock_reason",)),
    Case("put state without content", "cutover_ledger",
         {"table": LEDGER_TABLE, "action": "put_state", "bucket": STATE_BUCKET, "account_id": ACCOUNT,
          "state_key": ["x"]}, ("action=put_state needs content (a mapping)",)),
    Case("get state without bucket", "cutover_ledger", {"table": LEDGER_TABLE, "action": "get_state"},
         ("action=get_state needs bucket, account_id and state_key",)),
    Case("ensure bucket without account", "cutover_ledger",
         {"table": LEDGER_TABLE, "action": "ensure_bucket", "bucket": STATE_BUCKET},
         ("action=ensure_bucket needs bucket and account_id",)),

    # --- image archives
    Case("archive missing", "ecr_image", dict(ECR, archive="/nonexistent/naver-sms-automation.tar"),
         ("/nonexistent/naver-sms-automation.tar",)),
    Case("archive not a tar", "ecr_image", dict(ECR), ("not a tar",), ("archive:text",)),
    Case("archive truncated", "ecr_image", dict(ECR), ("archive",), ("archive:truncated",)),
    Case("archive without a layer", "ecr_image", dict(ECR), ("layer",), ("archive:omit_layer",)),
    Case("archive of another platform", "ecr_image", dict(ECR, platform="linux/arm64"),
         ("linux/arm64", "linux/amd64"), ("archive:ok",)),
    Case("archive larger than allowed", "ecr_image", dict(ECR, max_size_gb=0.000001),
         ("max_size_gb",), ("archive:ok",)),
    Case("ecr tags empty", "ecr_image", dict(ECR, tags=[]), ("tags is empty: give at least the version tag",),
         ("archive:ok",)),
]


def _archive(tmp_path, defect: str) -> str:
    path = tmp_path / "image.tar"
    if defect == "text":
        path.write_text("this is not an image archive\n")
        return str(path)
    build_archive(path, layers=[2048, 4096], omit_layer=defect == "omit_layer")
    if defect == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return str(path)


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


def _function(url: str) -> None:
    """The new function, as a small zip function made directly (what matters here is its ARN)."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    role = session.client("iam", endpoint_url=url).create_role(
        RoleName=ROLE, AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}')["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    session.client("lambda", endpoint_url=url).create_function(
        FunctionName=LAMBDA["name"], Runtime="python3.11", Role=role, Handler="handler.handler",
        Code={"ZipFile": code.getvalue()})


def _bootstrapped(url: str) -> None:
    emu.reset(url)
    bootstrap_state(url)


@pytest.fixture(scope="module")
def clean_proxy(emulator_server):
    """One proxy for the module over a bootstrapped emulator (ledger table, state bucket): a refused case
    writes nothing, so only a case that adds to the emulator resets it afterwards."""
    _bootstrapped(emulator_server.url)
    with FaultProxy(emulator_server.url) as prx:
        yield prx


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_with_a_clear_message_and_no_write(case, clean_proxy, tmp_path):
    proxy, url, args = clean_proxy, clean_proxy.state.upstream, dict(case.args)
    for step in case.setup:
        if step == "function":
            _function(url)
        elif step.startswith("archive:"):
            args["archive"] = _archive(tmp_path, step.split(":", 1)[1])
    proxy.clear()
    result = run_module(case.module, args, proxy.url)
    assert result.get("failed"), f"{case.id}: not refused: {result}"
    msg = result["msg"]
    missing = [part for part in case.expect if part not in msg]
    assert not missing, f"{case.id}: message {msg!r} lacks {missing}"
    assert "Traceback" not in msg
    assert proxy.mutating_calls() == [], f"{case.id}: wrote before refusing"
    if "function" in case.setup:
        _bootstrapped(url)


# --- a few at the operator's level: the playbook refuses before any migration write (tickets and endpoints
# on every playbook: tests/reliability/test_production_guard.py). They share the module's bootstrapped world
# (a refused run leaves at most the ledger's lock/event bookkeeping, which no other case reads). Refused before
# the lock (input assertions first, or a read-only check): not even the lock is written.
PLAYBOOK_CASES = [
    ("gate decision unknown", "gate.yml", {"decision": "golive"},
     ("unknown decision 'golive'", "run with -e decision=parallel"), "before the lock"),
    ("lambda memory out of range", "create_function.yml", {"cutover_new_memory_mb": 64},
     ("memory 64 is out of range: Lambda takes 128 to 10240 MB",), "holding the lock"),
    ("environment variables on production", "create_function.yml",
     {"cutover_environment": "production", "cutover_new_environment": {"DEBUG": "1"}},
     ("cutover_new_environment sets DEBUG on production", "remove them from the inventory or -e"), "before the lock"),
    ("image archive missing", "deploy_image.yml", {"cutover_image_archive": ""},
     ("no image archive: give it with -e cutover_image_archive",), "before the lock"),
    ("alarm e-mail invalid", "monitoring.yml", {"cutover_alarm_emails": ["ops@example.com", "ops@@example"]},
     ("invalid e-mail address(es): ops@@example", "fix the address in inventories/test"), "before the lock"),
    ("parallel run without a DP1 go", "start_parallel.yml", {},
     ("no Decision Point 1 go recorded in the last 24 h: the ledger holds no parallel decision",
      "Run playbooks/gate.yml -e decision=parallel first; nothing was changed"), "before the lock"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, playbook, extra, expect, when", PLAYBOOK_CASES, ids=[c[0] for c in PLAYBOOK_CASES])
def test_playbook_refuses_bad_input_before_any_write(name, playbook, extra, expect, when, clean_proxy, tmp_path):
    args = ["-e", json.dumps(extra)] if extra else []
    run = run_playbook(clean_proxy, playbook, *args, env={"CUTOVER_REPORTS_DIR": str(tmp_path / "reports")})
    assert run.rc != 0
    text = " ".join((run.stdout + run.stderr).split())
    missing = [part for part in expect if part not in text]
    assert not missing, f"{name}: output lacks {missing}:\n{run.stdout[-3000:]}"
    assert migration_writes(run.calls) == []
    if when == "before the lock":
        assert [c["operation"] for c in run.calls if c["mutating"]] == []
