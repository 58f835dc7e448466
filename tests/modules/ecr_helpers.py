"""Shared helpers for tests that push images to the emulator."""
from __future__ import annotations

import json
import urllib.request

from tests.module_runner import run_module

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
REPO = "naver-sms-automation"


def push(endpoint: str, archive, tags=("v1.0.0", "latest"), check=False, diff=False, **extra) -> dict:
    args = {"repository": REPO, "archive": str(archive), "tags": list(tags)}
    args.update(extra)
    return run_module("ecr_image", args, endpoint, check=check, diff=diff)


def set_scan_findings(emulator_url: str, counts: dict, repository: str = REPO, digest: str | None = None) -> None:
    """Queue the canned scan result moto returns for the next image scanned in repository."""
    result = {
        "registryId": ACCOUNT, "repositoryName": repository,
        "imageId": {"imageDigest": digest} if digest else {},
        "imageScanStatus": {"status": "COMPLETE", "description": "canned by the test"},
        "imageScanFindings": {"findings": [], "findingSeverityCounts": counts},
    }
    body = json.dumps({"region": REGION, "account_id": ACCOUNT, "results": [result]}).encode()
    req = urllib.request.Request(f"{emulator_url}/moto-api/static/ecr/scan-finding-results", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass


def operations(proxy, mutating_only=False) -> list[str]:
    calls = proxy.mutating_calls() if mutating_only else proxy.calls()
    return [c["operation"] for c in calls]
