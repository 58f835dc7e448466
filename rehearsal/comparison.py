"""Run the comparison (what library/output_compare.py runs) in-process on the rehearsal world.

The scheduler advances a simulated clock, so the comparison must be told the moment it runs
(``as_of``); ``playbooks/compare.yml -e cutover_compare_as_of=...`` does the same through Ansible.
Here ``module_utils/cutover/compare_aws.run_comparison`` is called directly with boto3 clients
(over HTTP to the emulator, like the module), which keeps a simulated day of 72 comparisons fast.

    python -m rehearsal.comparison --as-of 2026-11-26T04:05:00Z [--slot ISO] [--settle N]
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from module_utils.cutover.compare_aws import run_comparison
from module_utils.cutover.state_store import StateStore
from rehearsal.config import Config, client
from rehearsal.emulator import PROJECT_DIR

INVENTORY = PROJECT_DIR / "inventories" / "test" / "group_vars" / "all"


class _Plain:
    """A boto3 client that accepts (and drops) the ``aws_retry`` argument of AnsibleAWSModule clients."""

    def __init__(self, wrapped):
        self._wrapped = wrapped

    def __getattr__(self, name):
        method = getattr(self._wrapped, name)

        def call(*args, aws_retry=False, **kwargs):
            return method(*args, **kwargs)
        return call


class DirectoryStore:
    """The state bucket's interface (``module_utils/cutover/state_store.py``) over a local directory.

    Only for the in-process rehearsal (a simulated day in seconds); playbooks use the bucket.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    @staticmethod
    def key(area: str, *parts: str) -> str:
        return "/".join((area,) + parts)

    def url(self, key: str) -> str:
        return str(self.directory / key)

    def get(self, key: str):
        path = self.directory / key
        if not path.exists():
            return None, None
        text = path.read_text(encoding="utf-8")
        return text, str(hash(text))

    def put(self, key: str, text: str, etag) -> str:
        path = self.directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return str(hash(text))


def inventory_settings() -> dict:
    with open(INVENTORY / "comparison.yml", encoding="utf-8") as handle:
        settings = yaml.safe_load(handle)
    with open(INVENTORY / "schedule.yml", encoding="utf-8") as handle:
        settings.update(yaml.safe_load(handle))
    return settings


def compare_slot(as_of: datetime, report_dir: Path, cfg: Config | None = None, check: bool = False,
                 bucket: str | None = None, **overrides) -> dict:
    """One comparison run at ``as_of`` with the test inventory's rules; returns the module result.

    The state (snapshots, evidence) lives in ``report_dir/state``; the first run takes the baseline
    (``baseline=True`` unless overridden), as start_parallel.yml does. With ``bucket`` the state is
    the state bucket's, as for compare.yml (the demo, after start_parallel.yml took the baseline)."""
    cfg = cfg or Config()
    settings = inventory_settings()
    params = {
        "old_table": cfg.old_table, "new_table": cfg.new_table,
        "old_log_group": f"/aws/lambda/{cfg.old_function}", "new_log_group": f"/aws/lambda/{cfg.new_function}",
        "slot": None, "start": None, "end": None, "as_of": as_of.isoformat(),
        "settle_slots": settings["cutover_settle_slots"], "slot_minutes": settings["cutover_slot_minutes"],
        "grace_s": settings["cutover_compare_grace_s"], "evidence_cap": settings["cutover_compare_evidence_cap"],
        "rules": settings["cutover_compare_rules"], "old_log_format": settings["cutover_compare_old_log_format"],
        "new_log_format": settings["cutover_compare_new_log_format"], "namespace": "naver-sms/comparison",
        "report_dir": str(report_dir), "baseline": True, "scan_segments": settings["cutover_compare_scan_segments"],
        "new_rule": cfg.new_rule, "new_mode": None, "log_group": None,
    }
    params.update(overrides)
    clients = {name: _Plain(client(cfg, name)) for name in ("dynamodb", "logs", "cloudwatch", "events")}
    store = DirectoryStore(Path(report_dir) / "state")
    if bucket:
        store = StateStore(_Plain(client(cfg, "s3")), bucket, cfg.account_id, cfg.region)
        params["baseline"] = overrides.get("baseline", False)
    result = run_comparison(params, check, clients, store)
    return json.loads(json.dumps(result, default=str))


def grace() -> timedelta:
    return timedelta(seconds=inventory_settings()["cutover_compare_grace_s"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--slot")
    parser.add_argument("--settle", type=int)
    parser.add_argument("--reports", default=str(PROJECT_DIR / "reports" / "comparison"))
    args = parser.parse_args(argv)
    overrides = {"slot": args.slot}
    if args.settle is not None:
        overrides["settle_slots"] = args.settle
    result = compare_slot(datetime.fromisoformat(args.as_of.replace("Z", "+00:00")), Path(args.reports), **overrides)
    print(json.dumps({k: result[k] for k in ("start", "end", "observed_slot", "baseline", "total", "evidence")},
                     ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
