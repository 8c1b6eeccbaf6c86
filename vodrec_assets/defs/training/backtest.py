"""The model zoo's backtest, on demand: job `backtest`, never part of the weekly graph.

The job is one unpartitioned op, so "Materialize all" on the lineage page and asset backfills never run
it. It reads the stored weeks (score matrices, weekly pair statistics, and the weekly LightFM models as
served), runs `recsys.backtest.backtest`, and records:

- `backtest/choice.json`: the chosen family and hyperparameters, which the weekly `trained_model`
  reads (an undeclared read: no asset depends on a job) unless its run config names a family;
- `backtest/runs/<UTC time>.json`: the whole result of every run (tuning table, per week, summary);
- `backtest/comparison.png`: held-out P@10 per week and family;
- an AssetObservation of `model_zoo_backtest` (an external asset in group `backtest`, nothing
  materializes it) whose metadata holds every family's held-out means as plain floats, so the UI
  plots them run after run, with the comparison table and the choice.
"""


from datetime import datetime, timezone

import dagster as dg
import numpy as np
import pandas as pd

from vodrec_assets.asset_defaults import JOB_TAG, OWNERS, rounded
from vodrec_assets.reports import plot_comparison
from vodrec_assets.artifacts import BACKTEST_CHOICE, BACKTEST_PLOT, BACKTEST_RUN, SCORE_MATRIX, TRAINED_MODEL, WEEKLY_PAIR_STATS, load_model, load_score_matrix
from vodrec_assets.partitions import weekly_partitions
from vodrec_assets.recsys.backtest import METRICS, BacktestResult, backtest
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.zoo import FAMILIES, ZooModel
from vodrec_assets.resources import ArtifactStore

BACKTEST_ASSET = dg.AssetKey("model_zoo_backtest")

model_zoo_backtest = dg.AssetSpec(
    BACKTEST_ASSET, group_name="backtest", owners=OWNERS, kinds={"json"},
    description="The zoo's held-out comparison, observed by the on-demand job `backtest` (never "
                "materialized by the weekly graph): per family P@10, MAP@10, NDCG@10, coverage, novelty, "
                "fit seconds and peak memory, and the recorded choice (backtest/choice.json).",
)


class ArtifactWeekReader:
    """The stored weeks, as the backtest reads them; the LightFM family is the weekly model as served."""

    PAIR_COLUMNS = ["subsr_id", "program_id", "watch_max_ratio"]

    def __init__(self, artifacts: ArtifactStore):
        self.artifacts = artifacts
        self._matrices: dict[str, ScoreMatrix] = {}

    def matrix(self, week: str) -> ScoreMatrix:
        if week not in self._matrices:
            self._matrices = {week: load_score_matrix(self.artifacts, week)}  # one week kept: they are large
        return self._matrices[week]

    def pairs(self, week: str) -> pd.DataFrame:
        return WEEKLY_PAIR_STATS.read(self.artifacts, week, self.PAIR_COLUMNS)

    def served_lightfm(self, week: str) -> ZooModel | None:
        """The week's stored weekly model when it is LightFM (warm-started, as served), else None."""
        if not TRAINED_MODEL.exists(self.artifacts, week):
            return None
        model, _, _ = load_model(self.artifacts, week)
        if model.family != "lightfm":
            return None
        # Its fit time is in the run's metadata, not in the artifact (which stays byte-identical on re-runs).
        return ZooModel("lightfm", model.config, model.to_arrays(), float("nan"))


def backtest_weeks(artifacts: ArtifactStore, last_week: str | None = None) -> list[str]:
    """The newest run of consecutive weeks with a score matrix and pair statistics, up to `last_week`."""
    def has(week: str) -> bool:
        return (SCORE_MATRIX.exists(artifacts, week) or SCORE_MATRIX.exists(artifacts, week, part="npz")) \
            and WEEKLY_PAIR_STATS.exists(artifacts, week)

    keys = weekly_partitions.get_partition_keys()
    if last_week is not None:
        keys = [k for k in keys if k <= last_week]
    weeks: list[str] = []
    for week in reversed(keys):
        if has(week):
            weeks.append(week)
        elif weeks:
            break
    return weeks[::-1]


class BacktestConfig(dg.Config):
    """Which weeks and families; the hyperparameter grids are recsys.backtest.DEFAULT_GRIDS."""

    held_out_weeks: int = 6  # the newest N target weeks are scored; the earlier ones tune
    last_week: str = ""  # newest week to use (default: the newest stored)
    families: list[str] = list(FAMILIES)
    metric: str = "precision_at_10"
    # A challenger replaces LightFM only when its paired held-out advantage is at least this many
    # standard errors of the week-by-week differences.
    min_standard_errors: float = 1.0
    # A challenger whose mean fit takes longer than this many seconds is not chosen (0: no budget), e.g.
    # 1.5x today's weekly LightFM train + recommend at the production scale.
    max_fit_seconds: float = 0.0
    lightfm_as_served: bool = True  # score the stored weekly LightFM models rather than refitting LightFM
    record_choice: bool = True  # write backtest/choice.json (false: compare only)


def run_backtest_on(artifacts: ArtifactStore, config: BacktestConfig) -> BacktestResult:
    weeks = backtest_weeks(artifacts, config.last_week or None)
    if len(weeks) < config.held_out_weeks + 2:
        raise dg.Failure(f"the backtest needs {config.held_out_weeks + 2} consecutive stored weeks (a tuning "
                         f"week, {config.held_out_weeks} held out, and the week before them); found {len(weeks)}",
                         allow_retries=False)
    reader = ArtifactWeekReader(artifacts)
    return backtest(reader, weeks, config.held_out_weeks, tuple(config.families), metric=config.metric,
                    min_standard_errors=config.min_standard_errors, max_fit_seconds=config.max_fit_seconds or None,
                    served=reader.served_lightfm if config.lightfm_as_served else None)


@dg.op(tags={JOB_TAG: "backtest"})
def run_model_zoo_backtest(context: dg.OpExecutionContext, config: BacktestConfig, artifacts: ArtifactStore) -> None:
    """Every family tuned on the earlier weeks and scored on the held-out ones; the choice recorded."""
    result = run_backtest_on(artifacts, config)
    decided_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = result.to_record() | {"decided_at": decided_at}
    stamp = decided_at.replace(":", "").replace("-", "")
    BACKTEST_RUN.write(artifacts, record, stamp=stamp)
    if config.record_choice:
        BACKTEST_CHOICE.write(artifacts, {**result.choice, "decided_at": decided_at,
                                                   "held_out_weeks": result.held_out_weeks,
                                                   "tuning_weeks": result.tuning_weeks})
    if not result.per_week.empty:
        BACKTEST_PLOT.write(artifacts, plot_comparison(result.per_week, config.metric))
    metadata: dict = {"chosen_family": str(result.choice["family"]), "choice_reason": str(result.choice["reason"]),
                      "choice_recorded": bool(config.record_choice),
                      "held_out_weeks": ", ".join(result.held_out_weeks), "tuning_weeks": ", ".join(result.tuning_weeks),
                      "chosen_params": dg.MetadataValue.json(result.chosen_params),
                      "refused": dg.MetadataValue.json(result.refused),
                      "comparison": dg.MetadataValue.md(result.summary.round(4).to_markdown(index=False))}
    for row in result.summary.to_dict(orient="records"):
        for key in (*METRICS, "fit_seconds", "peak_mb", f"{config.metric}_diff", f"{config.metric}_diff_se"):
            value = row.get(key)
            if value is not None and np.isfinite(value):
                metadata[f"{row['family']}_{key}"] = float(value)
    context.log_event(dg.AssetObservation(asset_key=BACKTEST_ASSET, metadata=rounded(metadata)))
    context.log.info(f"backtest chose {result.choice['family']}: {result.choice['reason']}")


@dg.job(name="backtest", tags={JOB_TAG: "backtest"},
        description="On demand: the model zoo's backtest over the stored weeks; records backtest/choice.json, "
                    "which the weekly trained_model then trains. Never part of 'Materialize all' or backfills.")
def backtest_job() -> None:
    run_model_zoo_backtest()
