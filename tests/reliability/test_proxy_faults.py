"""The fault proxy answers as each AWS service really does, botocore retries it, and the
kill trigger crashes a client right after its n-th mutating call (issue 13 groundwork)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import urllib.parse
from collections import Counter
from types import SimpleNamespace

import boto3
import botocore.endpoint
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from rehearsal.proxy import TRANSIENT, cbor_map
from tests.conftest import REGION


def _client(url, service, mode="standard", attempts=1):
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=REGION)
    return session.client(service, endpoint_url=url,
                          config=Config(retries={"mode": mode, "total_max_attempts": attempts}))


CALLS = {  # service (boto3 name) -> (signing name, a read call)
    "lambda": ("lambda", lambda c: c.list_functions()),
    "ecr": ("ecr", lambda c: c.describe_repositories()),
    "events": ("events", lambda c: c.list_rules()),
    "logs": ("logs", lambda c: c.describe_log_groups()),
    "secretsmanager": ("secretsmanager", lambda c: c.list_secrets()),
    "cloudwatch": ("monitoring", lambda c: c.list_metrics()),
    "dynamodb": ("dynamodb", lambda c: c.list_tables()),
    "iam": ("iam", lambda c: c.list_roles()),
    "sts": ("sts", lambda c: c.get_caller_identity()),
    "s3": ("s3", lambda c: c.list_buckets()),
}


@pytest.mark.parametrize("service, kind, status, codes", [
    ("lambda", "throttle", 429, {"TooManyRequestsException"}),
    ("ecr", "throttle", 400, {"ThrottlingException"}),
    ("events", "throttle", 400, {"ThrottlingException"}),
    ("logs", "throttle", 400, {"ThrottlingException"}),
    ("secretsmanager", "throttle", 400, {"ThrottlingException"}),
    ("cloudwatch", "throttle", 400, {"Throttling"}),  # a query code, carried over CBOR by x-amzn-query-error
    ("iam", "throttle", 400, {"Throttling"}),  # query protocol: XML
    ("sts", "throttle", 400, {"Throttling"}),
    ("dynamodb", "throttle", 400, {"ProvisionedThroughputExceededException", "ThrottlingException"}),
    ("s3", "throttle", 503, {"SlowDown"}),
    ("lambda", "500", 500, {"ServiceException"}),
    ("dynamodb", "500", 500, {"InternalServerError"}),
    ("cloudwatch", "500", 500, {"InternalFailure"}),
    ("events", "503", 503, {"ServiceUnavailable"}),
    ("iam", "503", 503, {"ServiceUnavailable"}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_each_service_answers_its_own_error(proxy, service, kind, status, codes):
    signing, call = CALLS[service]
    proxy.set_faults(rate=1.0, kinds=[kind], seed=3, max_faults=1, services=[signing])
    with pytest.raises(ClientError) as caught:
        call(_client(proxy.url, service))  # no retry: the first answer is the fault
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["Error"]["Code"] in codes
    assert [c["code"] for c in proxy.injected()] == [error["Error"]["Code"]]
    call(_client(proxy.url, service))  # bounded: the next call goes through


def test_dynamodb_throttles_both_ways(proxy):
    proxy.set_faults(rate=1.0, kinds=["throttle"], seed=1, max_faults=12)
    client = _client(proxy.url, "dynamodb")
    seen = Counter()
    for _ in range(12):
        with pytest.raises(ClientError) as caught:
            client.list_tables()
        seen[caught.value.response["Error"]["Code"]] += 1
    assert set(seen) == {"ProvisionedThroughputExceededException", "ThrottlingException"}


def test_a_dropped_connection_reaches_nothing(proxy, aws):
    proxy.set_faults(rate=1.0, kinds=["drop"], seed=1, max_faults=1)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        _client(proxy.url, "ssm").put_parameter(Name="/dropped", Value="x", Type="String")
    assert aws("ssm").describe_parameters()["Parameters"] == []


def test_cbor_map_is_what_botocore_reads():
    from botocore.parsers import RpcV2CBORParser

    body = cbor_map({"__type": "x#Throttling", "message": "m" * 30})
    parsed = RpcV2CBORParser()._initial_body_parse(body)
    assert parsed == {"__type": "x#Throttling", "message": "m" * 30}


@pytest.mark.parametrize("mode", ["standard", "legacy"])
def test_botocore_retries_through_20_percent_transient_faults(proxy, aws, mode, monkeypatch):
    """Both retry modes (standard; legacy is the default the Ansible modules get) ride out the mix, backing off
    before each retry. The backoff is recorded, not slept (botocore.endpoint's sleep; the emulator needs no
    pause): it was most of this test's time."""
    slept = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=slept.append))
    aws("dynamodb").create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                                 KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    proxy.set_faults(rate=0.2, kinds=list(TRANSIENT), seed=11, max_faults=1000)
    clients = {name: _client(proxy.url, name, mode, attempts=8) for name in CALLS}
    for round_ in range(5):
        for name, (_, call) in CALLS.items():
            call(clients[name])
        clients["dynamodb"].put_item(TableName="t", Item={"k": {"S": str(round_)}})
        clients["logs"].create_log_group(logGroupName=f"/g/{round_}")
    faults = proxy.injected()
    assert len(faults) >= 0.1 * len(proxy.calls())
    assert {c["fault"] for c in faults} == set(TRANSIENT)
    assert len(slept) == len(faults) and all(0 <= delay <= 20 for delay in slept), slept  # one backoff per fault
    assert aws("dynamodb").scan(TableName="t")["Count"] == 5
    assert len(aws("logs").describe_log_groups(logGroupNamePrefix="/g/")["logGroups"]) == 5


CHILD = textwrap.dedent("""
    import sys, boto3
    ssm = boto3.client("ssm", endpoint_url=sys.argv[1], region_name="ap-northeast-2",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ssm.describe_parameters()
    for i in range(8):
        ssm.put_parameter(Name=f"/crash/{i}", Value="x", Type="String")
        ssm.get_parameter(Name=f"/crash/{i}")
    print("finished")
""")


@pytest.mark.parametrize("after", [1, 3])
def test_the_kill_trigger_kills_right_after_the_nth_mutating_call(proxy, aws, after):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, proxy.url], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    proxy.kill_after(after, proc.pid)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -9 and "finished" not in out
    assert proxy.killed
    names = sorted(p["Name"] for p in aws("ssm").describe_parameters()["Parameters"])
    assert names == [f"/crash/{i}" for i in range(after)]
    reached = [c for c in proxy.calls() if c["mutating"] and c["fault"] is None]
    assert len(reached) == after


HOLDER = textwrap.dedent("""
    import sys, time, boto3
    ssm = boto3.client("ssm", endpoint_url=sys.argv[1], region_name="ap-northeast-2",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ssm.put_parameter(Name="/fence/0", Value="x", Type="String")
    time.sleep(60)
""")


def _raw_put_parameter(url, name):
    """A signed SSM PutParameter as bytes on the wire (what a killed client left in a socket)."""
    body = json.dumps({"Name": name, "Value": "x", "Type": "String"}).encode()
    request = AWSRequest(method="POST", url=url + "/", data=body,
                         headers={"X-Amz-Target": "AmazonSSM.PutParameter",
                                  "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials("testing", "testing"), "ssm", REGION).add_auth(request)
    host = urllib.parse.urlsplit(url).netloc
    head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    return (f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n{head}\r\n").encode() + body


def test_a_request_the_killed_tree_sent_is_never_forwarded_even_after_disarming(proxy, aws):
    """The flaky crash test's cause: the killed module's next call waited in its keep-alive connection while the
    proxy killed the tree; read after run_playbook disarmed the trigger, it reached the emulator."""
    host, port = urllib.parse.urlsplit(proxy.url).netloc.split(":")
    kept = socket.create_connection((host, int(port)))  # a keep-alive connection the killed tree holds
    try:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, proxy.url], pass_fds=(kept.fileno(),),
                                start_new_session=True)
        proxy.kill_after(1, proc.pid)
        try:
            assert proc.wait(timeout=60) == -9
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proxy.wait_killed(timeout=10)
        proxy.kill_after(0, 0)  # disarmed, as run_playbook does before the rerun
        assert kept.getsockname()[1] in proxy.fenced()
        kept.sendall(_raw_put_parameter(proxy.url, "/fence/late"))  # arrives after the kill and the disarm
        kept.settimeout(30)
        try:
            answer = kept.recv(4096)
        except ConnectionResetError:
            answer = b""
    finally:
        kept.close()
    assert answer == b"", answer[:200]  # no answer: the connection closed, the request not forwarded
    _client(proxy.url, "ssm").put_parameter(Name="/fence/new", Value="x", Type="String")  # a new client: forwarded
    names = sorted(p["Name"] for p in aws("ssm").describe_parameters()["Parameters"])
    assert names == ["/fence/0", "/fence/new"]
    assert [(c["operation"], c["fault"]) for c in proxy.from_killed_tree()] == [("PutParameter", "killed")]
