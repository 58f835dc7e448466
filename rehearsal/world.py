"""The legacy world: the state production is in today, seeded into the emulator.

    python -m rehearsal.world seed [--url URL]     create what is missing
    python -m rehearsal.world check [--url URL]    list where the emulator differs (exit 1)

Creates what is missing and leaves what exists alone (a second seed makes no
mutating call and reports everything as already present):

- IAM role ``naverplace_send_inform-role`` (Lambda trust, basic execution, DynamoDB and
  Secrets Manager access as the legacy function had it)
- layers ``chromedriver`` and ``selenium`` (one published version each)
- function ``naverplace_send_inform``: zip, python3.7, 512 MB, 300 s, both layers
- log group ``/aws/lambda/naverplace_send_inform``
- EventBridge rule ``naverplace_send_inform_trigger``: ``rate(20 minutes)``, ENABLED,
  targeting the function (no input), with the Lambda permission that lets it invoke
- DynamoDB ``sms`` (booking_num + phone) holding the existing bookings of
  ``rehearsal.world_data`` and ``session`` (id) holding the Naver login session
- Secrets Manager secrets for SENS, Telegram and Naver (dummy values)
- the world mark: SSM parameter ``/rehearsal/world-id``, a random id written once per world.
  It lives in the emulator, so it is gone with the world (emulator stopped or reset); the
  rehearsal's local state (clock, recorders) stores the same id and follows it

Every name comes from the test inventory (``inventories/test/group_vars/all``).
Only a loopback endpoint whose account is the test inventory's account is accepted.
"""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rehearsal import world_data
from rehearsal.emulator import EmulatorError, answers, emulator_url, require_loopback

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEST_INVENTORY = PROJECT_DIR / "inventories" / "test"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
# What the legacy role was given (broad, as it was; the new role is least-privilege).
LEGACY_POLICIES = (
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
    "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
)
TARGET_ID = "naverplace_send_inform"
WORLD_MARK = "/rehearsal/world-id"


@dataclass(frozen=True)
class Names:
    """The names and settings of the legacy world, read from an inventory."""

    account_id: str
    region: str
    function: str
    role: str
    runtime: str
    handler: str
    memory_mb: int
    timeout_s: int
    layers: tuple
    rule: str
    schedule: str
    table: str
    session_table: str
    secrets: dict

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    @classmethod
    def from_inventory(cls, inventory: Path = TEST_INVENTORY) -> "Names":
        values: dict = {}
        for path in sorted((inventory / "group_vars" / "all").glob("*.yml")):
            values.update(yaml.safe_load(path.read_text()) or {})
        return cls(
            account_id=str(values["cutover_account_id"]), region=values["cutover_region"],
            function=values["cutover_old_function"], role=values["cutover_old_role"],
            runtime=values["cutover_old_runtime"], handler=values["cutover_old_handler"],
            memory_mb=int(values["cutover_old_memory_mb"]), timeout_s=int(values["cutover_old_timeout_s"]),
            layers=tuple(values["cutover_old_layers"]), rule=values["cutover_old_rule"],
            schedule=values["cutover_old_schedule"], table=values["cutover_old_table"],
            session_table=values["cutover_session_table"], secrets=dict(values["cutover_secrets"]),
        )


@dataclass
class Report:
    """What a seed did: one (kind, name, status) per resource; status created | present."""

    entries: list = field(default_factory=list)
    world_id: str = ""

    def add(self, kind: str, name: str, created: bool) -> None:
        self.entries.append((kind, name, "created" if created else "present"))

    @property
    def created(self) -> list:
        return [e for e in self.entries if e[2] == "created"]

    def __str__(self) -> str:
        width = max(len(k) for k, _, _ in self.entries) if self.entries else 0
        lines = [f"{status:8} {kind:{width}} {name}" for kind, name, status in self.entries]
        lines.append(f"{len(self.created)} created, {len(self.entries) - len(self.created)} already present")
        if self.world_id:
            lines.append(f"world {self.world_id} (its mark: SSM parameter {WORLD_MARK})")
        return "\n".join(lines)


class World:
    """The legacy world on one emulator endpoint."""

    def __init__(self, url: str | None = None, names: Names | None = None):
        self.url = (url or emulator_url()).rstrip("/")
        require_loopback(self.url)  # before any request is made
        self.names = names or Names.from_inventory()
        import boto3

        self._session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.names.region)
        self._clients: dict = {}

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self._session.client(service, endpoint_url=self.url)
        return self._clients[service]

    def check_account(self) -> None:
        if not answers(self.url):
            raise EmulatorError(f"no emulator at {self.url}: run make emulator")
        account = self.client("sts").get_caller_identity()["Account"]
        if account != self.names.account_id:
            raise EmulatorError(
                f"the endpoint {self.url} serves account {account}, expected the test inventory's "
                f"account {self.names.account_id}: start the emulator with make emulator")

    # ------------------------------------------------------------------ seed

    def seed(self) -> Report:
        self.check_account()
        report = Report()
        role_arn = self._role(report)
        layer_arns = self._layers(report)
        function_arn = self._function(report, role_arn, layer_arns)
        self._log_group(report)
        self._rule(report, function_arn)
        self._tables(report)
        self._items(report, self.names.table, world_data.sms_items(), ("booking_num", "phone"))
        self._items(report, self.names.session_table, world_data.session_items(), ("id",))
        self._secrets(report)
        self._mark(report)  # last: a world is marked only once it is complete
        return report

    def mark(self) -> str | None:
        """The id of the world this emulator holds (None: nothing seeded)."""
        ssm = self.client("ssm")
        try:
            return ssm.get_parameter(Name=WORLD_MARK)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            return None

    def _mark(self, report: Report) -> None:
        """Not a resource of the legacy world: reported apart from the entries."""
        report.world_id = self.mark() or ""
        if not report.world_id:
            report.world_id = uuid.uuid4().hex[:12]
            self.client("ssm").put_parameter(Name=WORLD_MARK, Value=report.world_id, Type="String",
                                             Description="id of the rehearsal world seeded here")

    def _role(self, report: Report) -> str:
        iam = self.client("iam")
        try:
            arn = iam.get_role(RoleName=self.names.role)["Role"]["Arn"]
            created = False
        except iam.exceptions.NoSuchEntityException:
            arn = iam.create_role(RoleName=self.names.role, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
                                  Description=f"legacy execution role of {self.names.function}")["Role"]["Arn"]
            created = True
        report.add("iam role", self.names.role, created)
        attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=self.names.role)["AttachedPolicies"]}
        for policy in LEGACY_POLICIES:
            if policy not in attached:
                iam.attach_role_policy(RoleName=self.names.role, PolicyArn=policy)
            report.add("role policy", policy.rsplit("/", 1)[-1], policy not in attached)
        return arn

    def _layers(self, report: Report) -> list:
        awslambda = self.client("lambda")
        zips = world_data.layer_zips()
        arns = []
        for layer in self.names.layers:
            versions = awslambda.list_layer_versions(LayerName=layer).get("LayerVersions", [])
            if versions:
                arns.append(max(versions, key=lambda v: v["Version"])["LayerVersionArn"])
            else:
                arns.append(awslambda.publish_layer_version(
                    LayerName=layer, Description=f"{layer} for {self.names.function} (legacy)",
                    Content={"ZipFile": zips[layer]}, CompatibleRuntimes=[self.names.runtime],
                )["LayerVersionArn"])
            report.add("lambda layer", layer, not versions)
        return arns

    def _function(self, report: Report, role_arn: str, layer_arns: list) -> str:
        awslambda = self.client("lambda")
        try:
            arn = awslambda.get_function(FunctionName=self.names.function)["Configuration"]["FunctionArn"]
            created = False
        except awslambda.exceptions.ResourceNotFoundException:
            arn = awslambda.create_function(
                FunctionName=self.names.function, Runtime=self.names.runtime, Role=role_arn,
                Handler=self.names.handler, Code={"ZipFile": world_data.function_zip()},
                Description="Naver booking SMS (legacy zip)", Timeout=self.names.timeout_s,
                MemorySize=self.names.memory_mb, Layers=layer_arns, PackageType="Zip",
            )["FunctionArn"]
            created = True
        report.add("lambda function", self.names.function, created)
        return arn

    def _log_group(self, report: Report) -> None:
        logs = self.client("logs")
        found = logs.describe_log_groups(logGroupNamePrefix=self.names.log_group)["logGroups"]
        exists = any(g["logGroupName"] == self.names.log_group for g in found)
        if not exists:
            logs.create_log_group(logGroupName=self.names.log_group)
        report.add("log group", self.names.log_group, not exists)

    def _rule(self, report: Report, function_arn: str) -> None:
        events = self.client("events")
        awslambda = self.client("lambda")
        try:
            rule_arn = events.describe_rule(Name=self.names.rule)["Arn"]
            created = False
        except events.exceptions.ResourceNotFoundException:
            rule_arn = events.put_rule(Name=self.names.rule, ScheduleExpression=self.names.schedule,
                                       State="ENABLED", Description=f"runs {self.names.function}")["RuleArn"]
            created = True
        report.add("eventbridge rule", self.names.rule, created)
        targets = events.list_targets_by_rule(Rule=self.names.rule)["Targets"]
        has_target = any(t["Arn"] == function_arn for t in targets)
        if not has_target:
            events.put_targets(Rule=self.names.rule, Targets=[{"Id": TARGET_ID, "Arn": function_arn}])
        report.add("rule target", f"{self.names.rule} -> {self.names.function}", not has_target)
        statement_id = f"{self.names.rule}-invoke"
        try:
            policy = json.loads(awslambda.get_policy(FunctionName=self.names.function)["Policy"])
            has_permission = any(s.get("Sid") == statement_id for s in policy.get("Statement", []))
        except awslambda.exceptions.ResourceNotFoundException:
            has_permission = False
        if not has_permission:
            awslambda.add_permission(FunctionName=self.names.function, StatementId=statement_id,
                                     Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
                                     SourceArn=rule_arn)
        report.add("lambda permission", statement_id, not has_permission)

    def _tables(self, report: Report) -> None:
        ddb = self.client("dynamodb")
        layouts = {
            self.names.table: [("booking_num", "HASH"), ("phone", "RANGE")],
            self.names.session_table: [("id", "HASH")],
        }
        existing = set(ddb.list_tables()["TableNames"])
        for table, keys in layouts.items():
            if table not in existing:
                ddb.create_table(
                    TableName=table, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in keys],
                    AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n, _ in keys],
                )
                ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
            report.add("dynamodb table", table, table not in existing)

    def _items(self, report: Report, table: str, items: list, key_names: tuple) -> None:
        ddb = self.client("dynamodb")
        present = {tuple(i[k]["S"] for k in key_names) for i in self.scan(table, ",".join(key_names))}
        missing = [i for i in items if tuple(i[k] for k in key_names) not in present]
        for start in range(0, len(missing), 25):
            batch = {table: [{"PutRequest": {"Item": world_data.to_dynamodb(i)}} for i in missing[start:start + 25]]}
            while batch:
                batch = ddb.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}
        report.add("items", f"{table}: {len(missing)} of {len(items)}", bool(missing))

    def _secrets(self, report: Report) -> None:
        sm = self.client("secretsmanager")
        for name, value in world_data.secret_values(self.names.secrets).items():
            try:
                sm.describe_secret(SecretId=name)
                created = False
            except sm.exceptions.ResourceNotFoundException:
                sm.create_secret(Name=name, SecretString=value, Description="dummy value (rehearsal world)")
                created = True
            report.add("secret", name, created)

    # ------------------------------------------------------------------ check

    def check(self) -> list:
        """Where the emulator differs from the freshly seeded legacy world (empty: identical)."""
        self.check_account()
        problems = []
        awslambda, events, ddb = self.client("lambda"), self.client("events"), self.client("dynamodb")
        n = self.names
        try:
            fn = awslambda.get_function(FunctionName=n.function)["Configuration"]
            found = (fn.get("PackageType"), fn.get("Runtime"), fn.get("MemorySize"), fn.get("Timeout"),
                     tuple(layer["Arn"].split(":")[-2] for layer in fn.get("Layers", [])), fn["Role"].split("/")[-1])
            wanted = ("Zip", n.runtime, n.memory_mb, n.timeout_s, n.layers, n.role)
            if found != wanted:
                problems.append(f"function {n.function}: (package, runtime, memory, timeout, layers, role) is {found}, expected {wanted}")
        except awslambda.exceptions.ResourceNotFoundException:
            problems.append(f"function {n.function} is missing")
            fn = None
        try:
            rule = events.describe_rule(Name=n.rule)
            if (rule.get("ScheduleExpression"), rule.get("State")) != (n.schedule, "ENABLED"):
                problems.append(f"rule {n.rule}: {rule.get('ScheduleExpression')} {rule.get('State')}, "
                                f"expected {n.schedule} ENABLED")
            arns = [t["Arn"] for t in events.list_targets_by_rule(Rule=n.rule)["Targets"]]
            if fn and arns != [fn["FunctionArn"]]:
                problems.append(f"rule {n.rule} targets {arns}, expected [{fn['FunctionArn']}]")
        except events.exceptions.ResourceNotFoundException:
            problems.append(f"rule {n.rule} is missing")
        tables = set(ddb.list_tables()["TableNames"])
        for table in (n.table, n.session_table):
            if table not in tables:
                problems.append(f"table {table} is missing")
        if n.table in tables:
            found_items = sorted((world_data.from_dynamodb(i) for i in self.scan(n.table)),
                                 key=lambda i: (i["booking_num"], i["phone"]))
            if found_items != world_data.sms_items():
                problems.append(f"table {n.table} holds {len(found_items)} items that differ from the "
                                f"{len(world_data.sms_items())} seeded bookings")
        logs = self.client("logs").describe_log_groups(logGroupNamePrefix=n.log_group)["logGroups"]
        if n.log_group not in [g["logGroupName"] for g in logs]:
            problems.append(f"log group {n.log_group} is missing")
        sm = self.client("secretsmanager")
        for name in n.secrets.values():
            try:
                sm.describe_secret(SecretId=name)
            except sm.exceptions.ResourceNotFoundException:
                problems.append(f"secret {name} is missing")
        return problems

    # ------------------------------------------------------------------ read

    def scan(self, table: str, projection: str | None = None) -> list:
        ddb = self.client("dynamodb")
        kwargs = {"TableName": table}
        if projection:
            kwargs["ProjectionExpression"] = projection
        items = []
        for page in ddb.get_paginator("scan").paginate(**kwargs):
            items.extend(page["Items"])
        return items


def seed(url: str | None = None, names: Names | None = None) -> Report:
    """Seed the legacy world at url (default $CUTOVER_EMULATOR_URL); idempotent."""
    return World(url, names).seed()


def world_mark(url: str | None = None) -> str | None:
    """The world id the emulator at url holds; None when nothing is seeded or no emulator answers."""
    world = World(url)
    if not answers(world.url):
        return None
    return world.mark()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.world", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["seed", "check"])
    parser.add_argument("--url", help="emulator URL (default $CUTOVER_EMULATOR_URL or http://127.0.0.1:4566)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (for playbooks)")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            problems = World(args.url).check()
            print("\n".join(problems) if problems else "the legacy world is exactly as seeded")
            return 1 if problems else 0
        report = seed(args.url)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"world_id": report.world_id, "created": [list(e) for e in report.created],
                          "entries": [list(e) for e in report.entries]}, ensure_ascii=False))
    else:
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
