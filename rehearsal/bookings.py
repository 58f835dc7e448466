"""Naver bookings of the rehearsal world: a seeded generator behind a small source.

Deterministic per seed: the bookings created on one KST day depend only on
(seed, that day). Every day brings 200-260 bookings across several stores:
arrivals through the day (most in waking hours, some in the first seconds of
a slot so they land between the old and the new run of that slot),
reservations 1 h to 3 days ahead inside opening hours (10:00-19:30 KST),
about 6 % cancelled. A cancellation always happens more than 1 h after the
booking arrived and more than 3 h before its time, so "what is owed" is
unambiguous: a confirm for every booking, a guide for every booking not
cancelled, an event for a booking not cancelled whose option names the
store's event keyword.

Only bookings created at or after the world's start exist (earlier ones
belong to the seeded legacy state).
"""
from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Dict, List, Optional

UTC = timezone.utc
KST = timezone(timedelta(hours=9))
GUIDE_BEFORE = timedelta(hours=2)
EVENT_HOUR_KST = 20


@dataclass(frozen=True)
class Store:
    store_id: str  # Naver biz_id
    name: str
    address: str
    event_keyword: str
    options: tuple
    templates: Dict[str, str]


def _templates(name: str, address: str, gift: str) -> Dict[str, str]:
    return {
        "confirm": f"[{name}] {{name}}님, {{when}} 예약이 확정되었습니다. 방문을 기다리겠습니다. 감사합니다.",
        "guide": f"[{name}] {{name}}님, 오늘 {{hour}} 예약 안내드립니다. 오시는 길: {address}",
        "event": f"[{name}] {{name}}님, {{option}} 이용 감사합니다. 리뷰를 남겨 주시면 {gift}을 드립니다.",
    }


STORES = (
    Store("1051707", "해운대 스튜디오", "부산 해운대구 우동 1392", "이벤트",
          ("기본 촬영", "프로필 촬영", "가족사진 이벤트", "증명사진", "커플 촬영 이벤트"),
          _templates("해운대 스튜디오", "부산 해운대구 우동 1392", "액자 할인 쿠폰")),
    Store("1187422", "서면 헤어살롱", "부산 부산진구 서면로 68", "리뷰",
          ("커트", "펌", "염색 리뷰 할인", "클리닉", "두피 스파 리뷰 할인"),
          _templates("서면 헤어살롱", "부산 부산진구 서면로 68", "다음 방문 10% 할인")),
    Store("1290055", "광안리 네일", "부산 수영구 광안해변로 219", "이벤트",
          ("젤 네일", "케어", "아트 이벤트", "페디큐어"),
          _templates("광안리 네일", "부산 수영구 광안해변로 219", "파츠 무료 추가")),
    Store("1322981", "강남 피부과", "서울 강남구 테헤란로 152", "체험",
          ("상담", "레이저 토닝", "여드름 관리 체험", "리프팅 체험", "스킨 부스터"),
          _templates("강남 피부과", "서울 강남구 테헤란로 152", "관리 1회 추가")),
)
STORE_BY_ID = {s.store_id: s for s in STORES}

FAMILY = "김이박최정강조윤장임한오서신권황안송전홍"
GIVEN = ("민준", "서연", "지호", "하은", "도윤", "서윤", "예준", "지우", "시우", "하윤",
         "주원", "수아", "지민", "유진", "현우", "채원", "승민", "다은", "준서", "소율")


@dataclass(frozen=True)
class Booking:
    booking_num: str  # "{biz_id}_{book_id}"
    phone: str
    name: str
    store_id: str
    option: str
    created_at: datetime  # UTC
    booking_time: datetime  # UTC
    cancelled_at: Optional[datetime] = None

    @property
    def store(self) -> Store:
        return STORE_BY_ID[self.store_id]

    def cancelled(self, at: datetime) -> bool:
        return self.cancelled_at is not None and self.cancelled_at <= at

    @property
    def has_event_option(self) -> bool:
        return self.store.event_keyword in self.option

    @property
    def booking_time_kst(self) -> str:
        """How the legacy table stores it: 'YYYY-MM-DD HH:MM' in KST."""
        return self.booking_time.astimezone(KST).strftime("%Y-%m-%d %H:%M")

    def event_run(self) -> datetime:
        """The 20:00 KST run of the booking's day (UTC)."""
        day = self.booking_time.astimezone(KST).date()
        return datetime.combine(day, time(EVENT_HOUR_KST), KST).astimezone(UTC)

    def guide_window(self) -> tuple:
        return max(self.created_at, self.booking_time - GUIDE_BEFORE), self.booking_time


def _day_bookings(seed: int, day: date, day_index: int) -> List[Booking]:
    """The bookings created on `day` (KST), drawn from (seed, the day's index from the world's first day): a world
    started at the same time of day gets the same bookings on any date, so what a rehearsal meets does not change
    with the calendar (keyed by the date, one day in ten had no booking created between the old and the new run
    of a slot in the morning, and a test expecting one failed that day)."""
    rng = random.Random(f"bookings:{seed}:day{day_index}")
    midnight = datetime.combine(day, time(0), KST).astimezone(UTC)
    out = []
    for index in range(200 + rng.randint(0, 60)):
        store = STORES[rng.randrange(len(STORES))]
        roll = rng.random()
        if roll < 0.04:  # the first seconds of a slot: between the old and the new run
            offset = timedelta(minutes=20 * rng.randrange(24, 72), seconds=rng.uniform(0.5, 6))
        elif roll < 0.85:  # waking hours, 08:00-24:00 KST
            offset = timedelta(seconds=rng.uniform(8 * 3600, 24 * 3600))
        else:
            offset = timedelta(seconds=rng.uniform(0, 24 * 3600))
        created = (midnight + offset).replace(microsecond=0)
        created_kst = created.astimezone(KST)
        ahead = rng.choice((0, 0, 1, 1, 1, 2, 2, 3))
        slot_of_day = rng.randrange(20)  # 10:00 .. 19:30 every 30 minutes
        when = datetime.combine(created_kst.date() + timedelta(days=ahead),
                                time(10 + slot_of_day // 2, 30 * (slot_of_day % 2)), KST).astimezone(UTC)
        while when < created + timedelta(hours=1):
            when += timedelta(days=1)
        cancelled = None
        earliest, latest = created + timedelta(hours=1), when - timedelta(hours=3)
        if rng.random() < 0.06 and latest > earliest:
            cancelled = (earliest + (latest - earliest) * rng.random()).replace(microsecond=0)
        out.append(Booking(
            booking_num=f"{store.store_id}_{day:%y%m%d}{index:04d}",
            phone=f"010-{rng.randrange(2000, 9999):04d}-{rng.randrange(0, 9999):04d}",
            name=FAMILY[rng.randrange(len(FAMILY))] + GIVEN[rng.randrange(len(GIVEN))],
            store_id=store.store_id,
            option=store.options[rng.randrange(len(store.options))],
            created_at=created,
            booking_time=when,
            cancelled_at=cancelled,
        ))
    return out


class BookingSource:
    """What the Naver booking pages show at a moment; both handlers read it."""

    def __init__(self, seed: int, world_start: datetime):
        self.seed = seed
        self.world_start = world_start
        self._days: set = set()
        self._by_created: List[Booking] = []
        self._created_keys: List[datetime] = []
        self._by_time: List[Booking] = []
        self._time_keys: List[datetime] = []

    def prepare(self, until: datetime) -> None:
        """Generate every day up to `until` now (the handlers may then read from threads)."""
        self._ensure(until)

    def _ensure(self, until: datetime) -> None:
        first = day = self.world_start.astimezone(KST).date()
        last = until.astimezone(KST).date()
        added = False
        while day <= last:
            if day not in self._days:
                self._days.add(day)
                self._by_created.extend(b for b in _day_bookings(self.seed, day, (day - first).days)
                                        if b.created_at >= self.world_start)
                added = True
            day += timedelta(days=1)
        if added:
            self._by_created.sort(key=lambda b: (b.created_at, b.booking_num))
            self._created_keys = [b.created_at for b in self._by_created]
            self._by_time = sorted(self._by_created, key=lambda b: (b.booking_time, b.booking_num))
            self._time_keys = [b.booking_time for b in self._by_time]

    def created_between(self, start: datetime, end: datetime) -> List[Booking]:
        """Bookings created in (start, end]."""
        self._ensure(end)
        lo = bisect.bisect_right(self._created_keys, start)
        hi = bisect.bisect_right(self._created_keys, end)
        return self._by_created[lo:hi]

    def booked_between(self, start: datetime, end: datetime, seen_at: datetime) -> List[Booking]:
        """Bookings visible at seen_at whose time is in (start, end]."""
        self._ensure(seen_at)
        lo = bisect.bisect_right(self._time_keys, start)
        hi = bisect.bisect_right(self._time_keys, end)
        return [b for b in self._by_time[lo:hi] if b.created_at <= seen_at]

    def all_until(self, end: datetime) -> List[Booking]:
        """Every booking created in [world start, end]."""
        return self.created_between(self.world_start - timedelta(microseconds=1), end)


def render(booking: Booking, sms_type: str, templates: Optional[Dict[str, str]] = None) -> str:
    """The SMS text of one type for one booking, from its store's template."""
    template = (templates or booking.store.templates)[sms_type]
    local = booking.booking_time.astimezone(KST)
    return template.format(
        name=booking.name,
        when=f"{local.month}월 {local.day}일 {local:%H:%M}",
        hour=f"{local:%H:%M}",
        option=booking.option,
    )
