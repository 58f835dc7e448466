"""Log formats of both functions and the parsing of one CloudWatch log event (pure).

Log lines become ``sms`` / ``telegram`` observations (see ``compare.py``) with a per-side
format: a JSON field mapping (the new function, the rehearsal handlers) or a regex with named
groups (the legacy function's plain-text lines, ``LEGACY_TEXT_FORMAT``).
"""
from __future__ import annotations

import json
import re

from .compare_config import CompareConfigError
from .schedule import slot

# A realistic plain-text legacy log (Python logging in the zip function, KST wall clock):
#   2026-11-26 13:00:04,512 INFO sms type=1 booking_num=1051_77 phone=01012345678 store_id=1051
#     result=success content="[네이버 예약] 홍길동님, ..."
#   2026-11-26 13:00:09,101 INFO telegram result=success text="13:00 run: confirm 3, ..."
# The content is printed with json.dumps(ensure_ascii=False) so quotes and newlines survive.
# The slot comes from the CloudWatch event timestamp (UTC), floored to the slot length.
LEGACY_TEXT_FORMAT = {
    "format": "regex",
    "patterns": {
        "sms": (r"\bINFO sms type=(?P<sms_type>\d) booking_num=(?P<booking_num>\S+) "
                r"phone=(?P<phone>\S+) store_id=(?P<store_id>\S+) "
                r"result=(?P<delivered>\w+) content=(?P<content>\".*\")\s*$"),
        "telegram": r"\bINFO telegram result=(?P<delivered>\w+) text=(?P<text>\".*\")\s*$",
    },
    "decode": {"content": "json", "text": "json"},
    "values": {
        "sms_type": {"1": "confirm", "2": "guide", "3": "event"},
        "delivered": {"success": True, "fail": False, "dry": False},
    },
}
JSON_FORMAT = {"format": "json", "fields": {}}
LOG_FORMATS = {"json": JSON_FORMAT, "legacy_text": LEGACY_TEXT_FORMAT}


def parse_log_event(message: str, timestamp_ms: int | None, log_format: dict | None,
                    slot_minutes: int = 20) -> dict | None:
    """One CloudWatch log event -> an ``sms`` / ``telegram`` observation, or None.

    ``log_format``: ``{"format": "json", "fields": {canonical: source}, "values": {...}}`` or
    ``{"format": "regex", "patterns": {"sms": re, "telegram": re}, "decode": {...},
    "values": {...}}``. Lines that are neither (START/END/REPORT, other logging) give None.
    Without a ``slot`` field the slot is the event timestamp floored to the slot length.
    """
    log_format = log_format or JSON_FORMAT
    kind = log_format.get("format", "json")
    if kind == "json":
        event = _parse_json_line(message, log_format)
    elif kind == "regex":
        event = _parse_regex_line(message, log_format)
    else:
        raise CompareConfigError(f"log format must be 'json' or 'regex', got {kind!r}")
    if event is None:
        return None
    for field, mapping in (log_format.get("values") or {}).items():
        if field in event and str(event[field]) in mapping:
            event[field] = mapping[str(event[field])]
    moment = event.get("slot") or timestamp_ms
    if moment is None:
        return None
    try:
        event["slot"] = slot(moment, slot_minutes)
    except ValueError as exc:
        raise CompareConfigError(str(exc)) from None
    if isinstance(event.get("delivered"), str):
        event["delivered"] = event["delivered"].lower() in ("true", "1", "yes", "success")
    return event


def _parse_json_line(message: str, log_format: dict) -> dict | None:
    start = message.find("{")
    if start < 0:
        return None
    try:
        data = json.loads(message[start:])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fields = log_format.get("fields") or {}
    event = dict(data)
    for canonical, source in fields.items():
        value = data
        for part in str(source).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        event[canonical] = value
    names = log_format.get("events") or {"sms": "sms", "telegram": "telegram"}
    reverse = {v: k for k, v in names.items()}
    if event.get("event") not in reverse:
        return None
    event["event"] = reverse[event["event"]]
    return event


def _parse_regex_line(message: str, log_format: dict) -> dict | None:
    for name, pattern in (log_format.get("patterns") or {}).items():
        compiled = _compiled(pattern)
        match = compiled.search(message)
        if match is None:
            continue
        event = {k: v for k, v in match.groupdict().items() if v is not None}
        event["event"] = name
        for field, how in (log_format.get("decode") or {}).items():
            if field in event and how == "json":
                try:
                    event[field] = json.loads(event[field])
                except ValueError:
                    event[field] = event[field].strip('"')
        return event
    return None


_PATTERNS: dict = {}


def _compiled(pattern: str):
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        try:
            compiled = _PATTERNS[pattern] = re.compile(pattern)
        except re.error as exc:
            raise CompareConfigError(f"log pattern {pattern!r} is not a valid regex: {exc}") from exc
    return compiled
