"""The comparison's outcomes and its report (pure).

Outcomes of pairing one key's units (slots as numbers, keys without the slot), one named type
per kind: ``Matched``, ``Late``, ``Differs`` (the two digests, so the values can be read again)
and ``Unpaired`` (one side's unit left alone, with both sides' counts of the key).
``Report`` counts them by slot; ``finish`` turns it into the plain-dict result.

``match_percentage`` = matched / (matched + discrepancies) x 100, 100 when there is nothing to
compare. Counts are never capped; the evidence list is (``evidence_cap``), sorted by slot,
unit, key, field so the output is deterministic.
"""
from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from .compare_config import KINDS, SIDES, SMS_TYPES

ABSENT = "<absent>"


def _one_slot(outcome) -> tuple:
    return (outcome.slot,)


def _two_slots(outcome) -> tuple:
    return (outcome.old_slot, outcome.new_slot)


class Matched(NamedTuple):
    """Equal units of one key in the same slot."""
    key: tuple
    slot: int
    slots = property(_one_slot)
    first = property(lambda self: self.slot)


class Late(NamedTuple):
    """Equal units of one key, paired across slots within the settle window."""
    key: tuple
    old_slot: int
    new_slot: int
    slots = property(_two_slots)
    first = property(lambda self: min(_two_slots(self)))


class Differs(NamedTuple):
    """Paired units whose compared values differ (their digests name the values to read again)."""
    key: tuple
    old_slot: int
    new_slot: int
    old_digest: object
    new_digest: object
    slots = property(_two_slots)
    first = property(lambda self: min(_two_slots(self)))


class Unpaired(NamedTuple):
    """A unit of ``side`` with no partner; ``count_old``/``count_new``: the key's units per side."""
    key: tuple
    slot: int
    side: str
    count_old: int
    count_new: int
    digest: object
    slots = property(_one_slot)
    first = property(lambda self: self.slot)


def mask_phone(phone) -> str:
    """``01012345678`` -> ``010****5678``: enough to find the booking, not to call the customer."""
    text = "" if phone is None else str(phone)
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def shadow_leak(slot: str, key: dict, item: dict) -> dict:
    """One entry of ``shadow_leaks``: slot, booking, SMS type and the masked phone (no text)."""
    return {"slot": slot, "booking_num": key.get("booking_num", item.get("booking_num")),
            "sms_type": key.get("sms_type", item.get("sms_type")),
            "phone": mask_phone(key.get("phone", item.get("phone")))}


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


class Report:
    """Counters by slot and the discrepancies; builds the plain-dict result."""

    def __init__(self, config, slots, bounds=(None, None)):
        self.config = config
        self.slots = slots
        self.bounds = bounds
        self.per_slot: dict = {}
        self.discrepancies: list = []  # (unit name, Differs | Unpaired)
        self.late: list = []  # (unit name, Late)
        self.needs = {"old": {}, "new": {}}  # unit -> {(key, slot, digest)}
        self.units: dict = {}
        self.seen: dict = {}  # (unit, side) -> Counter((slot, *observed attributes))
        self.values: dict = {}  # (side, unit, key, slot, digest) -> compared values
        self.pending_matches: dict = {}  # unit -> Counter(slot) of units matched on the spot
        self.old_items: dict = {}  # unit -> the old items of the keys that differ
        self.leaks: list = []  # (key, slot number, new item) of SMS delivered in shadow

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

    def add_outcomes(self, unit, outcomes) -> None:
        for outcome in outcomes:
            slot = outcome.first
            if not self.in_range(slot):
                continue
            row = self.row(slot)
            if isinstance(outcome, Matched):
                row["matched"] += 1
            elif isinstance(outcome, Late):
                row["late"] += 1
                self.late.append((unit.name, outcome))
            elif isinstance(outcome, Differs):
                # field-level detail needs the values: second pass
                self.needs["old"].setdefault(unit.name, set()).add((outcome.key, outcome.old_slot, outcome.old_digest))
                self.needs["new"].setdefault(unit.name, set()).add((outcome.key, outcome.new_slot, outcome.new_digest))
                self.discrepancies.append((unit.name, outcome))
            else:
                self.needs[outcome.side].setdefault(unit.name, set()).add((outcome.key, outcome.slot, outcome.digest))
                self.discrepancies.append((unit.name, outcome))

    def add_leaks(self, leaks: list) -> None:
        """SMS the new side delivered in shadow (``(key, slot number, item)``): one shadow_leak each.

        A leaked SMS is never a plain match: one that matched the old side on the spot leaves
        the matched count of its slot (one that differs stays that discrepancy as well).
        """
        elsewhere = {(outcome.key, s) for name, outcome in self.discrepancies + self.late if name == "sms"
                     for s in outcome.slots}
        for key, slot, item in leaks:
            if not self.in_range(slot):
                continue
            row = self.row(slot)
            if (key, slot) not in elsewhere:
                row["matched"] -= 1
            self.leaks.append((key, slot, item))


def finish(report: Report, found: dict) -> dict:
    """The plain-dict result: per-slot rows, total, capped evidence and late lists, leaks."""
    config, slots = report.config, report.slots
    report.tally()
    entries = []
    for unit_name, outcome in report.discrepancies:
        unit = report.units[unit_name]
        key = outcome.key
        base = {"slot": slots.iso(outcome.first), "unit": unit_name,
                "key": {} if unit_name == "telegram" else unit.key_dict(key)}
        if isinstance(outcome, Unpaired):
            side, count_old, count_new = outcome.side, outcome.count_old, outcome.count_new
            values = found.get((side, unit_name, key, outcome.slot, outcome.digest), {})
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
        old_values = found.get(("old", unit_name, key, outcome.old_slot, outcome.old_digest), {})
        new_values = found.get(("new", unit_name, key, outcome.new_slot, outcome.new_digest), {})
        if outcome.old_slot != outcome.new_slot:
            base["slots"] = {"old": slots.iso(outcome.old_slot), "new": slots.iso(outcome.new_slot)}
        differing = [f for f in sorted(set(old_values) | set(new_values), key=str)
                     if repr(old_values.get(f, ABSENT)) != repr(new_values.get(f, ABSENT))]
        for field in differing or [None]:
            old_value, new_value = old_values.get(field, ABSENT), new_values.get(field, ABSENT)
            if field in unit.text and isinstance(old_value, str) and isinstance(new_value, str):
                entries.append(dict(base, kind="text_differs", field=field, old=old_value,
                                    new=new_value, **text_difference(
                                        old_value, new_value, config["snippet_chars"])))
            else:
                entries.append(dict(base, kind="field_differs", field=field,
                                    old=old_value, new=new_value))
    leaks = []
    for key, number, item in report.leaks:
        detail = shadow_leak(slots.iso(number), report.units["sms"].key_dict(key), item)
        leaks.append(detail)
        report.row(number)["shadow_leaks"] += 1
        entries.append({"slot": detail["slot"], "unit": "sms", "key": report.units["sms"].key_dict(key),
                        "kind": "shadow_leak", "field": "delivered", "old": None, "new": True})
    leaks.sort(key=lambda e: (e["slot"], e["sms_type"], e["booking_num"], e["phone"]))
    for entry in entries:
        row = report.row(slots.number(entry["slot"]))
        row["discrepancies"] += 1
        row["discrepancies_by_kind"][entry["kind"]] += 1
    entries.sort(key=lambda e: (e["slot"], e["unit"], repr(sorted(e["key"].items())),
                                str(e["field"]), e["kind"]))
    late = sorted(({"slot": slots.iso(outcome.first), "unit": name,
                    "key": report.units[name].key_dict(outcome.key) if name != "telegram" else {},
                    "slots": {"old": slots.iso(outcome.old_slot), "new": slots.iso(outcome.new_slot)}}
                   for name, outcome in report.late),
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
        "shadow_leaks": leaks,
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
        "matched": 0, "late": 0, "discrepancies": 0, "shadow_leaks": 0,
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
