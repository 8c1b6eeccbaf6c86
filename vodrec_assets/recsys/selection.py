"""Hyperparameter search on the holdout protocol: a small grid, fixed seeds, the whole table kept."""

from dataclasses import replace
from itertools import product

import pandas as pd

from vodrec_assets.recsys.evaluation import holdout_protocol
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.model import LightFMConfig

DEFAULT_GRID = {
    "no_components": [16, 32, 64],
    "epochs": [10, 30],
    "learning_rate": [0.05],
    "use_features": [False, True],
}


def grid_configs(base: LightFMConfig, grid: dict[str, list]) -> list[LightFMConfig]:
    names = sorted(grid)
    return [replace(base, **dict(zip(names, values))) for values in product(*(grid[n] for n in names))]


def search(matrix: ScoreMatrix, base: LightFMConfig, grid: dict[str, list], metric: str = "holdout_map_at_10",
           seeds: tuple[int, ...] = (0,)) -> pd.DataFrame:
    """One row per configuration: its hyperparameters and the holdout metrics averaged over `seeds`
    (the model's random_state; the split stays the original's random_state 0). Best first."""
    rows = []
    for config in grid_configs(base, grid):
        results = [holdout_protocol(matrix, replace(config, random_state=seed)) for seed in seeds]
        mean = pd.DataFrame(results).mean(numeric_only=True).to_dict()
        rows.append({**{k: getattr(config, k) for k in sorted(grid)}, **mean})
    table = pd.DataFrame(rows)
    if metric in table:
        table = table.sort_values(metric, ascending=False, kind="stable", ignore_index=True)
    return table
