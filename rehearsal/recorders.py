"""The customer-visible side of the world: what SENS and Telegram delivered.

Append-only JSON Lines files under ``$CUTOVER_STATE_DIR/rehearsal/`` so that
they survive between CLI calls: ``sens.jsonl`` (one line per delivered SMS),
``telegram.jsonl`` (one line per delivered summary) and ``runs.jsonl`` (one
line per invocation the scheduler made, delivered to customers or not).

Each delivered record carries ``input_mode``: the mode the invoking target's
input asked for, stamped by the scheduler (not by the handler), so the
invariant checker can tell a message sent while its function was meant to be
in shadow.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator, List


class JsonLines:
    def __init__(self, path: Path):
        self.path = Path(path)

    def extend(self, records: Iterable[dict]) -> None:
        lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records]
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    def __iter__(self) -> Iterator[dict]:
        if not self.path.exists():
            return iter(())
        with open(self.path, encoding="utf-8") as handle:
            return iter([json.loads(line) for line in handle if line.strip()])

    def all(self) -> List[dict]:
        return list(self)


class Recorders:
    """SENS, Telegram and the run ledger of one world directory."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.sens = JsonLines(self.directory / "sens.jsonl")
        self.telegram = JsonLines(self.directory / "telegram.jsonl")
        self.runs = JsonLines(self.directory / "runs.jsonl")

    def clear(self) -> None:
        for log in (self.sens, self.telegram, self.runs):
            log.path.unlink(missing_ok=True)
