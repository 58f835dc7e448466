"""The proxy's kill trigger named by operation (issue 13 item 3): ``kill_after(1, pid, "EnableRule")`` kills right
after the first EnableRule, however many mutating calls came before it (a world's reconcile writes 0-2 items, so a
count of calls cannot name rollback.yml's last switch write). The same trigger and fence as the count (no playbook:
a small boto3 client; the playbooks killed this way: bench/bench_soak.py --crash-after)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from rehearsal.proxy import ProxyState

# (mutating, operation) as a switch's calls come: a read, reconcile writes, the switch's two writes, more after
CALLS = [(False, "ListRules"), (True, "BatchWriteItem"), (True, "PutTargets"), (False, "DescribeRule"),
         (True, "EnableRule"), (True, "DeleteItem"), (True, "EnableRule"), (True, "PutItem")]


@pytest.mark.parametrize(("count", "operation", "fires_at"), [
    (1, "EnableRule", 4),  # the first EnableRule, not the 1st mutating call
    (2, "EnableRule", 6),
    (1, "PutTargets", 2),
    (3, "", 4),  # unnamed: the 3rd mutating call, whatever it is
    (1, "DisableRule", None),  # never called: never fires
])
def test_a_named_trigger_counts_only_the_calls_of_its_operation(count, operation, fires_at):
    state = ProxyState(upstream="http://127.0.0.1:1")
    state.arm(count, 4242, operation)
    fired = [i for i, (mutating, name) in enumerate(CALLS) if state.count_forwarded(mutating, name)]
    assert fired == ([fires_at] if fires_at is not None else [])
    assert state.killed is (fires_at is not None)
    state.arm(0, 0)  # disarmed (as run_playbook does before the rerun): the name goes with it
    assert [i for i, (m, name) in enumerate(CALLS) if state.count_forwarded(m, name)] == []
    assert state.kill_operation == ""


CHILD = textwrap.dedent("""
    import sys, boto3
    events = boto3.client("events", endpoint_url=sys.argv[1], region_name="ap-northeast-2",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    for i in range(int(sys.argv[2])):  # the world's writes before the switch: their number varies
        events.put_rule(Name=f"reconcile-{i}", ScheduleExpression="rate(20 minutes)")
    events.put_rule(Name="old", ScheduleExpression="rate(20 minutes)", State="DISABLED")
    events.enable_rule(Name="old")
    events.put_targets(Rule="old", Targets=[{"Id": "1", "Arn": "arn:aws:lambda:ap-northeast-2:123456789012:function:f"}])
    print("finished")
""")


@pytest.mark.parametrize(("writes_before", "through_http"), [(0, False), (2, True)])
def test_the_kill_lands_right_after_the_named_call_whatever_came_before(proxy, aws, writes_before, through_http):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, proxy.url, str(writes_before)], start_new_session=True)
    if through_http:  # the control path a standalone proxy is armed by
        body = json.dumps({"after": 1, "pgid": proc.pid, "operation": "EnableRule"}).encode()
        urllib.request.urlopen(urllib.request.Request(proxy.url + "/__proxy/kill", data=body), timeout=10).close()
    else:
        proxy.kill_after(1, proc.pid, "EnableRule")
    try:
        assert proc.wait(timeout=60) == -9  # SIGKILLed: it never got to print "finished"
    finally:
        proc.kill()  # only if still running (a failed test)
    assert proxy.killed and proxy.wait_killed(timeout=10)
    reached = [c["operation"] for c in proxy.calls() if c["mutating"] and c["fault"] is None]
    assert reached == ["PutRule"] * (writes_before + 1) + ["EnableRule"]
    events = aws("events")
    assert events.describe_rule(Name="old")["State"] == "ENABLED"  # the named call reached the emulator
    assert events.list_targets_by_rule(Rule="old")["Targets"] == []  # the call after it never did
