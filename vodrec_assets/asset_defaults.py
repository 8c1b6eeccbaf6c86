"""What every weekly asset shares: partitions, owner, retries, the week's bounds."""


from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import dagster as dg

from vodrec_assets import settings
from vodrec_assets.partitions import week_bounds, weekly_partitions

OWNERS = ["team:ml-platform"]
# The pool of the steps that fit LightFM (dagster.yaml limits every pool to one step at a time).
TRAINING_POOL = "lightfm_training"
# The run tag by which dagster.yaml's tag_concurrency_limits runs one weekly_retrain at a time.
JOB_TAG = "vodrec/job"
# The one step that runs the weekly assets, a week or a range of weeks (fused_weeks.py); trained_model's
# run config is `ops: {weekly_assets: {config: {trained_model: {...}}}}`.
WEEKLY_STEP = "weekly_assets"


def io_retry_policy() -> dg.RetryPolicy:
    """Every vodrec asset reads the source database or the artifact store (S3 in production), so every
    step is retried with exponential backoff when one of them is briefly away (a restart, a dropped
    connection, a throttled PUT). With the defaults (VODREC_RETRY_MAX=4, VODREC_RETRY_DELAY_SECONDS=2)
    the waits are about 2, 6, 14 and 30 s. Errors that waiting cannot fix (schema drift, a missing
    upstream week, a bad config) are raised as dg.Failure(allow_retries=False) and fail at once."""
    delay = settings.retry_delay_seconds()
    return dg.RetryPolicy(max_retries=settings.retry_max(), delay=delay, backoff=dg.Backoff.EXPONENTIAL,
                          jitter=dg.Jitter.PLUS_MINUS if delay > 0 else None)


def weekly_asset_kwargs() -> dict[str, Any]:
    return {"partitions_def": weekly_partitions, "owners": OWNERS, "retry_policy": io_retry_policy()}


def week_of(partition_key: str) -> tuple[datetime, datetime]:
    return week_bounds(partition_key)


def rounded(metadata: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """Metadata whose floats keep `digits` significant digits: the UI shows 0.1268, not 0.12680341582745.
    The artifacts keep full precision."""
    return {k: float(f"{v:.{digits}g}") if isinstance(v, float) else v for k, v in metadata.items()}


@contextmanager
def data_errors_not_retried(what: str) -> Iterator[None]:
    """Around the pure core's work on data already read: an error there comes from the data, which a
    retry would read again and fail on again, so it fails the step at once (no RetryPolicy wait) with
    what was being done named. Reads and writes stay outside, where retries help."""
    try:
        yield
    except (ValueError, TypeError, ArithmeticError, KeyError, IndexError) as exc:
        raise dg.Failure(description=f"{what}: the data cannot be processed ({type(exc).__name__}: {exc}); "
                         "retrying would fail the same way", allow_retries=False) from exc
