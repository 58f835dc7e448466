"""A simulated week of old + new against the emulator: 504 slots, >= 200 bookings a day.

Starts its own emulator on a free loopback port (state in a temporary
directory), seeds the legacy world, aligns the old rule to
cron(0/20 * * * ? *) and adds the new function with its rule in shadow mode
(as phase 5.3 leaves them), runs 504 slots, checks the customer invariant and
stops the emulator by its PID. Prints the wall time; goal <= 60 s.

    .venv/bin/python bench/bench_rehearsal_week.py [--slots 504]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import socket
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rehearsal import emulator  # noqa: E402

GOAL_S = 60.0
SCHEDULE = "cron(0/20 * * * ? *)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare(url: str) -> None:
    """The legacy world plus the new function, table and rule (shadow), as phase 5.3 leaves them."""
    import boto3

    from rehearsal import world
    from rehearsal.config import Config

    cfg = Config(url=url)
    world.seed(url)
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=cfg.region)
    ddb, events, lam, iam = (session.client(s, endpoint_url=url) for s in ("dynamodb", "events", "lambda", "iam"))
    ddb.create_table(
        TableName=cfg.new_table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "booking_num", "KeyType": "HASH"}, {"AttributeName": "phone", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "booking_num", "AttributeType": "S"},
                              {"AttributeName": "phone", "AttributeType": "S"}])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return None\n")
    role = iam.get_role(RoleName=world.Names.from_inventory().role)["Role"]["Arn"]
    arn = lam.create_function(FunctionName=cfg.new_function, Runtime="python3.11", Role=role, Handler="app.handler",
                              Code={"ZipFile": buf.getvalue()})["FunctionArn"]
    events.put_rule(Name=cfg.old_rule, ScheduleExpression=SCHEDULE, State="ENABLED")
    events.put_rule(Name=cfg.new_rule, ScheduleExpression=SCHEDULE, State="ENABLED")
    events.put_targets(Rule=cfg.new_rule, Targets=[{"Id": "v2", "Arn": arn, "Input": json.dumps({"mode": "shadow"})}])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=504)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rehearsal-") as tmp:
        url = f"http://127.0.0.1:{free_port()}"
        os.environ.update(CUTOVER_EMULATOR_URL=url, CUTOVER_STATE_DIR=tmp,
                          AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        server = emulator.start(url, directory=Path(tmp))
        try:
            from rehearsal.bookings import BookingSource
            from rehearsal.config import Config
            from rehearsal.invariants import check_world
            from rehearsal.scheduler import Scheduler

            prepare(url)
            cfg = Config(url=url, directory=Path(tmp) / "rehearsal")
            load = os.getloadavg()[0]
            server_cpu, client_cpu = process_cpu_s(server.pid), time.process_time()
            started = time.monotonic()
            summary = Scheduler(cfg).run(args.slots)
            wall = time.monotonic() - started
            server_cpu, client_cpu = process_cpu_s(server.pid) - server_cpu, time.process_time() - client_cpu
            report = check_world(cfg)
            state = Scheduler(cfg).load()
            source_days = args.slots / 72
            from datetime import datetime
            bookings = len(BookingSource(state["seed"], datetime.fromisoformat(state["world_start"].replace("Z", "+00:00")))
                           .all_until(datetime.fromisoformat(state["now"].replace("Z", "+00:00"))))
        finally:
            server.stop()
    print(f"slots {args.slots} ({source_days:.1f} days), runs {summary['runs']}, bookings {bookings} "
          f"({bookings / source_days:.0f}/day), SMS delivered {summary['delivered_sms']}")
    print(report.summary())
    print(f"CPU: scheduler+handlers {client_cpu:.1f}s, emulator {server_cpu:.1f}s; "
          f"load average at start {load:.1f} on {os.cpu_count()} cores")
    print(f"wall time {wall:.1f}s for {args.slots} slots of old + new (goal <= {GOAL_S:.0f}s): "
          f"{'OK' if wall <= GOAL_S else 'OVER GOAL'}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
