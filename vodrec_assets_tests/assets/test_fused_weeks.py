"""fused_weeks: the code location runs the weekly assets as one step over a range of weeks. Over four tiny
weeks, the third without logs, one run of that step over the range does exactly what the domain modules'
own assets (one Dagster step per asset and per check) do in four runs of one week each: the same (asset,
week) pairs materialized once each, the same verdict of every check for every week, the same artifacts
byte for byte. The blocked week stops only its own later assets, and the run fails for it."""

from __future__ import annotations

import collections
import hashlib
import json
import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from vodrec_assets.asset_defaults import WEEKLY_STEP
from vodrec_assets.definitions import defs
from vodrec_assets.defs.evaluation import assets as evaluation
from vodrec_assets.defs.features import assets as features
from vodrec_assets.defs.ingestion import assets as ingestion
from vodrec_assets.defs.jobs import weekly_checks
from vodrec_assets.defs.serving import assets as serving
from vodrec_assets.defs.training import assets as training
from .conftest import Workspace
from vodrec_assets_tests.integration.harness import week_keys

WEEKS = week_keys("2023-08-07", 4)
ORDER = ["vod_catalog", "subscribers", "raw_vod_logs", "raw_click_logs", "weekly_pair_stats", "cleaned_ratings",
         "score_matrix", "trained_model", "weekly_metrics", "recommendations", "champion_model"]
RANGE_TAGS = {"dagster/asset_partition_range_start": WEEKS[0], "dagster/asset_partition_range_end": WEEKS[-1]}


def step_per_asset() -> list:
    """The weekly assets and checks as the domain modules define them: a Dagster step each."""
    modules = (ingestion, features, training, evaluation, serving)
    assets = [getattr(m, name) for m in modules for name in ORDER if hasattr(m, name)]
    assert [a.key.to_user_string() for a in assets] == ORDER
    return [*assets, *weekly_checks()]


def _without_logs_of(db: Path, week: str, next_week: str) -> None:
    with sqlite3.connect(db) as conn:
        for table in ("vods_sumut", "contlog"):
            conn.execute(f"DELETE FROM {table} WHERE log_dt >= ? AND log_dt < ?", (week, next_week))  # noqa: S608


def _digest(root: Path) -> dict[str, str]:
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "history.json":  # the champion's decision times are the runs' own
            data = json.dumps([{k: v for k, v in row.items() if k != "decided_at"} for row in json.loads(data)]).encode()
        files[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return files


def _outcomes(instance: dg.DagsterInstance) -> tuple[collections.Counter, dict]:
    materialized = collections.Counter()
    for name in ORDER:
        for record in instance.fetch_materializations(dg.AssetKey(name), limit=1000).records:
            materialized[(name, record.partition_key)] += 1
    verdicts = {}
    for run in instance.get_runs():
        for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records:
            evaluation = record.event_log_entry.dagster_event.event_specific_data
            if evaluation.partition:  # the weekly checks (the deadline check judges the newest week, unpartitioned)
                verdicts[(evaluation.asset_key.to_user_string(), evaluation.check_name, evaluation.partition)] = \
                    evaluation.passed
    return materialized, verdicts


@pytest.fixture(scope="module")
def both(tmp_path_factory, tiny_source_db):
    root = tmp_path_factory.mktemp("fused")
    (root / "alone").mkdir()
    (root / "fused").mkdir()
    alone, fused = Workspace(root / "alone", tiny_source_db), Workspace(root / "fused", tiny_source_db)
    for ws in (alone, fused):
        _without_logs_of(ws.db_path, WEEKS[2], WEEKS[3])
    runs = [dg.materialize(step_per_asset(), partition_key=week, resources=alone.resources, instance=alone.instance,
                           raise_on_error=False) for week in WEEKS]
    evaluation.rebuild_metrics_history(alone.artifacts, alone.source)  # what the weekly step does after its weeks
    weekly_step = next(a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.op.name == WEEKLY_STEP)
    result = dg.materialize([weekly_step], resources=fused.resources, instance=fused.instance, tags=RANGE_TAGS,
                            raise_on_error=False)
    return alone, runs, fused, result


def test_one_fused_run_over_the_range_materializes_and_checks_what_week_runs_do(both):
    alone, runs, fused, result = both
    assert [r.success for r in runs] == [True, True, False, True]
    assert not result.success  # the blocked week fails the range's run too
    assert len(fused.instance.get_runs()) == 1
    materialized_alone, verdicts_alone = _outcomes(alone.instance)
    materialized_fused, verdicts_fused = _outcomes(fused.instance)
    assert materialized_fused == materialized_alone
    assert set(materialized_fused.values()) == {1}
    # the blocked week: its raw logs are materialized and fail their check; nothing after them that week
    assert ("raw_vod_logs", WEEKS[2]) in materialized_fused
    assert ("weekly_pair_stats", WEEKS[2]) not in materialized_fused
    assert ("recommendations", WEEKS[3]) in materialized_fused  # the week after goes on
    assert verdicts_fused == verdicts_alone
    assert verdicts_fused[("raw_vod_logs", "raw_vod_logs_shape", WEEKS[2])] is False
    # metrics_history rebuilt once, after the range's last week, from the three weeks with metrics
    history = [e.materialization for e in result.get_asset_materialization_events()
               if e.asset_key.to_user_string() == "metrics_history"]
    assert [h.metadata["weeks"].value for h in history] == [3]
    assert [e.passed for e in result.get_asset_check_evaluations()
            if e.asset_key.to_user_string() == "metrics_history"] == [True]


def test_one_fused_run_writes_the_artifacts_of_the_week_runs_byte_for_byte(both):
    alone, _, fused, _ = both
    assert _digest(Path(fused.artifacts.root)) == _digest(Path(alone.artifacts.root))


def test_the_same_range_again_materializes_each_pair_once_more_and_changes_no_byte(both):
    _, _, fused, _ = both
    before = _digest(Path(fused.artifacts.root))
    materialized, _ = _outcomes(fused.instance)
    weekly_step = next(a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.op.name == WEEKLY_STEP)
    again = dg.materialize([weekly_step], resources=fused.resources, instance=fused.instance, tags=RANGE_TAGS,
                           raise_on_error=False)
    assert not again.success  # the same week is blocked again
    twice, _ = _outcomes(fused.instance)
    assert twice == {pair: 2 for pair in materialized}
    assert _digest(Path(fused.artifacts.root)) == before
