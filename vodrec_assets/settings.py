"""Environment-derived settings, read in one place so every entry point agrees."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_START_DATE = "2023-08-07"  # a Monday; the generator's default start
TIMEZONE = "Asia/Seoul"


def vodrec_home() -> Path:
    return Path(os.environ.get("VODREC_HOME", ".vodrec")).resolve()


def dagster_home() -> Path:
    """The local Dagster instance's folder: `DAGSTER_HOME`, else `VODREC_HOME/dagster_home`."""
    return Path(os.environ.get("DAGSTER_HOME") or vodrec_home() / "dagster_home").resolve()


def default_sqlite_url() -> str:
    return f"sqlite:///{vodrec_home() / 'source.db'}"


def source_url(explicit: str | None = None) -> str:
    """`--source URL`, else `VODREC_SOURCE_URL`, else a SQLite file under `VODREC_HOME`."""
    return explicit or os.environ.get("VODREC_SOURCE_URL") or default_sqlite_url()


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
