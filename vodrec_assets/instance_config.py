"""The Dagster instance configurations of vodrec, both plain dagster.yaml files (no custom storage class):

- local: `dagster.yaml` at the repository root, the instance `vodrec demo`, `make ui` and `dg dev` open
  from the root with no environment (SQLite under .vodrec/dagster_home). It owns the scheduling rules.
- production: `deploy/dagster.yaml`, the same rules with dagster-mysql storage configured by `env:`.

Elsewhere (a test's DAGSTER_HOME, a demo run outside the repository) `write_local_instance_config` writes
the root file's rules without its storage paths, so Dagster keeps everything inside that DAGSTER_HOME.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# The root file's sections that place storage relative to the repository root.
STORAGE_SECTIONS = ("storage", "local_artifact_storage", "compute_logs")

LOCAL_HEADER = (
    "# A local vodrec instance, written by vodrec_assets/instance_config.py: the repository dagster.yaml's\n"
    "# rules, with Dagster's default SQLite storage inside this folder.\n"
)


def repository_root() -> Path:
    return Path(__file__).resolve().parent.parent


def local_instance_yaml() -> Path:
    return repository_root() / "dagster.yaml"


def production_instance_yaml() -> Path:
    return repository_root() / "deploy" / "dagster.yaml"


def local_instance_settings() -> dict[str, Any]:
    """The local instance's settings without its storage paths."""
    settings = yaml.safe_load(local_instance_yaml().read_text())
    return {key: value for key, value in settings.items() if key not in STORAGE_SECTIONS}


def write_local_instance_config(dagster_home: str | Path) -> Path:
    """Write a local instance's dagster.yaml into `dagster_home` (created if missing); returns its path.

    Rewrites the file every time, so an older config gets the current rules.
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
    """Copy deploy/dagster.yaml into `dagster_home` (used by the integration harness)."""
    home = Path(dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    path.write_text(production_instance_yaml().read_text())
    return path
