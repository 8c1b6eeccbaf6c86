"""Fault-injection helpers: a MariaDB server of the test's own (killed and restarted at will), the weekly
job in a separate process (tests/reliability/runner.py), and polling of that run's events."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster._core.instance.ref import InstanceRef

from vodrec_assets_tests.integration.harness import (
    BIN, REPO, GiveUp, ManagedProcess, clean_env, free_port, wait_until,
)

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
# Short, test-sized backoff (production: VODREC_RETRY_MAX=4, VODREC_RETRY_DELAY_SECONDS=2).
FAST_RETRIES = {"VODREC_RETRY_MAX": "3", "VODREC_RETRY_DELAY_SECONDS": "0.25", "VODREC_S3_MAX_ATTEMPTS": "2"}


class OwnMariaDB:
    """A mariadbd on its own free port and datadir: `kill()` is SIGKILL (a crash, connections dropped
    mid-query), `start()` brings the same data back on the same port."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.port = free_port()
        self.process: ManagedProcess | None = None
        subprocess.run([INSTALL_DB, "--no-defaults", "--user=root", f"--datadir={self.datadir}",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)

    def url(self, database: str = "vod_rec") -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}"

    def connect(self, **kwargs):
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", autocommit=True,
                               connect_timeout=2, **kwargs)

    def _up(self) -> bool:
        try:
            self.connect().close()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def start(self) -> None:
        self.process = ManagedProcess("mariadbd", [
            MARIADBD, "--no-defaults", "--user=root", f"--datadir={self.datadir}", f"--port={self.port}",
            "--bind-address=127.0.0.1", f"--socket={self.workdir / 'mysqld.sock'}",
            f"--pid-file={self.workdir / 'mysqld.pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
            "--skip-name-resolve",
        ], clean_env(), self.workdir / "mariadbd.log", cwd=self.workdir).start()
        wait_until(lambda: self.process.alive() and self._up(), 60, interval=0.2, what="own mariadbd",
                   details=self.process.tail)

    def kill(self) -> None:
        """SIGKILL: the server vanishes as in a crash or a network cut."""
        if self.process is not None and self.process.alive():
            os.killpg(self.process.proc.pid, signal.SIGKILL)
            self.process.proc.wait(timeout=10)
        if self.process is not None:
            self.process.stop(grace=1)


@pytest.fixture(scope="module")
def own_mariadb(tmp_path_factory):
    server = OwnMariaDB(tmp_path_factory.mktemp("own_mariadb"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


class WeekRunner:
    """The weekly job for one week in a subprocess, on a Dagster instance in `home` (SQLite)."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = clean_env({**FAST_RETRIES, **env, "DAGSTER_HOME": str(home)})
        self.instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))

    def start(self, *args: str, log: str = "runner") -> ManagedProcess:
        return ManagedProcess(log, [str(BIN / "python"), "-m", "vodrec_assets_tests.reliability.runner", *args],
                              self.env, self.home / f"{log}.log", cwd=REPO).start()

    def result(self, proc: ManagedProcess, timeout: float = 240) -> dict:
        proc.proc.wait(timeout=timeout)
        proc.stop(grace=1)
        lines = [ln for ln in proc.log_path.read_text().splitlines() if ln.startswith("{")]
        assert lines, f"the runner printed no result:\n{proc.tail(80)}"
        return json.loads(lines[-1])

    def run(self, *args: str, log: str = "runner", timeout: float = 240) -> dict:
        return self.result(self.start(*args, log=log), timeout)

    def latest_run_id(self) -> str | None:
        runs = self.instance.get_runs(limit=1)
        return runs[0].run_id if runs else None

    def events(self, event_type: dg.DagsterEventType, step_key: str | None = None) -> list:
        run_id = self.latest_run_id()
        if run_id is None:
            return []
        records = self.instance.all_logs(run_id, of_type=event_type)
        return [r for r in records if step_key is None or r.dagster_event.step_key == step_key]

    def messages(self) -> list[str]:
        run_id = self.latest_run_id()
        return [r.user_message for r in self.instance.all_logs(run_id)] if run_id else []

    def wait_for_message(self, text: str, proc: ManagedProcess | None = None, timeout: float = 120) -> None:
        """Until the latest run logged a message containing `text` (the fused weekly step logs
        "<asset> <week>: started" before each asset of each week)."""
        def seen():
            if proc is not None and not proc.alive():
                raise GiveUp(f"the runner ended before {text!r}:\n{proc.tail(60)}")
            return any(text in m for m in self.messages())

        wait_until(seen, timeout, interval=0.1, what=repr(text))

    def materialized(self, asset: str) -> list:
        return [r for r in self.events(dg.DagsterEventType.ASSET_MATERIALIZATION)
                if r.dagster_event.event_specific_data.materialization.asset_key == dg.AssetKey(asset)]

    def wait_for(self, event_type: dg.DagsterEventType, step_key: str | None = None, proc: ManagedProcess | None = None,
                 timeout: float = 120) -> None:
        def seen():
            if proc is not None and not proc.alive():
                raise GiveUp(f"the runner ended before {event_type} {step_key}:\n{proc.tail(60)}")
            return self.events(event_type, step_key)

        wait_until(seen, timeout, interval=0.1, what=f"{event_type.value} {step_key or ''}")


def elapsed(t0: float) -> float:
    return round(time.perf_counter() - t0, 1)
