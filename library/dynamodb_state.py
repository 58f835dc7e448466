#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: dynamodb_state
short_description: The de-duplication state of the SMS job - on-demand backup and restore under a new name
description:
  - O(action=backup) takes an on-demand backup of O(table) named O(backup_name) and waits until it is
    C(AVAILABLE). A backup of that name that is already there (C(CREATING) or C(AVAILABLE)) is reused and
    waited for, so a rerun makes no write call.
  - O(action=restore) creates O(target_table) from the backup named O(backup_name) of O(table) and waits
    until the table is C(ACTIVE) with its restore finished. It never overwrites - a target table that
    exists is left as it is (reported with C(target_existed=true)).
  - The flag-merging O(action=reconcile) (flags of one table OR-ed into the other, never cleared) belongs
    to the rollback story and will be added here with the same shape.
  - Check mode reports what would change and calls nothing that writes.
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [backup, restore]
  table:
    description: The source table (whose backup is taken or used).
    type: str
    required: true
  backup_name:
    description: Name of the on-demand backup (letters, digits, C(_ - .), 3 to 255 characters).
    type: str
    required: true
  target_table:
    description: Table to create from the backup (O(action=restore)).
    type: str
  wait_timeout:
    description: Seconds to wait for the backup to be available or the restored table to be active.
    type: int
    default: 900
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Back up sms before the parallel run
  dynamodb_state:
    action: backup
    table: sms
    backup_name: sms-before-parallel-run

- name: Create sms_v2 from that backup unless it exists
  dynamodb_state:
    action: restore
    table: sms
    backup_name: sms-before-parallel-run
    target_table: sms_v2
"""

RETURN = r"""
backup_arn:
  description: ARN of the backup (null in check mode before it exists).
  returned: always
  type: str
backup_status:
  description: C(AVAILABLE) once waited for.
  returned: always
  type: str
target_table:
  description: The restored (or already existing) table.
  returned: when action is restore
  type: str
target_existed:
  description: The target table was there already and was left untouched.
  returned: when action is restore
  type: bool
"""

import re
import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover.aws import InputError, retry_decorator

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
POLL_S = 2



class WaitTimeout(Exception):
    """The backup or the restored table did not become ready in time."""


def validate(params):
    for name in ("table", "backup_name") + (("target_table",) if params["action"] == "restore" else ()):
        value = params.get(name)
        if not value:
            raise InputError(f"{name} is required for action={params['action']}")
        if not NAME_RE.match(value):
            raise InputError(f"{name} {value!r} may hold only letters, digits, '_', '-' and '.', 3 to 255 characters")
    if params["action"] == "restore" and params["target_table"] == params["table"]:
        raise InputError("target_table must differ from table: a restore never overwrites its source")


def describe_table(client, table):
    try:
        return client.describe_table(TableName=table, aws_retry=True)["Table"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None


def find_backup(client, table, name):
    """The newest usable on-demand backup of ``table`` called ``name``, or None."""
    found, kwargs = [], {"TableName": table, "BackupType": "USER"}
    while True:
        page = client.list_backups(aws_retry=True, **kwargs)
        found += [b for b in page.get("BackupSummaries", [])
                  if b.get("BackupName") == name and b.get("BackupStatus") in ("CREATING", "AVAILABLE")]
        if not page.get("LastEvaluatedBackupArn"):
            break
        kwargs["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
    found.sort(key=lambda b: str(b.get("BackupCreationDateTime")))
    return found[-1] if found else None


def wait_backup(client, arn, timeout):
    deadline = time.monotonic() + timeout
    while True:
        details = client.describe_backup(BackupArn=arn, aws_retry=True)["BackupDescription"]["BackupDetails"]
        if details["BackupStatus"] == "AVAILABLE":
            return details
        if details["BackupStatus"] == "DELETED" or time.monotonic() > deadline:
            raise WaitTimeout(f"backup {arn} is {details['BackupStatus']} after {timeout}s")
        time.sleep(POLL_S)


def wait_table(client, table, timeout):
    deadline = time.monotonic() + timeout
    while True:
        description = describe_table(client, table) or {}
        restoring = (description.get("RestoreSummary") or {}).get("RestoreInProgress", False)
        if description.get("TableStatus") == "ACTIVE" and not restoring:
            return description
        if time.monotonic() > deadline:
            raise WaitTimeout(f"table {table} is {description.get('TableStatus')} (restore in progress: "
                              f"{restoring}) after {timeout}s")
        time.sleep(POLL_S)


def ensure_backup(client, check_mode, table, name, timeout):
    """-> (changed, result): the named backup of ``table``, taken if missing, waited for."""
    if describe_table(client, table) is None:
        raise InputError(f"table {table} does not exist: nothing to back up")
    backup = find_backup(client, table, name)
    if backup is None and check_mode:
        return True, {"backup_arn": None, "backup_status": None, "backup_name": name}
    changed = backup is None
    arn = backup["BackupArn"] if backup else client.create_backup(
        TableName=table, BackupName=name, aws_retry=True)["BackupDetails"]["BackupArn"]
    details = wait_backup(client, arn, timeout)
    return changed, {"backup_arn": arn, "backup_status": details["BackupStatus"], "backup_name": name,
                     "backup_size_bytes": details.get("BackupSizeBytes")}


def ensure_restored(client, check_mode, table, name, target, timeout):
    """-> (changed, result): ``target`` created from the named backup of ``table`` unless it exists."""
    existing = describe_table(client, target)
    if existing is not None:
        return False, {"target_table": target, "target_existed": True, "backup_arn": None,
                       "backup_status": None, "target_status": existing.get("TableStatus")}
    backup = find_backup(client, table, name)
    if backup is None:
        if check_mode:  # the backup task before this one would have created it
            return True, {"target_table": target, "target_existed": False, "backup_arn": None, "backup_status": None}
        raise InputError(f"no backup named {name} of table {table}: take it first (action=backup)")
    if check_mode:
        return True, {"target_table": target, "target_existed": False, "backup_arn": backup["BackupArn"],
                      "backup_status": backup["BackupStatus"]}
    wait_backup(client, backup["BackupArn"], timeout)
    client.restore_table_from_backup(TargetTableName=target, BackupArn=backup["BackupArn"], aws_retry=True)
    description = wait_table(client, target, timeout)
    return True, {"target_table": target, "target_existed": False, "backup_arn": backup["BackupArn"],
                  "backup_status": "AVAILABLE", "target_status": description["TableStatus"]}


def main():
    argument_spec = dict(
        action=dict(type="str", required=True, choices=["backup", "restore"]),
        table=dict(type="str", required=True),
        backup_name=dict(type="str", required=True),
        target_table=dict(type="str"),
        wait_timeout=dict(type="int", default=900),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_if=[("action", "restore", ["target_table"])])
    params = module.params
    try:
        validate(params)
    except InputError as exc:
        module.fail_json(msg=str(exc))
    client = module.client("dynamodb", retry_decorator=retry_decorator(["LimitExceededException"]))
    try:
        if params["action"] == "backup":
            changed, result = ensure_backup(client, module.check_mode, params["table"], params["backup_name"],
                                            params["wait_timeout"])
            before, after = {"backup": None}, {"backup": params["backup_name"]}
        else:
            changed, result = ensure_restored(client, module.check_mode, params["table"], params["backup_name"],
                                              params["target_table"], params["wait_timeout"])
            before, after = {"table": None}, {"table": params["target_table"], "from_backup": params["backup_name"]}
    except (InputError, WaitTimeout) as exc:
        module.fail_json(msg=str(exc))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"DynamoDB {params['action']} of table {params['table']} failed")
    if module._diff:
        result["diff"] = {"before": before, "after": after} if changed else {"before": {}, "after": {}}
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
