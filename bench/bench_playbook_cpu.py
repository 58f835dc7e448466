"""CPU-seconds of typical playbook runs (ansible-playbook and every module process it starts), as the tests run them.

One emulator of its own (``--port``, default a free one; stopped by PID). Runs, in order, on one world:
preflight.yml; bootstrap.yml twice (the second is timed: nothing to change); deploy_image.yml and
create_function.yml twice each (the second timed: no change); status.yml; then a rehearsal world (legacy +
shadow, one slot, the comparison's baseline, two more slots) and compare.yml twice (the second timed: the slot
compared already, nothing to write). Each timed run is repeated ``--repeat`` times; the CPU of a run is the
user + system time of the children this process reaped (``getrusage(RUSAGE_CHILDREN)``): ansible-playbook and
its module processes, never the emulator.

    .venv/bin/python bench/bench_playbook_cpu.py --port 45300 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import own_emulator  # noqa: E402


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(name, runs, repeat, playbook, **kwargs):
    from tests.ansible_runner import run_playbook

    for _ in range(repeat):
        before, wall = cpu(), time.monotonic()
        run = run_playbook(playbook, **kwargs)
        spent, wall = cpu() - before, time.monotonic() - wall
        if run.rc != 0:
            raise SystemExit(f"{name} failed:\n{run.messages()}\n{run.stdout[-2000:]}")
        runs.setdefault(name, []).append((spent, wall, run.changed))


def world(url, state_dir):
    """tests/rehearsal/conftest.py's world fixture, then one slot, the baseline and two more slots."""
    import boto3

    from rehearsal.comparison import grace
    from rehearsal.config import Config
    from rehearsal.scheduler import Scheduler
    from tests.rehearsal import conftest as rc

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="ap-northeast-2")

    def aws(service, _url=None):
        return session.client(service, endpoint_url=url)

    rc.seed_world(url)
    aws("dynamodb").create_table(
        TableName=rc.CFG.new_table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "booking_num", "KeyType": "HASH"}, {"AttributeName": "phone", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "booking_num", "AttributeType": "S"},
                              {"AttributeName": "phone", "AttributeType": "S"}])
    role_arn = aws("iam").get_role(RoleName=rc.Names.from_inventory().role)["Role"]["Arn"]
    new_arn = rc._function(aws, rc.CFG.new_function, role_arn)
    events = aws("events")
    events.put_rule(Name=rc.CFG.old_rule, ScheduleExpression=rc.SCHEDULE, State="ENABLED")
    events.put_rule(Name=rc.CFG.new_rule, ScheduleExpression=rc.SCHEDULE, State="ENABLED")
    events.put_targets(Rule=rc.CFG.new_rule, Targets=[{"Id": "v2", "Arn": new_arn, "Input": '{"mode": "shadow"}'}])
    scheduler = Scheduler(Config(url=url, directory=state_dir / "rehearsal"))
    start = rc.DAY + timedelta(hours=1)
    scheduler.run(1, start=start)
    rc.bucket_baseline(url, start + grace())
    scheduler.run(2)
    return (start + 2 * timedelta(minutes=20) + grace()).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from rehearsal import emulator as emu
    from rehearsal.image_archive import build_archive

    runs: dict = {}
    with tempfile.TemporaryDirectory() as tmp, own_emulator(Path(tmp) / "emulator", args.port) as server:
        tmp = Path(tmp)
        (tmp / "state").mkdir()
        archive = build_archive(tmp / "image.tar", layers=[4096, 8192])
        os.environ.update(CUTOVER_EMULATOR_URL=server.url, AWS_DEFAULT_REGION="ap-northeast-2",
                          CUTOVER_REPORTS_DIR=str(tmp / "reports"), CUTOVER_STATE_DIR=str(tmp / "state"),
                          CUTOVER_IMAGE_ARCHIVE=str(archive))
        os.environ.pop("AWS_PROFILE", None)
        timed("preflight.yml", runs, args.repeat, "preflight.yml")
        timed("bootstrap.yml (first)", runs, 1, "bootstrap.yml")
        timed("bootstrap.yml (again)", runs, args.repeat, "bootstrap.yml")
        timed("deploy_image.yml (first)", runs, 1, "deploy_image.yml")
        timed("create_function.yml (first)", runs, 1, "create_function.yml")
        timed("create_function.yml (again)", runs, args.repeat, "create_function.yml")
        timed("create_function.yml --check (again)", runs, 1, "create_function.yml", check=True)
        timed("status.yml", runs, args.repeat, "status.yml")
        emu.reset(server.url)
        from tests.conftest import bootstrap_state

        bootstrap_state(server.url)
        as_of = world(server.url, tmp / "state")
        timed("compare.yml (first)", runs, 1, "compare.yml", extra_vars={"cutover_compare_as_of": as_of})
        timed("compare.yml (again)", runs, args.repeat, "compare.yml", extra_vars={"cutover_compare_as_of": as_of})
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'run':40} {'CPU-s (median)':>15} {'all':>24} {'wall median':>12} changed")
    for name, values in runs.items():
        cpus = [v[0] for v in values]
        print(f"{name:40} {statistics.median(cpus):15.2f} {' '.join(f'{c:.2f}' for c in cpus):>24} "
              f"{statistics.median(v[1] for v in values):12.1f} {values[-1][2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
