"""Pure parts of the rehearsal world: the bookings generator and the invariant checker."""
from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone

import pytest

from rehearsal.bookings import KST, STORES, BookingSource, render
from rehearsal.invariants import check, windows

UTC = timezone.utc
DAY = datetime(2026, 11, 18, tzinfo=UTC)
SLOT = timedelta(minutes=20)
GRACE = timedelta(seconds=60)


def day_of_bookings(seed=1):
    return BookingSource(seed, DAY).all_until(DAY + timedelta(days=1))


def test_bookings_are_deterministic_per_seed_and_differ_between_seeds():
    assert day_of_bookings(1) == day_of_bookings(1)
    assert day_of_bookings(1) != day_of_bookings(2)


def test_a_day_of_bookings_looks_like_the_real_world():
    bookings = day_of_bookings()
    assert len(bookings) >= 200
    assert {b.store_id for b in bookings} == {s.store_id for s in STORES}
    assert all(b.booking_num.startswith(f"{b.store_id}_") for b in bookings)
    assert len({b.booking_num for b in bookings}) == len(bookings)
    assert all("가" <= b.name[0] <= "힣" for b in bookings)  # Korean names
    assert any(b.cancelled_at for b in bookings)
    assert any(b.has_event_option for b in bookings)
    assert any(b.booking_time.date() > b.created_at.date() + timedelta(days=1) for b in bookings)  # days ahead
    # some arrive in the first seconds of a slot: between the old and the new run of that slot
    assert any(b.created_at.minute % 20 == 0 and b.created_at.second < 8 for b in bookings)
    for b in bookings:
        assert b.booking_time >= b.created_at + timedelta(hours=1)
        assert 10 <= b.booking_time.astimezone(KST).hour < 20
        if b.cancelled_at:
            assert b.created_at + timedelta(hours=1) <= b.cancelled_at <= b.booking_time - timedelta(hours=3)


def test_render_uses_the_store_template_in_korean_nfc():
    b = day_of_bookings()[0]
    text = render(b, "confirm")
    assert b.name in text and b.store.name in text and "확정" in text
    assert unicodedata.is_normalized("NFC", text)


def perfect_deliveries(now, seed=1):
    """What a flawless live side delivers for the bookings of [DAY, now]."""
    out = []
    for b in BookingSource(seed, DAY).all_until(now):
        for sms_type, window in windows(b, SLOT, GRACE).items():
            if window and window[0] + timedelta(seconds=5) < now:
                out.append({"function": "naverplace_send_inform", "input_mode": None, "slot": "",
                            "sent_at": (window[0] + timedelta(seconds=5)).isoformat(), "sms_type": sms_type,
                            "booking_num": b.booking_num, "phone": b.phone, "store_id": b.store_id, "content": ""})
    return out


NOW = DAY + timedelta(days=1)


def test_checker_passes_a_clean_day():
    report = check(DAY, NOW, 1, perfect_deliveries(NOW))
    assert report.ok, report.violations[:3]
    assert report.owed >= 200


def _pick(records, sms_type):
    return next(i for i, r in enumerate(records) if r["sms_type"] == sms_type)


@pytest.mark.parametrize("kind,spoil", [
    ("missing", lambda rs: rs.pop(_pick(rs, "guide"))),
    ("twice", lambda rs: rs.append(dict(rs[_pick(rs, "confirm")], function="naverplace_send_inform_v2"))),
    ("late", lambda rs: rs[_pick(rs, "event")].update(
        sent_at=(datetime.fromisoformat(rs[_pick(rs, "event")]["sent_at"]) + timedelta(minutes=20)).isoformat())),
    ("late", lambda rs: rs[_pick(rs, "guide")].update(
        sent_at=(datetime.fromisoformat(rs[_pick(rs, "guide")]["sent_at"]) - timedelta(hours=3)).isoformat())),
    ("shadow", lambda rs: rs[_pick(rs, "confirm")].update(input_mode="shadow")),
])
def test_checker_catches_each_kind_of_violation(kind, spoil):
    records = perfect_deliveries(NOW)
    spoil(records)
    report = check(DAY, NOW, 1, records)
    assert not report.ok
    assert report.counts()[kind] == 1
    assert sum(report.counts().values()) == 1


def test_sms_to_a_cancelled_booking_is_reported():
    cancelled = next(b for b in day_of_bookings() if b.cancelled_at)
    records = perfect_deliveries(NOW) + [{
        "function": "naverplace_send_inform", "input_mode": None, "slot": "", "sms_type": "guide",
        "sent_at": (cancelled.booking_time - timedelta(minutes=30)).isoformat(),
        "booking_num": cancelled.booking_num, "phone": cancelled.phone, "store_id": cancelled.store_id, "content": ""}]
    report = check(DAY, NOW, 1, records)
    assert [v["kind"] for v in report.violations] == ["late"]
    assert "not owed" in report.violations[0]["detail"]


def test_checker_does_not_count_what_is_not_due_yet():
    mid = DAY + timedelta(hours=6)
    report = check(DAY, mid, 1, perfect_deliveries(mid))
    assert report.ok
    assert report.owed < check(DAY, NOW, 1, perfect_deliveries(NOW)).owed
