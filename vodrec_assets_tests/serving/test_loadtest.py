"""The load-test script, run as a second process against a `vodrec serve` it starts (small and bounded).

The figures it prints are reported in docs/serving.md, never asserted here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.serving.loadtest import seed_serving_db, served_subscribers, start_server, stop_server


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


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it: apt-get install wrk)")
def test_wrk_generator_counts_answers_and_refusals(tmp_path):
    """The prime-time figures in docs/serving.md come from `--generator wrk`: it must count every request
    and report a refused one (k=0 is a 422) as an error instead of as throughput."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    seed_serving_db(url, subscribers=200, k=10, weeks=2)
    proc, base = start_server(url)
    try:
        def run(k: int) -> tuple[int, dict]:
            done = subprocess.run(
                [sys.executable, "-m", "vodrec_assets.serving.loadtest", "run", "--url", base, "--source", url,
                 "--generator", "wrk", "--concurrency", "2", "--max-seconds", "2", "--warmup", "0", "--k", str(k),
                 "--json"], capture_output=True, text=True, timeout=60)
            return done.returncode, json.loads(done.stdout)

        rc, good = run(10)
        assert rc == 0 and good["requests_done"] > 100 and good["ok"] == good["requests_done"] and good["errors"] == 0
        assert good["requests_per_second"] > 0 and set(good["latency_ms"]) == {"p50", "p90", "p99", "max"}
        rc, refused = run(0)
        assert rc == 1 and refused["ok"] == 0 and refused["errors"] == refused["requests_done"] > 0
    finally:
        stop_server(proc)
