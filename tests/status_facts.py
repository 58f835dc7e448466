"""Facts of a status page as playbooks/status.yml would gather them: a parallel week, then a cutover."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

START = datetime(2026, 11, 26, 0, 0, tzinfo=timezone.utc)
SLOT = timedelta(minutes=20)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def week(days: int = 7, bad_slots: tuple[int, ...] = (100, 101, 350), cutover: bool = True,
         rollback: bool = True) -> dict:
    """`days` x 72 compared slots; the slots in `bad_slots` had discrepancies."""
    slots, per_day = [], {}
    for index in range(days * 72):
        moment = START + index * SLOT
        bad = index in bad_slots
        slots.append({"slot": iso(moment), "match_percentage": 96.5 if bad else 100.0,
                      "discrepancies": 2 if bad else 0, "executions_compared": 1})
        per_day[moment.strftime("%Y-%m-%d")] = per_day.get(moment.strftime("%Y-%m-%d"), 0) + 1
    per_day[min(per_day)] -= 3  # three slots missed on the first day
    end = START + days * timedelta(days=1)
    moments = []
    if cutover:
        moments.append({"kind": "cutover", "at": iso(end + timedelta(minutes=10)), "label": "cutover"})
    if rollback:
        moments.append({"kind": "rollback", "at": iso(end + timedelta(hours=5, minutes=10)),
                        "label": "rollback scenario 2"})
    return {
        "environment": "test",
        "account_id": "123456789012",
        "generated_at": iso(end + timedelta(hours=6)),
        "phase": {"name": "rolled_back"} if rollback else {"name": "parallel", "day": days},
        "executions": {"compared": sum(per_day.values()), "required": 504},
        "slots": slots,
        "executions_per_day": [{"day": day, "executions": count} for day, count in sorted(per_day.items())],
        "discrepancies": [{"slot": slots[i]["slot"], "kind": "text_differs",
                           "detail": "sms 1234_5678/010-1234-5678 type 2: index 3 U+D55C vs U+1112"}
                          for i in bad_slots if i < len(slots)],
        "open_alarms": [{"name": "naver-sms-discrepancies", "since": slots[350]["slot"] if days * 72 > 350 else iso(START),
                         "reason": "discrepancies > 0"}],
        "last_decision": {"point": "DP2", "decision": "go", "at": iso(end), "by": "alice", "ticket": "CHG0012345",
                          "reasons": ["504 executions compared (>= 504)", "match 100 % over the last 24 h"]},
        "lock": {"owner": "awx-job-77", "ticket": "CHG0012346", "playbook": "rollback.yml",
                 "expires": iso(end + timedelta(hours=6, minutes=30))},
        "next_step": {"text": "re-run the gate after the fix",
                      "command": "ansible-playbook -i inventories/test playbooks/gate.yml -e change_ticket=CHG0012346"},
        "moments": moments,
    }
