"""vodrec is a `dg` project: `dg scaffold defs` adds a module to the defs folder, and `dg list defs` sees
from the repository root exactly what the code location loads (`dg check defs` runs in
integration/test_deploy_config.py, `dg dev` in ui/test_dagster_ui.py)."""

from __future__ import annotations

import json
import shutil
import subprocess

import dagster as dg

from vodrec_assets.definitions import defs
from vodrec_assets_tests.integration.harness import BIN, REPO, clean_env


def test_dg_scaffold_adds_an_asset_module_to_the_defs_folder(tmp_path):
    """Into a copy of the project's configuration and package skeleton, never the working tree."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "vodrec_assets" / "defs").mkdir(parents=True)
    for init in ("vodrec_assets/__init__.py", "vodrec_assets/defs/__init__.py"):
        (tmp_path / init).write_text("")
    done = subprocess.run([str(BIN / "dg"), "scaffold", "defs", "dagster.asset", "probe_asset.py"], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    scaffolded = tmp_path / "vodrec_assets" / "defs" / "probe_asset.py"
    assert "dg.asset" in scaffolded.read_text()


def test_dg_list_defs_from_the_root_shows_what_the_code_location_loads(tmp_path):
    env = clean_env() | {"VODREC_HOME": str(tmp_path)}
    done = subprocess.run([str(BIN / "dg"), "list", "defs", "--json"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = json.loads(done.stdout[done.stdout.index("{"):])
    loaded = {key.to_user_string() for a in defs.assets
              for key in (a.keys if isinstance(a, dg.AssetsDefinition) else [a.key])}
    assert {a["asset_key"] for a in listed["assets"]} == loaded
    assert {j["name"] for j in listed["jobs"]} == {j.name for j in defs.jobs}
    assert {s["name"] for s in listed["sensors"]} == {s.name for s in defs.sensors}
    assert {s["name"] for s in listed["schedules"]} == {s.name for s in defs.schedules}
    # The checks of the assets and of the fused weekly step (which carries the weekly checks).
    assert len(listed["asset_checks"]) == sum(len(c.check_keys) for c in [*defs.asset_checks, *defs.assets]
                                              if isinstance(c, dg.AssetsDefinition))


def test_facts_kept_once_agree_where_they_meet():
    """The weekly TrainingConfig is LightFMConfig's defaults but the one stated difference; the job tag and
    the pool the code names are the ones the instance configs limit."""
    from dataclasses import fields

    import yaml

    from vodrec_assets.asset_defaults import JOB_TAG, TRAINING_POOL
    from vodrec_assets.defs.training.assets import WEEKLY_LIGHTFM, TrainingConfig
    from vodrec_assets.recsys.model import LightFMConfig

    assert TrainingConfig().to_lightfm() == WEEKLY_LIGHTFM
    assert {f.name for f in fields(LightFMConfig) if getattr(LightFMConfig(), f.name) != getattr(WEEKLY_LIGHTFM, f.name)} \
        == {"use_features"}
    for path in (REPO / "dagster.yaml", REPO / "deploy" / "dagster.yaml"):
        limits = yaml.safe_load(path.read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
        assert [(t["key"], t["value"]) for t in limits] == [(JOB_TAG, "weekly_retrain")]
    assert dg.AssetKey("trained_model") in {key for a in defs.assets if isinstance(a, dg.AssetsDefinition)
                                            for key in a.keys if TRAINING_POOL in (a.op.pool or "")}
