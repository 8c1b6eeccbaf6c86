"""weekly_retrain_range: one run retrains a range of weeks, oldest first, each week a weekly_retrain run of
its own. A week without logs is blocked alone (the weeks after it go on); every (asset, week) is
materialized exactly once per pass; a second pass over the range rewrites every artifact byte for byte."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap

from vodrec_assets.sources.synthetic import generate
from vodrec_assets_tests.integration.harness import week_keys

WEEKS = week_keys("2023-08-07", 4)

SCRIPT = textwrap.dedent("""
    import collections, hashlib, json, pathlib, sys
    import dagster as dg
    from vodrec_assets.definitions import defs
    from vodrec_assets.defs.range_job import RANGE_TAG

    artifacts = pathlib.Path(sys.argv[1])
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("weekly_retrain_range")

    def digest():
        return {str(p.relative_to(artifacts)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(artifacts.rglob("*")) if p.is_file()}

    passes = []
    for _ in range(2):
        result = job.execute_in_process(instance=instance, run_config={"ops": {"retrain_weeks": {"config": {
            "first_week": "", "last_week": ""}}}})
        records = instance.get_run_records(dg.RunsFilter(tags={RANGE_TAG: result.run_id}))
        runs = [r.dagster_run for r in sorted(records, key=lambda r: r.create_timestamp)]
        counts = collections.Counter()
        for key in defs.resolve_job_def("weekly_retrain").asset_layer.executable_asset_keys:
            for record in instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key), limit=1000).records:
                if record.run_id in {r.run_id for r in runs}:
                    counts[f"{key.to_user_string()}/{record.partition_key}"] += 1
        passes.append({"success": result.success,
                       "weeks": [(r.tags["dagster/partition"], r.status.value) for r in runs],  # as created
                       "materializations": dict(counts), "digest": digest()})
    print(json.dumps(passes))
""")


def test_a_range_run_retrains_each_week_alone_in_order_and_again_byte_for_byte(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    source = home / "source.db"
    generate(f"sqlite:///{source}", scale="tiny", weeks=4, seed=1)
    with sqlite3.connect(source) as conn:  # the third week loses its logs: blocked at ingestion, alone
        for table in ("vods_sumut", "contlog"):
            conn.execute(f"DELETE FROM {table} WHERE log_dt >= ? AND log_dt < ?", (WEEKS[2], WEEKS[3]))  # noqa: S608
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VODREC_", "DAGSTER_"))}
    env |= {"VODREC_HOME": str(home), "VODREC_SOURCE_URL": f"sqlite:///{source}", "VODREC_START_DATE": WEEKS[0],
            "VODREC_END_DATE": week_keys(WEEKS[-1], 2)[1], "VODREC_RETRY_DELAY_SECONDS": "0.05"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(home / "artifacts")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = json.loads(done.stdout.strip().splitlines()[-1])
    for one in (first, second):
        assert one["success"]  # the range run itself: a blocked week is its own run's failure
        assert [tuple(w) for w in one["weeks"]] == [(WEEKS[0], "SUCCESS"), (WEEKS[1], "SUCCESS"), (WEEKS[2], "FAILURE"),
                                (WEEKS[3], "SUCCESS")]
        assert set(one["materializations"].values()) == {1}, one["materializations"]
        done_weeks = {k.rsplit("/", 1)[1] for k in one["materializations"]}
        assert WEEKS[2] not in {k.rsplit("/", 1)[1] for k in one["materializations"]
                                if not k.startswith(("raw_", "vod_catalog", "subscribers"))}
        assert {WEEKS[0], WEEKS[1], WEEKS[3]} <= done_weeks
        assert f"recommendations/{WEEKS[3]}" in one["materializations"]
    assert first["digest"] == second["digest"]
