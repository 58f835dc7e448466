"""The customer-side invariant: each booking gets each SMS type exactly once, on time.

Reads what SENS delivered (the recorder) and what the bookings source says
was owed over the simulated period [world start, clock now], and reports per
booking and SMS type:

* ``missing``: owed, its window closed, never delivered;
* ``twice``: delivered more than once (by one function or by both);
* ``late``: delivered outside its window (or never owed, e.g. cancelled);
* ``shadow``: delivered by a run whose target input said ``{"mode": "shadow"}``.

Windows (UTC): confirm from arrival to one slot plus ``max(60 s, 2 x jitter)``
later (a booking landing between the old and the new run is seen one slot
later); guide in the 2 h before the booking time (from arrival if it came
later); event in the 20:00 KST slot of the booking's day.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Dict, List, Optional, Tuple

from rehearsal.bookings import Booking, BookingSource
from rehearsal.config import Config
from rehearsal.recorders import Recorders

KINDS = ("missing", "twice", "late", "shadow")


@dataclass
class Report:
    period: Tuple[str, str]
    owed: int = 0
    delivered: int = 0
    violations: List[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> Dict[str, int]:
        out = {kind: 0 for kind in KINDS}
        for v in self.violations:
            out[v["kind"]] += 1
        return out

    def summary(self) -> str:
        verdict = "OK" if self.ok else "VIOLATED"
        counts = ", ".join(f"{k} {n}" for k, n in self.counts().items())
        return (f"invariant {verdict} over {self.period[0]} .. {self.period[1]}: "
                f"{self.delivered} SMS delivered, {self.owed} owed and due; {counts}")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def windows(booking: Booking, slot: timedelta, confirm_grace: timedelta) -> Dict[str, Optional[Tuple[datetime, datetime]]]:
    """The delivery window [open, close) of each SMS type owed to a booking (None: not owed)."""
    owed_guide = booking.cancelled_at is None
    event_run = booking.event_run()
    return {
        "confirm": (booking.created_at, booking.created_at + slot + confirm_grace),
        "guide": booking.guide_window() if owed_guide else None,
        "event": (event_run, event_run + slot) if owed_guide and booking.has_event_option else None,
    }


def check(world_start: datetime, now: datetime, seed: int, sens: List[dict],
          slot_minutes: int = 20, jitter_s: float = 8.0) -> Report:
    """Pure: compare delivered SMS with what the bookings of (seed, period) owed."""
    slot = timedelta(minutes=slot_minutes)
    grace = timedelta(seconds=max(60.0, 2 * jitter_s))
    report = Report((world_start.isoformat(), now.isoformat()))
    bookings = {b.booking_num: b for b in BookingSource(seed, world_start).all_until(now)}
    delivered: Dict[Tuple[str, str, str], List[dict]] = defaultdict(list)
    for record in sens:
        delivered[(record["booking_num"], record["phone"], record["sms_type"])].append(record)
        report.delivered += 1
        if record.get("input_mode") == "shadow":
            report.violations.append(dict(kind="shadow", booking_num=record["booking_num"], phone=record["phone"],
                                          sms_type=record["sms_type"], detail=f"sent by {record['function']} "
                                          f"in slot {record['slot']} while its target input said shadow"))
    for booking in bookings.values():
        for sms_type, window in windows(booking, slot, grace).items():
            if window is None or window[1] > now:
                continue
            report.owed += 1
            if not delivered.get((booking.booking_num, booking.phone, sms_type)):
                report.violations.append(dict(kind="missing", booking_num=booking.booking_num, phone=booking.phone,
                                              sms_type=sms_type, detail=f"owed between {window[0]:%Y-%m-%dT%H:%M:%SZ} "
                                              f"and {window[1]:%Y-%m-%dT%H:%M:%SZ}, never sent"))
    for (booking_num, phone, sms_type), records in sorted(delivered.items()):
        if len(records) > 1:
            report.violations.append(dict(kind="twice", booking_num=booking_num, phone=phone, sms_type=sms_type,
                                          detail=f"sent {len(records)} times: " + ", ".join(
                                              f"{r['function']}@{r['sent_at']}" for r in records)))
        booking = bookings.get(booking_num)
        window = windows(booking, slot, grace)[sms_type] if booking else None
        for r in records:
            sent_at = _parse(r["sent_at"])
            if window is None or not window[0] <= sent_at < window[1]:
                why = "not owed" if window is None else (
                    f"window {window[0]:%Y-%m-%dT%H:%M:%SZ} .. {window[1]:%Y-%m-%dT%H:%M:%SZ}")
                report.violations.append(dict(kind="late", booking_num=booking_num, phone=phone, sms_type=sms_type,
                                              detail=f"sent by {r['function']} at {r['sent_at']}, {why}"))
    return report


def check_world(cfg: Optional[Config] = None) -> Report:
    """The invariant over the world recorded in cfg.directory (clock and SENS recorder)."""
    from rehearsal.scheduler import Scheduler

    cfg = cfg or Config()
    state = Scheduler(cfg).load()
    if state is None:
        raise FileNotFoundError(f"no rehearsal clock in {cfg.directory}: run `python -m rehearsal run` first")
    return check(_parse(state["world_start"]), _parse(state["now"]), state["seed"],
                 Recorders(cfg.directory).sens.all(), cfg.slot_minutes, cfg.jitter_s)
