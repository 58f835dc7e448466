# -*- coding: utf-8 -*-
"""Every playbook run leaves a change record: reports/<environment>/<ticket or date>/<time>-<playbook>.{json,md}."""
from __future__ import annotations

import getpass
import importlib.util
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from ansible import context
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: change_record
type: aggregate
short_description: Write a change record (JSON and Markdown) of every playbook run
description:
  - Gathers every changed task (its resource and the module's diff), every decision, figure
    (digest, image size, gap seconds, rollback time) and ledger id a task returns, the run's
    custom stats, the ticket, the operator, the account and the start and end times.
  - At the end of the run writes C(<reports>/<environment>/<ticket or date>/<start>-<playbook>.json)
    and C(.md) (a C(--check) run writes a "planned change" record, suffix C(-check)).
  - C(<reports>) is C($CUTOVER_REPORTS_DIR), else C(reports/) of the project the playbook belongs to.
  - When the run's preflight has seen the state bucket (C(bootstrap.yml) has run), the record (JSON and
    Markdown) is also put into it under C(change-records/<account>/<region>/<environment>/<ticket or date>/),
    with a conditional write (a new object per run, never an overwrite), when the run changed something.
    A run that changed nothing (a C(--check) run's planned change, a refusal, a rerun with changed=0)
    keeps its record local only, so that it makes no AWS write. A failed upload is a warning.
  - Secrets are blanked by C(module_utils/cutover/change_record.py); a record in which a credential
    pattern is still visible is not written (a warning says so). The record never fails the run.
  - Enabled in C(ansible.cfg) with C(callbacks_enabled = change_record) and C(callback_plugins).
author:
  - naver-sms cutover team
requirements:
  - enabled in ansible.cfg (callbacks_enabled)
"""

_CORE = Path(__file__).resolve().parent.parent / "module_utils" / "cutover" / "change_record.py"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cr = _load("cutover_change_record", _CORE)

# Result keys kept for decisions, figures and ledger ids (the rest of a result is not recorded).
_KEPT = set(cr.FIGURE_KEYS) | set(cr.LEDGER_KEYS) | set(cr.DECISION_KEYS)


def upload(record: dict, texts: dict, aws: dict, bucket: str, region: str) -> list[str]:
    """Put the record's texts (suffix -> text) into the state bucket; returns their s3:// URLs.

    ``aws`` is the inventory's ``cutover_aws`` (region, endpoint_url, access_key, secret_key), the
    same connection every module of the run used. Conditional put (``IfNoneMatch=*``): a record is
    written once and never replaces another.
    """
    import boto3  # only when there is a bucket to write to
    from botocore.config import Config

    store_module = _load("cutover_state_store", _CORE.parent / "state_store.py")
    session = boto3.session.Session(aws_access_key_id=aws.get("access_key") or None,
                                    aws_secret_access_key=aws.get("secret_key") or None,
                                    aws_session_token=aws.get("session_token") or None,
                                    profile_name=aws.get("profile") or None)
    s3 = session.client("s3", region_name=region, endpoint_url=aws.get("endpoint_url") or None,
                        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5,
                                      read_timeout=15))
    store = store_module.StateStore(s3, bucket, record["account_id"], region, retry=False)
    urls = []
    for suffix, text in texts.items():
        key = cr.object_key(record, region, suffix)
        store.put(key, text, None, "application/json" if suffix == ".json" else "text/markdown; charset=utf-8")
        urls.append(store.url(key))
    return urls


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "change_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._playbook = None
        self._play = None
        self._run = {"changes": [], "failures": [], "results": [], "started": _now()}

    # ---- gathering --------------------------------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        self._playbook = Path(playbook._file_name)
        self._run["started"] = _now()

    def v2_playbook_on_play_start(self, play):
        self._play = play
        if "operator" in self._run:
            return
        extra = dict(play.get_variable_manager().extra_vars or {})
        inventories = context.CLIARGS.get("inventory") or ()
        self._run.update(
            check_mode=bool(context.CLIARGS.get("check")),
            inventory=", ".join(self._relative(Path(i)) for i in inventories),
            ticket=str(extra.get("change_ticket") or ""),
            operator=str(extra.get("awx_user_name") or extra.get("tower_user_name") or os.environ.get("USER")
                         or os.environ.get("LOGNAME") or getpass.getuser()),
            job=(f"AWX job {extra['awx_job_id']}" + (f" ({extra['awx_job_template_name']})"
                                                     if extra.get("awx_job_template_name") else ""))
            if extra.get("awx_job_id") else "",
        )

    def v2_runner_on_ok(self, result):
        self._collect(result)

    def v2_runner_item_on_ok(self, result):
        self._collect(result, item=True)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self._run["failures"].append({"task": result._task.get_name(), "module": result._task.action,
                                          "msg": result._result.get("msg", "")})

    def v2_runner_on_unreachable(self, result):
        self.v2_runner_on_failed(result)

    def _collect(self, result, item: bool = False):
        res, task = result._result, result._task
        if "results" in res and not item:
            return  # a loop: its items came one by one
        facts = (res.get("ansible_facts") or {}).get("preflight_result")
        if isinstance(facts, dict):
            self._run.update(environment=facts.get("environment", ""), account_id=facts.get("account_id", ""),
                             caller_arn=facts.get("caller_arn", ""), region=facts.get("region", ""),
                             state_bucket=facts.get("state_bucket", ""))
            self._run["ticket"] = facts.get("change_ticket") or self._run.get("ticket", "")
        name = task.get_name()
        if item:
            name += f" ({res.get('_ansible_item_label', res.get('item', ''))})"
        if res.get("changed"):
            args = {key: value for key, value in (task.args or {}).items()
                    if key in cr.RESOURCE_KEYS and isinstance(value, (str, int))}
            self._run["changes"].append({
                "task": name, "module": task.action, "args": args, "hidden": bool(res.get("censored")),
                "diff": res.get("diff"),
                "result": {key: res[key] for key in cr.RESOURCE_KEYS if isinstance(res.get(key), (str, int))},
            })
        kept = {key: res[key] for key in _KEPT if key in res}
        if kept and not res.get("censored"):
            self._run["results"].append({"task": name, "module": task.action, "result": kept})

    # ---- writing ----------------------------------------------------------------------------

    def v2_playbook_on_stats(self, stats):
        try:
            paths = self._write(stats)
        except Exception as error:  # the record must never fail the run it describes
            self._display.warning(f"change record not written: {error}")
            return
        if paths:
            self._display.display(f"change record: {paths[1]}", stderr=True)

    def _write(self, stats) -> list[Path]:
        totals = {}
        for host in sorted(stats.processed):
            for key, value in stats.summarize(host).items():
                totals[key] = totals.get(key, 0) + value
        custom = dict((stats.custom or {}).get("_run") or {})
        environment = self._run.get("environment") or custom.get("cutover_environment") or \
            (Path(self._run.get("inventory", "")).name if self._run.get("inventory") else "")
        self._run.update(
            playbook=self._relative(self._playbook) if self._playbook else "",
            ended=_now(), stats=totals, custom_stats=custom, environment=environment,
            account_id=self._run.get("account_id") or custom.get("cutover_account_id", ""),
            ticket=self._run.get("ticket") or custom.get("change_ticket", ""),
            status="failed" if totals.get("failures") or totals.get("unreachable") or self._run["failures"] else "ok",
        )
        self._run["stats"] = {"ok": totals.get("ok", 0), "changed": totals.get("changed", 0),
                              "failed": totals.get("failures", 0), "skipped": totals.get("skipped", 0),
                              "unreachable": totals.get("unreachable", 0)}
        record = cr.build(self._run)
        text = cr.assert_clean(json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n")
        markdown = cr.assert_clean(cr.to_markdown(record))
        directory = Path(cr.record_dir(str(self._reports_dir()), record))
        directory.mkdir(parents=True, exist_ok=True)
        stem = cr.file_stem(record)
        paths = [directory / f"{stem}.json", directory / f"{stem}.md"]
        paths[0].write_text(text, encoding="utf-8")
        paths[1].write_text(markdown, encoding="utf-8")
        self._upload(record, {".json": text, ".md": markdown})
        return paths

    def _upload(self, record: dict, texts: dict) -> None:
        """The record into the state bucket; never fails the run, never shows a credential."""
        bucket = self._run.get("state_bucket")
        if not bucket or record["record"] != cr.CHANGE:  # --check, refusals and reruns: no AWS write
            return
        try:
            urls = upload(record, texts, self._aws(), bucket, self._run.get("region", ""))
        except Exception as error:  # the record must never fail the run it describes
            reason = cr.scrub_text(f"{type(error).__name__}: {error}")
            self._display.warning(f"change record not stored in the state bucket {bucket} ({reason}); the local copy "
                                  "under reports/ is the record of this run: attach it to the ticket")
            return
        self._display.display(f"change record: {urls[0]}", stderr=True)

    def _aws(self) -> dict:
        """The inventory's cutover_aws, templated for localhost (the connection the modules used)."""
        from ansible.template import Templar

        manager = self._play.get_variable_manager()
        host = manager._inventory.get_host("localhost")
        variables = manager.get_vars(play=self._play, host=host)
        settings = Templar(loader=self._play._loader, variables=variables).template(variables.get("cutover_aws", {}))
        return {key: value for key, value in dict(settings or {}).items() if isinstance(value, str) and value}

    def _project(self) -> Path:
        if self._playbook is None:
            return Path.cwd()
        folder = self._playbook.resolve().parent
        for candidate in (folder, *folder.parents):  # the project: where ansible.cfg is
            if (candidate / "ansible.cfg").is_file():
                return candidate
        return folder.parent if folder.name == "playbooks" else folder

    def _reports_dir(self) -> Path:
        configured = os.environ.get("CUTOVER_REPORTS_DIR")
        return Path(configured) if configured else self._project() / "reports"

    def _relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self._project()))
        except ValueError:
            return str(path)
