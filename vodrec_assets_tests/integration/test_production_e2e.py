"""The production deployment end to end, as real processes on loopback: tiny synthetic data in a MariaDB
source database, the Dagster instance (repository dagster.yaml) on a second MariaDB database, artifacts
in a moto S3 server, and `vodrec_assets.definitions` served by a code server to a webserver and a daemon.
A backfill of three weeks of the weekly_retrain job is launched through GraphQL, as an operator would
from the UI, and its results are checked where production keeps them.

The job (not an asset backfill) is what the schedule runs every week, with its run config (the hybrid
model); dagster.yaml runs its runs one at a time, oldest week first, since each reads earlier weeks."""

from __future__ import annotations

import json
import time

import pytest

from vodrec_assets_tests.integration.harness import DagsterService, week_keys

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

START = "2023-08-07"
GENERATED_WEEKS = week_keys(START, 4)
BACKFILL_WEEKS = GENERATED_WEEKS[:3]  # the fourth week exists but is not requested
END = "2023-09-04"  # exclusive end: the partitions are exactly the generated weeks
PREFIX = "vodrec"


def test_weekly_retrain_backfill_in_production_mode(tmp_path, throwaway_db, moto_s3):
    from vodrec_assets.sources.synthetic import generate

    timings: dict[str, float] = {}
    storage = throwaway_db("vodrec_dag")
    source = throwaway_db("vodrec_src")
    bucket = moto_s3.create_bucket()

    t = time.perf_counter()
    generate(source.sqlalchemy_url(), scale="tiny", weeks=len(GENERATED_WEEKS), start=START, seed=0)
    timings["generate"] = time.perf_counter() - t

    env = {
        **storage.dagster_env(),
        **moto_s3.env(bucket, prefix=PREFIX),
        "VODREC_SOURCE_URL": source.sqlalchemy_url(),
        "VODREC_START_DATE": START,
        "VODREC_END_DATE": END,
    }
    t0 = time.perf_counter()
    with DagsterService(tmp_path, env, module="vodrec_assets.definitions", location_name="vodrec_assets") as service:
        timings.update({f"startup_{k}": v for k, v in service.startup_seconds.items()})
        gql = service.graphql
        asset_keys = gql.job_asset_keys("weekly_retrain")
        assert "trained_model" in asset_keys and "recommendations" in asset_keys, asset_keys

        t1 = time.perf_counter()
        launched_at = time.time()
        backfill_id = gql.launch_partition_backfill(BACKFILL_WEEKS, job_name="weekly_retrain", title="e2e backfill")
        status, runs = gql.wait_for_backfill(backfill_id, timeout=720, interval=3, details=service.tail_logs)
        timings["backfill"] = time.perf_counter() - t1
        report = service.failure_report(runs)
    timings["service_total"] = time.perf_counter() - t0

    print("measured wall times (s):", {k: round(v, 1) for k, v in timings.items()})
    for r in sorted(runs, key=lambda r: r.start_time or 0):
        if r.start_time and r.end_time:
            print(f"  run {r.partition} {r.status}: +{r.start_time - launched_at:.0f}s .. +{r.end_time - launched_at:.0f}s")

    # One run over the requested weeks (the weekly step walks them oldest first), a success.
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), report
    assert all(r.status == "SUCCESS" for r in runs), report
    assert [(r.tags.get("dagster/asset_partition_range_start"), r.tags.get("dagster/asset_partition_range_end"))
            for r in runs] == [(BACKFILL_WEEKS[0], BACKFILL_WEEKS[-1])], report
    assert {r.job_name for r in runs} == {"weekly_retrain"}

    # Runs and event logs are in the MariaDB storage database: every asset materialized once per week.
    run_ids = [r.run_id for r in runs]
    marks = ", ".join(["%s"] * len(run_ids))
    assert sorted(storage.query(f"SELECT run_id, status FROM runs WHERE run_id IN ({marks})", run_ids)) == \
        sorted((r, "SUCCESS") for r in run_ids)
    materialized = storage.query(
        f"SELECT asset_key, `partition` FROM event_logs WHERE run_id IN ({marks}) AND dagster_event_type = %s",
        [*run_ids, "ASSET_MATERIALIZATION"])
    by_asset: dict[str, list[str]] = {}
    for key, partition in materialized:
        by_asset.setdefault("/".join(json.loads(key)), []).append(partition)
    # the weekly step's run rebuilt the history once, after the range's weeks
    assert by_asset.pop("metrics_history") == [None]
    assert sorted(by_asset) == asset_keys
    for key, partitions in by_asset.items():
        assert sorted(partitions) == BACKFILL_WEEKS, f"{key}: {partitions}"

    # The artifacts are in the bucket under their week keys, and only for the requested weeks.
    keys = set(moto_s3.keys(bucket, f"{PREFIX}/"))
    for week in BACKFILL_WEEKS:
        for artifact in (f"raw_vod_logs/{week}.parquet", f"cleaned_ratings/{week}.parquet",
                         f"trained_model/{week}.npz", f"trained_model/{week}.json",
                         f"weekly_metrics/{week}.json", f"recommendations/{week}.parquet"):
            assert f"{PREFIX}/{artifact}" in keys, f"missing {artifact}; bucket holds {sorted(keys)[:40]}"
    assert not [k for k in keys if GENERATED_WEEKS[3] in k], "the week that was not requested has artifacts"

    # The recommendations table in the MariaDB source database holds exactly the backfilled weeks.
    rows = dict(source.query("SELECT week, COUNT(*) FROM recommendations GROUP BY week"))
    assert sorted(rows) == BACKFILL_WEEKS, rows
    assert min(rows.values()) > 0
