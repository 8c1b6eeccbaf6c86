"""The Dagster instance configurations of vodrec.

Two instances share one set of scheduling rules (run queue sized for 2 cores, one LightFM fit at a time,
no telemetry, run monitoring):

- production: `dagster.yaml` at the repository root, storage in MySQL with every credential from env vars;
- local (the embedded default of `vodrec demo` and `make ui`): SQLite storage inside DAGSTER_HOME, written
  by `write_local_instance_config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# The shared rules, as one mapping so that the two instances cannot drift apart (a test compares them).
MAX_CONCURRENT_RUNS = 2
TRAINING_POOL = "lightfm_training"
TRAINING_POOL_LIMIT = 1
# The tag the weekly_retrain job puts on its runs (vodrec_assets/schedules.py; a test keeps them equal).
WEEKLY_JOB_TAG = ("vodrec/job", "weekly_retrain")

SHARED_SETTINGS: dict[str, Any] = {
    "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
    "concurrency": {
        "runs": {
            "max_concurrent_runs": MAX_CONCURRENT_RUNS,
            # weekly_retrain runs read earlier weeks' artifacts: one at a time, oldest queued first.
            "tag_concurrency_limits": [{"key": WEEKLY_JOB_TAG[0], "value": WEEKLY_JOB_TAG[1], "limit": 1}],
        },
        # lightfm_training is the only pool in the code, so the default limit is its limit.
        "pools": {"default_limit": TRAINING_POOL_LIMIT, "granularity": "op"},
    },
    "run_monitoring": {
        "enabled": True,
        "start_timeout_seconds": 300,
        "cancel_timeout_seconds": 300,
        "poll_interval_seconds": 60,
    },
    "telemetry": {"enabled": False},
    "nux": {"enabled": False},
}

LOCAL_HEADER = (
    "# The embedded default's Dagster instance, written by vodrec_assets/instance_config.py:\n"
    "# SQLite run/event/schedule storage inside this folder (Dagster's default when no `storage` is given),\n"
    "# the same run queue and pool limits as the production dagster.yaml.\n"
)


def repository_root() -> Path:
    return Path(__file__).resolve().parent.parent


def production_instance_yaml() -> Path:
    """The production instance config (dagster.yaml at the repository root)."""
    return repository_root() / "dagster.yaml"


def local_instance_settings() -> dict[str, Any]:
    """The local instance's settings: the shared rules, storage left to Dagster's SQLite default."""
    return {key: (dict(value) if isinstance(value, dict) else value) for key, value in SHARED_SETTINGS.items()}


def write_local_instance_config(dagster_home: str | Path) -> Path:
    """Write the local instance's dagster.yaml into `dagster_home` (created if missing); returns its path.

    Rewrites the file every time, so an older hand-written config gets the current rules.
    """
    home = Path(dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    body = yaml.safe_dump(local_instance_settings(), sort_keys=False, default_flow_style=False)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(LOCAL_HEADER + body)
    tmp.replace(path)
    return path


def write_production_instance_config(dagster_home: str | Path) -> Path:
    """Copy the repository's production dagster.yaml into `dagster_home` (used by the integration harness)."""
    home = Path(dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    path.write_text(production_instance_yaml().read_text())
    return path
