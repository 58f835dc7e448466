"""Names and knobs of the rehearsal world, read from the test inventory.

The reference handlers are chosen by function name: `cutover_old_function`
runs the legacy job and writes `cutover_old_table`; `cutover_new_function`
runs the new job and writes `cutover_new_table` (the table its deployment
names: the same inventory variable the deploy playbooks use). State that must
survive between CLI calls lives in ``$CUTOVER_STATE_DIR/rehearsal/``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rehearsal.emulator import PROJECT_DIR, emulator_url, require_loopback, state_dir

INVENTORY = PROJECT_DIR / "inventories" / "test" / "group_vars" / "all"


def _inventory() -> dict:
    values: dict = {}
    for name in ("account.yml", "names.yml", "schedule.yml", "function.yml"):
        path = INVENTORY / name
        if path.exists():
            values.update(yaml.safe_load(path.read_text()) or {})
    return values


_INV = _inventory()


@dataclass(frozen=True)
class Config:
    region: str = _INV.get("cutover_region", "ap-northeast-2")
    account_id: str = str(_INV.get("cutover_account_id", "123456789012"))
    old_function: str = _INV.get("cutover_old_function", "naverplace_send_inform")
    new_function: str = _INV.get("cutover_new_function", "naverplace_send_inform_v2")
    old_table: str = _INV.get("cutover_old_table", "sms")
    new_table: str = _INV.get("cutover_new_table", "sms_v2")
    old_rule: str = _INV.get("cutover_old_rule", "naverplace_send_inform_trigger")
    new_rule: str = _INV.get("cutover_new_rule", "naver-sms-automation-v2-trigger")
    function_namespace: str = _INV.get("cutover_function_metric_namespace", "naver-sms/automation")
    slot_minutes: int = int(_INV.get("cutover_slot_minutes", 20))
    # EventBridge delivers a scheduled run up to a few seconds late; 0 turns it off.
    jitter_s: float = 8.0
    # How far back the Naver "new bookings" page reaches (a confirm is found again for this long).
    confirm_lookback_min: int = 60
    url: str = field(default_factory=emulator_url)
    directory: Path = field(default_factory=lambda: state_dir() / "rehearsal")

    def table_for(self, function: str) -> str:
        return self.old_table if function == self.old_function else self.new_table

    def kind_of(self, function: str) -> str | None:
        """'legacy', 'v2' or None (no reference handler for this function name)."""
        if function == self.old_function:
            return "legacy"
        if function == self.new_function:
            return "v2"
        return None


_SESSIONS: dict = {}


def session(cfg: Config):
    """One boto3 session per credentials and region (its service models load once)."""
    import boto3

    require_loopback(cfg.url)
    key = (os.environ.get("AWS_ACCESS_KEY_ID", "testing"), os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
           cfg.region)
    if key not in _SESSIONS:
        _SESSIONS[key] = boto3.session.Session(aws_access_key_id=key[0], aws_secret_access_key=key[1],
                                               region_name=key[2])
    return _SESSIONS[key]


def client(cfg: Config, service: str):
    from botocore.config import Config as BotoConfig

    return session(cfg).client(
        service, endpoint_url=cfg.url,
        config=BotoConfig(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=4),
    )
