#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cutover_ledger
short_description: The migration's ledger in a small DynamoDB table - lock, one event per run, gate decisions
description:
  - One table per environment (O(table)), created by C(playbooks/bootstrap.yml) with O(action=ensure_table)
    (on-demand capacity, point-in-time recovery on; key C(pk)/C(sk)). Every other action fails with
    "run playbooks/bootstrap.yml first" when the table is missing.
  - O(action=lock) takes the migration lock with a conditional put (owner, ticket, playbook, acquired-at,
    expiry after O(ttl_minutes)). A lock held by another run is refused with its owner, ticket, playbook
    and age; the refusal is recorded as an event. An expired lock is taken over only with
    O(force_unlock=true) and an O(unlock_reason); the takeover is recorded. In check mode nothing is
    taken; the holder is returned in RV(lock).
  - O(action=unlock) releases the lock of O(run_id) (conditional delete); O(force_unlock) with a reason
    deletes any lock and records it. Given O(event), the same call then records this run's event (as
    O(action=event) does), so that a playbook's end costs one module run.
  - O(action=event) records one item per playbook run; O(action=decision) records a gate decision with its
    criteria, evidence and expiry; O(action=read) returns the lock, the last events and the latest
    decision of each kind.
  - O(action=caller) asks STS which account the credentials belong to (RV(caller)) and reads nothing else.
    With O(caller_account), O(action=read) asks it first and reads the ledger (and checks O(bucket)) only when
    the credentials belong to that account (preflight - one module run for both, nothing read from another
    account's ledger).
  - The pure rules (lock decisions, item shapes, expiry) are in C(module_utils/cutover/ledger.py).
options:
  table:
    description: Name of the ledger table (C(cutover_ledger_table)).
    type: str
    required: true
  action:
    description: What to do.
    type: str
    required: true
    choices: [ensure_table, ensure_bucket, lock, unlock, event, decision, read, get_state, put_state, caller]
  state_key:
    description:
      - O(action=get_state) / O(action=put_state) - the object's name under C(<area>/<account>/<region>/) in O(bucket),
        e.g. C([image, naver-sms-automation, v1.0.0.json]) (first element the area).
    type: list
    elements: str
  content:
    description:
      - O(action=put_state) - the JSON document to store. Nothing is written when the object already holds it; the
        write is conditional on the ETag read just before (another controller's write fails the task, nothing is
        overwritten).
    type: dict
  bucket:
    description:
      - O(action=ensure_bucket) - the state bucket (C(cutover_state_bucket)) to create if missing, with versioning,
        default encryption (SSE-S3) and every public access blocked. amazon.aws C(s3_bucket) is not used because it
        has no check mode.
      - O(action=read) - also check that this bucket exists and belongs to O(account_id) (preflight does).
    type: str
  account_id:
    description: The account the O(bucket) must belong to (S3 ExpectedBucketOwner).
    type: str
  owner:
    description: Lock owner; default C(user@host) of the controller.
    type: str
  ticket:
    description: Change ticket of the run (recorded with the lock).
    type: str
    default: ""
  playbook:
    description:
      - Playbook that holds the lock.
      - With O(action=read), only the events of this playbook are returned (the last O(limit) of them).
    type: str
    default: ""
  inventory:
    description: Inventory (environment) of the run, recorded with the lock.
    type: str
    default: ""
  ttl_minutes:
    description: Minutes after which a lock counts as expired (it then needs O(force_unlock) to be taken over).
    type: int
    default: 30
  run_id:
    description: The run that holds the lock (returned by O(action=lock)); needed by O(action=unlock) and used as the event's id.
    type: str
  force_unlock:
    description: Take over an expired lock (O(action=lock)) or delete any lock (O(action=unlock)); needs O(unlock_reason).
    type: bool
    default: false
  unlock_reason:
    description: Why the lock is forced; recorded in the ledger.
    type: str
    default: ""
  event:
    description:
      - O(action=event) - C(playbook), C(inventory), C(environment), C(account), C(ticket), C(operator), C(started_at),
        C(ended_at), C(result) (C(ok), C(failed), C(refused), C(check)) and C(facts) (a mapping of key facts).
      - O(action=unlock) - the same event, recorded (with O(run_id) as its id) right after the lock is released.
    type: dict
  caller_account:
    description:
      - O(action=read) - first ask STS (GetCallerIdentity) which account the credentials belong to; when it is not
        this account, return RV(caller) only and read nothing else.
    type: str
  decision:
    description: O(action=decision) - which decision point.
    type: str
    choices: [parallel, cutover, decommission]
  outcome:
    description: O(action=decision) - the result.
    type: str
    choices: [go, no_go]
  criteria:
    description: O(action=decision) - one mapping per criterion checked.
    type: list
    elements: dict
    default: []
  evidence:
    description: O(action=decision) - the measured evidence.
    type: dict
    default: {}
  expires_in_hours:
    description: O(action=decision) - hours after which the decision no longer counts; null for never.
    type: int
  decided_by:
    description: O(action=decision) - who or what decided (default the controller's C(user@host)).
    type: str
  limit:
    description: O(action=read) - how many events to return (newest first).
    type: int
    default: 20
  playbooks:
    description:
      - O(action=read) - only the events of these playbooks (for example C([cutover.yml, rollback.yml]), which
        Decision Point 3 reads); every event when empty.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
author:
  - naver-sms cutover team (@naver-sms-ops)
"""

EXAMPLES = r"""
- name: Create the ledger table (bootstrap.yml)
  cutover.local.cutover_ledger:
    table: naver-sms-cutover-ledger
    action: ensure_table

- name: Take the migration lock
  cutover.local.cutover_ledger:
    table: naver-sms-cutover-ledger
    action: lock
    ticket: CHG0012345
    playbook: start_parallel.yml
  register: lock

- name: Release it
  cutover.local.cutover_ledger:
    table: naver-sms-cutover-ledger
    action: unlock
    run_id: "{{ lock.run_id }}"

- name: Record a gate decision
  cutover.local.cutover_ledger:
    table: naver-sms-cutover-ledger
    action: decision
    decision: cutover
    outcome: go
    criteria: [{name: match_percentage, ok: true, found: 100}]
    evidence: {executions_compared: 504}
    expires_in_hours: 24

- name: Read the lock, the last events and the latest decisions
  cutover.local.cutover_ledger:
    table: naver-sms-cutover-ledger
    action: read
    limit: 5

- name: Ask whose credentials these are; read the ledger and check the state bucket only if they are account 123456789012's
  cutover.local.cutover_ledger:
    table: naver-sms-cutover-ledger
    action: read
    limit: 1
    caller_account: "123456789012"
    bucket: naver-sms-cutover-state-123456789012
    account_id: "123456789012"
  register: preflight
"""

RETURN = r"""
table:
  description: The ledger table.
  returned: always
  type: str
lock:
  description: The lock after the action (owner, ticket, playbook, run_id, inventory, acquired_at, expires_at, age_s, expired), or null.
  returned: when action is lock, unlock or read
  type: dict
run_id:
  description: The run's id (lock and event actions); give it to O(action=unlock).
  returned: when action is lock or event, or unlock with event
  type: str
started_at:
  description: When the lock was taken (UTC ISO).
  returned: when action is lock
  type: str
taken_over:
  description: The expired lock this run took over (O(force_unlock)), or null.
  returned: when action is lock
  type: dict
released:
  description: The lock was released by this call.
  returned: when action is unlock
  type: bool
item:
  description: The event or decision recorded (or that would be, in check mode).
  returned: when action is event or decision, or unlock with event
  type: dict
events:
  description: The last O(limit) events (of O(playbooks) when given), newest first.
  returned: when action is read
  type: list
decisions:
  description: Decision name to its latest record (outcome, criteria, evidence, decided_by, recorded_at, expires_at, expired).
  returned: when action is read
  type: dict
caller:
  description: Which account the credentials belong to (STS GetCallerIdentity) - account, arn, user_id.
  returned: when action is caller, or read with caller_account
  type: dict
content:
  description: O(action=get_state) - the stored document, or null when the object does not exist.
  returned: when action is get_state or put_state
  type: dict
url:
  description: The object's s3:// URL.
  returned: when action is get_state or put_state
  type: str
pitr:
  description: Point-in-time recovery status of the table.
  returned: when action is ensure_table
  type: str
changes:
  description: What was (or would be) created or set - table, point_in_time_recovery; exists, versioning, encryption, public_access_blocked.
  returned: when action is ensure_table or ensure_bucket
  type: list
"""

import getpass
import json
import socket
import time
import uuid

try:
    import botocore
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover.arn import bucket_account_problem
from ansible.module_utils.cutover.aws import InputError, finish, retry_decorator
from ansible.module_utils.cutover.state_store import StateError, StateStore, ensure_bucket
from ansible.module_utils.cutover.ledger import (
    LOCK_KEY,
    LedgerError,
    decision_item,
    event_item,
    events_view,
    iso,
    latest_decisions,
    lock_decision,
    lock_item,
    lock_view,
    owner_string,
    table_name_problem,
    unlock_decision,
)

BOOTSTRAP = "run playbooks/bootstrap.yml first (it creates the ledger table and the state bucket)"


class Ledger:
    """The table through plain Python values."""

    def __init__(self, client, table):
        self.client, self.table = client, table
        self._ser, self._de = TypeSerializer(), TypeDeserializer()

    def _to(self, item):
        return {k: self._ser.serialize(v) for k, v in item.items()}

    def _from(self, item):
        return {k: self._de.deserialize(v) for k, v in (item or {}).items()}

    def exists(self):
        try:
            return self.client.describe_table(TableName=self.table, aws_retry=True)["Table"]
        except is_boto3_error_code("ResourceNotFoundException"):
            return None

    def require(self):
        if not self.exists():
            raise InputError(f"ledger table {self.table} does not exist: {BOOTSTRAP}")

    def get(self, key):
        item = self.client.get_item(TableName=self.table, Key=self._to(key), ConsistentRead=True,
                                    aws_retry=True).get("Item")
        return self._from(item) if item else None

    def put(self, item, condition=None, values=None):
        kwargs = {"ConditionExpression": condition} if condition else {}
        if values:
            kwargs["ExpressionAttributeValues"] = self._to(values)
        self.client.put_item(TableName=self.table, Item=self._to(item), aws_retry=True, **kwargs)

    def delete(self, key, run_id=None):
        kwargs = {}
        if run_id:
            kwargs = {"ConditionExpression": "run_id = :r", "ExpressionAttributeValues": self._to({":r": run_id})}
        self.client.delete_item(TableName=self.table, Key=self._to(key), aws_retry=True, **kwargs)

    def query(self, pk, newest_first=True, limit=None, playbooks=()):
        values = {":p": pk, **{f":b{n}": name for n, name in enumerate(playbooks)}}
        items, kwargs = [], {"TableName": self.table, "KeyConditionExpression": "pk = :p",
                             "ExpressionAttributeValues": self._to(values), "ScanIndexForward": not newest_first}
        if playbooks:
            kwargs["FilterExpression"] = f"playbook IN ({', '.join(f':b{n}' for n in range(len(playbooks)))})"
        while True:
            page = self.client.query(aws_retry=True, **kwargs)
            items += [self._from(i) for i in page.get("Items", [])]
            if not page.get("LastEvaluatedKey") or (limit and len(items) >= limit):
                return items[:limit] if limit else items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def default_owner():
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return owner_string(user, socket.gethostname())


# ----------------------------------------------------------------------------- actions
def ensure_table(ledger, check_mode, wait_timeout=300):
    table, changes = ledger.exists(), []
    if table:
        keys = {k["AttributeName"]: k["KeyType"] for k in table.get("KeySchema", [])}
        if keys != {"pk": "HASH", "sk": "RANGE"}:
            raise InputError(f"table {ledger.table} exists with key {keys}, not the ledger's pk (HASH) / sk (RANGE): "
                             "choose another cutover_ledger_table")
    else:
        changes.append("table")
        if not check_mode:
            ledger.client.create_table(
                TableName=ledger.table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                Tags=[{"Key": "purpose", "Value": "naver-sms cutover ledger"}], aws_retry=True)
            ledger.client.get_waiter("table_exists").wait(
                TableName=ledger.table, WaiterConfig={"Delay": 2, "MaxAttempts": max(1, wait_timeout // 2)})
    pitr = "DISABLED"
    if table:
        description = ledger.client.describe_continuous_backups(TableName=ledger.table, aws_retry=True)
        pitr = description["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {}).get(
            "PointInTimeRecoveryStatus", "DISABLED")
    if pitr != "ENABLED":
        changes.append("point_in_time_recovery")
        if not check_mode:
            ledger.client.update_continuous_backups(
                TableName=ledger.table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                aws_retry=True)
        pitr = "ENABLED"
    return {"changed": bool(changes), "changes": changes, "pitr": pitr,
            "diff": {"before": {"table": bool(table), "point_in_time_recovery": "point_in_time_recovery" not in changes},
                     "after": {"table": True, "point_in_time_recovery": True}}}


def _refusal_event(ledger, params, run_id, reason, now):
    ledger.put(event_item({"playbook": params["playbook"], "inventory": params["inventory"],
                           "ticket": params["ticket"], "operator": params["owner"], "result": "refused",
                           "reason": reason, "started_at": iso(now)}, run_id, now))


def take_lock(ledger, params, check_mode, now):
    ledger.require()
    existing = ledger.get(LOCK_KEY)
    run_id = params["run_id"] or uuid.uuid4().hex
    if check_mode:  # never taken in check mode: report who holds it
        view = lock_view(existing, now)
        return {"changed": False, "lock": view, "run_id": run_id, "started_at": iso(now), "taken_over": None,
                "warnings": [f"check mode: the lock is not taken; it is held by {view['owner']} "
                             f"({view['playbook']}, ticket {view['ticket'] or '(none)'}, {view['age_s']} s old)"]
                if view else []}
    try:
        how = lock_decision(existing, now, params["force_unlock"], params["unlock_reason"])
    except LedgerError as exc:
        if existing:
            _refusal_event(ledger, params, run_id, str(exc), now)
        raise
    item = lock_item(params["owner"], params["ticket"], params["playbook"], run_id, now, params["ttl_minutes"],
                     params["inventory"], taken_over_from=existing if how == "takeover" else None)
    try:
        if how == "acquire":
            ledger.put(item, "attribute_not_exists(pk)")
        else:
            ledger.put(item, "run_id = :old", {":old": existing["run_id"]})
    except is_boto3_error_code("ConditionalCheckFailedException"):
        holder = ledger.get(LOCK_KEY)
        message = (lock_decision_message(holder, now) if holder else
                   "the lock changed while it was being taken; run again")
        _refusal_event(ledger, params, run_id, message, now)
        raise InputError(message) from None
    taken_over = None
    if how == "takeover":
        taken_over = lock_view(existing, now)
        ledger.put(event_item({"kind": "force_unlock", "playbook": params["playbook"], "operator": params["owner"],
                               "ticket": params["ticket"], "inventory": params["inventory"],
                               "reason": params["unlock_reason"], "facts": {"taken_over": taken_over}},
                              f"{run_id}-takeover", now))
    return {"changed": True, "lock": lock_view(item, now), "run_id": run_id, "started_at": item["acquired_at"],
            "taken_over": taken_over, "warnings": []}


def lock_decision_message(holder, now):
    try:
        lock_decision(holder, now)
    except LedgerError as exc:
        return str(exc)
    return "the lock changed while it was being taken; run again"


def release_lock(ledger, params, check_mode, now):
    if not params["run_id"] and not params["force_unlock"]:
        raise InputError("unlock needs the run_id returned by action=lock, or force_unlock=true with an unlock_reason")
    ledger.require()
    existing = ledger.get(LOCK_KEY)
    how = unlock_decision(existing, params["run_id"], params["force_unlock"], params["unlock_reason"])
    warnings = []
    if how == "not_ours":
        warnings.append(f"the lock belongs to another run ({lock_view(existing, now)['owner']}, "
                        f"{existing.get('playbook')}): left alone")
    if how != "release" or check_mode:
        return {"changed": how == "release", "released": False,
                "lock": lock_view(existing, now), "warnings": warnings}
    try:
        ledger.delete(LOCK_KEY, None if params["force_unlock"] else params["run_id"])
    except is_boto3_error_code("ConditionalCheckFailedException"):
        return {"changed": False, "released": False, "lock": lock_view(ledger.get(LOCK_KEY), now),
                "warnings": ["the lock was taken over by another run before it could be released"]}
    if params["force_unlock"]:
        ledger.put(event_item({"kind": "force_unlock", "playbook": params["playbook"], "operator": params["owner"],
                               "ticket": params["ticket"], "inventory": params["inventory"],
                               "reason": params["unlock_reason"], "facts": {"released": lock_view(existing, now)}},
                              uuid.uuid4().hex, now))
    return {"changed": True, "released": True, "lock": None, "warnings": warnings}


def record(ledger, item, check_mode, require=True):
    """Write a new ledger item (never over another); ``require=False`` where this call found the table already."""
    if require:
        ledger.require()
    if not check_mode:
        ledger.put(item, "attribute_not_exists(pk)")
    return {"changed": True, "item": item, "warnings": []}


def read(ledger, limit, now, store=None, playbooks=()):
    ledger.require()
    if store:
        store.require()
    return {"changed": False, "lock": lock_view(ledger.get(LOCK_KEY), now),
            "events": events_view(ledger.query("event", limit=limit, playbooks=playbooks), limit),
            "decisions": latest_decisions(ledger.query("decision"), now), "warnings": []}


def state_object(params, check_mode, store):
    if not (params.get("bucket") and params.get("account_id") and params.get("state_key")):
        raise InputError(f"action={params['action']} needs bucket, account_id and state_key")
    store.require()
    key = store.key(*params["state_key"])
    text, etag = store.get(key)
    stored = json.loads(text) if text else None
    if params["action"] == "get_state":
        return {"changed": False, "content": stored, "url": store.url(key)}
    if params.get("content") is None:
        raise InputError("action=put_state needs content (a mapping)")
    changed = stored != params["content"]
    if changed and not check_mode:
        store.put(key, json.dumps(params["content"], indent=1, sort_keys=True) + "\n", etag)
    return {"changed": changed, "content": params["content"], "url": store.url(key),
            "diff": {"before": stored or {}, "after": params["content"]}}


def run(params, check_mode, client, now=None, s3=None, region=None):
    now = time.time() if now is None else now
    if params["action"] in ("get_state", "put_state"):
        store = StateStore(s3, params["bucket"] or "", params["account_id"] or "", region)
        return dict(state_object(params, check_mode, store), table=params["table"])
    if params["action"] == "ensure_bucket":
        if not (params.get("bucket") and params.get("account_id")):
            raise InputError("action=ensure_bucket needs bucket and account_id")
        if bucket_account_problem(params["bucket"], params["account_id"]):
            raise InputError(bucket_account_problem(params["bucket"], params["account_id"]))
        result = ensure_bucket(s3, params["bucket"], params["account_id"], region, check_mode)
        result["diff"] = {"before": result.pop("before"), "after": result.pop("after")}
        return dict(result, table=params["table"])
    problem = table_name_problem(params["table"])
    if problem:
        raise InputError(problem)
    params = dict(params, owner=params.get("owner") or default_owner())
    ledger, action = Ledger(client, params["table"]), params["action"]
    if params.get("limit") is not None and params["limit"] < 1:
        raise InputError("limit must be at least 1")
    if action == "ensure_table":
        result = ensure_table(ledger, check_mode)
    elif action == "lock":
        result = take_lock(ledger, params, check_mode, now)
    elif action == "unlock":
        result = release_lock(ledger, params, check_mode, now)
        if params.get("event") is not None:  # this run's event, in the same call (the table is there)
            run_id = params["run_id"] or uuid.uuid4().hex
            event = record(ledger, event_item(params["event"], run_id, now), check_mode, require=False)
            result.update(item=event["item"], run_id=run_id)
    elif action == "event":
        run_id = params["run_id"] or uuid.uuid4().hex
        result = dict(record(ledger, event_item(params["event"] or {}, run_id, now), check_mode), run_id=run_id)
    elif action == "decision":
        result = record(ledger, decision_item(params["decision"], params["outcome"], params["criteria"],
                                              params["evidence"], params["expires_in_hours"],
                                              params["decided_by"] or params["owner"], now), check_mode)
    else:
        store = StateStore(s3, params["bucket"], params["account_id"], region) if params.get("bucket") else None
        playbooks = params.get("playbooks") or ([params["playbook"]] if params.get("playbook") else [])
        result = read(ledger, params["limit"], now, store, playbooks)
    result["table"] = params["table"]
    return result


def main():
    argument_spec = dict(
        table=dict(type="str", required=True),
        action=dict(type="str", required=True,
                    choices=["ensure_table", "ensure_bucket", "lock", "unlock", "event", "decision", "read",
                             "get_state", "put_state", "caller"]),
        state_key=dict(type="list", elements="str", no_log=False),
        content=dict(type="dict"),
        bucket=dict(type="str"),
        account_id=dict(type="str"),
        owner=dict(type="str"),
        ticket=dict(type="str", default=""),
        playbook=dict(type="str", default=""),
        inventory=dict(type="str", default=""),
        ttl_minutes=dict(type="int", default=30),
        run_id=dict(type="str"),
        force_unlock=dict(type="bool", default=False),
        unlock_reason=dict(type="str", default=""),
        event=dict(type="dict"),
        decision=dict(type="str", choices=["parallel", "cutover", "decommission"]),
        outcome=dict(type="str", choices=["go", "no_go"]),
        criteria=dict(type="list", elements="dict", default=[]),
        evidence=dict(type="dict", default={}),
        expires_in_hours=dict(type="int"),
        decided_by=dict(type="str"),
        limit=dict(type="int", default=20),
        playbooks=dict(type="list", elements="str", default=[]),
        caller_account=dict(type="str"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec, supports_check_mode=True,
        required_if=[("action", "event", ["event"]), ("action", "decision", ["decision", "outcome"])],
    )
    retry = retry_decorator()
    caller = {}
    if module.params["action"] == "caller" or (module.params["action"] == "read" and module.params["caller_account"]):
        caller = {"caller": caller_identity(module, module.client("sts", retry_decorator=retry))}
        if module.params["action"] == "caller" or caller["caller"]["account"] != module.params["caller_account"]:
            module.exit_json(changed=False, table=module.params["table"], **caller)
    client = module.client("dynamodb", retry_decorator=retry)
    s3 = module.client("s3", retry_decorator=retry) if module.params["bucket"] else None
    finish(module, lambda: shaped(module, run(module.params, module.check_mode, client, s3=s3, region=module.region)),
           failed_call(module.params), refusals=(LedgerError, StateError), context=caller)


def caller_identity(module, sts):
    """Which account the credentials belong to (what amazon.aws.aws_caller_info returns, without its IAM alias)."""
    try:
        identity = sts.get_caller_identity(aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg="Failed to retrieve caller identity")
    return {"account": identity["Account"], "arn": identity["Arn"], "user_id": identity["UserId"]}


def failed_call(params) -> str:
    """What the failure message names: the state bucket (S3) or the ledger table (DynamoDB)."""
    if params["action"] == "ensure_bucket":
        return f"state bucket {params['bucket']}: S3 call failed"
    if params["bucket"]:
        return f"ledger table {params['table']} or state bucket {params['bucket']}: DynamoDB or S3 call failed"
    return f"ledger table {params['table']}: DynamoDB call failed"


def shaped(module, result):
    """The result as the module returns it: warnings shown, the diff only with --diff."""
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if not module._diff:
        result.pop("diff", None)
    return result


if __name__ == "__main__":
    main()
