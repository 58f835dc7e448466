"""The shadow probe of Decision Point 1 on the rehearsal world (test inventory only).

One invocation of the new function through its alias with ``{"mode": "shadow"}``, checked
against the SENS and Telegram recorders: a function that honours shadow delivers nothing.
moto never runs our code, so the alias and the digest of its version are read through the
Lambda API of the emulator (an alias that does not exist fails the probe, as an Invoke would),
and the rehearsal plays the invocation with the reference handler, as the scheduler does for a
rule. It runs at the simulated clock (``python -m rehearsal status``) and, like any shadow run,
writes its own table only.

    python -m rehearsal.probe [--function NAME] [--alias live] [--fault shadow_leak] [--at ISO]

Prints one JSON object: ``deliveries`` (SMS + Telegram messages the recorders received from this
invocation), ``sms_delivered``, ``telegram_delivered``, ``digest`` (of the alias's version),
``invoked`` (function:alias), ``mode``, ``source``, or ``error`` (then ``deliveries`` is null).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from botocore.exceptions import ClientError

from module_utils.cutover.arn import function_digest
from module_utils.cutover.schedule import slot_start
from rehearsal import handlers
from rehearsal.bookings import BookingSource
from rehearsal.config import Config
from rehearsal.scheduler import Scheduler

PAYLOAD = {"mode": "shadow"}


def probe(cfg: Config | None = None, function: str | None = None, alias: str = "live", fault: str | None = None,
          at: datetime | None = None) -> dict:
    cfg = cfg or Config()
    function = function or cfg.new_function
    scheduler = Scheduler(cfg)
    result = {"invoked": f"{function}:{alias}", "mode": PAYLOAD["mode"], "deliveries": None,
              "source": "rehearsal SENS and Telegram recorders", "digest": None}
    lam = scheduler.client("lambda")
    try:
        version = lam.get_alias(FunctionName=function, Name=alias)["FunctionVersion"]
        found = lam.get_function(FunctionName=function, Qualifier=version)
        result["digest"] = function_digest(found.get("Code"), found.get("Configuration"))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        result["error"] = f"alias {alias} of function {function} does not exist: run create_function.yml"
        return result
    if fault is not None and fault not in handlers.FAULTS:
        raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(handlers.FAULTS)}")
    state = scheduler.state()
    moment = at or datetime.fromisoformat(state["now"].replace("Z", "+00:00"))
    world_start = datetime.fromisoformat(state["world_start"].replace("Z", "+00:00"))
    outputs = handlers.Outputs()
    ctx = handlers.Context(cfg, scheduler.client("dynamodb"), BookingSource(state["seed"], world_start), outputs,
                           state["seed"], {function: fault})
    ctx.source.prepare(moment)
    record = handlers.run(ctx, handlers.Invocation(function, "shadow-probe", dict(PAYLOAD), moment, moment,
                                                   slot_start(moment, cfg.slot_minutes)))
    scheduler.flush(outputs)
    result.update(sms_delivered=len(outputs.sens), telegram_delivered=len(outputs.telegram),
                  deliveries=len(outputs.sens) + len(outputs.telegram), at=moment.isoformat(),
                  run_error=record.get("error"))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function")
    parser.add_argument("--alias", default="live")
    parser.add_argument("--fault")
    parser.add_argument("--at")
    parser.add_argument("--url", help="the emulator (default $CUTOVER_EMULATOR_URL)")
    args = parser.parse_args(argv)
    cfg = Config(url=args.url) if args.url else Config()
    at = datetime.fromisoformat(args.at.replace("Z", "+00:00")).astimezone(timezone.utc) if args.at else None
    print(json.dumps(probe(cfg, args.function, args.alias, args.fault or None, at), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
