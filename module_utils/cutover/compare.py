"""Compare what the old and the new function did, slot by slot (pure: no boto3, no Ansible).

Data in, report out (the yamllint ``run(input, conf)`` shape): ``compare(old, new, config,
start=, end=)`` takes the observations of each side and returns a plain dict.

Observations of one side (``{"records": ..., "sms": ..., "telegram": ...}``), each an iterable
that can be iterated twice (a list, or a zero-argument callable returning a fresh iterator):

- ``sms``: ``{"event": "sms", "slot": "<ISO slot start UTC>", "sms_type": "confirm|guide|event",
  "booking_num", "phone", "store_id", "content", "delivered"}``;
- ``telegram``: ``{"event": "telegram", "slot", "text", "delivered"}``;
- ``records``: DynamoDB items as plain dicts, keyed by the configured key attributes.

Log lines become these events through ``parse_log_event`` with a per-side format: a JSON field
mapping (the new function, the rehearsal handlers) or a regex with named groups (the legacy
function's plain-text lines, see ``LEGACY_TEXT_FORMAT``).

How a record is tied to a slot (the assumption shared with the handlers and the adapter):
  a table holds only the current state and neither function writes a timestamp into it, so a
  record belongs to the slot that last changed it: ``records.slot_attribute`` (default
  ``updated_slot``, ISO slot start) and, if that slot created it, ``records.created_attribute``
  (``created_slot``). ``output_compare`` fills both from a snapshot of each table kept between
  its runs (``tag_records_from_snapshot``): a record new or changed since the previous run is
  tagged with the latest slot that had run when the table was read. So the comparison must
  read the tables once per slot (it runs every 20 minutes), the first run only takes the
  baseline, and a late write shows up in the slot in which it landed. Records already carrying
  the attributes (a handler that writes them) are taken as they are; untagged records are
  outside the comparison. A re-check of an old slot compares SMS and Telegram fully, records
  only where that slot is still the last one that changed them.

Classification. Every observation is a *unit* (record, SMS, Telegram) with a key (records: key
attributes; SMS: type + key of the SMS; Telegram: one per run). Units of both sides are paired
by key: first within the same slot, then across at most ``settle_slots`` slots (nearest first).
- paired in the same slot, equal compared fields: **matched**;
- paired, fields differ: a ``field_differs`` / ``text_differs`` discrepancy per differing field
  (text fields carry the index of the first differing character, the code points there, e.g.
  ``U+D55C`` vs ``U+1112`` for NFC vs NFD Hangul, and a snippet of each side);
- paired across slots (at most ``settle_slots`` apart), equal: **late**, not a discrepancy;
- not paired: ``count_differs`` when both sides have the unit in the window read but not as
  many times (a double send), else ``missing_on_new`` / ``missing_on_old`` (the other side has
  none, or has it more than ``settle_slots`` away);
- a Telegram text difference in a slot touched by a late unit is late too (the summary counts
  what the run sent), other Telegram differences are discrepancies. Telegram text is compared
  after the configured regex masks (timings) replaced their matches with ``<masked>``.
An outcome belongs to the earliest slot it involves. To report slots ``start..end`` the caller
reads both sides for ``start - settle_slots .. end + settle_slots``: an outcome attributed to a
slot outside ``start..end`` is left to that slot's own run (no double counting).

``match_percentage`` = matched / (matched + discrepancies) x 100, 100 when there is nothing to
compare. Counts are never capped; the evidence list is (``evidence_cap``), sorted by slot,
unit, key, field so the output is deterministic.

Memory and speed. Each item becomes one 64-bit hash of key + slot + compared values (C-level
``itemgetter``/``map`` over chunks of items). The old side is kept as a set of these hashes, the
new side is streamed against it; only the keys whose hashes differ are paired by key and slot
(``_pair_keyed``) and read again for their values. Memory grows with the number of items (8-byte
hashes) and the differences, not with copies of either side. Values compare by Python equality
(``True == 1 == Decimal(1)``: a flag stored as a number on one side and a boolean on the other is
the same flag); two different values match only if their hashes collide (64-bit; Python also
hashes -1 like -2, and these tables hold no negative numbers). Text is compared character by
character, so NFC and NFD Hangul differ.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import datetime, timezone
from itertools import chain, compress, islice, repeat
from operator import eq, is_not, itemgetter, not_

SIDES = ("old", "new")
KINDS = ("missing_on_new", "missing_on_old", "field_differs", "text_differs", "count_differs")
SMS_TYPES = ("confirm", "guide", "event")
_ABSENT = "<absent>"
_MARK = object()  # an old unit already paired on the spot
_CHUNK = 16384

DEFAULT_CONFIG = {
    "settle_slots": 1,
    "slot_minutes": 20,
    "evidence_cap": 50,
    "snippet_chars": 12,
    "records": {
        "key": ["booking_num", "phone"],
        "compare": None,  # None: every attribute except the key and the ignored ones
        "ignore": ["updated_slot", "created_slot", "updated_at", "created_at", "ttl"],
        "slot_attribute": "updated_slot",
        "created_attribute": "created_slot",
        "creating_sms_type": "confirm",
        "text": [],
    },
    "sms": {
        "key": ["sms_type", "booking_num", "phone"],
        "compare": ["store_id", "content"],
        "text": ["content"],
    },
    "telegram": {
        # timings and durations vary from run to run: "12.3s", "4초", "1234 ms", "took 3 seconds"
        "masks": [r"\d+(?:\.\d+)?\s*(?:ms|seconds?|secs?|s|초)\b", r"\d{1,2}:\d{2}:\d{2}(?:\.\d+)?"],
    },
}

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


class CompareConfigError(ValueError):
    """The comparison configuration is unusable; the message says what to fix."""


# ----------------------------------------------------------------------------- configuration
def make_config(overrides: dict | None = None) -> dict:
    """DEFAULT_CONFIG with ``overrides`` merged one level deep, validated."""
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULT_CONFIG.items()}
    for name, value in (overrides or {}).items():
        if name not in DEFAULT_CONFIG and name != "logs":
            raise CompareConfigError(f"unknown comparison setting {name!r}; known: "
                                     f"{', '.join(sorted(DEFAULT_CONFIG))}, logs")
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name].update(value)
        else:
            config[name] = value
    for name in ("settle_slots", "slot_minutes", "evidence_cap"):
        if not isinstance(config[name], int) or config[name] < 0 or (
                name == "slot_minutes" and config[name] == 0):
            raise CompareConfigError(f"{name} must be a non-negative integer, got {config[name]!r}")
    for unit in ("records", "sms"):
        if not config[unit].get("key"):
            raise CompareConfigError(f"{unit}.key needs at least one key attribute")
    try:
        config["_masks"] = [re.compile(p) for p in config["telegram"].get("masks") or []]
    except re.error as exc:
        raise CompareConfigError(f"telegram mask is not a valid regex: {exc}") from exc
    return config


# ----------------------------------------------------------------------------- slots
class _Slots:
    """ISO slot start <-> slot number (minutes since epoch // slot length), cached."""

    def __init__(self, minutes: int):
        self.minutes = minutes
        self._cache: dict = {}
        self.canonical: dict = {}  # raw slot string -> canonical ISO string

    def number(self, value) -> int:
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        if isinstance(value, datetime):
            moment = value
        else:
            text = str(value).strip()
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise CompareConfigError(f"slot {value!r} is not an ISO date-time") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        number = int(moment.timestamp() // 60) // self.minutes
        self._cache[value] = number
        return number

    def from_epoch_ms(self, millis: int) -> int:
        return int(millis // 60000) // self.minutes

    def iso(self, number: int) -> str:
        moment = datetime.fromtimestamp(number * self.minutes * 60, tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def slot_iso(value, slot_minutes: int = 20) -> str:
    """Normalise a slot (ISO string or datetime) to ``YYYY-MM-DDTHH:MM:SSZ`` of its slot start."""
    slots = _Slots(slot_minutes)
    return slots.iso(slots.number(value))


def slot_of_epoch_ms(millis: int, slot_minutes: int = 20) -> str:
    slots = _Slots(slot_minutes)
    return slots.iso(slots.from_epoch_ms(millis))


# ----------------------------------------------------------------------------- log parsing
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
    if event.get("slot"):
        event["slot"] = slot_iso(event["slot"], slot_minutes)
    elif timestamp_ms is not None:
        event["slot"] = slot_of_epoch_ms(timestamp_ms, slot_minutes)
    else:
        return None
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


# ----------------------------------------------------------------------------- record tagging
_PLAIN = {str, bool, int, float, type(None)}


def _digests(rows: list) -> list:
    """Stable digests (the same in every process) of tuples of plain values."""
    if not set(map(type, chain.from_iterable(rows))) <= _PLAIN:
        rows = [tuple(_canon(v) for v in row) for row in rows]
    blake = hashlib.blake2b
    return [blake(text.encode("utf-8"), digest_size=10).hexdigest() for text in map(repr, rows)]


def record_digests(records: list, config: dict) -> list:
    """A digest of each record's compared attributes that is the same in every process."""
    rules = config["records"]
    if rules.get("compare"):
        fields = list(rules["compare"])
        getter = _safe_getter(fields)
        return _digests(list(map(getter, records)))
    skip = set(rules.get("ignore") or ()) | set(rules["key"])
    skip |= {rules.get("slot_attribute"), rules.get("created_attribute")}
    return _digests([tuple(sorted((k, v) for k, v in r.items() if k not in skip)) for r in records])


def tag_records_from_snapshot(records, snapshot: dict | None, observed_slot: str,
                              config: dict | None = None) -> tuple:
    """Tie each record to the slot in which it was last seen to change.

    Neither function writes a timestamp into its table, so the comparison keeps a snapshot of
    each table between its runs: ``{key: [digest, updated_slot, created_slot]}``. A record
    that is new or changed since the previous snapshot gets ``observed_slot`` (the latest slot
    that had run when the table was read); an unchanged one keeps its tags. With no previous
    snapshot (``None``) every record is the *baseline*: untagged, so outside the comparison.

    Returns ``(tagged records (copies, only those with a slot), new snapshot)``.
    """
    config = config if "_masks" in (config or {}) else make_config(config)
    rules = config["records"]
    slot_attr, created_attr = rules["slot_attribute"], rules["created_attribute"]
    observed = slot_iso(observed_slot, config["slot_minutes"])
    records = list(_iterate(records))
    keys = list(map("\x1f".join, (map(str, key) for key in map(_safe_getter(rules["key"]), records))))
    tagged, fresh = [], {}
    previous = snapshot or {}
    for record, key, digest in zip(records, keys, record_digests(records, config)):
        before = previous.get(key)
        if snapshot is None:
            entry = [digest, None, None]
        elif before is None:
            entry = [digest, observed, observed]
        elif before[0] == digest:
            entry = before
        else:
            entry = [digest, observed, before[2]]
        fresh[key] = entry
        if entry[1]:
            item = dict(record)
            item[slot_attr] = entry[1]
            item.pop(created_attr, None)
            if entry[2]:
                item[created_attr] = entry[2]
            tagged.append(item)
    return tagged, fresh


# ----------------------------------------------------------------------------- helpers
def _iterate(source):
    if source is None:
        return iter(())
    if callable(source):
        return iter(source())
    return iter(source)


def _canon(value):
    if isinstance(value, (set, frozenset)):
        return tuple(sorted((_canon(v) for v in value), key=repr))
    if isinstance(value, dict):
        return tuple(sorted((k, _canon(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_canon(v) for v in value)
    return value


def text_difference(old: str, new: str, snippet_chars: int = 12) -> dict:
    """Where two texts first differ: index, code point on each side, a snippet of each."""
    old, new = "" if old is None else str(old), "" if new is None else str(new)
    index = 0
    limit = min(len(old), len(new))
    while index < limit and old[index] == new[index]:
        index += 1

    def point(text):
        return f"U+{ord(text[index]):04X}" if index < len(text) else "<end>"

    begin = max(0, index - snippet_chars // 2)
    return {
        "index": index,
        "old_code_point": point(old),
        "new_code_point": point(new),
        "old_snippet": old[begin:index + snippet_chars],
        "new_snippet": new[begin:index + snippet_chars],
        "old_length": len(old),
        "new_length": len(new),
    }


class _UnitKind:
    """Rules of one unit kind: how to get its key, slot and compared fields from an item.

    ``scan(chunk)`` is the hot loop: with an explicit list of compared attributes it runs on
    C-level ``map``/``itemgetter``; items missing an attribute, a non-canonical slot string or
    masked text take the per-item path, which yields the same keys and digests.
    """

    def __init__(self, name, key, compare, ignore, text, slots, slot_attr, observe=(), masks=(),
                 unique=False):
        self.name = name
        self.unique = unique  # a table: one item per key, no duplicate check needed

        self.key_attrs = list(key)
        self.compare = list(compare) if compare else None
        self.ignore = set(ignore or ()) | set(self.key_attrs) | {slot_attr}
        self.text = set(text or ())
        self.slots = slots
        self.slot_attr = slot_attr
        self.observe = tuple(a for a in observe if a)
        self.masks = masks
        self._key_slot = itemgetter(*self.key_attrs, slot_attr)
        self._key = itemgetter(*self.key_attrs)
        fast = self.compare is not None and len(self.compare) > 1 and not masks
        self._values = itemgetter(*self.compare) if fast else None
        self._everything = itemgetter(*self.key_attrs, slot_attr, *self.compare) if fast else None

    def values(self, item) -> tuple:
        """The compared (field, value) pairs of an item, masks applied."""
        if self.compare is not None:
            values = tuple([(f, item.get(f, _ABSENT)) for f in self.compare])
        else:
            ignore = self.ignore
            values = tuple(sorted(((k, v) for k, v in item.items() if k not in ignore),
                                  key=lambda pair: pair[0]))
        if self.masks:
            values = tuple((f, self.mask(v) if f in self.text else v) for f, v in values)
        return values

    def mask(self, text):
        if not isinstance(text, str):
            return text
        for pattern in self.masks:
            text = pattern.sub("<masked>", text)
        return text

    def digest(self, item) -> int:
        return hash(self.canonical_values(item))

    def _normalise(self, chunk: list) -> tuple:
        """Drop items without a slot; canonical slot strings; whether any had to be rewritten."""
        raw = list(map(dict.get, chunk, repeat(self.slot_attr)))
        if None in raw or "" in raw:
            chunk = list(compress(chunk, raw))
            raw = list(filter(None, raw))
        canonical = self.slots.canonical
        distinct = set(raw)
        for value in distinct - canonical.keys():
            canonical[value] = self.slots.iso(self.slots.number(value))
        rewritten = any(canonical[value] != value for value in distinct)
        if rewritten:
            raw = list(map(canonical.__getitem__, raw))
        return chunk, raw, rewritten

    def _seen(self, chunk: list, raw: list) -> Counter:
        if self.unique and len(self.observe) == 1:
            # records: (slot, created?) from two Counters of strings (their hashes are cached)
            created = Counter(compress(raw, map(eq, raw,
                                                map(dict.get, chunk, repeat(self.observe[0])))))
            seen = Counter()
            for slot, count in Counter(raw).items():
                seen[(slot, None)] = count - created.get(slot, 0)
                seen[(slot, slot)] = created.get(slot, 0)
            return +seen
        if self.observe:
            return Counter(zip(raw, *[map(dict.get, chunk, repeat(a)) for a in self.observe]))
        return Counter(zip(raw))

    def fingerprints(self, chunk: list) -> tuple:
        """One hash per item over key, slot and compared values; and the per-slot Counter."""
        chunk, raw, rewritten = self._normalise(chunk)
        if not rewritten and self._everything is not None:
            try:
                return list(map(hash, map(self._everything, chunk))), self._seen(chunk, raw)
            except (KeyError, TypeError):
                pass
        attrs = self.key_attrs
        rows = [tuple([item.get(a) for a in attrs]) + (slot,) + self.canonical_values(item)
                for item, slot in zip(chunk, raw)]
        return list(map(hash, rows)), self._seen(chunk, raw)

    def canonical_values(self, item) -> tuple:
        values = self.values(item)
        if self.compare is not None:
            return tuple([_canon(v) for _f, v in values])
        return tuple([(f, _canon(v)) for f, v in values])

    def scan(self, chunk: list) -> tuple:
        """keys ``(*key, canonical slot)``, digests and a Counter of what to count per slot."""
        chunk, raw, rewritten = self._normalise(chunk)
        keys = digests = None
        if not rewritten and self._values is not None:
            try:
                keys = list(map(self._key_slot, chunk))
                values = list(map(self._values, chunk))
                digests = list(map(hash, values))
            except (KeyError, TypeError):
                keys = None
        if keys is None:
            attrs = self.key_attrs
            keys = [tuple([item.get(a) for a in attrs]) + (slot,) for item, slot in zip(chunk, raw)]
            digests = list(map(self.digest, chunk))
        return keys, digests, self._seen(chunk, raw)

    def base_keys(self, chunk: list) -> list:
        """The key of each item as a tuple (without the slot)."""
        if len(self.key_attrs) == 1:
            return list(zip(map(dict.get, chunk, repeat(self.key_attrs[0]))))
        try:
            return list(map(self._key, chunk))
        except KeyError:
            attrs = self.key_attrs
            return [tuple([item.get(a) for a in attrs]) for item in chunk]

    def key_dict(self, key) -> dict:
        return dict(zip(self.key_attrs, key))


def _chunks(source):
    iterator = _iterate(source)
    while True:
        chunk = list(islice(iterator, _CHUNK))
        if not chunk:
            return
        yield chunk


# ----------------------------------------------------------------------------- the comparison
def compare(old: dict, new: dict, config: dict | None = None, start=None, end=None) -> dict:
    """Compare two sides' observations; report the slots ``start..end`` (ISO, inclusive).

    Without ``start``/``end`` every slot observed is reported.
    """
    config = config if "_masks" in (config or {}) else make_config(config)
    slots = _Slots(config["slot_minutes"])
    settle = config["settle_slots"]
    rec, sms = config["records"], config["sms"]
    kinds = {
        "record": _UnitKind("record", rec["key"], rec.get("compare"), rec.get("ignore"),
                            rec.get("text"), slots, rec["slot_attribute"],
                            observe=(rec.get("created_attribute"),), unique=True),
        "sms": _UnitKind("sms", sms["key"], sms.get("compare"), sms.get("ignore"),
                         sms.get("text"), slots, "slot", observe=("sms_type", "delivered")),
        "telegram": _UnitKind("telegram", ["event"], ["text"], (), ["text"], slots, "slot",
                              observe=("delivered",), masks=config["_masks"]),
    }
    sources = {"record": "records", "sms": "sms", "telegram": "telegram"}
    report = _Report(config, slots)
    lo = slots.number(start) if start is not None else None
    hi = slots.number(end) if end is not None else None
    if lo is not None and hi is not None and hi < lo:
        raise CompareConfigError(f"end {end!r} is before start {start!r}")
    report.bounds = (lo, hi)

    late_slots: set = set()
    telegram_outcomes = []
    for name in ("record", "sms", "telegram"):
        unit = kinds[name]
        report.units[name] = unit
        field = sources[name]
        tolerance = 0 if name == "telegram" else settle
        outcomes = _compare_units(unit, old.get(field), new.get(field), tolerance, report)
        for outcome in outcomes:
            if outcome[0] == "late":
                late_slots.update(outcome[2])
        if name == "telegram":
            telegram_outcomes = outcomes
        else:
            report.add_outcomes(unit, outcomes)
    # a Telegram summary that differs in a slot touched by a late unit counts what that run sent
    settled = []
    for outcome in telegram_outcomes:
        if outcome[0] == "differs" and outcome[2][0] in late_slots:
            settled.append(("late", outcome[1], outcome[2], None))
        else:
            settled.append(outcome)
    report.add_outcomes(kinds["telegram"], settled)
    return _finish(report, _fetch_values(report, old))


def _compare_units(unit: _UnitKind, old_source, new_source, tolerance: int, report) -> list:
    """``_pair_units``, then the units matched on the spot go into the report."""
    outcomes = _pair_units(unit, old_source, new_source, tolerance, report)
    report.matched(report.pending_matches.pop(unit.name))
    return outcomes


def _pair_units(unit: _UnitKind, old_source, new_source, tolerance: int, report) -> list:
    """Fingerprint sets first, then ``_pair_keyed`` on the keys whose fingerprints differ.

    The old side becomes a set of hashes over key + slot + compared values (one 64-bit hash per
    item, no copy of the data). The new side is streamed against it: a fingerprint found there
    is removed (matched in its slot); one not found marks a new item that differs. What remains
    of the set afterwards marks the old items that differ. Only the items of the keys that
    differ are then paired by ``_pair_keyed``. A side with the same fingerprint twice (a double
    send) makes the counts matter: the items of the keys involved are all read again.
    """
    old_set, old_total, old_kept = set(), 0, []
    for chunk in _chunks(old_source):
        fingerprints, seen = unit.fingerprints(chunk)
        report.count(unit.name, "old", seen)
        old_set.update(fingerprints)
        old_total += len(fingerprints)
        old_kept.append(fingerprints)  # references to the ints the set holds already
    if len(old_set) != old_total:
        return _pair_keyed(unit, old_source, new_source, tolerance, report, count=False)
    subset = {"old": [], "new": []}
    repeated = False
    for chunk in _chunks(new_source):
        fingerprints, seen = unit.fingerprints(chunk)
        report.count(unit.name, "new", seen)
        if not unit.unique and len(set(fingerprints)) != len(fingerprints):
            repeated = True
        known = list(map(old_set.__contains__, fingerprints))
        if not all(known):
            hits, _raw, _rewritten = unit._normalise(chunk)
            subset["new"].extend(compress(hits, map(not_, known)))
        old_set.difference_update(fingerprints)
    if old_set:
        for chunk, fingerprints in zip(_chunks(old_source), old_kept):
            if old_set.isdisjoint(fingerprints):
                continue
            hits, _raw, _rewritten = unit._normalise(chunk)
            subset["old"].extend(compress(hits, map(old_set.__contains__, fingerprints)))
    del old_kept, old_set
    if not subset["old"] and not subset["new"] and not repeated:
        report.pending_matches[unit.name] = report.slot_totals(unit.name, "old")
        return []
    keys = set(unit.base_keys(subset["old"])) | set(unit.base_keys(subset["new"]))
    if repeated:
        keys.update(_repeated_keys(unit, new_source))
    if not unit.unique:  # a key's other items (matched ones too) count for count_differs
        for side, source in (("old", old_source), ("new", new_source)):
            subset[side] = [item for chunk in _chunks(source)
                            for item in compress(chunk, map(keys.__contains__,
                                                            unit.base_keys(chunk)))]
    outcomes = _pair_keyed(unit, subset["old"], subset["new"], tolerance, report, count=False)
    report.old_items[unit.name] = subset["old"]  # the second pass for values reads only these
    # everything outside those keys matched in its own slot
    matched = report.pending_matches[unit.name]
    old_seen = report.slot_totals(unit.name, "old")
    subset_slots = Counter(unit._normalise(subset["old"])[1]) if subset["old"] else Counter()
    for slot, count in old_seen.items():
        matched[slot] += count - subset_slots.get(slot, 0)
    return outcomes


def _repeated_keys(unit: _UnitKind, source) -> set:
    """Keys that occur more than once with the same slot and values on one side."""
    seen, repeated = set(), set()
    for chunk in _chunks(source):
        fingerprints, _counts = unit.fingerprints(chunk)
        hits, _raw, _rewritten = unit._normalise(chunk)
        for item, fingerprint in zip(hits, fingerprints):
            if fingerprint in seen:
                repeated.add(tuple([item.get(a) for a in unit.key_attrs]))
            seen.add(fingerprint)
    return repeated


def _pair_keyed(unit: _UnitKind, old_source, new_source, tolerance: int, report,
                count: bool = True) -> list:
    """Pair the units of both sides; return the outcomes that did not match on the spot.

    The old side becomes ``{(*key, slot): digest}``; the new side is streamed against it: a new
    unit equal to the old unit of its key and slot matches on the spot (its entry becomes
    ``_MARK``), anything else is kept for ``_resolve``.
    Outcome tuples: ("matched"|"late", key, (slot_old, slot_new), None), ("differs", key,
    (slot_old, slot_new), (digest_old, digest_new)), ("unpaired", key, (slot,),
    (side, count_old, count_new, digest)); slots as numbers, keys without the slot.
    """
    store: dict = {}
    extra_old = []  # further occurrences of one key in one slot on the old side
    for chunk in _chunks(old_source):
        keys, digests, seen = unit.scan(chunk)
        if count:
            report.count(unit.name, "old", seen)
        if unit.unique or store.keys().isdisjoint(keys):
            before = len(store)
            store.update(zip(keys, digests))
            if unit.unique or len(store) - before == len(keys):
                continue
            for key in set(keys):  # a key twice in this chunk: redo the chunk one by one
                del store[key]
        for key, digest in zip(keys, digests):
            if key in store:
                extra_old.append((key, digest))
            else:
                store[key] = digest
    pending = []
    matched: Counter = Counter()
    for chunk in _chunks(new_source):
        keys, digests, seen = unit.scan(chunk)
        if count:
            report.count(unit.name, "new", seen)
        if unit.unique or len(set(keys)) == len(keys):
            equal = list(map(eq, map(store.get, keys), digests))
            hits = list(compress(keys, equal))
            store.update(zip(hits, repeat(_MARK)))
            matched.update(map(itemgetter(-1), hits))
            misses = [] if len(hits) == len(keys) else list(compress(range(len(keys)),
                                                                     map(not_, equal)))
        else:
            misses = []
            for index, (key, digest) in enumerate(zip(keys, digests)):
                if store.get(key) == digest:
                    store[key] = _MARK
                    matched[key[-1]] += 1
                else:
                    misses.append(index)
        if misses:
            items = [item for item in chunk if item.get(unit.slot_attr)]
            for index in misses:
                key, digest = keys[index], digests[index]
                pending.append((key, digest))
                # the new side is read once: keep the values of what did not match right away
                report.values[("new", unit.name, key[:-1], unit.slots.number(key[-1]),
                               digest)] = dict(unit.values(items[index]))
    report.pending_matches[unit.name] = matched
    leftovers: dict = {}
    unpaired_old = compress(store.items(), map(is_not, store.values(), repeat(_MARK)))
    for key, digest in chain(unpaired_old, extra_old):
        leftovers.setdefault(key[:-1], ([], []))[0].append((key[-1], digest))
    for key, digest in pending:
        leftovers.setdefault(key[:-1], ([], []))[1].append((key[-1], digest))
    slots_seen = report.slots_seen(unit.name)
    number = unit.slots.number
    outcomes = []
    for key, (old_free, new_free) in leftovers.items():
        already = sum(1 for slot in slots_seen if store.get(key + (slot,)) is _MARK)
        outcomes.extend(_resolve(key, [(number(s), d) for s, d in old_free],
                                 [(number(s), d) for s, d in new_free], already, tolerance))
    return outcomes


def _resolve(key, old_free, new_free, already, tolerance) -> list:
    """Pair one key's occurrences: same slot first, then nearest within ``tolerance`` slots.

    ``already``: pairs of this key that matched on the spot (they count for count_differs).
    """
    count_old, count_new = len(old_free) + already, len(new_free) + already
    old_free, new_free = sorted(old_free), sorted(new_free)
    outcomes = []
    # same slot: equal digests first, then any
    for strict in (True, False):
        remaining_new = []
        for slot, digest in new_free:
            partner = None
            for index, (o_slot, o_digest) in enumerate(old_free):
                if o_slot == slot and (not strict or o_digest == digest):
                    partner = index
                    break
            if partner is None:
                remaining_new.append((slot, digest))
                continue
            o_slot, o_digest = old_free.pop(partner)
            if o_digest == digest:
                outcomes.append(("matched", key, (slot, slot), None))
            else:
                outcomes.append(("differs", key, (slot, slot), (o_digest, digest)))
        new_free = remaining_new
    # across slots, nearest first, within the settle window
    if tolerance and old_free and new_free:
        candidates = sorted(
            (abs(o[0] - n[0]), o[0], n[0], i, j)
            for i, o in enumerate(old_free) for j, n in enumerate(new_free)
            if abs(o[0] - n[0]) <= tolerance)
        used_old, used_new = set(), set()
        for _distance, _o_slot, _n_slot, i, j in candidates:
            if i in used_old or j in used_new:
                continue
            used_old.add(i)
            used_new.add(j)
            (o_slot, o_digest), (n_slot, n_digest) = old_free[i], new_free[j]
            if o_digest == n_digest:
                outcomes.append(("late", key, (o_slot, n_slot), None))
            else:
                outcomes.append(("differs", key, (o_slot, n_slot), (o_digest, n_digest)))
        old_free = [o for i, o in enumerate(old_free) if i not in used_old]
        new_free = [n for j, n in enumerate(new_free) if j not in used_new]
    for side, free in (("old", old_free), ("new", new_free)):
        for slot, digest in free:
            outcomes.append(("unpaired", key, (slot,), (side, count_old, count_new, digest)))
    return outcomes


class _Report:
    """Counters by slot and the discrepancies; builds the plain-dict result."""

    def __init__(self, config, slots):
        self.config = config
        self.slots = slots
        self.bounds = (None, None)
        self.per_slot: dict = {}
        self.discrepancies: list = []
        self.late: list = []
        self.needs = {"old": {}, "new": {}}  # unit -> {(key, slot, digest)}
        self.units: dict = {}
        self.seen: dict = {}  # (unit, side) -> Counter((slot, *observed attributes))
        self.values: dict = {}  # (side, unit, key, slot, digest) -> compared values
        self.pending_matches: dict = {}  # unit -> Counter(slot) of units matched on the spot
        self.old_items: dict = {}  # unit -> the old items of the keys that differ

    def in_range(self, slot) -> bool:
        lo, hi = self.bounds
        return (lo is None or slot >= lo) and (hi is None or slot <= hi)

    def row(self, slot) -> dict:
        row = self.per_slot.get(slot)
        if row is None:
            row = self.per_slot[slot] = _empty_counts()
        return row

    def count(self, unit, side, seen: Counter) -> None:
        self.seen.setdefault((unit, side), Counter()).update(seen)

    def slot_totals(self, unit, side) -> Counter:
        totals: Counter = Counter()
        for entry, count in self.seen.get((unit, side), {}).items():
            totals[entry[0]] += count
        return totals

    def slots_seen(self, unit) -> set:
        return {entry[0] for side in SIDES for entry in self.seen.get((unit, side), ())}

    def tally(self) -> None:
        """Turn the per-slot Counters into the rows of the report (slots in range only)."""
        number = self.slots.number
        for (unit, side), seen in sorted(self.seen.items()):
            for entry, count in sorted(seen.items(), key=repr):
                slot = number(entry[0])
                if not self.in_range(slot):
                    continue
                row = self.row(slot)
                if unit == "sms":
                    sent = row["sms_sent"][side]
                    sent["total"] += count
                    sent[entry[1]] = sent.get(entry[1], 0) + count
                    if entry[2] is True:
                        row["sms_delivered"][side] += count
                elif unit == "telegram":
                    row["telegram_sent"][side] += count
                    if entry[1] is True:
                        row["telegram_delivered"][side] += count
                elif len(entry) > 1 and entry[1] and number(entry[1]) == slot:
                    row["records_created"][side] += count
                else:
                    row["records_updated"][side] += count

    def matched(self, matched: Counter) -> None:
        for slot, count in matched.items():
            number = self.slots.number(slot)
            if self.in_range(number):
                self.row(number)["matched"] += count

    def add_outcomes(self, unit: _UnitKind, outcomes) -> None:
        for kind, key, slots, extra in outcomes:
            slot = min(slots)
            if not self.in_range(slot):
                continue
            row = self.row(slot)
            if kind == "matched":
                row["matched"] += 1
            elif kind == "late":
                row["late"] += 1
                self.late.append((slot, unit.name, key, slots))
            elif kind == "differs":
                # field-level detail needs the values: second pass
                self.needs["old"].setdefault(unit.name, set()).add((key, slots[0], extra[0]))
                self.needs["new"].setdefault(unit.name, set()).add((key, slots[1], extra[1]))
                self.discrepancies.append(("differs", unit.name, key, slots, extra))
            else:
                side, count_old, count_new, digest = extra
                self.needs[side].setdefault(unit.name, set()).add((key, slots[0], digest))
                self.discrepancies.append(("unpaired", unit.name, key, slots, extra))


def _fetch_values(report: _Report, old: dict) -> dict:
    """Second pass over the old side: the values of its units that differ, nothing else.

    (The new side's differing values were kept while it was streamed.)
    """
    found = report.values
    fields = {"record": "records", "sms": "sms", "telegram": "telegram"}
    for side, observations in (("old", old),):
        for unit_name, needed in report.needs[side].items():
            if not needed:
                continue
            unit = report.units[unit_name]
            wanted_keys = {k for k, _s, _d in needed}
            attrs = unit.key_attrs
            source = report.old_items[unit_name] if unit_name in report.old_items \
                else observations.get(fields[unit_name])
            for chunk in _chunks(source):
                bases = [tuple([item.get(a) for a in attrs]) for item in chunk] \
                    if len(attrs) < 2 else list(map(_safe_getter(attrs), chunk))
                hits = list(compress(chunk, map(wanted_keys.__contains__, bases)))
                if not hits:
                    continue
                keys, digests, _seen = unit.scan(hits)
                items = [item for item in hits if item.get(unit.slot_attr)]
                for item, key, digest in zip(items, keys, digests):
                    wanted = (key[:-1], unit.slots.number(key[-1]), digest)
                    if wanted in needed:
                        found[(side, unit_name) + wanted] = dict(unit.values(item))
    return found


def _safe_getter(attrs):
    """item -> tuple of the attributes (missing ones None), C-level when all are there."""
    if len(attrs) == 1:
        only = attrs[0]
        return lambda item: (item.get(only),)
    getter = itemgetter(*attrs)

    def get(item):
        try:
            return getter(item)
        except KeyError:
            return tuple([item.get(a) for a in attrs])
    return get


def _finish(report: _Report, found: dict) -> dict:
    config, slots = report.config, report.slots
    report.tally()
    entries = []
    for how, unit_name, key, unit_slots, extra in report.discrepancies:
        unit = report.units[unit_name]
        slot = min(unit_slots)
        base = {"slot": slots.iso(slot), "unit": unit_name, "key": unit.key_dict(key)}
        if unit_name == "telegram":
            base["key"] = {}
        if how == "unpaired":
            side, count_old, count_new, digest = extra
            values = found.get((side, unit_name, key, slot, digest), {})
            if count_old and count_new and count_old != count_new:
                entries.append(dict(base, kind="count_differs", field=None,
                                    old=count_old, new=count_new,
                                    **{f"{side}_values": values}))
            else:
                kind = "missing_on_new" if side == "old" else "missing_on_old"
                entries.append(dict(base, kind=kind, field=None,
                                    old=values if side == "old" else None,
                                    new=values if side == "new" else None))
            continue
        old_values = found.get(("old", unit_name, key, unit_slots[0], extra[0]), {})
        new_values = found.get(("new", unit_name, key, unit_slots[1], extra[1]), {})
        if unit_slots[0] != unit_slots[1]:
            base["slots"] = {"old": slots.iso(unit_slots[0]), "new": slots.iso(unit_slots[1])}
        differing = [f for f in sorted(set(old_values) | set(new_values), key=str)
                     if repr(old_values.get(f, _ABSENT)) != repr(new_values.get(f, _ABSENT))]
        for field in differing or [None]:
            old_value, new_value = old_values.get(field, _ABSENT), new_values.get(field, _ABSENT)
            if field in unit.text and isinstance(old_value, str) and isinstance(new_value, str):
                entries.append(dict(base, kind="text_differs", field=field, old=old_value,
                                    new=new_value, **text_difference(
                                        old_value, new_value, config["snippet_chars"])))
            else:
                entries.append(dict(base, kind="field_differs", field=field,
                                    old=old_value, new=new_value))
    for entry in entries:
        row = report.row(slots.number(entry["slot"]))
        row["discrepancies"] += 1
        row["discrepancies_by_kind"][entry["kind"]] += 1
    entries.sort(key=lambda e: (e["slot"], e["unit"], repr(sorted(e["key"].items())),
                                str(e["field"]), e["kind"]))
    late = sorted(({"slot": slots.iso(s), "unit": u, "key": report.units[u].key_dict(k)
                    if u != "telegram" else {},
                    "slots": {"old": slots.iso(ss[0]), "new": slots.iso(ss[1])}}
                   for s, u, k, ss in report.late
                   if ss[0] is not None and len(ss) == 2),
                  key=lambda e: (e["slot"], e["unit"], repr(sorted(e["key"].items()))))
    cap = config["evidence_cap"]
    per_slot = {}
    total = _empty_total()
    lo, hi = report.bounds
    numbers = set(report.per_slot)
    if lo is not None and hi is not None:
        numbers |= set(range(lo, hi + 1))
    for number in sorted(numbers):
        row = report.row(number)
        row["match_percentage"] = _percentage(row["matched"], row["discrepancies"])
        row["executions_compared"] = 1 if (row["telegram_sent"]["old"] or row["sms_sent"]["old"][
            "total"]) and (row["telegram_sent"]["new"] or row["sms_sent"]["new"]["total"]) else 0
        per_slot[slots.iso(number)] = row
        _add(total, row)
    total["match_percentage"] = _percentage(total["matched"], total["discrepancies"])
    return {
        "settle_slots": config["settle_slots"],
        "slot_minutes": config["slot_minutes"],
        "start": slots.iso(lo) if lo is not None else (min(per_slot) if per_slot else None),
        "end": slots.iso(hi) if hi is not None else (max(per_slot) if per_slot else None),
        "slots": per_slot,
        "total": total,
        "evidence": entries[:cap],
        "evidence_truncated": max(0, len(entries) - cap),
        "late": late[:cap],
        "late_truncated": max(0, len(late) - cap),
    }


def _empty_counts() -> dict:
    """The counters of one slot (and, with executions_compared, of the total)."""
    return {
        "sms_sent": {side: dict.fromkeys(("total",) + SMS_TYPES, 0) for side in SIDES},
        "sms_delivered": dict.fromkeys(SIDES, 0),
        "telegram_sent": dict.fromkeys(SIDES, 0),
        "telegram_delivered": dict.fromkeys(SIDES, 0),
        "records_created": dict.fromkeys(SIDES, 0),
        "records_updated": dict.fromkeys(SIDES, 0),
        "matched": 0, "late": 0, "discrepancies": 0,
        "discrepancies_by_kind": dict.fromkeys(KINDS, 0),
    }


def _empty_total() -> dict:
    return dict(_empty_counts(), executions_compared=0)


def _add(total: dict, row: dict) -> None:
    for name, value in row.items():
        if name == "match_percentage":
            continue
        if isinstance(value, dict):
            for sub, inner in value.items():
                if isinstance(inner, dict):
                    for k, v in inner.items():
                        total[name][sub][k] = total[name][sub].get(k, 0) + v
                else:
                    total[name][sub] = total[name].get(sub, 0) + inner
        else:
            total[name] += value


def _percentage(matched: int, discrepancies: int) -> float:
    if matched + discrepancies == 0:
        return 100.0
    return round(matched * 100.0 / (matched + discrepancies), 4)
