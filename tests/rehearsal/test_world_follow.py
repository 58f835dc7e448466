"""The rehearsal's local state belongs to one world: a new emulator is a new world.

Reproduces issue 12 "The rehearsal follows its world": after a first rehearsal the
emulator is stopped and started again (here: reset, which drops every resource the
same way), the world seeded afresh and run again; the clock and recorders of the
previous world must not be mixed into the new one's invariant.
"""
from __future__ import annotations

from rehearsal import emulator as emu
from rehearsal import world
from rehearsal.__main__ import main
from rehearsal.scheduler import Scheduler
from tests.rehearsal.conftest import CFG, DAY


def _cli(capsys, *argv):
    capsys.readouterr()
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_a_new_emulator_is_a_new_world(emulator, state_dir, capsys):
    assert _cli(capsys, "seed")[0] == 0
    assert _cli(capsys, "run", "--slots", "6", "--start", DAY.isoformat())[0] == 0
    rc, out, _ = _cli(capsys, "check")
    assert rc == 0 and "invariant OK" in out
    first = Scheduler(CFG.__class__()).load()

    emu.reset(emulator)  # `make emulator-stop` + `make emulator`: every resource is gone
    rc, out, _ = _cli(capsys, "seed")
    assert rc == 0
    assert "set aside" in out and first["world_id"] in out  # says what it did with the old state
    rc, out, _ = _cli(capsys, "run", "--slots", "6")
    assert rc == 0
    rc, out, err = _cli(capsys, "check")
    assert rc == 0, out + err
    assert "invariant OK" in out and "twice 0" in out
    state = Scheduler(CFG.__class__()).load()
    assert state["world_id"] == world.world_mark(emulator) != first["world_id"]
    # the old world's records are kept aside, not deleted, and not counted
    assert list((state_dir / "rehearsal").glob(f"previous-{first['world_id']}*/sens.jsonl"))


def test_check_and_status_refuse_a_world_that_is_gone(emulator, state_dir, capsys, monkeypatch):
    assert _cli(capsys, "seed")[0] == 0
    assert _cli(capsys, "run", "--slots", "3", "--start", DAY.isoformat())[0] == 0

    emu.reset(emulator)  # the world is gone, nothing seeded yet
    for command in ("check", "status", "run"):
        argv = [command] + (["--slots", "1"] if command == "run" else [])
        rc, out, err = _cli(capsys, *argv)
        assert rc == 2, (command, out, err)
        assert "no longer exists" in err and "`python -m rehearsal seed`" in err, err
        assert "invariant" not in out

    monkeypatch.setenv("CUTOVER_EMULATOR_URL", "http://127.0.0.1:9")  # the emulator stopped
    rc, out, err = _cli(capsys, "check")
    assert rc == 2 and "no longer exists" in err and "`make emulator`" in err and "invariant" not in out
    monkeypatch.setenv("CUTOVER_EMULATOR_URL", emulator)

    world.seed(emulator)  # seeded by another way (make demo, python -m rehearsal.world seed)
    for command in ("check", "status"):
        rc, out, err = _cli(capsys, command)
        assert rc == 2, (command, out, err)
        assert "no longer exists" in err and "`python -m rehearsal run --slots 6`" in err, err
    # run starts afresh in the new world (safe: the old one is gone)
    rc, out, err = _cli(capsys, "run", "--slots", "2", "--start", DAY.isoformat())
    assert rc == 0, err
    assert "set aside" in err
    assert _cli(capsys, "check")[0] == 0


def test_a_second_seed_of_the_same_world_keeps_the_rehearsal(emulator, state_dir, capsys):
    assert _cli(capsys, "seed")[0] == 0
    assert _cli(capsys, "run", "--slots", "2", "--start", DAY.isoformat())[0] == 0
    rc, out, _ = _cli(capsys, "seed")
    assert rc == 0 and "set aside" not in out
    assert Scheduler(CFG.__class__()).load()["now"] == DAY.strftime("%Y-%m-%dT00:40:00Z")


def test_the_emulator_holds_the_world_mark(emulator):
    assert world.world_mark(emulator) is None
    first = world.seed(emulator)
    mark = world.world_mark(emulator)
    assert mark and first.world_id == mark
    assert world.seed(emulator).world_id == mark  # idempotent
    emu.reset(emulator)
    assert world.seed(emulator).world_id != mark


def test_demo_after_the_emulator_was_stopped(emulator, state_dir, tmp_path, capsys, monkeypatch):
    """`make demo`, `make emulator-stop`, `make demo`: the second demo runs in its new world only.

    Each legacy "day" is cut to 6 slots here (the demo's 72 only repeat the slot: `make demo` runs them);
    what this test is about is the world the second demo follows."""
    from rehearsal import demo

    run = Scheduler.run
    monkeypatch.setattr(Scheduler, "run", lambda self, slots, **kw: run(self, min(slots, 6), **kw))
    demo.step_seed_world()
    demo.step_legacy_day()
    first = Scheduler(CFG.__class__()).load()["world_id"]
    snapshots = tmp_path / "reports" / "comparison" / "state"  # the comparison's state of that world
    snapshots.mkdir(parents=True)
    (snapshots / "snapshot-sms.json").write_text("{}")

    emu.reset(emulator)
    demo.step_seed_world()
    capsys.readouterr()
    demo.step_legacy_day()  # raises when the invariant is violated
    out = capsys.readouterr().out
    assert "set aside" in out and "invariant OK" in out
    assert Scheduler(CFG.__class__()).load()["world_id"] == world.world_mark(emulator) != first
    assert not snapshots.exists()
    assert list(snapshots.parent.glob(f"state-previous-{first}-*/snapshot-sms.json"))
