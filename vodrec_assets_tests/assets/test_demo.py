"""`vodrec demo`, the README's first command, as a user runs it: a fresh VODREC_HOME, no DAGSTER_HOME."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

BIN = Path(sys.executable).parent


def test_demo_generates_data_and_materializes_weeks_into_a_persistent_instance(tmp_path):
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "VODREC_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}
    done = subprocess.run([str(BIN / "vodrec"), "demo", "--limit-weeks", "2",
                           "--training-config", '{"learning_rate": 0.051}'], env=env, capture_output=True,
                          text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "generating tiny synthetic data" in out
    assert "week 2023-08-07: ok" in out and "week 2023-08-14: ok" in out
    assert "metrics_history ok" in out and "mean over weeks" in out
    assert "Traceback" not in out + done.stderr
    # The runs are in the instance `make ui` opens afterwards.
    home = tmp_path / "home" / "dagster_home"
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    try:
        runs = instance.get_runs()
        assert sorted(r.tags.get("dagster/partition") for r in runs if r.job_name == "weekly_retrain") == \
            ["2023-08-07", "2023-08-14"]
        assert all(r.is_success for r in runs)
    finally:
        instance.dispose()
    artifacts = tmp_path / "home" / "artifacts"
    assert (artifacts / "recommendations" / "2023-08-14.parquet").is_file()
    manifest = json.loads((artifacts / "trained_model" / "2023-08-14.json").read_text())
    assert manifest["config"]["learning_rate"] == 0.051  # the default is 0.05


def test_demo_rejects_an_unknown_training_field(tmp_path):
    from vodrec_assets.demo import weekly_run_config

    with pytest.raises(SystemExit, match=r"unknown field\(s\) \['epoch'\]"):
        weekly_run_config('{"epoch": 3}')
    assert weekly_run_config('{"epochs": 3}')["ops"] == {"weekly_assets": {"config": {"trained_model": {"epochs": 3}}}}
