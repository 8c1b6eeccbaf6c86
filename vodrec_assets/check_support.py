"""What the asset checks share: the verdict of a rule as a check result, the week a check reads, and the
partitioned check decorator. Each domain's checks live beside its assets (vodrec_assets/defs/<domain>/checks.py),
thin wrappers over the rules in recsys/rules.py: at least one per asset, each testing a property that can
really fail for it. Blocking checks stop the run's downstream steps (the raw logs of an empty week, a model
or lists that must not be served, the quality gate); the others warn.

Every check is its own `@asset_check`, so the UI's Checks tab can execute any one of them alone for a
week (partitioned checks) or for the asset."""

import warnings

import dagster as dg

# Partitioned asset checks are "preview" in Dagster 1.13; they are what gives a check result per week.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

from vodrec_assets.artifacts import Artifact  # noqa: E402
from vodrec_assets.fused_weeks import check_body  # noqa: E402
from vodrec_assets.partitions import weekly_partitions  # noqa: E402
from vodrec_assets.recsys import rules  # noqa: E402
from vodrec_assets.resources import ArtifactStore  # noqa: E402


def check_result(verdict: rules.Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR if verdict.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
        description=verdict.description,
        metadata=verdict.metadata,
    )


def checked_week(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore, checked: Artifact) -> str:
    """The run's week; in a run without a partition (the Checks tab's "Execute all" on a partitioned asset
    launches one) the newest week that has the `checked` artifact stored, so the button checks something real."""
    if context.has_partition_key:
        return context.partition_key
    weeks = checked.stored_weeks(artifacts)
    asset = checked.producer
    if not weeks:
        raise dg.Failure(f"{asset} has no stored week to check: materialize a week first", allow_retries=False)
    context.log.info(f"no partition in this run: checking the newest stored week of {asset}, {weeks[-1]}")
    return weeks[-1]


def _recorded_check(asset: str, name: str | None, **asset_check_kwargs):
    """`@dg.asset_check(asset=asset, ...)` whose function is also recorded for the fused weekly step."""
    decorator = dg.asset_check(asset=asset, name=name, **asset_check_kwargs)

    def wrap(fn):
        check_body(asset, name or fn.__name__, fn)
        return decorator(fn)

    return wrap


def weekly_check(asset: str, description: str, blocking: bool = False, name: str | None = None):
    """A partitioned check of `asset`, its function also recorded for the fused weekly step (fused_weeks.py),
    which calls it week by week in a run over a range."""
    return _recorded_check(asset, name, partitions_def=weekly_partitions, blocking=blocking, description=description)


def summary_check(asset: str, description: str):
    """A check of an unpartitioned summary (`fused_weeks.summary_body`), its function also recorded for the
    weekly step, which evaluates it after each rebuild; the Checks tab can still execute it alone."""
    return _recorded_check(asset, None, description=description)
