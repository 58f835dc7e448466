"""Reference handlers of the two functions, run in-process by the scheduler.

moto never runs our code, so the scheduler calls these instead, but they
read and write everything through the emulator over HTTP like the real
function would: DynamoDB (the de-duplication flags), CloudWatch Logs
(`/aws/lambda/<function>`) and CloudWatch metrics (`AWS/Lambda`).

The legacy job (`cutover_old_function`, table `cutover_old_table`) and the
new one (`cutover_new_function`, table `cutover_new_table`) follow the same
rules; per run (one run = one slot):

* type 1 ``confirm``: a booking not cancelled, not yet happened, that
  arrived within the last hour (what the "new bookings" page shows), whose
  ``confirm_sms`` flag is not set;
* type 2 ``guide``: a booking not cancelled whose time is within the next
  2 h and whose ``remind_sms`` flag is not set;
* type 3 ``event``: only in the 20:00 KST run (11:00 UTC slot), a booking of
  that day, completed (time passed), not cancelled, whose option names the
  store's event keyword, whose ``option_sms`` flag is not set;
* one Telegram summary per run, with the run's duration ("took 3.2s").

State: a run reads the flags of its candidates (one BatchGetItem, projected to
keys, flags and ``option_time``) and writes back the whole item of each
booking it changed (BatchWriteItem: keys, ``name``, ``booking_time`` as
"YYYY-MM-DD HH:MM" KST, the three flags as booleans, ``option_time``). A flag
is never cleared.

The legacy job always sends. The new one honours the target input:
``{"mode": "live"}`` sends, ``{"mode": "shadow"}`` only records what it would
send (log lines with ``"delivered": false``, flags in its own table); no mode
means shadow (fail safe), an unknown mode is an error.

Log lines (one JSON object per SMS and per Telegram message)::

    {"event": "sms", "slot": "2026-11-26T03:00:00Z", "sms_type": "confirm", "booking_num": "...",
     "phone": "...", "store_id": "...", "content": "...", "delivered": true}
    {"event": "telegram", "slot": "2026-11-26T03:00:00Z", "text": "...", "delivered": true}

``slot`` is the start of the run's slot in UTC, written ``YYYY-MM-DDTHH:MM:SSZ``.
A crashed run writes ``{"event": "error", "slot": ..., "error": ...}`` instead.
"""
from __future__ import annotations

import json
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from botocore.exceptions import ClientError

from module_utils.cutover.reconcile import flag as _flag  # how the old function reads a flag
from module_utils.cutover.schedule import slot_iso
from rehearsal.bookings import KST, Booking, BookingSource, render
from rehearsal.config import Config

FLAGS = {"confirm": "confirm_sms", "guide": "remind_sms", "event": "option_sms"}

# Named faults of the new function (the legacy one never has a fault).
FAULTS = {
    "template_typo": "one character differs in the confirm template of one store",
    "nfd_hangul": "same text, NFD-normalised Hangul",
    "skip_guide": "never sends type 2 (guide)",
    "double_event": "sends type 3 (event) twice",
    "slow": "every run lasts over 240 s",
    "crash": "fails on about one run in six, before sending anything",
    "late_write": "writes its table one slot late (at the start of its next run)",
    "shadow_leak": "ignores {'mode': 'shadow'} and delivers (proves the shadow invariant)",
}
TYPO_STORE = "1051707"
CRASH_RATE = 1 / 6


class HandlerError(RuntimeError):
    pass


@dataclass(frozen=True)
class Invocation:
    function: str
    rule: str
    payload: dict
    fired_at: datetime
    delivered_at: datetime
    slot: datetime

    @property
    def input_mode(self) -> Optional[str]:
        mode = self.payload.get("mode") if isinstance(self.payload, dict) else None
        return mode if isinstance(mode, str) else None


@dataclass
class Outputs:
    """Everything a batch of runs sends to the emulator, flushed in few calls."""

    logs: Dict[Tuple[str, str], List[dict]] = field(default_factory=dict)
    metrics: List[dict] = field(default_factory=list)
    # The function's own metrics (namespace cfg.function_namespace), the contract the dashboard reads:
    # sms_sent {FunctionName, store_id} (SMS sent, or meant in shadow) and sens_api_calls {FunctionName}.
    function_metrics: List[dict] = field(default_factory=list)
    sens: List[dict] = field(default_factory=list)
    telegram: List[dict] = field(default_factory=list)
    runs: List[dict] = field(default_factory=list)

    def log(self, function: str, at: datetime, record: dict) -> None:
        stream = f"{at:%Y/%m/%d}/[$LATEST]rehearsal"
        self.logs.setdefault((f"/aws/lambda/{function}", stream), []).append(
            {"timestamp": int(at.timestamp() * 1000), "message": json.dumps(record, ensure_ascii=False)})

    def text(self, function: str, at: datetime, message: str) -> None:
        """A plain line, as the Lambda runtime writes START / END / REPORT."""
        stream = f"{at:%Y/%m/%d}/[$LATEST]rehearsal"
        self.logs.setdefault((f"/aws/lambda/{function}", stream), []).append(
            {"timestamp": int(at.timestamp() * 1000), "message": message})

    def metric(self, function: str, slot: datetime, name: str, value: float, unit: str) -> None:
        self.metrics.append({
            "MetricName": name, "Dimensions": [{"Name": "FunctionName", "Value": function}],
            "Timestamp": slot, "Value": value, "Unit": unit,
        })


@dataclass
class Context:
    cfg: Config
    ddb: object
    source: BookingSource
    outputs: Outputs
    seed: int
    faults: Dict[str, Optional[str]] = field(default_factory=dict)  # function -> fault


# ------------------------------------------------------------ DynamoDB state


# What a run reads of an item: the keys, the flags and option_time; the rest (name,
# booking_time) it knows from the booking. Half the emulator's work of reading whole items.
READ_PROJECTION = "booking_num, phone, confirm_sms, remind_sms, option_sms, option_time"


def read_items(ddb, table: str, keys: List[Tuple[str, str]],
               projection: Optional[str] = READ_PROJECTION) -> Dict[Tuple[str, str], dict]:
    """BatchGetItem in chunks of 100; returns raw items by (booking_num, phone)."""
    found: Dict[Tuple[str, str], dict] = {}
    for i in range(0, len(keys), 100):
        request = {table: {"Keys": [{"booking_num": {"S": b}, "phone": {"S": p}} for b, p in keys[i:i + 100]],
                           "ConsistentRead": True}}
        if projection:
            request[table]["ProjectionExpression"] = projection
        while request:
            resp = ddb.batch_get_item(RequestItems=request)
            for item in resp.get("Responses", {}).get(table, []):
                found[(item["booking_num"]["S"], item["phone"]["S"])] = item
            request = resp.get("UnprocessedKeys") or None
    return found


def write_items(ddb, table: str, items: List[dict]) -> None:
    """BatchWriteItem in chunks of 25, retrying unprocessed items."""
    for i in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[i:i + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or None


def _pending_path(cfg: Config, function: str) -> Path:
    return cfg.directory / f"pending-writes-{function}.json"


# ------------------------------------------------------------ the job


def _candidates(ctx: Context, now: datetime, slot: datetime) -> List[Tuple[str, Booking]]:
    source, cfg = ctx.source, ctx.cfg
    out: List[Tuple[str, Booking]] = []
    for b in source.created_between(now - timedelta(minutes=cfg.confirm_lookback_min), now):
        if not b.cancelled(now) and b.booking_time > now:
            out.append(("confirm", b))
    for b in source.booked_between(now, now + timedelta(hours=2), now):
        if not b.cancelled(now):
            out.append(("guide", b))
    slot_kst = slot.astimezone(KST)
    if slot_kst.hour == 20 and slot_kst.minute == 0:
        midnight = slot_kst.replace(hour=0) - timedelta(microseconds=1)
        for b in source.booked_between(midnight, now, now):
            if b.has_event_option and not b.cancelled(now):
                out.append(("event", b))
    return out


def _templates(fault: Optional[str], booking: Booking) -> Dict[str, str]:
    templates = booking.store.templates
    if fault == "template_typo" and booking.store_id == TYPO_STORE:
        templates = dict(templates, confirm=templates["confirm"].replace("확정되었습니다", "확정되었읍니다"))
    return templates


def run(ctx: Context, inv: Invocation) -> dict:
    """Run the reference handler for one invocation; returns the ledger record."""
    cfg = ctx.cfg
    kind = cfg.kind_of(inv.function)
    fault = ctx.faults.get(inv.function) if kind == "v2" else None
    # keyed by the slot's minute since the world began, not its date (as the bookings are: the same world on any day)
    minute = int((inv.slot - ctx.source.world_start).total_seconds() // 60)
    rng = random.Random(f"run:{ctx.seed}:{inv.function}:{minute}")
    table = cfg.table_for(inv.function)
    slot_text = slot_iso(inv.slot)
    now = inv.delivered_at
    record = {"function": inv.function, "rule": inv.rule, "slot": slot_text, "input_mode": inv.input_mode,
              "fired_at": inv.fired_at.isoformat(), "delivered_at": now.isoformat(), "fault": fault,
              "error": None, "sms": 0, "delivered": 0}
    sent: Dict[str, int] = {"confirm": 0, "guide": 0, "event": 0}
    try:
        if kind is None:
            raise HandlerError(f"no reference handler for function {inv.function!r}")
        if kind == "legacy":
            mode = "live"
        else:
            mode = inv.input_mode or "shadow"
            if mode not in ("shadow", "live"):
                raise HandlerError(f"unknown mode {inv.payload.get('mode')!r}: expected 'shadow' or 'live'")
        deliver = mode == "live" or fault == "shadow_leak"
        if fault == "crash" and rng.random() < CRASH_RATE:
            raise HandlerError("simulated crash (fault 'crash')")

        pending = _pending_path(cfg, inv.function)
        if pending.exists():  # late_write: last run's records land now
            write_items(ctx.ddb, table, json.loads(pending.read_text()))
            pending.unlink()

        candidates = _candidates(ctx, now, inv.slot)
        keys = sorted({(b.booking_num, b.phone) for _, b in candidates})
        items = read_items(ctx.ddb, table, keys) if keys else {}
        changed: Dict[Tuple[str, str], dict] = {}
        messages: List[Tuple[str, Booking, str]] = []
        for sms_type, booking in candidates:
            if sms_type == "guide" and fault == "skip_guide":
                continue
            key = (booking.booking_num, booking.phone)
            item = changed.get(key) or {
                "confirm_sms": {"BOOL": False}, "remind_sms": {"BOOL": False}, "option_sms": {"BOOL": False},
                **items.get(key, {}),
                "booking_num": {"S": booking.booking_num}, "phone": {"S": booking.phone},
                "name": {"S": booking.name}, "booking_time": {"S": booking.booking_time_kst},
            }
            if _flag(item.get(FLAGS[sms_type])):
                continue
            item[FLAGS[sms_type]] = {"BOOL": True}
            if sms_type == "event":
                item["option_time"] = {"S": now.astimezone(KST).strftime("%Y-%m-%d %H:%M")}
            changed[key] = item
            content = render(booking, sms_type, _templates(fault, booking))
            if fault == "nfd_hangul":
                content = unicodedata.normalize("NFD", content)
            messages.append((sms_type, booking, content))
            if sms_type == "event" and fault == "double_event":
                messages.append((sms_type, booking, content))

        base = (12.0 + rng.random() * 10 if kind == "legacy" else 2.5 + rng.random() * 2)
        duration = base + len(messages) * (0.5 if kind == "legacy" else 0.2)
        if fault == "slow":
            duration = 245.0 + rng.random() * 30
        step = timedelta(seconds=duration / (len(messages) + 2))
        at = now
        for sms_type, booking, content in messages:
            at += step
            sent[sms_type] += 1
            ctx.outputs.log(inv.function, at, {
                "event": "sms", "slot": slot_text, "sms_type": sms_type, "booking_num": booking.booking_num,
                "phone": booking.phone, "store_id": booking.store_id, "content": content, "delivered": deliver})
            if deliver:
                ctx.outputs.sens.append({
                    "function": inv.function, "input_mode": inv.input_mode, "slot": slot_text,
                    "sent_at": at.isoformat(), "sms_type": sms_type, "booking_num": booking.booking_num,
                    "phone": booking.phone, "store_id": booking.store_id, "content": content})
        text = (f"[네이버 예약 알림] {inv.slot.astimezone(KST):%m/%d %H:%M} 확정 {sent['confirm']}건 · "
                f"안내 {sent['guide']}건 · 이벤트 {sent['event']}건 (took {duration:.1f}s)")
        at += step
        ctx.outputs.log(inv.function, at, {"event": "telegram", "slot": slot_text, "text": text, "delivered": deliver})
        if deliver:
            ctx.outputs.telegram.append({"function": inv.function, "input_mode": inv.input_mode,
                                         "slot": slot_text, "sent_at": at.isoformat(), "text": text})
        by_store: Dict[str, int] = {}
        for _, booking, _ in messages:
            by_store[booking.store_id] = by_store.get(booking.store_id, 0) + 1
        for store_id, count in sorted(by_store.items()):
            ctx.outputs.function_metrics.append({
                "MetricName": "sms_sent", "Timestamp": inv.slot, "Value": count, "Unit": "Count",
                "Dimensions": [{"Name": "FunctionName", "Value": inv.function}, {"Name": "store_id", "Value": store_id}]})
        ctx.outputs.function_metrics.append({
            "MetricName": "sens_api_calls", "Timestamp": inv.slot, "Value": len(messages) if deliver else 0,
            "Unit": "Count", "Dimensions": [{"Name": "FunctionName", "Value": inv.function}]})
        if changed:
            if fault == "late_write":
                cfg.directory.mkdir(parents=True, exist_ok=True)
                pending.write_text(json.dumps(list(changed.values()), ensure_ascii=False))
            else:
                write_items(ctx.ddb, table, list(changed.values()))
        record.update(sms=len(messages), delivered=len(messages) if deliver else 0, mode=mode,
                      duration_ms=round(duration * 1000), writes=len(changed), **{f"sms_{k}": v for k, v in sent.items()})
        errors = 0
    except (HandlerError, ClientError) as exc:  # an AWS error fails the run, as it would the real function
        duration = 0.3 + rng.random()
        record.update(error=str(exc), duration_ms=round(duration * 1000))
        ctx.outputs.log(inv.function, now, {"event": "error", "slot": slot_text, "error": str(exc)})
        errors = 1
    # the runtime's own lines, as real Lambda writes them (schedule_switch reads them: a START without
    # its END is a run in flight)
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{inv.function}/{inv.rule}/{inv.delivered_at.isoformat()}"))
    ctx.outputs.text(inv.function, now, f"START RequestId: {request_id} Version: $LATEST")
    finished = now + timedelta(milliseconds=record["duration_ms"])
    ctx.outputs.text(inv.function, finished, f"END RequestId: {request_id}")
    ctx.outputs.text(inv.function, finished, f"REPORT RequestId: {request_id}\tDuration: {record['duration_ms']:.2f} ms"
                     f"\tBilled Duration: {record['duration_ms']} ms\tMemory Size: 512 MB\tMax Memory Used: 128 MB")
    for name, value, unit in (("Invocations", 1, "Count"), ("Errors", errors, "Count"),
                              ("Duration", record["duration_ms"], "Milliseconds"), ("Throttles", 0, "Count")):
        ctx.outputs.metric(inv.function, inv.slot, name, value, unit)
    ctx.outputs.runs.append(record)
    return record
