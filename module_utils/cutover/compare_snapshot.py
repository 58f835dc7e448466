"""Table snapshots: tie each record to the slot that last changed it (pure).

A table holds only the current state and neither function writes a timestamp into it, so a
record belongs to the slot that last changed it: ``records.slot_attribute`` (default
``updated_slot``, ISO slot start) and, if that slot created it, ``records.created_attribute``
(``created_slot``). ``output_compare`` fills both from a snapshot of each table kept between
its runs (``tag_records_from_snapshot``): a record new or changed since the previous run is
tagged with the latest slot that had run when the table was read. So the comparison must
read the tables once per slot (it runs every 20 minutes), the first run only takes the
baseline, and a late write shows up in the slot in which it landed. Records already carrying
the attributes (a handler that writes them) are taken as they are; untagged records are
outside the comparison.
"""
from __future__ import annotations

import hashlib
from itertools import chain
from operator import itemgetter

from .compare_config import CompareConfigError, ready
from .schedule import slot


def _slot(value, minutes):
    try:
        return slot(value, minutes)
    except ValueError as exc:
        raise CompareConfigError(str(exc)) from None


def iterate(source):
    if source is None:
        return iter(())
    if callable(source):
        return iter(source())
    return iter(source)


def canon(value):
    if isinstance(value, (set, frozenset)):
        return tuple(sorted((canon(v) for v in value), key=repr))
    if isinstance(value, dict):
        return tuple(sorted((k, canon(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(canon(v) for v in value)
    return value


def safe_getter(attrs):
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


_PLAIN = {str, bool, int, float, type(None)}


def _digests(rows: list) -> list:
    """Stable digests (the same in every process) of tuples of plain values."""
    if not set(map(type, chain.from_iterable(rows))) <= _PLAIN:
        rows = [tuple(canon(v) for v in row) for row in rows]
    blake = hashlib.blake2b
    return [blake(text.encode("utf-8"), digest_size=10).hexdigest() for text in map(repr, rows)]


def record_digests(records: list, config: dict) -> list:
    """A digest of each record's compared attributes that is the same in every process."""
    rules = config["records"]
    if rules.get("compare"):
        fields = list(rules["compare"])
        getter = safe_getter(fields)
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
    config = ready(config)
    rules = config["records"]
    slot_attr, created_attr = rules["slot_attribute"], rules["created_attribute"]
    observed = _slot(observed_slot, config["slot_minutes"])
    records = list(iterate(records))
    keys = list(map("\x1f".join, (map(str, key) for key in map(safe_getter(rules["key"]), records))))
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
