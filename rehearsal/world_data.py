"""The data of the legacy world: existing bookings in ``sms``, dummy secrets, code archives.

Pure and deterministic: the same items, secret values and zip bytes on every call, on every
machine. ``rehearsal.world`` writes them to the emulator; tests compare against them.

The bookings are history from before any rehearsal starts (booking times between
2026-10-26 and 2026-11-08 KST), shaped as the legacy function writes them:
``booking_num`` = "{biz_id}_{book_id}", ``phone`` = "010-XXXX-XXXX", ``name``,
``booking_time`` and ``option_time`` as "YYYY-MM-DD HH:MM" (KST), flags ``confirm_sms``,
``remind_sms``, ``option_sms`` as booleans.
"""
from __future__ import annotations

import io
import json
import random
import zipfile
from datetime import datetime, timedelta

SEED = 20261026
FIRST_DAY = datetime(2026, 10, 26)  # KST, naive on purpose: the table stores KST text
DAYS = 14
BOOKINGS_PER_STORE = 12

# (biz_id, store name, option names; the ones with "이벤트"/"리뷰"/"체험" earn a type 3 SMS)
STORES = (
    ("1051707", "해운대 스튜디오", ("기본 촬영", "프로필 촬영", "가족사진 이벤트")),
    ("1187422", "서면 헤어살롱", ("커트", "펌", "염색 리뷰 할인")),
    ("1290055", "광안리 네일", ("젤 네일", "케어", "아트 이벤트")),
    ("1322981", "강남 피부과", ("상담", "레이저 토닝", "리프팅 체험")),
)
EVENT_WORDS = ("이벤트", "리뷰", "체험")
SURNAMES = "김이박최정강조윤장임한오서신권"
GIVEN_NAMES = ("민서", "지훈", "서현", "도현", "예린", "건우", "수빈", "태윤", "나연", "준혁",
               "하린", "시윤", "유나", "정우", "가은")


def _phone(rng: random.Random) -> str:
    return f"010-{rng.randrange(2000, 10000):04d}-{rng.randrange(0, 10000):04d}"


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def sms_items() -> list[dict]:
    """The existing bookings of ``sms`` as plain dicts (booleans and strings), sorted by key.

    Every booking got its confirmation. A booking's reminder went out unless it was
    cancelled first (about one in eight); bookings whose option names an event got the
    type 3 SMS in the 20:00 run of their day. Two bookings carry a second phone (a
    companion), which is why ``phone`` is the sort key.
    """
    rng = random.Random(SEED)
    items = []
    book_id = 811_204_000
    for biz_id, _store, options in STORES:
        for _ in range(BOOKINGS_PER_STORE):
            book_id += rng.randrange(7, 90)
            day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
            when = day.replace(hour=rng.randrange(10, 20), minute=rng.choice((0, 30)))
            option = rng.choice(options)
            cancelled = rng.random() < 0.125
            event = not cancelled and any(word in option for word in EVENT_WORDS)
            item = {
                "booking_num": f"{biz_id}_{book_id}",
                "phone": _phone(rng),
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES),
                "booking_time": _fmt(when),
                "confirm_sms": True,
                "remind_sms": not cancelled,
                "option_sms": event,
            }
            if event:
                item["option_time"] = _fmt(when.replace(hour=20, minute=0))
            items.append(item)
    for item in (items[3], items[30]):  # companions: same booking, another phone, reminded too
        companion = dict(item, phone=_phone(rng), name=rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES))
        items.append(companion)
    return sorted(items, key=lambda i: (i["booking_num"], i["phone"]))


def to_dynamodb(item: dict) -> dict:
    """A plain item in DynamoDB's typed JSON (strings S, booleans BOOL)."""
    return {k: ({"BOOL": v} if isinstance(v, bool) else {"S": str(v)}) for k, v in item.items()}


def from_dynamodb(item: dict) -> dict:
    return {k: (v["BOOL"] if "BOOL" in v else v["S"]) for k, v in item.items()}


def session_items() -> list[dict]:
    """The Naver login session the legacy function keeps between runs (dummy cookies)."""
    return [{"id": "naver", "cookies": json.dumps({"NID_AUT": "dummy", "NID_SES": "dummy"}),
             "updated_at": "2026-11-08 19:40"}]


# The secret parts of the dummy secrets: distinctive strings that appear nowhere else, so a scan of every
# output, report, ledger item, bucket object and log line can prove none was ever written
# (tests/reliability/test_secrets.py).
SECRET_MARKS = {
    "sens_access_key": "dummy-sens-access-key-Q7ZK4",
    "sens_secret_key": "dummy-sens-secret-key-W3XP9",
    "telegram_token": "dummy-telegram-token-M5RV2",
    "naver_password": "dummy-naver-password-H8TN6",
    "slack_webhook": "dummy-slack-webhook-secret-J2LC8",
    "alerts_telegram_token": "dummy-alerts-telegram-token-B4YD1",
}


def secret_values(names: dict) -> dict:
    """Dummy SecretString per secret name; the keys are what the handlers (and roles/notify) read.

    The alert channels point at the loopback notify recorder (rehearsal/notify_recorder.py,
    CUTOVER_NOTIFY_URL at seed time).
    """
    from rehearsal.notify_recorder import notify_url

    recorder = notify_url()
    values = {
        "sens": {"access_key": SECRET_MARKS["sens_access_key"], "secret_key": SECRET_MARKS["sens_secret_key"],
                 "service_id": "ncp:sms:kr:000000000000:naver-sms", "calling_number": "0510000000"},
        "telegram": {"bot_token": f"000000000:{SECRET_MARKS['telegram_token']}", "chat_id": "-1000000000000"},
        "naver": {"username": "dummy-naver-id", "password": SECRET_MARKS["naver_password"]},
        "alerts_slack": {"webhook_url": f"{recorder}/slack/services/T000DUMMY/B000DUMMY/{SECRET_MARKS['slack_webhook']}",
                         "sns_endpoint": f"{recorder}/sns/slack"},
        "alerts_telegram": {"bot_token": f"111111111:{SECRET_MARKS['alerts_telegram_token']}",
                            "chat_id": "-1000000000001",
                            "api_url": f"{recorder}/telegram", "sns_endpoint": f"{recorder}/sns/telegram"},
    }
    return {names[key]: json.dumps(value, sort_keys=True) for key, value in values.items() if key in names}


def _zip(files: dict[str, str]) -> bytes:
    """A zip archive with fixed timestamps, so its bytes (and CodeSha256) never change."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16 if name.startswith("bin/") else 0o644 << 16
            archive.writestr(info, text)
    return buffer.getvalue()


FUNCTION_SOURCE = '''"""naverplace_send_inform (legacy, zip). The rehearsal runs its reference handler instead."""


def lambda_handler(event, context):
    return {"statusCode": 200, "body": "legacy"}
'''


def function_zip() -> bytes:
    return _zip({"lambda_function.py": FUNCTION_SOURCE})


def layer_zips() -> dict[str, bytes]:
    return {
        "chromedriver": _zip({"bin/chromedriver": "#!/bin/sh\necho 'ChromeDriver 2.43 (placeholder)'\n"}),
        "selenium": _zip({"python/selenium/__init__.py": '__version__ = "3.14.0"  # placeholder\n'}),
    }
