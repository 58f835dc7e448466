"""Where a seeded secret value could end up, and whether it did (tests/reliability/test_secrets.py,
tests/playbooks/test_monitoring.py)."""
from __future__ import annotations

from rehearsal.world_data import SECRET_MARKS


def leaks(text: str) -> list[str]:
    return sorted(name for name, value in SECRET_MARKS.items() if value in text)


def stored_text(aws) -> dict[str, str]:
    """Everything the emulator holds that an operator or auditor could read, by where it is."""
    out = {}
    dynamodb = aws("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        out[f"dynamodb:{table}"] = str(dynamodb.get_paginator("scan").paginate(TableName=table).build_full_result())
    s3 = aws("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"]):
            for version in page.get("Versions", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"])["Body"]
                out[f"s3://{bucket['Name']}/{version['Key']}@{version['VersionId']}"] = body.read().decode("utf-8", "replace")
    logs = aws("logs")
    for group in logs.describe_log_groups()["logGroups"]:
        events = logs.get_paginator("filter_log_events").paginate(logGroupName=group["logGroupName"])
        out[f"logs:{group['logGroupName']}"] = "\n".join(e["message"] for page in events for e in page["events"])
    ssm = aws("ssm")
    out["ssm"] = str(ssm.get_paginator("describe_parameters").paginate().build_full_result())
    return out
