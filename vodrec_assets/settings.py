"""The settings of every entry point, read from the environment in one function (`Settings.from_environment`).

Every variable vodrec reads is declared once in VARIABLES (its name, default and meaning; the README's
configuration table is checked against it by a test). A `Settings` holds the values of the plain ones and,
for the variables that may hold a secret, only whether they are set: their values reach Dagster through
`dg.EnvVar(name)` (its storage and UI keep the name) and the command-line tools through `secret_value`.

Code reads the settings through `current()`: the ones chosen with `use()` (the demo, tests), else the
environment's. The `defs/` modules read them when the code location loads (dg's `load_from_defs_folder`
imports them: it takes a path, not arguments)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

DEFAULT_START_DATE = "2023-08-07"  # a Monday; the generator's default start
TIMEZONE = "Asia/Seoul"
LOCAL_SETTINGS_FILE = "local_settings.json"


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None  # None: unset by default
    meaning: str
    secret: bool = False  # may hold a credential: only its name and whether it is set are kept


VARIABLES: tuple[Variable, ...] = (
    Variable("VODREC_HOME", ".vodrec", "the embedded default's folder: source.db, artifacts/, dagster_home/"),
    Variable("VODREC_SOURCE_URL", None, "SQLAlchemy URL of the source database", secret=True),
    Variable("VODREC_START_DATE", None, "first Monday of the weekly partitions"),
    Variable("VODREC_END_DATE", None, "the Monday after the last weekly partition (exclusive)"),
    Variable("VODREC_LOOKBACK_WEEKS", "12", "weeks in the training window; `all` = from the first week"),
    Variable("VODREC_ARTIFACTS_DIR", None, "the local artifact folder (default VODREC_HOME/artifacts)"),
    Variable("VODREC_ENV", None, "which resource set to use: local or production"),
    Variable("VODREC_S3_BUCKET", None, "artifacts in S3 (production resources)", secret=True),
    Variable("VODREC_S3_PREFIX", "vodrec", "the key prefix of the artifacts in S3"),
    Variable("VODREC_S3_ENDPOINT_URL", None, "an S3-compatible store's endpoint"),
    Variable("VODREC_S3_MAX_ATTEMPTS", "5", "botocore's attempts per S3 request"),
    Variable("VODREC_S3_CONNECT_TIMEOUT_SECONDS", "5", "connect timeout of each S3 request"),
    Variable("VODREC_S3_READ_TIMEOUT_SECONDS", "30", "read timeout of each S3 request"),
    Variable("VODREC_SOURCE_READ_TIMEOUT_SECONDS", "300", "how long one read of a MySQL source may wait"),
    Variable("VODREC_SOURCE_READ_PARTS", "2", "time slices of a MySQL week read side by side (connections)"),
    Variable("VODREC_RETRY_MAX", "4", "retries of a step whose database or S3 was away"),
    Variable("VODREC_RETRY_DELAY_SECONDS", "2", "the base delay of the retries' exponential backoff"),
    Variable("VODREC_REDIS_URL", None, "Redis the champion week's lists are published to and served from",
             secret=True),
    Variable("VODREC_REDIS_PREFIX", "vodrec", "the Redis key prefix"),
    Variable("VODREC_SERVE_REFRESH_SECONDS", "2", "how often the API looks for a new champion"),
    Variable("VODREC_SERVE_STORE", "auto", "where the API reads the lists: auto, redis, snapshot or database"),
    Variable("VODREC_SERVE_SNAPSHOT_MAX_ROWS", None, "the most rows the API keeps in memory"),
    Variable("VODREC_ALERT_WEBHOOK_URL", None, "the alerts' webhook", secret=True),
    Variable("VODREC_UI_BASE_URL", None, "the Dagster UI's address in alert links", secret=True),
    Variable("VODREC_ALERT_SMTP_HOST", None, "the alerts' SMTP server", secret=True),
    Variable("VODREC_ALERT_SMTP_PORT", None, "its port", secret=True),
    Variable("VODREC_ALERT_EMAIL_FROM", None, "the alert e-mails' sender", secret=True),
    Variable("VODREC_ALERT_EMAIL_TO", None, "the alert e-mails' recipients", secret=True),
    Variable("VODREC_RECOMMENDATIONS_DUE_MINUTES", "540",
             "minutes after its week ends (Monday 00:00 Seoul) that a week's recommendations are due"),
    Variable("VODREC_ALERT_INTERVAL_SECONDS", "30", "how often the alert sensors look (failed runs, models not promoted, late weeks, drift)"),
    Variable("DAGSTER_HOME", None, "the Dagster instance folder (default: the root dagster.yaml's)"),
    Variable("AWS_REGION", None, "the S3 region (else AWS_DEFAULT_REGION, else us-east-1)"),
    Variable("AWS_DEFAULT_REGION", None, "the S3 region when AWS_REGION is unset"),
)
VARIABLE_NAMES = frozenset(v.name for v in VARIABLES)

# Names of the variables that may hold a secret, as the resources give them to dg.EnvVar.
SOURCE_URL_ENV = "VODREC_SOURCE_URL"  # a MySQL URL holds its password


@dataclass(frozen=True)
class Settings:
    """The plain variables' values (defaults applied) and the names of the secret variables that are set."""

    values: Mapping[str, str | None] = field(default_factory=dict)
    secrets_set: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **overrides: str) -> Settings:
        """The one reading of the environment; `overrides` (variable name -> value) win over it."""
        env = {**(os.environ if environ is None else environ), **overrides}
        values = {v.name: (env.get(v.name) or v.default) for v in VARIABLES if not v.secret}
        return cls(values, frozenset(v.name for v in VARIABLES if v.secret and env.get(v.name)))

    def __getitem__(self, name: str) -> str | None:
        if name not in VARIABLE_NAMES:
            raise KeyError(f"{name} is not a vodrec setting (settings.VARIABLES)")
        if name in self.secrets_set or any(v.name == name and v.secret for v in VARIABLES):
            raise KeyError(f"{name} may hold a secret: give its name to dg.EnvVar, or use secret_value()")
        return self.values.get(name)

    def is_set(self, name: str) -> bool:
        return name in self.secrets_set or bool(self.values.get(name))

    def with_values(self, **values: str) -> Settings:
        """These settings with some plain variables replaced (tests, the demo)."""
        unknown = set(values) - VARIABLE_NAMES
        if unknown:
            raise KeyError(f"not vodrec settings: {sorted(unknown)}")
        return Settings({**self.values, **values}, self.secrets_set)


_chosen: list[Settings] = []


def current() -> Settings:
    """The settings chosen with `use()`, else the environment's as it is now."""
    return _chosen[-1] if _chosen else Settings.from_environment()


@contextmanager
def use(chosen: Settings) -> Iterator[Settings]:
    """Run a block with these settings instead of the environment's."""
    _chosen.append(chosen)
    try:
        yield chosen
    finally:
        _chosen.pop()


def secret_value(name: str) -> str | None:
    """A secret variable's value, for a command-line tool that opens the connection itself (never Dagster,
    which gets the name through dg.EnvVar)."""
    if name not in {v.name for v in VARIABLES if v.secret}:
        raise KeyError(f"{name} is not a secret variable of settings.VARIABLES")
    return os.environ.get(name) or None


def vodrec_home() -> Path:
    return Path(current()["VODREC_HOME"]).resolve()


def dagster_home() -> Path:
    """The local Dagster instance's folder: `DAGSTER_HOME`, else `VODREC_HOME/dagster_home`."""
    return Path(current()["DAGSTER_HOME"] or vodrec_home() / "dagster_home").resolve()


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
    return current()["VODREC_START_DATE"] or local_settings().get("start_date") or DEFAULT_START_DATE


def partition_end_date() -> str | None:
    """The Monday after the last weekly partition (exclusive), or None: partitions run to the last complete
    week (production). `VODREC_END_DATE`, else the local settings the demo pinned to its data."""
    return current()["VODREC_END_DATE"] or local_settings().get("end_date") or None


def default_sqlite_url() -> str:
    return f"sqlite:///{vodrec_home() / 'source.db'}"


def source_read_timeout_seconds() -> float:
    """How long one read of the source database may wait for the server (MySQL): a server that stops
    answering fails the step (then retried) instead of stalling the run."""
    return float(current()["VODREC_SOURCE_READ_TIMEOUT_SECONDS"])


def source_read_parts() -> int:
    """How many time slices of a week a MySQL source is read in, side by side (a connection each)."""
    parts = int(current()["VODREC_SOURCE_READ_PARTS"])
    if parts < 1:
        raise ValueError(f"VODREC_SOURCE_READ_PARTS must be a positive integer, got {parts}")
    return parts


def s3_timeouts_seconds() -> tuple[float, float]:
    """(connect, read) timeouts of each S3 request; botocore's default read timeout is 60 s per attempt."""
    return (float(current()["VODREC_S3_CONNECT_TIMEOUT_SECONDS"]),
            float(current()["VODREC_S3_READ_TIMEOUT_SECONDS"]))


def source_url(explicit: str | None = None) -> str:
    """`--source URL`, else `VODREC_SOURCE_URL`, else a SQLite file under `VODREC_HOME`."""
    return explicit or secret_value(SOURCE_URL_ENV) or default_sqlite_url()


def redis_url() -> str | None:
    """`VODREC_REDIS_URL` (redis://host:port/db): the champion week's lists are published there and the API
    reads them there. Unset (the embedded default): the database only."""
    return secret_value("VODREC_REDIS_URL")


def redis_prefix() -> str:
    """The Redis key prefix (`VODREC_REDIS_PREFIX`, default `vodrec`): several deployments can share a server."""
    return current()["VODREC_REDIS_PREFIX"]


def artifacts_dir() -> Path:
    return Path(current()["VODREC_ARTIFACTS_DIR"] or str(vodrec_home() / "artifacts")).resolve()


def lookback_weeks() -> int | None:
    """Weeks in the training window; None means every week from the first partition."""
    raw = current()["VODREC_LOOKBACK_WEEKS"].strip().lower()
    if raw == "all":
        return None
    weeks = int(raw)
    if weeks < 1:
        raise ValueError(f"VODREC_LOOKBACK_WEEKS must be a positive integer or 'all', got {raw!r}")
    return weeks


def retry_max() -> int:
    """How many times a step that reads the source or touches the artifact store is retried."""
    return int(current()["VODREC_RETRY_MAX"])


def retry_delay_seconds() -> float:
    """The base delay of the exponential backoff between retries (1, 3, 7, 15 x this, +/- this)."""
    return float(current()["VODREC_RETRY_DELAY_SECONDS"])


def recommendations_due_after() -> timedelta:
    """How long after its week ends (Monday 00:00 Asia/Seoul) a week's recommendations are due (default
    540 minutes: Monday 09:00 Seoul), less than a week."""
    return timedelta(minutes=float(current()["VODREC_RECOMMENDATIONS_DUE_MINUTES"]))


def alert_interval_seconds() -> int:
    """How often each alert sensor looks (the seconds between its ticks)."""
    return int(current()["VODREC_ALERT_INTERVAL_SECONDS"])
