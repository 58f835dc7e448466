"""Compare what the old and the new function did, slot by slot (pure: no boto3, no Ansible).

Data in, report out (the yamllint ``run(input, conf)`` shape): ``compare(old, new, config,
start=, end=)`` takes the observations of each side and returns a plain dict.

Observations of one side (``{"records": ..., "sms": ..., "telegram": ...}``), each an iterable
that can be iterated twice (a list, or a zero-argument callable returning a fresh iterator):

- ``sms``: ``{"event": "sms", "slot": "<ISO slot start UTC>", "sms_type": "confirm|guide|event",
  "booking_num", "phone", "store_id", "content", "delivered"}``;
- ``telegram``: ``{"event": "telegram", "slot", "text", "delivered"}``;
- ``records``: DynamoDB items as plain dicts, keyed by the configured key attributes.

Log lines become these events in ``compare_formats`` (``parse_log_event``); records are tied to
a slot by ``compare_snapshot``; the result is built by ``compare_report``; the settings are
``compare_config``'s; ``compare_plan`` / ``compare_aws`` are what ``output_compare`` runs.

How a record is tied to a slot: see ``compare_snapshot``. A re-check of an old slot compares SMS
and Telegram fully, records only where that slot is still the last one that changed them.

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

Shadow leaks: with ``new_mode: shadow`` every SMS the new side logged as delivered is a
``shadow_leak`` discrepancy of its slot (never a plain match) and an entry of ``shadow_leaks``.

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

from collections import Counter
from itertools import chain, compress, islice, repeat
from operator import eq, is_not, itemgetter, not_

from .compare_config import CompareConfigError, ready
from .compare_report import ABSENT, Differs, Late, Matched, Report, Unpaired, finish
from .compare_snapshot import canon, iterate, safe_getter
from .schedule import Slots

_MARK = object()  # an old unit already paired on the spot
_CHUNK = 16384


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
            values = tuple([(f, item.get(f, ABSENT)) for f in self.compare])
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
            return tuple([canon(v) for _f, v in values])
        return tuple([(f, canon(v)) for f, v in values])

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
    iterator = iterate(source)
    while True:
        chunk = list(islice(iterator, _CHUNK))
        if not chunk:
            return
        yield chunk


def compare(old: dict, new: dict, config: dict | None = None, start=None, end=None) -> dict:
    """Compare two sides' observations; report the slots ``start..end`` (ISO, inclusive).

    Without ``start``/``end`` every slot observed is reported.
    """
    config = ready(config)
    slots = Slots(config["slot_minutes"])
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
    lo = _number(slots, start) if start is not None else None
    hi = _number(slots, end) if end is not None else None
    if lo is not None and hi is not None and hi < lo:
        raise CompareConfigError(f"end {end!r} is before start {start!r}")
    report = Report(config, slots, (lo, hi))

    late_slots: set = set()
    telegram_outcomes = []
    for name in ("record", "sms", "telegram"):
        unit = kinds[name]
        report.units[name] = unit
        field = sources[name]
        tolerance = 0 if name == "telegram" else settle
        outcomes = _compare_units(unit, old.get(field), new.get(field), tolerance, report)
        for outcome in outcomes:
            if isinstance(outcome, Late):
                late_slots.update(outcome.slots)
        if name == "telegram":
            telegram_outcomes = outcomes
        else:
            report.add_outcomes(unit, outcomes)
    # a Telegram summary that differs in a slot touched by a late unit counts what that run sent
    settled = []
    for outcome in telegram_outcomes:
        if isinstance(outcome, Differs) and outcome.old_slot in late_slots:
            settled.append(Late(outcome.key, outcome.old_slot, outcome.new_slot))
        else:
            settled.append(outcome)
    report.add_outcomes(kinds["telegram"], settled)
    if config["new_mode"] == "shadow":
        report.add_leaks(_delivered(kinds["sms"], new.get("sms")))
    return finish(report, _fetch_values(report, old))


def _number(slots, value) -> int:
    try:
        return slots.number(value)
    except ValueError as exc:
        raise CompareConfigError(str(exc)) from None


def _delivered(unit, source) -> list:
    """The new side's SMS marked delivered: ``(key, slot number, item)`` each (a shadow leak)."""
    found = []
    for chunk in _chunks(source):
        hits = [item for item in chunk if item.get("delivered") is True and item.get(unit.slot_attr)]
        if hits:
            keys, _digests, _seen = unit.scan(hits)
            found.extend((key[:-1], unit.slots.number(key[-1]), item) for key, item in zip(keys, hits))
    return found


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
        return _pair_keyed(unit, old_source, new_source, tolerance, report)
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
    outcomes = _pair_keyed(unit, subset["old"], subset["new"], tolerance, report)
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


def _pair_keyed(unit: _UnitKind, old_source, new_source, tolerance: int, report) -> list:
    """Pair the units of both sides; return the outcomes that did not match on the spot.

    The old side becomes ``{(*key, slot): digest}``; the new side is streamed against it: a new
    unit equal to the old unit of its key and slot matches on the spot (its entry becomes
    ``_MARK``), anything else is kept for ``_resolve``.
    Outcomes: ``compare_report``'s named types (slots as numbers, keys without the slot). The
    items were counted by ``_pair_units`` already.
    """
    store: dict = {}
    extra_old = []  # further occurrences of one key in one slot on the old side
    for chunk in _chunks(old_source):
        keys, digests, _seen = unit.scan(chunk)
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
        keys, digests, _seen = unit.scan(chunk)
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
                outcomes.append(Matched(key, slot))
            else:
                outcomes.append(Differs(key, slot, slot, o_digest, digest))
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
                outcomes.append(Late(key, o_slot, n_slot))
            else:
                outcomes.append(Differs(key, o_slot, n_slot, o_digest, n_digest))
        old_free = [o for i, o in enumerate(old_free) if i not in used_old]
        new_free = [n for j, n in enumerate(new_free) if j not in used_new]
    for side, free in (("old", old_free), ("new", new_free)):
        for slot, digest in free:
            outcomes.append(Unpaired(key, slot, side, count_old, count_new, digest))
    return outcomes


def _fetch_values(report: Report, old: dict) -> dict:
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
                    if len(attrs) < 2 else list(map(safe_getter(attrs), chunk))
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
