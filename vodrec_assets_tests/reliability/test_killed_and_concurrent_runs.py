"""A run killed (SIGKILL) during training (a separate process), then re-executed from failure; and two
materializations of the same week at once. The model artifact read afterwards is always one complete, verified artifact."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import dagster as dg
import pytest

from vodrec_assets.defs.training import assets as training
from vodrec_assets.artifacts import load_model
from vodrec_assets.resources import LocalArtifactStore
from vodrec_assets.sources.synthetic import generate
from vodrec_assets_tests.assets.conftest import Workspace

from .conftest import WeekRunner, elapsed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WEEK = "2023-08-07"
MODEL = f"trained_model/{WEEK}"


@pytest.fixture
def week_done(tmp_path):
    """A tiny one-week source, and the whole week materialized once (in process): a complete model exists."""
    generate(f"sqlite:///{tmp_path / 'seed.db'}", scale="tiny", weeks=1, seed=0)
    (tmp_path / "ws").mkdir()
    ws = Workspace(tmp_path / "ws", tmp_path / "seed.db")
    assert ws.materialize(WEEK).success
    env = {"VODREC_SOURCE_URL": ws.source.url, "VODREC_ARTIFACTS_DIR": ws.artifacts.root,
           "VODREC_HOME": str(tmp_path), "VODREC_START_DATE": WEEK}
    return ws, env


def test_run_killed_during_training_leaves_the_old_model_whole_and_reexecution_completes(tmp_path, week_done):
    ws, env = week_done
    before = ws.artifacts.get_bytes(f"{MODEL}.npz")
    runner = WeekRunner(tmp_path / "dagster_home", env)
    t0 = time.perf_counter()
    proc = runner.start("--week", WEEK, "--epochs", "250")  # a slower training, to be killed in
    runner.wait_for_message(f"trained_model {WEEK}: started", proc=proc)
    time.sleep(0.1)
    os.killpg(proc.proc.pid, signal.SIGKILL)
    proc.stop(grace=1)
    killed_at = elapsed(t0)
    assert not runner.materialized("trained_model"), "training ended before the kill"
    # The model on disk is the previous one, whole and verified; no partial file is visible.
    assert ws.artifacts.get_bytes(f"{MODEL}.npz") == before
    assert load_model(ws.artifacts, WEEK)[0].config["epochs"] == 10
    assert all(not k.endswith(".tmp") for k in ws.artifacts.list_keys(""))

    # Run monitoring marks a run whose worker died as failed; then it is re-executed from failure.
    run = runner.instance.get_run_by_id(runner.latest_run_id())
    assert run.status == dg.DagsterRunStatus.STARTED
    runner.instance.report_run_failed(run)
    again = runner.run("--week", WEEK, "--reexecute-from-failure", run.run_id, log="again")
    print(f"killed during training at {killed_at}s; re-execution {again} done at {elapsed(t0)}s")
    assert again["success"], again
    model, _, _ = load_model(ws.artifacts, WEEK)  # checksums, shapes and dtypes verified
    assert model.config["epochs"] == 250
    assert ws.artifacts.exists(f"recommendations/{WEEK}.parquet")


def _train(artifacts: LocalArtifactStore, epochs: int) -> bool:
    config = {"ops": {"trained_model": {"config": {"epochs": epochs}}}}
    return dg.materialize([training.trained_model], partition_key=WEEK, resources={"artifacts": artifacts},
                          run_config=config).success


def test_two_materializations_of_the_same_week_at_once_leave_one_complete_model(tmp_path, week_done):
    """Two runs of trained_model for the same week at once (threads: LightFM trains without the GIL), with
    different configs so that their artifacts differ."""
    ws, _ = week_done
    results: dict[int, bool] = {}
    threads = [threading.Thread(target=lambda e=e: results.__setitem__(e, _train(ws.artifacts, e))) for e in (150, 151)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {150: True, 151: True}
    winner = load_model(ws.artifacts, WEEK)[0].config["epochs"]  # verified: one writer's whole artifact
    assert winner in (150, 151)
    # ... byte for byte the artifact that writer alone produces.
    alone = LocalArtifactStore(root=str(tmp_path / "alone"))
    shutil.copytree(ws.artifacts.root + "/score_matrix", alone.root + "/score_matrix")
    assert _train(alone, winner)
    assert ws.artifacts.get_bytes(f"{MODEL}.npz") == alone.get_bytes(f"{MODEL}.npz")
