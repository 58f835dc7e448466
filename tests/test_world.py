"""The legacy world: exactly production's state today, seeded idempotently, loopback only."""
from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from rehearsal import world, world_data
from rehearsal.emulator import EmulatorError
from tests.ansible_runner import run_playbook
from tests.conftest import _free_port

HANGUL_NAME = re.compile(r"^[가-힣]{2,4}$")
PHONE = re.compile(r"^010-\d{4}-\d{4}$")
SLOT_TIME = re.compile(r"^2026-1[01]-\d\d \d\d:\d\d$")


def test_seed_produces_exactly_the_legacy_state_and_a_second_seed_makes_no_mutating_call(emulator, aws, proxy):
    report = world.seed(emulator)
    assert report.created == report.entries

    awslambda = aws("lambda")
    functions = awslambda.list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions] == ["naverplace_send_inform"]
    fn = functions[0]
    assert (fn["PackageType"], fn["Runtime"], fn["MemorySize"], fn["Timeout"], fn["Handler"]) == (
        "Zip", "python3.7", 512, 300, "lambda_function.lambda_handler")
    assert fn["CodeSha256"] == base64.b64encode(hashlib.sha256(world_data.function_zip()).digest()).decode()
    assert fn["Role"] == "arn:aws:iam::123456789012:role/naverplace_send_inform-role"
    assert [layer["Arn"] for layer in fn["Layers"]] == [
        "arn:aws:lambda:ap-northeast-2:123456789012:layer:chromedriver:1",
        "arn:aws:lambda:ap-northeast-2:123456789012:layer:selenium:1",
    ]
    assert sorted(layer["LayerName"] for layer in awslambda.list_layers()["Layers"]) == ["chromedriver", "selenium"]

    trust = aws("iam").get_role(RoleName="naverplace_send_inform-role")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}

    events = aws("events")
    rules = events.list_rules()["Rules"]
    assert [(r["Name"], r["ScheduleExpression"], r["State"]) for r in rules] == [
        ("naverplace_send_inform_trigger", "rate(20 minutes)", "ENABLED")]
    targets = events.list_targets_by_rule(Rule="naverplace_send_inform_trigger")["Targets"]
    assert [(t["Arn"], t.get("Input")) for t in targets] == [(fn["FunctionArn"], None)]
    policy = json.loads(awslambda.get_policy(FunctionName="naverplace_send_inform")["Policy"])
    assert [(s["Principal"]["Service"], s["Condition"]["ArnLike"]["AWS:SourceArn"]) for s in policy["Statement"]] == [
        ("events.amazonaws.com", rules[0]["Arn"])]

    assert aws("logs").describe_log_groups()["logGroups"][0]["logGroupName"] == "/aws/lambda/naverplace_send_inform"
    assert len(aws("logs").describe_log_groups()["logGroups"]) == 1

    ddb = aws("dynamodb")
    assert sorted(ddb.list_tables()["TableNames"]) == ["session", "sms"]
    keys = ddb.describe_table(TableName="sms")["Table"]["KeySchema"]
    assert keys == [{"AttributeName": "booking_num", "KeyType": "HASH"}, {"AttributeName": "phone", "KeyType": "RANGE"}]
    items = sorted((world_data.from_dynamodb(i) for i in world.World(emulator).scan("sms")),
                   key=lambda i: (i["booking_num"], i["phone"]))
    assert items == world_data.sms_items()
    assert len(world.World(emulator).scan("session")) == 1

    secrets = aws("secretsmanager")
    assert sorted(s["Name"] for s in secrets.list_secrets()["SecretList"]) == [
        "naver-sms/alerts-slack", "naver-sms/alerts-telegram", "naver-sms/naver-login", "naver-sms/sens",
        "naver-sms/telegram"]
    sens = json.loads(secrets.get_secret_value(SecretId="naver-sms/sens")["SecretString"])
    assert set(sens) == {"access_key", "secret_key", "service_id", "calling_number"}

    assert aws("ecr").describe_repositories()["repositories"] == []

    again = world.seed(proxy.url)  # the same world seeded again: nothing to do, nothing written
    assert again.created == []
    assert len(again.entries) == 20
    assert proxy.mutating_calls() == []


def test_existing_bookings_look_like_production():
    items = world_data.sms_items()
    assert len(items) >= 40
    assert len({i["booking_num"].split("_")[0] for i in items}) >= 3  # several stores
    for item in items:
        assert re.fullmatch(r"\d{7}_\d{9}", item["booking_num"]), item
        assert PHONE.match(item["phone"]) and HANGUL_NAME.match(item["name"]), item
        assert SLOT_TIME.match(item["booking_time"]), item
        assert item["confirm_sms"] is True
        assert ("option_time" in item) == item["option_sms"]
    assert any(i["option_sms"] for i in items) and not all(i["remind_sms"] for i in items)
    assert len({i["booking_num"] for i in items}) < len(items)  # a booking with two phones
    assert world_data.sms_items() == items and world_data.function_zip() == world_data.function_zip()


def test_seed_completes_a_partial_world(emulator, aws):
    world.seed(emulator)
    aws("dynamodb").delete_item(TableName="sms", Key={"booking_num": {"S": world_data.sms_items()[0]["booking_num"]},
                                                      "phone": {"S": world_data.sms_items()[0]["phone"]}})
    aws("events").remove_targets(Rule="naverplace_send_inform_trigger", Ids=["naverplace_send_inform"])
    assert world.World(emulator).check() == [
        "rule naverplace_send_inform_trigger targets [], expected "
        "[arn:aws:lambda:ap-northeast-2:123456789012:function:naverplace_send_inform]",
        "table sms holds 49 items that differ from the 50 seeded bookings",
    ]
    report = world.seed(emulator)
    assert [(kind, status) for kind, _, status in report.created] == [("rule target", "created"), ("items", "created")]
    assert world.World(emulator).check() == []


@pytest.mark.parametrize("url", ["http://10.1.2.3:4566", "https://dynamodb.ap-northeast-2.amazonaws.com"])
def test_seed_refuses_a_non_loopback_endpoint(url):
    with pytest.raises(EmulatorError, match=f"refusing endpoint {re.escape(url)}"):
        world.seed(url)


def test_seed_without_emulator_says_what_to_do():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(EmulatorError, match=f"no emulator at {re.escape(url)}: run make emulator"):
        world.seed(url)


def test_seed_playbook_seeds_on_test_and_refuses_production(emulator, aws, tmp_path):
    check = run_playbook("seed_world.yml", check=True)
    assert check.rc == 0 and check.changed == 1, check.stdout[-3000:]
    assert aws("lambda").list_functions()["Functions"] == []
    first = run_playbook("seed_world.yml")
    assert first.rc == 0 and first.changed == 1, first.stdout[-3000:]
    assert_a_change_record_without_a_ticket_under_the_date(tmp_path / "reports")
    second = run_playbook("seed_world.yml")
    assert second.rc == 0 and second.changed == 0, second.stdout[-3000:]
    assert run_playbook("seed_world.yml", check=True).changed == 0

    aws("lambda").delete_function(FunctionName="naverplace_send_inform")
    prod = run_playbook("seed_world.yml", inventory="production", extra_vars={"change_ticket": "CHG1"},
                        env={"AWS_ENDPOINT_URL": emulator})
    assert prod.rc != 0
    assert "only seeds the local emulator of the test inventory; this inventory is 'production'" in prod.messages()
    assert aws("lambda").list_functions()["Functions"] == []


def assert_a_change_record_without_a_ticket_under_the_date(reports) -> None:
    """callback_plugins/change_record.py: the seeding run's record (no ticket: under the date), no seeded secret."""
    [day] = [p.name for p in (reports / "test").iterdir()]
    [path] = sorted((reports / "test" / day).glob("*seed_world.json"))
    record = json.loads(path.read_text())
    assert record["started"].startswith(day) and record["ticket"] == ""
    assert [c["task"] for c in record["changes"]] == \
        ["Create what is missing of the legacy world, leave what exists alone"]
    assert record["stats"]["failed"] == 0 and record["record"] == "change"
    seeded = world.world_data.secret_values(world.Names.from_inventory().secrets)
    assert "dummy-telegram-token" in "".join(seeded.values())
    for text in (path.read_text(), path.with_suffix(".md").read_text()):
        assert "dummy-" not in text  # no seeded secret value (dummy-sens-secret-key, ...)
