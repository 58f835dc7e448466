"""The rehearsal follower (rehearsal/follow.py): what it sees, and a failing slot neither ends it silently
nor forever. A stand-in scheduler on a clock file in tmp_path; no emulator."""
from __future__ import annotations

import json
import time

import pytest

from rehearsal import follow as fol


class FakeScheduler:
    """The clock and run() of the Scheduler, on a file; run() raises while `fail` counts down."""

    fail = 0

    def __init__(self, cfg):
        self.clock_path = cfg / "clock.json"

    def load(self):
        return json.loads(self.clock_path.read_text()) if self.clock_path.exists() else None

    def run(self, slots, jitter_s=None):
        if FakeScheduler.fail:
            FakeScheduler.fail -= 1
            raise ConnectionError("emulator went away")
        now = self.load()["now"]
        self.clock_path.write_text(json.dumps({"now": "2026-11-18T05:00:00Z"}))
        return {"from": now, "runs": {"naverplace_send_inform_v2": 1}, "errors": {}, "delivered_sms": 2,
                "wall_s": 0.1}


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setattr(fol, "Scheduler", FakeScheduler)
    monkeypatch.setattr(FakeScheduler, "fail", 0)
    (tmp_path / "clock.json").write_text(json.dumps({"now": "2026-11-18T04:40:00Z"}))
    return tmp_path


def ask(world, until="2026-11-18T05:00:00Z"):
    (world / "wanted.json").write_text(json.dumps({"until": until}))


@pytest.mark.parametrize("wanted, clock, due, says", [
    (None, "2026-11-18T04:40:00Z", False, "no request"),
    ("{not json", "2026-11-18T04:40:00Z", False, "unreadable"),
    ('{"until": "2026-11-18T05:00:00Z"}', None, False, "no clock file"),
    ('{"until": "2026-11-18T05:00:00Z"}', "2026-11-18T04:40:00Z", True, "a slot to run"),
    ('{"until": "2026-11-18T05:00:00Z"}', "2026-11-18T05:00:00Z", False, "reached"),
    ('{"until": "tomorrow"}', "2026-11-18T04:40:00Z", False, "not a time"),
])
def test_look_says_why_a_slot_runs_or_not(tmp_path, wanted, clock, due, says):
    if wanted is not None:
        (tmp_path / "wanted.json").write_text(wanted)
    if clock is not None:
        (tmp_path / "clock.json").write_text(json.dumps({"now": clock}))
    seen = fol.look(FakeScheduler(tmp_path))
    assert seen[0] is due and says in seen[1]


def test_a_failing_slot_is_logged_with_its_traceback_and_tried_again(world):
    ask(world)
    FakeScheduler.fail = 2
    lines, failures = [], []
    steps = fol.follow(world, idle_s=0.5, poll_s=0.01, log=lines.append, on_failure=failures.append)
    assert steps == 1 and len(failures) == 2
    text = "\n".join(lines)
    assert "slot failed (2 in a row): ConnectionError: emulator went away" in text
    assert "Traceback (most recent call last)" in text
    assert "slot 2026-11-18T04:40:00Z run: 1 invocation(s), 0 failed, 2 SMS" in text
    assert lines[-1] == "request until 2026-11-18T05:00:00Z, clock at 2026-11-18T05:00:00Z: reached"


def test_slots_failing_in_a_row_stop_the_follower_saying_so(world):
    ask(world)
    FakeScheduler.fail = 5
    with pytest.raises(fol.FollowError, match="3 slot runs in a row failed, the last with ConnectionError"):
        fol.follow(world, idle_s=30, poll_s=0.01, max_failures=3)


def test_the_test_follower_goes_on_and_raises_the_first_failure_on_exit(world):
    FakeScheduler.fail = 1
    with pytest.raises(ConnectionError):
        with fol.Follower(world, idle_s=30):
            ask(world)
            for _ in range(500):
                if json.loads((world / "clock.json").read_text())["now"] == "2026-11-18T05:00:00Z":
                    break
                time.sleep(0.02)
    assert json.loads((world / "clock.json").read_text())["now"] == "2026-11-18T05:00:00Z"
