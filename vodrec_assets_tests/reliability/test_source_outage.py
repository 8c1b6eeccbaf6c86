"""The source database goes away: a MariaDB server of the test's own (own port, own datadir) is killed
while a step reads the week's logs out of it (held in flight by a table lock: the compiled read is over
in a fraction of a second), and while it stays down. Steps are retried with
exponential backoff (RetryPolicy), then fail with a clear message; re-executing from failure succeeds once
the server is back. The week's rows arrive exactly once (no partial first read kept)."""

from __future__ import annotations

import time

import dagster as dg
import pandas as pd
import pytest

from vodrec_assets.asset_defaults import WEEKLY_STEP
from vodrec_assets.resources import LocalArtifactStore
from vodrec_assets.sources.synthetic import generate
from vodrec_assets_tests.integration.harness import wait_until

from .conftest import WeekRunner, elapsed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WEEK = "2023-08-07"
DOUBLINGS = 5  # 32 x the tiny week's watch rows: a read that lasts long enough to be cut in the middle


@pytest.fixture(scope="module")
def source(own_mariadb):
    with own_mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE vod_rec CHARACTER SET utf8mb4")
    generate(own_mariadb.url(), scale="tiny", weeks=1, seed=0)
    with own_mariadb.connect(database="vod_rec") as conn, conn.cursor() as cur:
        for _ in range(DOUBLINGS):
            cur.execute("INSERT INTO vods_sumut SELECT * FROM vods_sumut")
        cur.execute("SELECT COUNT(*) FROM vods_sumut WHERE log_dt >= %s AND log_dt < %s", (WEEK, "2023-08-14"))
        watch_rows = cur.fetchone()[0]
    return own_mariadb, watch_rows


def _runner(tmp_path, server, **extra: str) -> tuple[WeekRunner, LocalArtifactStore]:
    artifacts = tmp_path / "artifacts"
    env = {"VODREC_SOURCE_URL": server.url(), "VODREC_ARTIFACTS_DIR": str(artifacts), "VODREC_HOME": str(tmp_path),
           "VODREC_START_DATE": WEEK, **extra}
    return WeekRunner(tmp_path / "dagster_home", env), LocalArtifactStore(root=str(artifacts))


def _reading_watch_logs(server) -> bool:
    """True while a client's read of vods_sumut is in the server's process list (the name quoted or not)."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE (INFO LIKE %s OR INFO LIKE %s) "
                    "AND INFO NOT LIKE %s", ("%FROM vods_sumut%", "%FROM `vods_sumut`%", "%PROCESSLIST%"))
        return cur.fetchone()[0] > 0


def test_connection_dropped_mid_read_is_retried_and_the_week_arrives_once(tmp_path, source):
    server, watch_rows = source
    server.start() if not server._up() else None
    # Retries enough for a restart on a loaded machine: 0.25 s x (1, 3, 7, 15, 31, 63) apart.
    runner, artifacts = _runner(tmp_path, server, VODREC_RETRY_MAX="6")
    # The compiled read takes a fraction of a second: a lock holds it in flight until the server is killed.
    locker = server.connect(database="vod_rec")
    locker.cursor().execute("LOCK TABLES vods_sumut WRITE")
    t0 = time.perf_counter()
    proc = runner.start("--week", WEEK, "--select", "raw_vod_logs")
    wait_until(lambda: _reading_watch_logs(server) or (not proc.alive() and pytest.fail(proc.tail(60))), 120,
               interval=0.05, what="the watch-log read to start")
    server.kill()  # mid-read: the client's connection is gone (and the lock with it)
    killed_at = elapsed(t0)
    runner.wait_for(dg.DagsterEventType.STEP_UP_FOR_RETRY, WEEKLY_STEP, proc=proc)
    server.start()
    result = runner.result(proc)
    print(f"killed at {killed_at}s, back at {elapsed(t0)}s; result {result}")
    assert result["success"], result
    assert result["retries"].get(WEEKLY_STEP, 0) >= 1
    # Exactly the week's rows, once: the cut first read left nothing behind.
    assert len(artifacts.read_parquet(f"raw_vod_logs/{WEEK}.parquet")) == watch_rows


def test_source_down_through_every_retry_fails_clearly_then_reexecution_succeeds(tmp_path, source):
    server, _ = source
    server.start() if not server._up() else None
    runner, artifacts = _runner(tmp_path, server)
    server.kill()
    select = "vod_catalog,raw_click_logs"
    t0 = time.perf_counter()
    failed = runner.run("--week", WEEK, "--select", select, log="down")
    took = elapsed(t0)
    assert not failed["success"]
    # The week's step was retried VODREC_RETRY_MAX (3) times with backoff, then failed naming the cause of
    # each of its two assets.
    assert failed["retries"] == {WEEKLY_STEP: 3}, failed
    assert failed["failures"] and all("Can't connect to MySQL server" in f for f in failed["failures"]), failed
    assert not artifacts.list_keys("")
    server.start()
    again = runner.run("--week", WEEK, "--reexecute-from-failure", failed["run_id"], log="again")
    print(f"failed after {took}s with retries {failed['retries']}; re-execution {again}")
    assert again["success"], again
    assert sorted(artifacts.list_keys("")) == sorted([
        f"vod_catalog/{WEEK}.parquet", f"vod_catalog/{WEEK}.quarantined.parquet", f"raw_click_logs/{WEEK}.parquet"])
    with server.connect(database="vod_rec") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM contlog WHERE log_dt >= %s AND log_dt < %s", (WEEK, "2023-08-14"))
        assert len(artifacts.read_parquet(f"raw_click_logs/{WEEK}.parquet")) == cur.fetchone()[0]
    assert isinstance(artifacts.read_parquet(f"vod_catalog/{WEEK}.parquet"), pd.DataFrame)
