"""A partition backfill launched through the webserver's GraphQL API, run by the daemon: the embedded
default (SQLite source, local artifacts, SQLite Dagster storage) as three real processes."""

import sqlalchemy as sa
import pytest

from vodrec_assets.instance_config import write_local_instance_config
from vodrec_assets.sources.synthetic import generate
from vodrec_assets_tests.integration.harness import DagsterService, week_keys

pytestmark = pytest.mark.integration

# Two weeks are enough to show the order (the second reads the first's model); each more week costs the
# backfill daemon another 30-second iteration and a run.
WEEKS = week_keys("2023-08-07", 2)


def test_a_backfill_listed_newest_first_through_graphql_completes(tmp_path):
    home = tmp_path / "vodrec_home"
    home.mkdir()
    source_url = f"sqlite:///{home / 'source.db'}"
    generate(source_url, scale="tiny", weeks=len(WEEKS), seed=1)
    env = {
        "VODREC_HOME": str(home),
        "VODREC_SOURCE_URL": source_url,
        "VODREC_START_DATE": WEEKS[0],
        "VODREC_END_DATE": "2023-08-21",  # partitions end with the generated data
    }
    local_yaml = write_local_instance_config(tmp_path / "instance_template")
    with DagsterService(tmp_path / "service", env, dagster_yaml=local_yaml) as service:
        assets = service.graphql.job_asset_keys("weekly_retrain")
        assert {"raw_vod_logs", "trained_model", "weekly_metrics", "recommendations"} <= set(assets)
        # Weeks listed newest first: the daemon must still run them in dependency order.
        backfill_id = service.graphql.launch_partition_backfill(WEEKS[::-1], asset_keys=assets)
        service.graphql.wait_for_backfill(backfill_id, timeout=600)
        runs = service.graphql.runs_for_backfill(backfill_id)
        assert runs, "the backfill launched no run"
        for r in sorted(runs, key=lambda r: r.start_time or 0):  # measured, shown with -s; never asserted
            print(f"run {r.partition} {r.status} start {r.start_time} took {(r.end_time or 0) - (r.start_time or 0):.1f}s")
        assert all(r.status == "SUCCESS" for r in runs), service.failure_report(runs)
        assert service.graphql.backfill(backfill_id)["status"] == "COMPLETED_SUCCESS"
    engine = sa.create_engine(source_url)
    with engine.connect() as conn:
        weeks = [r[0] for r in conn.execute(sa.text("select distinct week from recommendations order by week"))]
    assert weeks == WEEKS
    artifacts = home / "artifacts"
    for week in WEEKS:
        assert (artifacts / "trained_model" / f"{week}.npz").is_file()
        assert (artifacts / "weekly_metrics" / f"{week}.json").is_file()
