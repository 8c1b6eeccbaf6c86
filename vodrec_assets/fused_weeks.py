"""The weekly assets and their checks as one step, `weekly_assets`, that runs a week or a range of weeks.

Why: a backfill through the daemon paid a process per week (job backfill) or a daemon iteration per week
(an asset backfill follows trained_model's previous week), docs/performance.md. Dagster 1.13 runs a range
in one run only under `BackfillPolicy.single_run()`, and there a check yields one result for the whole
range (`AssetCheckResult` has no partition) and a step materializes every week of its range or none, so a
blocking check that fails for one week would stop every week downstream of it.

What: one multi-asset that walks the range itself, oldest week first (the warm start and the champion
need the previous week). For each week and each selected asset it calls the asset's own function with a
context naming that week, then that asset's selected checks. A range reports each week's materialization
and each check's verdict as events of that week (`AssetMaterialization` / `AssetCheckEvaluation` with
`partition=`); one week alone reports Dagster's own results, whose outputs let the run's later steps
(the deadline check) follow. A failed blocking check, or an error, stops the later assets of that same
week, as a run of that week alone would; later weeks go on (a week whose window lacks a stopped week
reads the weeks that exist, as in a job backfill). At the end the step fails if a week was stopped, so
the run, the backfill and the alerts say so; every other (asset, week) pair is materialized exactly once.
A retried attempt skips the pairs its run already materialized.

After its walk the step rebuilds the unpartitioned summaries of the weeks it changed (`summary_body`:
`metrics_history`), once per run. Declared as plain asset specs that nothing else materializes, they are
no separate run after the weekly one: "Materialize all" of a range would otherwise wait for the backfill
daemon's next 30-second iteration to start that run, and one more to see it finish.

The asset and check functions stay in their domain modules: `week_body` and `weekly_check` record them
beside the `@dg.asset` / `@dg.asset_check` wrapping them, so each can still be invoked, tested and
benchmarked alone; `definitions.py` fuses what the defs folder loads (`fuse_weekly_definitions`).

Dagster allows one partition mapping per upstream asset within a multi-asset, and trained_model is read
with two (its own previous week; this and the previous week by weekly_metrics). The fused step therefore
does not declare trained_model's dependency on its previous week: the walk orders the weeks instead.
"""

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dagster as dg

_ASSET_BODIES: dict[str, Callable[..., dg.MaterializeResult]] = {}
_CHECK_BODIES: dict[tuple[str, str], Callable[..., dg.AssetCheckResult]] = {}
_SUMMARY_BODIES: dict[str, Callable[..., dg.MaterializeResult]] = {}


def week_body(fn: Callable[..., dg.MaterializeResult]) -> Callable[..., dg.MaterializeResult]:
    """Below `@dg.asset`: records the asset's function (the asset is named after it) for the fused step."""
    _ASSET_BODIES[fn.__name__] = fn
    return fn


def check_body(asset: str, name: str, fn: Callable[..., dg.AssetCheckResult]) -> None:
    _CHECK_BODIES[(asset, name)] = fn


_Rebuild = Callable[..., dg.MaterializeResult]


def summary_body(spec: dg.AssetSpec) -> Callable[[_Rebuild], _Rebuild]:
    """Records `fn` as the rebuild of `spec`: an unpartitioned summary of weekly assets, whose deps name the
    weekly assets it reads. The weekly step rebuilds it once, after its walk, when it materialized a week of
    one of them; nothing else materializes it, so "Materialize all" of a range waits for no second run (and
    no backfill daemon iteration) after the weekly one."""
    def record(fn: _Rebuild) -> _Rebuild:
        _SUMMARY_BODIES[spec.key.to_user_string()] = fn
        return fn
    return record


def refresh_summary(context: Any, asset: str) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """Rebuild the summary `asset` and evaluate its recorded checks, as events of the calling step or op."""
    result = _call(_SUMMARY_BODIES[asset], context, {})
    yield dg.AssetMaterialization(asset_key=asset, metadata=result.metadata if result is not None else None)
    for name, fn in _summary_checks(asset).items():
        verdict: dg.AssetCheckResult = _call(fn, context, {})
        yield dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(asset), check_name=name, passed=verdict.passed, metadata=verdict.metadata,
            severity=verdict.severity, description=verdict.description)


class WeekContext:
    """The fused step's context as one asset or check function sees it for one week: `partition_key` is
    that week; the log, the instance, the run and the resources are the step's."""

    def __init__(self, context: dg.AssetExecutionContext, week: str | None):
        self._context, self._week = context, week

    @property
    def partition_key(self) -> str:
        if self._week is None:
            raise dg.DagsterInvariantViolationError("this run has no partition")
        return self._week

    @property
    def has_partition_key(self) -> bool:
        return self._week is not None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def stops_its_week(passed: bool, blocking: bool, severity: dg.AssetCheckSeverity) -> bool:
    """Whether a check verdict stops its week: a blocking check that failed with ERROR severity."""
    return blocking and not passed and severity == dg.AssetCheckSeverity.ERROR


@functools.cache
def _config_param(fn: Callable) -> tuple[str, type[dg.Config]] | None:
    for name, param in inspect.signature(fn).parameters.items():
        annotation = param.annotation
        if isinstance(annotation, type) and issubclass(annotation, dg.Config) \
                and not issubclass(annotation, dg.ConfigurableResource):
            return name, annotation
    return None


@functools.cache
def _parameters(fn: Callable) -> tuple[bool, tuple[str, ...]]:
    """Whether `fn` takes the context first, and the names of its other parameters."""
    params = tuple(inspect.signature(fn).parameters)
    takes_context = bool(params) and params[0] == "context"
    return takes_context, params[1 if takes_context else 0:]


def _call(fn: Callable, context: WeekContext, config: dict[str, Any]) -> Any:
    """`fn(context, **its resources and config)`, each argument by its parameter's name."""
    takes_context, params = _parameters(fn)
    configured = _config_param(fn)
    kwargs = {name: configured[1](**config) if configured and name == configured[0] else getattr(context.resources, name)
              for name in params}
    return fn(context, **kwargs) if takes_context else fn(**kwargs)


def _earlier_attempts(context: dg.AssetExecutionContext) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The (asset, week) pairs earlier attempts of this run's step materialized, and those whose blocking
    check failed."""
    done: set[tuple[str, str]] = set()
    blocked: set[tuple[str, str]] = set()
    if context.retry_number == 0:
        return done, blocked
    for event_type in (dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        cursor = None
        while True:
            page = context.instance.get_records_for_run(context.run_id, cursor=cursor, of_type=event_type, limit=1000)
            for record in page.records:
                data = record.event_log_entry.dagster_event.event_specific_data
                if event_type == dg.DagsterEventType.ASSET_MATERIALIZATION and data.materialization.partition:
                    done.add((data.materialization.asset_key.to_user_string(), data.materialization.partition))
                elif event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and data.partition \
                        and stops_its_week(data.passed, data.blocking, data.severity):
                    blocked.add((data.asset_key.to_user_string(), data.partition))
            if not page.has_more:
                break
            cursor = page.cursor
    return done, blocked


def _fused_spec(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec as the fused step declares it: skippable (a stopped week has no output), and without a
    dependency on its own earlier weeks (the walk orders them; the module's docstring says why)."""
    return spec.replace_attributes(skippable=True, deps=[d for d in spec.deps if d.asset_key != spec.key])


def fuse_weekly_assets(name: str, assets: Sequence[dg.AssetsDefinition], checks: Sequence[dg.AssetChecksDefinition],
                       partitions_def: dg.PartitionsDefinition, summaries: Sequence[dg.AssetSpec] = (),
                       **op_kwargs: Any) -> dg.AssetsDefinition:
    """One multi-asset doing the work of `assets` and `checks` (partitioned checks of those assets), a range
    of weeks per run, each week's assets in dependency order, then the `summaries` of the weeks it changed
    (`summary_body`). `op_kwargs` go to `dg.multi_asset` (pool, retry policy)."""
    specs = {a.key.to_user_string(): a.specs_by_key[a.key] for a in assets}
    missing = [n for n in specs if n not in _ASSET_BODIES]
    if missing:
        raise ValueError(f"no @week_body recorded for {missing}")
    # The same week's assets each asset reads (its own earlier weeks are the walk's order, not this).
    upstream = {a: {d.asset_key.to_user_string() for d in spec.deps} & set(specs) - {a} for a, spec in specs.items()}
    order = _in_dependency_order(upstream)
    check_specs = [spec for c in checks for spec in c.check_specs]
    for spec in check_specs:
        if (spec.asset_key.to_user_string(), spec.name) not in _CHECK_BODIES:
            raise ValueError(f"no check function recorded for {spec.key.to_user_string()}")
    checks_of = {a: [s for s in check_specs if s.asset_key.to_user_string() == a] for a in order}
    configs = {a: c[1] for a in order if (c := _config_param(_ASSET_BODIES[a]))}
    resource_keys = {key for a in assets for key in a.required_resource_keys}
    resource_keys |= {key for c in checks for key in c.required_resource_keys}
    summary_inputs = {s.key.to_user_string(): {d.asset_key.to_user_string() for d in s.deps} & set(specs)
                      for s in summaries}
    missing = [n for n in summary_inputs if n not in _SUMMARY_BODIES]
    if missing:
        raise ValueError(f"no @summary_body recorded for {missing}")
    resource_keys |= {key for n in summary_inputs for key in _summary_resource_keys(n)}

    @dg.multi_asset(
        name=name,
        specs=[_fused_spec(spec) for spec in specs.values()],
        check_specs=check_specs,
        partitions_def=partitions_def,
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys=resource_keys,
        config_schema={a: dg.Field(cls.to_config_schema().as_field().config_type, is_required=False)
                       for a, cls in configs.items()},
        **op_kwargs,
    )
    def _fused(context: dg.AssetExecutionContext) -> Iterator[Any]:
        selected = {k.to_user_string() for k in context.selected_asset_keys}
        selected_checks = {(k.asset_key.to_user_string(), k.name) for k in context.selected_asset_check_keys}
        weeks: list[str | None] = (list(context.partition_keys)
                                   if context.has_partition_key or context.has_partition_key_range else [None])
        single = context.has_partition_key
        evaluated: set[dg.AssetCheckKey] = set()
        done, blocked = _earlier_attempts(context)
        changed = {asset for asset, _ in done}  # the assets of which this run materialized a week
        stopped: set[tuple[str, str | None]] = set()  # pairs not computed, failed, or whose check could not judge
        failures: list[tuple[str, str | None, BaseException]] = []
        op_config = context.op_config or {}
        if len(weeks) > 1:
            context.log.info(f"{len(weeks)} weeks, {weeks[0]} .. {weeks[-1]}, oldest first")
        for week in weeks:
            week_context = WeekContext(context, week)
            for asset in order:
                checks_here = [s for s in checks_of[asset] if (asset, s.name) in selected_checks]
                if asset not in selected and not checks_here:
                    continue
                halted = sorted(u for u in upstream[asset] if (u, week) in stopped or (u, week) in blocked)
                if halted:
                    stopped.add((asset, week))
                    if asset in selected:
                        context.log.warning(f"{asset} {week}: not computed, upstream {', '.join(halted)} of the same "
                                            "week failed or failed a blocking check")
                    continue
                if asset in selected and (asset, week) not in done:
                    context.log.info(f"{asset} {week}: started")
                    try:
                        result = _call(_ASSET_BODIES[asset], week_context, op_config.get(asset, {}))
                    except Exception as exc:  # noqa: BLE001 - the week fails alone; raised again at the end
                        context.log.error(f"{asset} {week} failed: {type(exc).__name__}: {exc}")
                        stopped.add((asset, week))
                        failures.append((asset, week, exc))
                        continue
                    metadata = result.metadata if result is not None else None
                    changed.add(asset)
                    # One week: Dagster's own result (its output lets the run's later steps, e.g. the
                    # deadline check, run). A range: one event per week, as an output would be for all.
                    yield (dg.MaterializeResult(asset_key=asset, metadata=metadata) if single else
                           dg.AssetMaterialization(asset_key=asset, partition=week, metadata=metadata))
                elif (asset, week) in done:
                    continue  # checked by the attempt that materialized it
                for spec in checks_here:
                    try:
                        verdict: dg.AssetCheckResult = _call(_CHECK_BODIES[(asset, spec.name)], week_context, {})
                    except Exception as exc:  # noqa: BLE001
                        context.log.error(f"check {asset}.{spec.name} {week} failed: {type(exc).__name__}: {exc}")
                        if spec.blocking:  # a blocking check that could not judge the week stops what follows
                            stopped.add((asset, week))
                        failures.append((f"{asset}.{spec.name}", week, exc))
                        continue
                    if single:
                        yield dg.AssetCheckResult(
                            asset_key=spec.asset_key, check_name=spec.name, passed=verdict.passed,
                            metadata=verdict.metadata, severity=verdict.severity, description=verdict.description)
                    else:
                        yield dg.AssetCheckEvaluation(
                            asset_key=spec.asset_key, check_name=spec.name, passed=verdict.passed,
                            metadata=verdict.metadata, severity=verdict.severity, description=verdict.description,
                            blocking=spec.blocking, partition=week)
                        evaluated.add(spec.key)
                    if stops_its_week(verdict.passed, spec.blocking, verdict.severity):
                        blocked.add((asset, week))
        for summary, inputs in summary_inputs.items():
            if inputs & changed:  # a stopped week changed nothing, but the weeks that ran did
                context.log.info(f"{summary}: rebuilding it, this run changed {', '.join(sorted(inputs & changed))}")
                try:
                    yield from refresh_summary(WeekContext(context, None), summary)
                except Exception as exc:  # noqa: BLE001 - the weeks stay materialized; the run fails for it
                    context.log.error(f"{summary} failed: {type(exc).__name__}: {exc}")
                    failures.append((summary, None, exc))
        # A range reported its verdicts as events; each evaluated check's output, once, tells Dagster so.
        for name, spec in context.assets_def.check_specs_by_output_name.items():
            if spec.key in evaluated:
                yield dg.Output(None, output_name=name)
        if len(failures) == 1:
            raise failures[0][2]  # as a run of that week alone would fail (its retry policy, its message)
        if failures:
            lines = "; ".join(f"{what} {week}: {type(exc).__name__}: {exc}" for what, week, exc in failures)
            retry = any(not isinstance(exc, dg.Failure) or exc.allow_retries for _, _, exc in failures)
            raise dg.Failure(description=f"{len(failures)} (asset, week) failed: {lines}", allow_retries=retry) \
                from failures[0][2]

    return _fused


def _summary_checks(asset: str) -> dict[str, Callable[..., dg.AssetCheckResult]]:
    return {name: fn for (checked, name), fn in _CHECK_BODIES.items() if checked == asset}


def _summary_resource_keys(asset: str) -> set[str]:
    """The resources the summary's rebuild and its checks take, by their parameters' names."""
    return {key for fn in (_SUMMARY_BODIES[asset], *_summary_checks(asset).values()) for key in _parameters(fn)[1]}


def summary_job(asset: str, name: str, description: str, **job_kwargs: Any) -> dg.JobDefinition:
    """A job of one op that rebuilds the summary `asset` on demand (and evaluates its checks)."""
    @dg.op(name=f"rebuild_{asset}", out={}, description=description,
           required_resource_keys=_summary_resource_keys(asset))
    def rebuild(context: dg.OpExecutionContext) -> Iterator[Any]:
        yield from refresh_summary(context, asset)

    @dg.job(name=name, description=description, **job_kwargs)
    def job() -> None:
        rebuild()

    return job


def _in_dependency_order(upstream: dict[str, set[str]]) -> list[str]:
    """The assets ordered so that each comes after those in `upstream[asset]` (ties keep the given order)."""
    ordered: list[str] = []
    while len(ordered) < len(upstream):
        ready = [n for n in upstream if n not in ordered and upstream[n] <= set(ordered)]
        if not ready:
            raise ValueError(f"the weekly assets depend on each other in a cycle: {sorted(set(upstream) - set(ordered))}")
        ordered.append(ready[0])
    return ordered


def fuse_weekly_definitions(defs: dg.Definitions, name: str, partitions_def: dg.PartitionsDefinition,
                            **op_kwargs: Any) -> dg.Definitions:
    """`defs` with its assets of `partitions_def` whose function `week_body` recorded, and their checks of
    `partitions_def`, replaced by one fused step (`fuse_weekly_assets`) that also rebuilds the summaries
    (asset specs whose rebuild `summary_body` recorded)."""
    weekly = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition) and a.is_executable
              and a.partitions_def == partitions_def and a.key.to_user_string() in _ASSET_BODIES]
    keys = {a.key for a in weekly}
    checks = [c for c in defs.asset_checks or []
              if all(s.partitions_def == partitions_def and s.asset_key in keys for s in c.check_specs)]
    summaries = [a for a in defs.assets or []
                 if isinstance(a, dg.AssetSpec) and a.key.to_user_string() in _SUMMARY_BODIES]
    fused = fuse_weekly_assets(name, weekly, checks, partitions_def, summaries, **op_kwargs)
    return dg.Definitions(
        assets=[fused, *(a for a in defs.assets or [] if a not in weekly)],
        asset_checks=[c for c in defs.asset_checks or [] if c not in checks],
        schedules=defs.schedules, sensors=defs.sensors, jobs=defs.jobs, resources=defs.resources,
        executor=defs.executor, loggers=defs.loggers, metadata=defs.metadata, component_tree=defs.component_tree,
    )
