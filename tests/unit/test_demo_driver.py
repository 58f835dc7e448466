"""The demo driver's bookkeeping (rehearsal/demo.py run / print_table): no emulator involved."""
from __future__ import annotations

from rehearsal import demo


def test_a_missing_playbook_skips_the_phases_that_build_on_it_and_a_failure_stops(capsys, monkeypatch):
    ran = []

    def ok():
        ran.append("ok")

    def missing():
        demo._require("no-such-playbook.yml")

    def boom():
        raise RuntimeError("gate.yml failed (rc 2)")

    monkeypatch.setattr(demo, "step_invariant", lambda: ran.append("invariant"))
    table = demo.run([("a", ok), ("b", missing), ("c", ok), ("invariant", demo.step_invariant)])
    assert [(t, o) for t, _s, o in table] == [("a", "ok"), ("b", "skipped"), ("c", "skipped"), ("invariant", "ok")]
    assert ran == ["ok", "invariant"]
    assert "skipped: playbooks/no-such-playbook.yml is not in this checkout yet" in capsys.readouterr().out

    table = demo.run([("a", boom), ("b", ok)])
    assert [(t, o) for t, _s, o in table] == [("a", "FAILED")]
    demo.NOTES[:] = ["a post-cutover day lasts 120 simulated minutes"]
    demo.print_table(table)
    out = capsys.readouterr().out
    assert "phase" in out and "FAILED" in out and "NOTE: a post-cutover day lasts 120 simulated minutes" in out
