"""A source database that stops answering and an S3 endpoint that accepts connections but never answers
fail the read after the configured timeout (then the step's RetryPolicy takes over) instead of stalling
a run: pymysql waits forever by default, connectorx has no timeout at all, botocore 60 s per attempt."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime

import pytest
import sqlalchemy as sa
from botocore.exceptions import ReadTimeoutError
from dagster_aws.s3 import S3Resource

from vodrec_assets import schema, settings
from vodrec_assets.resources import S3ArtifactStore, SourceDatabase

from ..conftest import _mysql_admin

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("read, error, message", [
    ("read_window", sa.exc.OperationalError, "timed out|Lost connection"),  # pymysql's socket timeout
    ("read_window_text", TimeoutError, "VODREC_SOURCE_READ_TIMEOUT_SECONDS"),  # connectorx: the whole read's
])
def test_a_locked_mysql_table_fails_the_read_after_the_timeout(mariadb_url, monkeypatch, read, error, message):
    monkeypatch.setenv("VODREC_SOURCE_READ_TIMEOUT_SECONDS", "2")
    engine = sa.create_engine(mariadb_url)
    schema.create_source_tables(engine)
    engine.dispose()
    database = sa.engine.make_url(mariadb_url).database
    locker = _mysql_admin()
    try:
        with locker.cursor() as cur:
            cur.execute(f"LOCK TABLES `{database}`.`vods_sumut` WRITE")  # every reader now waits
        db = SourceDatabase(url=mariadb_url)
        started = time.monotonic()
        with pytest.raises(error, match=message):
            getattr(db, read)("vods_sumut", datetime(2023, 8, 7), datetime(2023, 8, 14), ["subsr_id", "log_dt"])
        waited = time.monotonic() - started
        assert 1.5 < waited < 20, waited
    finally:
        with locker.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        locker.close()


@pytest.fixture
def silent_endpoint():
    """A TCP server that accepts every connection, reads the request and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def test_an_s3_endpoint_that_never_answers_fails_after_the_read_timeout(silent_endpoint, monkeypatch):
    assert settings.s3_timeouts_seconds() == (5.0, 30.0)  # the defaults, explicit
    monkeypatch.setenv("VODREC_S3_READ_TIMEOUT_SECONDS", "1")
    store = S3ArtifactStore(s3=S3Resource(endpoint_url=silent_endpoint, region_name="us-east-1", max_attempts=2,
                                          aws_access_key_id="test", aws_secret_access_key="test"), bucket="vodrec")
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        store.get_bytes("raw_vod_logs/2023-08-07.parquet")
    waited = time.monotonic() - started
    assert 1.5 < waited < 15, waited  # two attempts of 1 s (and a backoff), not 2 x 60 s
