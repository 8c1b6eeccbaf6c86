"""S3 goes away mid-run: the moto S3 server (in this test process, so that its buckets outlive a stop, as
S3's do) is stopped while the weekly job runs in another process against it. A step that meets the outage
is retried with backoff and goes on when S3 is back; an outage that outlasts every retry fails the run
with the cause named, and re-executing from failure completes the week with verified artifacts."""

from __future__ import annotations

import secrets
import time

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from vodrec_assets.asset_defaults import WEEKLY_STEP
from vodrec_assets.artifacts import load_model, load_score_matrix
from vodrec_assets.resources import S3ArtifactStore
from vodrec_assets.sources.synthetic import generate
from vodrec_assets_tests.integration.harness import DUMMY_AWS_ENV, free_port

from .conftest import WeekRunner, elapsed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WEEK = "2023-08-07"
WEEKLY_ASSETS = ["vod_catalog", "subscribers", "raw_vod_logs", "raw_click_logs", "weekly_pair_stats", "cleaned_ratings",
                 "score_matrix", "trained_model", "weekly_metrics", "recommendations"]


class StoppableS3:
    def __init__(self):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def test_s3_outage_mid_run_is_retried_then_fails_clearly_and_reexecution_completes(tmp_path):
    s3 = StoppableS3()
    s3.start()
    try:
        source_url = f"sqlite:///{tmp_path / 'source.db'}"
        generate(source_url, scale="tiny", weeks=1, seed=0)
        bucket = f"vodrec-outage-{secrets.token_hex(4)}"
        resource = S3Resource(endpoint_url=s3.endpoint_url, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        resource.get_client().create_bucket(Bucket=bucket)
        store = S3ArtifactStore(s3=resource, bucket=bucket, prefix="vodrec")
        runner = WeekRunner(tmp_path / "dagster_home", {
            **DUMMY_AWS_ENV, "VODREC_ENV": "production", "VODREC_SOURCE_URL": source_url, "VODREC_START_DATE": WEEK,
            "VODREC_S3_BUCKET": bucket, "VODREC_S3_PREFIX": "vodrec", "VODREC_S3_ENDPOINT_URL": s3.endpoint_url,
        })
        t0 = time.perf_counter()
        proc = runner.start("--week", WEEK)

        # Outage 1, short: S3 stops once the features start, and is back after the first retry is scheduled.
        runner.wait_for_message(f"weekly_pair_stats {WEEK}: started", proc=proc)
        s3.stop()
        first_stop = elapsed(t0)
        runner.wait_for(dg.DagsterEventType.STEP_UP_FOR_RETRY, proc=proc)
        s3.start()
        first_back = elapsed(t0)

        # Outage 2, long: S3 stops once training starts and stays away through every retry.
        runner.wait_for_message(f"trained_model {WEEK}: started", proc=proc)  # the first outage survived
        s3.stop()
        second_stop = elapsed(t0)
        failed = runner.result(proc)
        print(f"S3 stopped at {first_stop}s, back at {first_back}s, stopped again at {second_stop}s; run: {failed}")
        assert not failed["success"]
        # One step runs the week: it was retried after the first outage (and got on to training), then used
        # the rest of its retries (VODREC_RETRY_MAX=3) in the second.
        assert failed["retries"] == {WEEKLY_STEP: 3}, failed
        assert failed["failures"] and all("Could not connect to the endpoint URL" in f for f in failed["failures"])

        s3.start()
        again = runner.run("--week", WEEK, "--reexecute-from-failure", failed["run_id"], log="again")
        print(f"re-execution after {elapsed(t0)}s: {again}")
        assert again["success"], again
        for asset in WEEKLY_ASSETS:
            assert store.list_keys(f"{asset}/{WEEK}"), asset
        # Arrays verified on load (embedded manifest: shapes, dtypes, sha256).
        model, users, _ = load_model(store, WEEK)
        assert len(users) == load_score_matrix(store, WEEK).shape[0] == model.user_factors.shape[0]
        with sa.create_engine(source_url).connect() as conn:
            n = conn.execute(sa.text("SELECT COUNT(*) FROM recommendations WHERE week = :w"), {"w": WEEK}).scalar_one()
        assert n == len(store.read_parquet(f"recommendations/{WEEK}.parquet")) > 0
    finally:
        s3.stop()
