"""The emulator starts, resets, stops by PID, and says so when its port is taken."""
from __future__ import annotations

import socket

import boto3
import pytest

from rehearsal import emulator as emu
from tests.conftest import _free_port


def _tables(url):
    ddb = boto3.client("dynamodb", endpoint_url=url, region_name="ap-northeast-2",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return ddb, ddb.list_tables()["TableNames"]


def test_start_reset_stop_leaves_no_pid_file(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    server = emu.start(url, directory=tmp_path)
    try:
        assert server.pid_file.exists()
        assert emu.answers(url)
        ddb, _ = _tables(url)
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        assert _tables(url)[1] == ["t"]
        emu.reset(url)
        assert _tables(url)[1] == []
        # Lambda stays in its no-Docker mode after a reset.
        import json
        import urllib.request
        cfg = json.loads(urllib.request.urlopen(f"{url}/moto-api/config").read())
        assert cfg["lambda"]["use_docker"] is False
        # A second start finds our own server and reuses it.
        again = emu.start(url, directory=tmp_path)
        assert again.pid == server.pid
    finally:
        server.stop()
    assert not server.pid_file.exists()
    assert not emu.answers(url)


def test_account_is_the_test_inventory_account(aws):
    assert aws("sts").get_caller_identity()["Account"] == "123456789012"


def test_port_taken_by_something_else_is_reported_not_waited_on(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(emu.EmulatorError, match=f"port {port} .* taken by something that is not moto"):
            emu.start(f"http://127.0.0.1:{port}", directory=tmp_path, timeout=5)
    assert not list(tmp_path.glob("*.pid"))


@pytest.mark.parametrize("url", ["http://10.0.0.5:4566", "https://ecr.ap-northeast-2.amazonaws.com"])
def test_non_loopback_endpoint_is_refused(url, tmp_path):
    with pytest.raises(emu.EmulatorError, match="refusing endpoint"):
        emu.start(url, directory=tmp_path)


def test_stop_ends_a_process_that_leads_no_process_group(tmp_path):
    """`cmd &` in a shell (as molecule prepare once started the follower) leads no group: stop() used to
    signal the group alone, found none, said True and left the process running."""
    import subprocess
    import time

    pid_file = tmp_path / "x.pid"
    subprocess.run(["sh", "-c", f"sleep 60 >/dev/null 2>&1 & echo $! > {pid_file}"], check=True)
    pid = int(pid_file.read_text())
    try:
        assert emu.stop(pid_file) is True
        for _ in range(100):
            if not emu._pid_alive(pid):
                break
            time.sleep(0.05)
        assert not emu._pid_alive(pid)
    finally:
        if emu._pid_alive(pid):
            emu._terminate(pid)


def test_background_follower_starts_says_it_is_alive_and_stops_by_pid(emulator, state_dir, tmp_path, monkeypatch):
    """python -m rehearsal.follow start|status|stop, as molecule/rollback's prepare and destroy use it."""
    from rehearsal import follow

    monkeypatch.setenv("CUTOVER_FOLLOW_LOG", str(tmp_path / "kept" / "follow.log"))
    pid = follow.start(idle_s=60, jitter_s=0)
    try:
        assert (state_dir / "follow.pid").read_text().strip() == str(pid)
        alive, message = follow.status()
        assert alive and f"pid {pid}" in message and "following " in message
        assert follow.start(idle_s=60) == pid  # idempotent while it lives
    finally:
        assert follow.stop() is True
    assert not emu._pid_alive(pid) and not (state_dir / "follow.pid").exists()
    alive, message = follow.status()
    assert not alive and "no follower PID" in message and "following " in message  # the kept log's tail
