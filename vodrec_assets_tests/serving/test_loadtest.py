"""The load-test script, run as a second process against a `vodrec serve` it starts (small and bounded).

The figures it prints are reported in docs/serving.md, never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.serving.loadtest import seed_serving_db, served_subscribers


def test_seed_writes_what_the_assets_write(tmp_path):
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    summary = seed_serving_db(url, subscribers=50, k=10, weeks=3)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(schema.recommendations)).scalar_one()
        per_user = conn.execute(
            sa.select(schema.recommendations.c.week, schema.recommendations.c.subsr_id, sa.func.count())
            .group_by(schema.recommendations.c.week, schema.recommendations.c.subsr_id)).all()
        history = conn.execute(sa.select(schema.champion_history).order_by(schema.champion_history.c.week)).mappings().all()
    engine.dispose()
    assert count == summary["rows"] == 50 * 10 * 3
    assert {n for _, _, n in per_user} == {10} and len(per_user) == 150
    assert [h["week"] for h in history] == summary["weeks"]  # every week gets a decision row
    assert all(h["reason"] for h in history)


@pytest.mark.slow
def test_loadtest_runs_against_a_real_server(tmp_path):
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    seed_serving_db(url, subscribers=200, k=10, weeks=2)
    done = subprocess.run(
        [sys.executable, "-m", "vodrec_assets.serving.loadtest", "run", "--serve", "--source", url,
         "--requests", "400", "--concurrency", "3", "--max-seconds", "60", "--warmup", "20",
         "--unknown-share", "0.2", "--json"],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    report = json.loads(done.stdout)
    assert report["requests_done"] == report["ok"] == 400 and report["errors"] == 0
    assert report["status_counts"] == {"200": 400}
    assert set(report["sources"]) == {"model", "popularity"} and sum(report["sources"].values()) == 400
    champion_week, _ = served_subscribers(url)
    assert report["model_weeks"] == {champion_week: 400}
    assert report["requests_per_second"] > 0 and set(report["latency_ms"]) == {"p50", "p90", "p99", "max"}
    print(f"\nloadtest smoke: {report['requests_per_second']} req/s, p50 {report['latency_ms']['p50']} ms, "
          f"p99 {report['latency_ms']['p99']} ms")
