"""Carry the de-duplication state back: merge items of ``sms_v2`` into ``sms`` (pure rules).

Pure: no boto3, botocore or Ansible import. Items are DynamoDB JSON
(``{"confirm_sms": {"BOOL": True}, ...}``), as scans return them.

Rules (``merge``):

* the SMS flags (``confirm_sms``, ``remind_sms``, ``option_sms``) are OR-ed: a
  flag set on either side is set on the result, a flag is never cleared;
* an item missing from the target is created, with only the attributes the
  old function knows (``OLD_ATTRIBUTES``); nothing is ever deleted;
* an item present in the target keeps every attribute it has (also ones the
  old function does not know); of the known ones, only flags that turn true
  are written, and ``name``/``booking_time``/``option_time`` are filled only
  where the target lacks them (``option_time`` travels with ``option_sms``);
* an item whose flags already cover the source's is not written at all, so a
  rerun writes nothing.

Rules (``align``, the cutover): the target's SMS flags become exactly the source's (set where the source has
them, cleared where only the target has them); nothing else of a target item changes; see ``align``.

There is no "changed since" timestamp in either table; reconciling everything
is the safe default and costs only reads: an item already covered is not
written, so the writes are exactly the items whose flags differ.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, Iterable, Optional, Tuple

from .switch import parse_time

KEYS = ("booking_num", "phone")
FLAGS = ("confirm_sms", "remind_sms", "option_sms")
DETAILS = ("name", "booking_time", "option_time")
OLD_ATTRIBUTES = KEYS + FLAGS + DETAILS
TRUE = {"BOOL": True}


def flag(value: Optional[dict]) -> bool:
    """A flag's truth as the old function reads it (BOOL, a number, or a yes-like string)."""
    if not value:
        return False
    if "BOOL" in value:
        return bool(value["BOOL"])
    if "N" in value:
        try:
            return float(value["N"]) != 0
        except ValueError:
            return False
    if "S" in value:
        return value["S"].strip().lower() in ("true", "1", "y", "yes", "sent")
    return False


def key_of(item: dict) -> Tuple[str, str]:
    return tuple(item[k]["S"] for k in KEYS)  # type: ignore[return-value]


@dataclass(frozen=True)
class Merge:
    item: dict  # the whole item to put into the target
    created: bool
    flags_set: Tuple[str, ...]


def merge(source: dict, target: Optional[dict]) -> Optional[Merge]:
    """The target item after merging ``source`` into it; None when nothing would change."""
    if target is None:
        item = {k: v for k, v in source.items() if k in OLD_ATTRIBUTES}
        for name in FLAGS:
            item[name] = {"BOOL": flag(source.get(name))}
        return Merge(item, True, tuple(n for n in FLAGS if item[n]["BOOL"]))
    turned = tuple(n for n in FLAGS if flag(source.get(n)) and not flag(target.get(n)))
    if not turned:
        return None
    item = dict(target)
    for name in turned:
        item[name] = TRUE
    for name in DETAILS:
        if name not in item and name in source and (name != "option_time" or "option_sms" in turned):
            item[name] = source[name]
    return Merge(item, False, turned)


@dataclass
class Tally:
    source_items: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    flags_set: Dict[str, int] = field(default_factory=lambda: {n: 0 for n in FLAGS})

    def count(self, result: Optional[Merge]) -> None:
        self.source_items += 1
        self.tally(result)

    def tally(self, result) -> None:
        """One planned write (a Merge or an Align; None = unchanged) into the counts."""
        if result is None:
            self.unchanged += 1
            return
        if result.created:
            self.created += 1
        else:
            self.updated += 1
        for name in result.flags_set:
            self.flags_set[name] += 1

    @property
    def writes(self) -> int:
        return self.created + self.updated

    def as_dict(self) -> dict:
        return {"source_items": self.source_items, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "writes": self.writes, "flags_set": dict(self.flags_set)}


def plan(sources: Iterable[dict], targets: Dict[Tuple[str, str], dict]) -> Tuple[list, Tally]:
    """(items to put, tally) for every source item against the target items by key."""
    tally, puts = Tally(), []
    for source in sources:
        result = merge(source, targets.get(key_of(source)))
        tally.count(result)
        if result is not None:
            puts.append(result.item)
    return puts, tally


def differences(table_items: Iterable[dict], reference_items: Iterable[dict]) -> list:
    """Bookings whose SMS flags in ``table_items`` disagree with ``reference_items`` (rollback scenario 3).

    The reference is the trusted reconstruction (the pre-cutover backup with what the new function
    recorded since reconciled into it). Per booking and flag:

    * ``no_evidence``: set in the table, not in the reference - the job will not send it, and nothing
      shows it was sent: the SMS may have been missed (replay it by hand);
    * ``not_in_table``: set in the reference, clear or absent in the table - the job may send it again.

    Sorted by key; one dict per booking: ``booking_num``, ``phone``, ``no_evidence``, ``not_in_table``.
    """
    table = {key_of(item): item for item in table_items}
    reference = {key_of(item): item for item in reference_items}
    out = []
    for key in sorted(set(table) | set(reference)):
        mine, theirs = table.get(key, {}), reference.get(key, {})
        no_evidence = [f for f in FLAGS if flag(mine.get(f)) and not flag(theirs.get(f))]
        not_in_table = [f for f in FLAGS if flag(theirs.get(f)) and not flag(mine.get(f))]
        if no_evidence or not_in_table:
            out.append({"booking_num": key[0], "phone": key[1], "no_evidence": no_evidence,
                        "not_in_table": not_in_table})
    return out


# ------------------------------------------------------------ align (cutover): the target mirrors the source


@dataclass(frozen=True)
class Align:
    """One conditional write that makes the target's SMS flags those of the source.

    ``values``: attributes to SET (the flags that change, as ``{"BOOL": ...}``; for a created item also the keys'
    companions the old function knows); ``expected``: per changed flag, its value in the target as read (None:
    absent) - the write's condition, so a writer that changed it since the read is detected.
    """

    key: Tuple[str, str]
    created: bool
    values: Dict[str, dict]
    expected: Dict[str, Optional[dict]]
    flags_set: Tuple[str, ...]
    flags_cleared: Tuple[str, ...]


def align(source: Optional[dict], target: Optional[dict]) -> Optional[Align]:
    """The write making ``target``'s SMS flags exactly ``source``'s (their truth); None when they already are.

    Only the flags are written: every other attribute of the target stays. An item only in the source is created
    (the attributes the old function knows, flags as in the source, only if one is set); an item only in the target
    keeps everything but has its set flags cleared (``{"BOOL": False}``, which the job reads as not sent).
    """
    if source is None and target is None:
        raise ValueError("align needs an item on at least one side")
    key = key_of(source if source is not None else target)  # type: ignore[arg-type]
    want = {name: flag((source or {}).get(name)) for name in FLAGS}
    if target is None:
        if not any(want.values()):
            return None  # nothing sent: the job treats a missing item as nothing sent
        values = {k: v for k, v in source.items() if k in OLD_ATTRIBUTES and k not in KEYS}  # type: ignore[union-attr]
        values.update({name: {"BOOL": want[name]} for name in FLAGS})
        return Align(key, True, values, {}, tuple(n for n in FLAGS if want[n]), ())
    turned_on = tuple(n for n in FLAGS if want[n] and not flag(target.get(n)))
    turned_off = tuple(n for n in FLAGS if not want[n] and flag(target.get(n)))
    if not turned_on and not turned_off:
        return None
    changed = turned_on + turned_off
    return Align(key, False, {n: {"BOOL": want[n]} for n in changed}, {n: target.get(n) for n in changed},
                 turned_on, turned_off)


@dataclass
class AlignTally(Tally):
    """Tally's counts for an alignment, plus the target's items and the flags cleared (``source_items`` and
    ``target_items`` are set up front, from both tables)."""
    target_items: int = 0
    flags_cleared: Dict[str, int] = field(default_factory=lambda: {n: 0 for n in FLAGS})

    def count(self, result: Optional[Align]) -> None:
        self.tally(result)
        for name in (result.flags_cleared if result else ()):
            self.flags_cleared[name] += 1

    def as_dict(self) -> dict:
        return dict(super().as_dict(), target_items=self.target_items, set=sum(self.flags_set.values()),
                    cleared=sum(self.flags_cleared.values()), flags_cleared=dict(self.flags_cleared))


def plan_align(sources: Iterable[dict], targets: Iterable[dict]) -> Tuple[list, AlignTally]:
    """(writes sorted by key, tally): every booking of either side, the target's flags made the source's."""
    by_source = {key_of(item): item for item in sources}
    by_target = {key_of(item): item for item in targets}
    tally = AlignTally(source_items=len(by_source), target_items=len(by_target))
    writes = []
    for key in sorted(set(by_source) | set(by_target)):
        result = align(by_source.get(key), by_target.get(key))
        tally.count(result)
        if result is not None:
            writes.append(result)
    return writes, tally


def align_budget(quiet: dict, since: datetime, now: datetime, safety: float) -> float:
    """Real seconds left for the alignment inside the switch's quiet window.

    ``quiet``: schedule_switch's reading at the switch (``at`` and ``next_fire`` on the clock it used, which may be
    injected); ``since``/``now``: the switch's last write and the present, both on the real clock. The window left
    is ``next_fire - at`` minus what has passed since the switch, minus ``safety`` (EventBridge may fire early by
    nothing, but the writes must be done and the next run must not start on a half-aligned table).
    """
    if not quiet.get("at") or not quiet.get("next_fire"):
        raise ValueError("the quiet reading has no 'at' or 'next_fire': pass schedule_switch's 'quiet' result")
    at, fire = parse_time(quiet["at"]), parse_time(quiet["next_fire"])
    return (fire - at).total_seconds() - (now - since).total_seconds() - safety
