"""The one code location: everything under vodrec_assets/defs/ (`dg`'s defs folder), plus what is global."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from vodrec_assets.asset_defaults import TRAINING_POOL, WEEKLY_STEP, io_retry_policy
from vodrec_assets.fused_weeks import fuse_weekly_definitions
from vodrec_assets.partitions import weekly_partitions


def project_root() -> Path:
    """The folder of the pyproject.toml whose [tool.dg] names the defs folder: the repository root when
    the package runs from its source tree; an installed package (the Docker image) runs from a working
    directory that holds a copy of it."""
    source_tree = Path(__file__).resolve().parent.parent
    return source_tree if (source_tree / "pyproject.toml").is_file() else Path.cwd()


# The weekly assets run as one fused step that walks a range of weeks (vodrec_assets/fused_weeks.py): a
# backfill of a year is one run, each week still materialized and checked on its own.
defs = dg.Definitions.merge(
    fuse_weekly_definitions(dg.load_from_defs_folder(path_within_project=project_root()), WEEKLY_STEP,
                            weekly_partitions, pool=TRAINING_POOL, retry_policy=io_retry_policy()),
    # One process per run: a weekly partition is a short chain of steps, and a process per step would
    # spend more time importing than computing. Parallelism comes from runs (partitions) instead.
    dg.Definitions(executor=dg.in_process_executor),
)
