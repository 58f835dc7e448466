"""Fixtures of the rehearsal world: a small legacy (and new) world on the clean emulator."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from rehearsal.config import Config
from rehearsal.scheduler import Scheduler
from rehearsal.world import Names
from rehearsal.world import seed as seed_world

CFG = Config()
SCHEDULE = "cron(0/20 * * * ? *)"
# A recent day (CloudWatch Logs accepts the last 14 days only): midnight UTC three days ago.
DAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)


def _function(aws, name, role_arn):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("lambda_function.py", "def lambda_handler(event, context):\n    return None\n")
    return aws("lambda").create_function(FunctionName=name, Runtime="python3.11", Role=role_arn,
                                         Handler="lambda_function.lambda_handler",
                                         Code={"ZipFile": buf.getvalue()})["FunctionArn"]


@pytest.fixture
def world(emulator, aws, state_dir):
    """The seeded legacy world, its rule aligned to cron(0/20 * * * ? *) as phase 5.3 leaves it,
    plus an empty sms_v2 and the new function (its rule is added by `World.new_rule`)."""
    seed_world(emulator)
    ddb, events = aws("dynamodb"), aws("events")
    ddb.create_table(
        TableName=CFG.new_table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "booking_num", "KeyType": "HASH"}, {"AttributeName": "phone", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "booking_num", "AttributeType": "S"},
                              {"AttributeName": "phone", "AttributeType": "S"}])
    role_arn = aws("iam").get_role(RoleName=Names.from_inventory().role)["Role"]["Arn"]
    arns = {CFG.old_function: aws("lambda").get_function(FunctionName=CFG.old_function)["Configuration"]["FunctionArn"],
            CFG.new_function: _function(aws, CFG.new_function, role_arn)}
    events.put_rule(Name=CFG.old_rule, ScheduleExpression=SCHEDULE, State="ENABLED")

    class World:
        cfg = Config(url=emulator, directory=state_dir / "rehearsal")
        scheduler = Scheduler(cfg)

        @staticmethod
        def new_rule(mode="shadow", state="ENABLED", schedule=SCHEDULE):
            events.put_rule(Name=CFG.new_rule, ScheduleExpression=schedule, State=state)
            events.put_targets(Rule=CFG.new_rule, Targets=[
                {"Id": "v2", "Arn": arns[CFG.new_function], "Input": json.dumps({"mode": mode})}])

        @staticmethod
        def old_rule(state):
            events.put_rule(Name=CFG.old_rule, ScheduleExpression=SCHEDULE, State=state)

        @staticmethod
        def items(table):
            return {(i["booking_num"]["S"], i["phone"]["S"]): i
                    for i in ddb.scan(TableName=table)["Items"]}

        @staticmethod
        def log_lines(function):
            logs = aws("logs")
            out, token = [], None
            while True:
                kw = {"logGroupName": f"/aws/lambda/{function}"}
                if token:
                    kw["nextToken"] = token
                resp = logs.filter_log_events(**kw)
                # the JSON lines of the job; START / END / REPORT are the Lambda runtime's
                out.extend(json.loads(e["message"]) for e in resp["events"] if e["message"].startswith("{"))
                token = resp.get("nextToken")
                if not token:
                    return out

    return World


def bucket_baseline(url, as_of, cfg=CFG):
    """What start_parallel.yml does last: the comparison's baseline, in the state bucket."""
    from rehearsal.comparison import inventory_settings
    from tests.conftest import STATE_BUCKET
    from tests.module_runner import run_module

    settings = inventory_settings()
    result = run_module("output_compare", {
        "old_table": cfg.old_table, "new_table": cfg.new_table, "old_log_group": f"/aws/lambda/{cfg.old_function}",
        "new_log_group": f"/aws/lambda/{cfg.new_function}", "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "rules": settings["cutover_compare_rules"],
        "state_bucket": STATE_BUCKET, "account_id": "123456789012", "baseline": True}, url)
    assert not result.get("failed") and result["baseline"], result
    return result
