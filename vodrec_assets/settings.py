"""Environment-derived settings, read in one place so every entry point agrees."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_START_DATE = "2023-08-07"  # a Monday; the generator's default start
TIMEZONE = "Asia/Seoul"


def vodrec_home() -> Path:
    return Path(os.environ.get("VODREC_HOME", ".vodrec")).resolve()


def dagster_home() -> Path:
    """The local Dagster instance's folder: `DAGSTER_HOME`, else `VODREC_HOME/dagster_home`."""
    return Path(os.environ.get("DAGSTER_HOME") or vodrec_home() / "dagster_home").resolve()


LOCAL_SETTINGS_FILE = "local_settings.json"


def local_settings_path() -> Path:
    """Settings the embedded default keeps beside its data (`vodrec demo` writes them, `make ui` reads them):
    the partitions' first and end Monday of the data it generated or found. Never a credential."""
    return vodrec_home() / LOCAL_SETTINGS_FILE


def local_settings() -> dict[str, str]:
    path = local_settings_path()
    return json.loads(path.read_text()) if path.is_file() else {}


def write_local_settings(**values: str) -> Path:
    path = local_settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def partition_start_date() -> str:
    """The first Monday of the weekly partitions: `VODREC_START_DATE`, else the local settings, else the
    generator's default start."""
    return os.environ.get("VODREC_START_DATE") or local_settings().get("start_date") or DEFAULT_START_DATE


def partition_end_date() -> str | None:
    """The Monday after the last weekly partition (exclusive), or None: partitions run to the last complete
    week (production). `VODREC_END_DATE`, else the local settings the demo pinned to its data."""
    return os.environ.get("VODREC_END_DATE") or local_settings().get("end_date") or None


def default_sqlite_url() -> str:
    return f"sqlite:///{vodrec_home() / 'source.db'}"


# Names of the variables that may hold a secret: resources read them through dg.EnvVar, so that Dagster's
# storage and UI show the name, never the value.
SOURCE_URL_ENV = "VODREC_SOURCE_URL"  # a MySQL URL holds its password


def source_read_timeout_seconds() -> float:
    """How long one read of the source database may wait for the server (MySQL): a server that stops
    answering fails the step (then retried) instead of stalling the run."""
    return float(os.environ.get("VODREC_SOURCE_READ_TIMEOUT_SECONDS", "300"))


def s3_timeouts_seconds() -> tuple[float, float]:
    """(connect, read) timeouts of each S3 request; botocore's default read timeout is 60 s per attempt."""
    return (float(os.environ.get("VODREC_S3_CONNECT_TIMEOUT_SECONDS", "5")),
            float(os.environ.get("VODREC_S3_READ_TIMEOUT_SECONDS", "30")))


def source_url(explicit: str | None = None) -> str:
    """`--source URL`, else `VODREC_SOURCE_URL`, else a SQLite file under `VODREC_HOME`."""
    return explicit or os.environ.get(SOURCE_URL_ENV) or default_sqlite_url()


def redis_url() -> str | None:
    """`VODREC_REDIS_URL` (redis://host:port/db): the champion week's lists are published there and the API
    reads them there. Unset (the embedded default): the database only."""
    return os.environ.get("VODREC_REDIS_URL") or None


def redis_prefix() -> str:
    """The Redis key prefix (`VODREC_REDIS_PREFIX`, default `vodrec`): several deployments can share a server."""
    return os.environ.get("VODREC_REDIS_PREFIX") or "vodrec"


def artifacts_dir() -> Path:
    return Path(os.environ.get("VODREC_ARTIFACTS_DIR", str(vodrec_home() / "artifacts"))).resolve()


def lookback_weeks() -> int | None:
    """Weeks in the training window; None means every week from the first partition."""
    raw = os.environ.get("VODREC_LOOKBACK_WEEKS", "12").strip().lower()
    if raw == "all":
        return None
    weeks = int(raw)
    if weeks < 1:
        raise ValueError(f"VODREC_LOOKBACK_WEEKS must be a positive integer or 'all', got {raw!r}")
    return weeks


def retry_max() -> int:
    """How many times a step that reads the source or touches the artifact store is retried."""
    return int(os.environ.get("VODREC_RETRY_MAX", "4"))


def retry_delay_seconds() -> float:
    """The base delay of the exponential backoff between retries (1, 3, 7, 15 x this, +/- this)."""
    return float(os.environ.get("VODREC_RETRY_DELAY_SECONDS", "2"))


def recommendations_due_after():
    """How long after its week ends (Monday 00:00 Asia/Seoul) a week's recommendations are due:
    `VODREC_RECOMMENDATIONS_DUE_MINUTES` (default 540: Monday 09:00 Seoul), less than a week."""
    from datetime import timedelta

    return timedelta(minutes=float(os.environ.get("VODREC_RECOMMENDATIONS_DUE_MINUTES", "540")))


def alert_interval_seconds() -> int:
    """How often the alert sensors look (`VODREC_ALERT_INTERVAL_SECONDS`, default 30)."""
    return int(os.environ.get("VODREC_ALERT_INTERVAL_SECONDS", "30"))
