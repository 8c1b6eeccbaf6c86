"""Training: the week's LightFM model, stored as arrays + JSON."""


from dataclasses import replace

import dagster as dg
import numpy as np

from vodrec_assets.asset_defaults import JOB_TAG, TRAINING_POOL, io_retry_policy, rounded, weekly_asset_kwargs
from vodrec_assets.artifacts import (
    BACKTEST_CHOICE, MODEL_SELECTION, SCORE_MATRIX, TRAINED_MODEL, WEEKLY_PAIR_STATS, load_lightfm_state,
    load_score_matrix, retire_lightfm_state, save_lightfm_state, save_model, save_zoo_model,
)
from vodrec_assets.fused_weeks import week_body
from vodrec_assets.partitions import previous_week, previous_week_mapping, weekly_partitions
from vodrec_assets.recsys.evaluation import fit_on
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.model import LightFMConfig
from vodrec_assets.recsys.selection import search
from vodrec_assets.recsys.zoo import fit_family, params_for
from vodrec_assets.recsys.warm_start import LightFMState, carry_over, column_keys, pairs_watched_in
from vodrec_assets.resources import ArtifactStore


# The weekly model's LightFM hyperparameters: the original's (LightFMConfig's defaults) but the hybrid model
# (item/user features), because on the synthetic weeks the pure collaborative model of the original loses
# to popularity in the first, sparse weeks and fails the quality gate (docs/quality.md).
WEEKLY_LIGHTFM = replace(LightFMConfig(), use_features=True)


class TrainingConfig(dg.Config):
    """LightFM hyperparameters, defaulting to WEEKLY_LIGHTFM (the original's, with item/user features)."""

    no_components: int = WEEKLY_LIGHTFM.no_components
    epochs: int = WEEKLY_LIGHTFM.epochs
    loss: str = WEEKLY_LIGHTFM.loss
    learning_rate: float = WEEKLY_LIGHTFM.learning_rate
    item_alpha: float = WEEKLY_LIGHTFM.item_alpha
    user_alpha: float = WEEKLY_LIGHTFM.user_alpha
    max_sampled: int = WEEKLY_LIGHTFM.max_sampled
    random_state: int = WEEKLY_LIGHTFM.random_state
    num_threads: int = WEEKLY_LIGHTFM.num_threads  # 1 gives byte-identical re-runs
    use_features: bool = WEEKLY_LIGHTFM.use_features
    use_weights: bool = WEEKLY_LIGHTFM.use_weights  # the rating as sample weight, as the original did
    use_model_selection: bool = False  # take the hyperparameters from the newest `model_selection`
    # Continue from the previous week's model for `warm_start_epochs` over the pairs watched this week,
    # instead of `epochs` over the whole window from random: as good next week at a tenth of the cost
    # (docs/quality.md, "Warm start"). A week without a usable previous model is fitted cold.
    warm_start: bool = True
    warm_start_epochs: int = 5
    # The model family (recsys/zoo.py: lightfm, ease, ials, item_knn, popularity, lightfm_ease_blend).
    # Empty: the family and hyperparameters the newest backtest chose (backtest/choice.json, job
    # `backtest`), or LightFM when no backtest has chosen. `family_params` override the family's
    # hyperparameters (the LightFM fields above are LightFM's, also the blend's LightFM part).
    family: str = ""
    family_params: dict[str, float] = {}
    use_backtest_choice: bool = True

    def to_lightfm(self) -> LightFMConfig:
        return LightFMConfig(**self.model_dump(exclude={"use_model_selection", "warm_start", "warm_start_epochs",
                                                        "family", "family_params", "use_backtest_choice"}))


@dg.asset(
    group_name="training", kinds={"lightfm", "numpy"}, code_version="2", pool=TRAINING_POOL,
    # The previous week's trained_model is declared (its LightFM state is what this week warm-starts from);
    # model_selection and the backtest choice are read undeclared (artifacts.UNDECLARED_READS says why).
    deps=[SCORE_MATRIX.dep(), WEEKLY_PAIR_STATS.dep(), TRAINED_MODEL.dep(previous_week_mapping)],
    **weekly_asset_kwargs(),
)
@week_body
def trained_model(context: dg.AssetExecutionContext, config: TrainingConfig, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """LightFM (WARP by default) on the week's score matrix, interactions = watched pairs, sample weight =
    rating. Warm-started by default: last week's model (its LightFM state) continues for
    `warm_start_epochs` over the pairs watched this week; the first week, or a week whose previous model
    is missing or has other hyperparameters, is fitted from scratch for `epochs` over the whole window.
    Stored without pickle: embeddings and biases as .npz plus a JSON manifest (config, id maps, sha256),
    and LightFM's per-feature state for next week. At most one training runs at a time (pool
    `lightfm_training`)."""
    week = context.partition_key
    matrix = load_score_matrix(artifacts, week)
    family, family_params, family_source = weekly_family(config, artifacts)
    if family != "lightfm":
        return _train_other_family(context, config, artifacts, matrix, family, family_params, family_source)
    lightfm_config = config.to_lightfm()
    config_source = "run config"
    if config.use_model_selection:
        selected = selected_config(artifacts, week)
        if selected is None:
            raise dg.Failure("use_model_selection is set but no model_selection exists at or before this week: "
                             "run the job select_model for a week first", allow_retries=False)
        lightfm_config = replace(lightfm_config, **selected[0])
        config_source = f"model_selection of {selected[1]}"
    state, warm = warm_start_state(artifacts, week, lightfm_config, matrix) if config.warm_start else (
        None, {"warm_start": "off (config)"})
    if state is None:
        interactions, weights, fit_config = matrix.interactions, matrix.weights, lightfm_config
    else:
        interactions, weights = pairs_watched_in(matrix, WEEKLY_PAIR_STATS.read(
            artifacts, week, ["subsr_id", "program_id", "watch_max_ratio"]))
        fit_config = replace(lightfm_config, epochs=config.warm_start_epochs)
    model = fit_on(matrix, interactions, weights, fit_config, initial_state=state)
    # The stored config is the cold one: the holdout protocol refits it from scratch (evaluation).
    model.config = lightfm_config.to_dict()
    path = save_model(artifacts, week, model, matrix, {"config_source": config_source, **warm})
    save_lightfm_state(artifacts, week, model.state, *column_keys(matrix, lightfm_config.use_features),
                       lightfm_config.to_dict())
    n_users, n_items = matrix.shape
    return dg.MaterializeResult(metadata=rounded({
        "model_family": "lightfm",
        "family_source": family_source,
        **{f"hp_{k}": v for k, v in lightfm_config.to_dict().items()},
        **warm,
        "fit_epochs": int(fit_config.epochs),
        "fit_pairs": int(interactions.nnz),
        "pairs": int(matrix.interactions.nnz),
        "subscribers": n_users,
        "programs": n_items,
        "fit_seconds": float(model.fit_seconds),
        "config_source": config_source,
        "path": path,
    }))


def weekly_family(config: TrainingConfig, artifacts: ArtifactStore) -> tuple[str, dict, str]:
    """The family to train, its hyperparameter overrides and where they came from: the run config's
    `family`, else the recorded backtest choice (an undeclared read of `backtest/choice.json`: the
    backtest is an on-demand job, not an asset this one depends on), else LightFM."""
    overrides = dict(config.family_params)
    if config.family:
        params_for(config.family, overrides)  # refuses an unknown family or hyperparameter before any work
        return config.family, overrides, "run config"
    if config.use_backtest_choice and BACKTEST_CHOICE.exists(artifacts):
        choice = BACKTEST_CHOICE.read(artifacts)
        family = choice["family"]
        if family == "lightfm":  # the weekly LightFM keeps its run-config hyperparameters and warm start
            return family, {}, f"backtest choice of {choice.get('decided_at', '?')}"
        params = {k: v for k, v in choice.get("params", {}).items() if k != "lightfm"} | overrides
        params_for(family, params)
        return family, params, f"backtest choice of {choice.get('decided_at', '?')}"
    return "lightfm", {}, "default (no backtest choice recorded)"


def _train_other_family(context: dg.AssetExecutionContext, config: TrainingConfig, artifacts: ArtifactStore,
                        matrix: ScoreMatrix, family: str, params: dict, family_source: str) -> dg.MaterializeResult:
    """A zoo family other than LightFM, fitted on the whole window; the blend's LightFM part is the run
    config's LightFM, fitted cold. No LightFM state is stored: next week's LightFM (if any) fits cold."""
    week = context.partition_key
    if family == "lightfm_ease_blend":
        params = params | {"lightfm": config.to_lightfm().to_dict()}
    model = fit_family(family, matrix, params)
    path = save_zoo_model(artifacts, week, model, matrix, {"config_source": family_source})
    retire_lightfm_state(artifacts, week, family)
    n_users, n_items = matrix.shape
    return dg.MaterializeResult(metadata=rounded({
        "model_family": family,
        "family_source": family_source,
        **{f"hp_{k}": v for k, v in model.params.items() if isinstance(v, (int, float, str, bool))},
        "pairs": int(matrix.interactions.nnz),
        "subscribers": n_users,
        "programs": n_items,
        "fit_seconds": float(model.fit_seconds),
        "config_source": family_source,
        "path": path,
    }))


_WARM_START_KEYS = ("no_components", "use_features", "loss")


def warm_start_state(artifacts: ArtifactStore, week: str, config: LightFMConfig,
                     matrix: ScoreMatrix) -> tuple[LightFMState | None, dict]:
    """The state this week's fit starts from (None: fit from scratch) and why, as metadata."""
    prev = previous_week(week)
    stored = load_lightfm_state(artifacts, prev) if prev else None
    if stored is None:
        return None, {"warm_start": "no: first week" if prev is None else f"no: no LightFM state stored for {prev}"}
    prev_state, prev_users, prev_items, prev_config = stored
    differ = [k for k in _WARM_START_KEYS if prev_config.get(k) != getattr(config, k)]
    if differ:
        return None, {"warm_start": f"no: {prev}'s model differs in {', '.join(differ)}"}
    state, counts = carry_over(prev_state, prev_users, prev_items, *column_keys(matrix, config.use_features),
                               config.no_components, np.random.RandomState(config.random_state))
    return state, {"warm_start": f"from {prev}", **counts}


class ModelSelectionConfig(dg.Config):
    """The grid searched on the week's holdout (fixed seeds). Lists of values per hyperparameter."""

    no_components: list[int] = [16, 32, 64]
    epochs: list[int] = [10, 30]
    learning_rate: list[float] = [0.05]
    use_features: list[bool] = [False, True]
    seeds: list[int] = [0]
    metric: str = "holdout_map_at_10"
    num_threads: int = 1  # 1 gives byte-identical re-runs; more threads train faster but not reproducibly


@dg.op(pool=TRAINING_POOL, retry_policy=io_retry_policy())
def search_hyperparameters(context: dg.OpExecutionContext, config: ModelSelectionConfig,
                           artifacts: ArtifactStore) -> None:
    """A small LightFM grid searched on the week's holdout protocol with fixed seeds. Records the winner and
    the whole table in `model_selection/<week>.json` and reports them as an observation of the week's
    `trained_model` (its Events tab), which uses the newest selection at or before its week when its
    config says `use_model_selection: true`."""
    week = context.partition_key
    matrix = load_score_matrix(artifacts, week)
    grid = {"no_components": config.no_components, "epochs": config.epochs,
            "learning_rate": config.learning_rate, "use_features": config.use_features}
    table = search(matrix, LightFMConfig(num_threads=config.num_threads), grid, config.metric, tuple(config.seeds))
    winner = {k: table.iloc[0][k] for k in grid} if len(table) else {}
    winner = {k: (bool(v) if k == "use_features" else (float(v) if k == "learning_rate" else int(v))) for k, v in winner.items()}
    MODEL_SELECTION.write(artifacts, week=week, value={
        "week": week, "metric": config.metric, "winner": winner, "table": table.to_dict(orient="records"),
    })
    best = float(table.iloc[0][config.metric]) if len(table) and config.metric in table else 0.0
    context.log_event(dg.AssetObservation(asset_key="trained_model", partition=week, metadata=rounded({
        "model_selection_winner": dg.MetadataValue.json(winner),
        f"model_selection_best_{config.metric}": best,
        "model_selection_configurations": int(len(table)),
        "model_selection_table": dg.MetadataValue.md(table.round(4).to_markdown(index=False)),
        "model_selection_path": MODEL_SELECTION.uri(artifacts, week),
    })))


@dg.job(partitions_def=weekly_partitions, tags={JOB_TAG: "select_model"})
def select_model():
    """Search LightFM hyperparameters on a week's holdout, on demand (Launchpad: pick the week, edit the
    grid). An op job, not an asset, so that "Materialize all" never starts the grid search."""
    search_hyperparameters()


def selected_config(artifacts: ArtifactStore, week: str) -> tuple[dict, str] | None:
    """The newest model selection at or before `week`: its winning hyperparameters and its week."""
    eligible = [w for w in MODEL_SELECTION.stored_weeks(artifacts) if w <= week]
    if not eligible:
        return None
    record = MODEL_SELECTION.read(artifacts, eligible[-1])
    return record["winner"], record["week"]
