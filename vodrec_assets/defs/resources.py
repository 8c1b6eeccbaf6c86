"""Resources per environment, chosen once from one map (hooli style).

- local (the embedded default): SQLite source under VODREC_HOME, artifacts in a local folder.
- production: the source database from VODREC_SOURCE_URL (MySQL), artifacts in S3 through
  dagster-aws's S3Resource (VODREC_S3_BUCKET, VODREC_S3_PREFIX, optional VODREC_S3_ENDPOINT_URL for
  S3-compatible stores; credentials from the usual AWS_* variables, never from the repository).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource

from vodrec_assets import settings
from vodrec_assets.alerts import AlertNotifier
from vodrec_assets.quality import QualityPolicy
from vodrec_assets.resources import LocalArtifactStore, S3ArtifactStore, ServingRedis, SourceDatabase


def _serving_redis() -> ServingRedis:
    """Redis when `VODREC_REDIS_URL` is set (read through an EnvVar: never stored), else none."""
    if not settings.current().is_set("VODREC_REDIS_URL"):
        return ServingRedis()
    return ServingRedis(url=dg.EnvVar("VODREC_REDIS_URL"), prefix=settings.redis_prefix())


def _source_db() -> SourceDatabase:
    """The source database. A URL in VODREC_SOURCE_URL may hold a password, so the resource gets it through
    dg.EnvVar: the instance and the UI store the variable's name, never its value. Without it, the
    embedded SQLite file under VODREC_HOME (a path, no credential)."""
    if settings.current().is_set(settings.SOURCE_URL_ENV):
        return SourceDatabase(url=dg.EnvVar(settings.SOURCE_URL_ENV))
    return SourceDatabase(url=settings.default_sqlite_url())


def _local() -> dict[str, Any]:
    return {
        "source_db": _source_db(),
        "artifacts": LocalArtifactStore(root=str(settings.artifacts_dir())),
        "serving_redis": _serving_redis(),
    }


def _production() -> dict[str, Any]:
    current = settings.current()
    endpoint = current["VODREC_S3_ENDPOINT_URL"] or None
    return {
        "source_db": SourceDatabase(url=dg.EnvVar(settings.SOURCE_URL_ENV)),
        "artifacts": S3ArtifactStore(
            s3=S3Resource(
                endpoint_url=endpoint,
                region_name=current["AWS_REGION"] or current["AWS_DEFAULT_REGION"] or "us-east-1",
                # botocore's own attempts per request (connection errors, 5xx, throttling); the step's
                # RetryPolicy then retries the whole step with a longer backoff.
                max_attempts=int(current["VODREC_S3_MAX_ATTEMPTS"]),
            ),
            bucket=dg.EnvVar("VODREC_S3_BUCKET"),
            prefix=current["VODREC_S3_PREFIX"],
        ),
        "serving_redis": _serving_redis(),
    }


RESOURCES_BY_ENVIRONMENT = {"local": _local, "production": _production}


def environment_name() -> str:
    explicit = settings.current()["VODREC_ENV"]
    if explicit:
        if explicit not in RESOURCES_BY_ENVIRONMENT:
            raise ValueError(f"VODREC_ENV must be one of {sorted(RESOURCES_BY_ENVIRONMENT)}, got {explicit!r}")
        return explicit
    return "production" if settings.current().is_set("VODREC_S3_BUCKET") else "local"


def resources_for_environment(name: str | None = None) -> dict[str, Any]:
    return RESOURCES_BY_ENVIRONMENT[name or environment_name()]()


# The alert targets, each from an environment variable (its name, never its value, is kept here; Dagster
# resolves dg.EnvVar when a sensor runs, so neither the URL nor an address lands in its storage or UI).
ALERT_SETTINGS = {
    "webhook_url": "VODREC_ALERT_WEBHOOK_URL",
    "ui_base_url": "VODREC_UI_BASE_URL",
    "smtp_host": "VODREC_ALERT_SMTP_HOST",
    "smtp_port": "VODREC_ALERT_SMTP_PORT",
    "smtp_sender": "VODREC_ALERT_EMAIL_FROM",
    "smtp_recipients": "VODREC_ALERT_EMAIL_TO",
}


def alert_notifier() -> AlertNotifier:
    """The alert targets whose variables are set; none set: alerts are not sent."""
    return AlertNotifier(**{
        field: dg.EnvVar.int(var) if field == "smtp_port" else dg.EnvVar(var)
        for field, var in ALERT_SETTINGS.items() if settings.current().is_set(var)
    })


@dg.definitions
def resources() -> dg.Definitions:
    """The resources every asset, check and sensor of the code location binds: the environment's source
    database, artifact store and Redis, the quality policy, and the alert targets. A function, so the
    environment is read when the code location loads, not when this module is imported."""
    return dg.Definitions(resources={**resources_for_environment(), "quality": QualityPolicy(),
                                     "alerts": alert_notifier()})
