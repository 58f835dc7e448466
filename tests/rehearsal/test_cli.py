"""python -m rehearsal: state survives between calls, check exits non-zero on a violation."""
from __future__ import annotations

import json

from rehearsal.__main__ import main
from tests.rehearsal.conftest import CFG, DAY


def test_run_status_check_across_calls(world, capsys):
    world.new_rule("shadow")
    assert main(["run", "--slots", "2", "--start", DAY.isoformat()]) == 0
    assert main(["run", "--slots", "1"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert DAY.strftime("clock %Y-%m-%dT01:00:00Z") in status
    assert f"rule {CFG.new_rule}: ENABLED" in status and "mode=shadow" in status
    assert f"runs of {CFG.old_function}: 3 ok" in status
    assert main(["check"]) == 0
    assert "invariant OK" in capsys.readouterr().out

    # a customer got one SMS twice: check says so and exits 1
    sens = world.cfg.directory / "sens.jsonl"
    first = sens.read_text().splitlines()[0]
    sens.write_text(sens.read_text() + first + "\n")
    assert main(["check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["twice"] == 1 and not report["ok"]


def test_cli_errors_say_what_to_do(state_dir, monkeypatch, capsys):
    monkeypatch.setenv("CUTOVER_EMULATOR_URL", "http://127.0.0.1:9")
    assert main(["check"]) == 2
    assert "run `python -m rehearsal run` first" in capsys.readouterr().err
    assert main(["run", "--slots", "1"]) == 2
    assert "make emulator" in capsys.readouterr().err
