"""Shared fixtures: one emulator per test session, reset before each test.

The emulator runs on a free loopback port (never the operator's 4566), its
PID file in a temporary state directory; it is stopped by that PID at the end
of the session, also when tests fail.
"""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from rehearsal import emulator as emu  # noqa: E402
from rehearsal.proxy import FaultProxy  # noqa: E402

REGION = "ap-northeast-2"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pytest_collection_modifyitems(config, items):
    """Files with a test marked slow first, in collection order otherwise: xdist (pytest.ini: --dist loadfile
    --no-loadscope-reorder) hands the files out in this order, so the long ones start early and the many
    short ones fill in at the end, and both workers finish together (xdist's own reorder puts the files with
    the most tests first: the one-test files of a minute or two came last and ran alone)."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file's tests stay together


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory):
    """A moto server for the whole session; stopped by PID afterwards."""
    directory = tmp_path_factory.mktemp("emulator-state")
    for attempt in range(3):  # another xdist worker may take the free port first
        try:
            server = emu.start(f"http://127.0.0.1:{_free_port()}", directory=directory)
            break
        except emu.EmulatorError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def emulator(emulator_server, monkeypatch):
    """A clean emulator for one test; its URL is also in CUTOVER_EMULATOR_URL."""
    emu.reset(emulator_server.url)
    monkeypatch.setenv("CUTOVER_EMULATOR_URL", emulator_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return emulator_server.url


@pytest.fixture
def aws(emulator):
    """aws('lambda') -> boto3 client against the clean emulator."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )

    def client(service: str, url: str | None = None):
        return session.client(service, endpoint_url=url or emulator)

    return client


@pytest.fixture
def proxy(emulator):
    """A recording, fault-injecting proxy in front of the clean emulator."""
    with FaultProxy(emulator) as prx:
        yield prx


@pytest.fixture(autouse=True)
def _private_reports(tmp_path, monkeypatch):
    """Evidence a test writes goes to its own directory, never the project's reports/."""
    monkeypatch.setenv("CUTOVER_REPORTS_DIR", str(tmp_path / "reports"))


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    directory = tmp_path / "state"
    directory.mkdir()
    monkeypatch.setenv("CUTOVER_STATE_DIR", str(directory))
    return directory


LEDGER_TABLE = "naver-sms-cutover-ledger"
STATE_BUCKET = "naver-sms-cutover-state-123456789012"


def bootstrap_state(url: str) -> None:
    """What playbooks/bootstrap.yml creates (ledger table, state bucket), made in-process (fast)."""
    from tests.module_runner import run_module

    for args in ({"action": "ensure_table"},
                 {"action": "ensure_bucket", "bucket": STATE_BUCKET, "account_id": "123456789012"}):
        result = run_module("cutover_ledger", dict(args, table=LEDGER_TABLE), url)
        assert not result.get("failed"), result


@pytest.fixture
def bootstrapped(emulator):
    """The clean emulator with the migration's ledger table and state bucket (playbooks/bootstrap.yml)."""
    bootstrap_state(emulator)
    return emulator


def migration_writes(calls: list[dict]) -> list[str]:
    """Mutating calls other than the ledger's own bookkeeping (lock, unlock, one event per run: DynamoDB
    PutItem/DeleteItem; no migration playbook writes single items) and the run's change record (S3 PUT
    under change-records/, callback_plugins/change_record.py)."""
    return [c["operation"] for c in calls
            if c["mutating"] and not (c["service"] == "dynamodb" and c["operation"] in ("PutItem", "DeleteItem"))
            and not (c["service"] == "s3" and c["operation"].startswith(f"PUT /{STATE_BUCKET}/change-records/"))]


class SharedWorld:
    """A world one test module builds once on the session's emulator and its tests share (they read it, or add
    resources of their own names), instead of a reset and a rebuild per test.

    The `emulator` fixture resets the emulator for the test that asks for it: a test that comes after such a
    test finds the world gone (``present`` answers False) and gets it built again, so the tests never depend
    on their order, only the time does."""

    def __init__(self, url: str, build, present):
        self.url, self._build, self._present, self._value, self.builds = url, build, present, None, 0

    def get(self):
        if self._value is None or not self._present(self._value):
            emu.reset(self.url)
            self._value = self._build(self.url)
            self.builds += 1
        return self._value


@pytest.fixture
def shared_emulator(emulator_server, monkeypatch):
    """The session's emulator as it stands, NOT reset (for tests on a SharedWorld); its URL, region and test
    keys in the environment as the `emulator` fixture sets them."""
    for name, value in {"CUTOVER_EMULATOR_URL": emulator_server.url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return emulator_server.url


def aws_client(service: str, url: str):
    """A boto3 client against ``url`` with the test keys (what the `aws` fixture gives, without its reset)."""
    import boto3

    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name=REGION).client(service, endpoint_url=url)


@pytest.fixture
def shared_proxy(shared_emulator):
    """A recording, fault-injecting proxy in front of the session's emulator as it stands (not reset)."""
    with FaultProxy(shared_emulator) as prx:
        yield prx


# Every boto3 session of the test process (the tests' clients, the rehearsal's, the modules run in-process) shares
# one botocore loader: botocore's JSON is parsed once per process, not once per session (tests/module_runner.py).
import tests.module_runner  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
