"""The recommendations HTTP API and the metrics dashboard (`vodrec serve`).

The API serves the champion model: the week named by the newest `champion_history` row. A background
thread polls that table every `refresh_seconds` and, when the champion changes, builds a new immutable
`ServedModel` snapshot and swaps one reference to it. A request reads the reference once, so it is
answered wholly from the old champion or wholly from the new one: promotion needs no restart and fails
no request. Lists are answered from Redis when configured, else from an in-process snapshot of the
champion week, with the database as fallback and source of truth (`answers.py`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi_offline import FastAPIOffline
from fastapi import FastAPI, HTTPException, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from vodrec_assets.database import sqlite_file
from vodrec_assets.settings import current
from vodrec_assets.serving import answers, store
from vodrec_assets.serving.dashboard import render_dashboard
from vodrec_assets.serving.fastpath import FastRecommendations
from vodrec_assets.serving.redis_store import DEFAULT_PREFIX

log = logging.getLogger("vodrec.serving")

MIN_SUBSR_ID, MAX_SUBSR_ID = -(2**63), 2**63 - 1  # BIGINT: ids are signed 64-bit integers end to end
DEFAULT_REFRESH_SECONDS = 2.0
DEFAULT_SNAPSHOT_MAX_ROWS = 20_000_000  # ~17 bytes a row in memory
STORES = ("auto", "redis", "snapshot", "database")


# --------------------------------------------------------------------------- response models


class RecommendedProgram(BaseModel):
    rank: int
    program_id: int
    program_name: str | None = Field(description="from vodinfo; null when the program is not in the catalogue")
    ct_cl: str | None
    program_genre: str | None
    score: float
    source: str = Field(description="'model' or 'popularity'")


class RecommendationsResponse(BaseModel):
    subsr_id: int
    model_week: str = Field(description="the champion week whose model produced this list")
    source: str = Field(description="'model', or 'popularity' when the model has no list for this subscriber")
    store: str = Field(description="what answered: 'redis', 'snapshot' (this process's copy of the week), "
                                   "'database', or 'memory' (the popularity list kept for a database outage)")
    fallback_reason: str | None = Field(description="why a fallback answered instead of the subscriber's list")
    k: int
    count: int
    items: list[RecommendedProgram]


class Decision(BaseModel):
    week: str
    champion_week: str
    promoted: bool
    reason: str
    candidate_map_at_10: float | None
    champion_map_at_10: float | None
    decided_at: str


class NextWeekEvaluation(BaseModel):
    week: str
    metrics: dict[str, float]


class ModelResponse(BaseModel):
    champion_week: str = Field(description="the week whose model is served")
    model_family: str | None = Field(default=None, description="the served model's family (lightfm, ease, ials, "
                                     "item_knn, popularity, lightfm_ease_blend); null for weeks published before "
                                     "families were recorded")
    promoted_at: str | None = Field(description="when that week's model was promoted (decided_at)")
    promotion_reason: str | None
    latest_decision: Decision = Field(description="the newest champion_history row, which names the champion")
    metrics: dict[str, float] = Field(description="metrics_history rows of the champion week: holdout_* and "
                                      "legacy_diversity describe this week's model; the unprefixed next-week "
                                      "keys score the previous week's model on this week")
    next_week_evaluation: NextWeekEvaluation | None = Field(
        description="the unprefixed next-week metrics of the following week, which score the champion model "
                    "on what subscribers newly watched after it was trained; null until that week is evaluated")
    loaded_at: str = Field(description="when the serving process loaded this champion")


class Health(BaseModel):
    status: str = Field(description="'ok'; 'degraded' (a fallback answers: 200 when the database is up, 503 "
                                    "when it is not); 'unavailable' (503, nothing to serve)")
    store: str | None = Field(description="what answers /recommendations now: redis, snapshot, database, "
                                          "memory (popularity only), or null")
    champion_week: str | None
    database: str = Field(description="'ok' or why the database does not answer")
    redis: str = Field(description="'ok', 'not configured', or why Redis does not answer")
    database_champion_week: str | None = None
    snapshot_rows: int | None = None
    loaded_at: str | None = None
    detail: str | None = None


def _decision(row: dict[str, Any]) -> Decision:
    return Decision(
        week=str(row["week"]), champion_week=str(row["champion_week"]), promoted=bool(row["promoted"]),
        reason=str(row["reason"]), candidate_map_at_10=row.get("candidate_map_at_10"),
        champion_map_at_10=row.get("champion_map_at_10"), decided_at=str(row["decided_at"]),
    )


# --------------------------------------------------------------------------- the refresher


class ModelRefresher:
    """Holds the current snapshot and keeps it in step with champion_history."""

    def __init__(self, engine: sa.Engine, refresh_seconds: float, snapshot_max_rows: int | None = None):
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self.snapshot_max_rows = snapshot_max_rows  # None: no in-process copy of the week's lists
        self._served: store.ServedModel | None = None
        self.week_lists: store.WeekLists | None = None
        self.snapshot_status = "not configured" if snapshot_max_rows is None else "not loaded yet"
        self.status = "not loaded yet"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def served(self) -> store.ServedModel | None:
        return self._served  # one attribute read: the caller keeps this snapshot for the whole request

    def refresh(self) -> bool:
        """Load the champion; swap it in if it changed. True when a swap happened."""
        try:
            fresh = store.load_snapshot(self.engine)
        except store.NoChampion as exc:
            self.status = str(exc)
            return False
        except sa.exc.SQLAlchemyError as exc:  # keep serving what we have while the database hiccups
            self.status = f"refresh failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            log.warning(self.status)
            return False
        self.status = "ok"
        current = self._served
        if current is not None and current.identity == fresh.identity:
            self._load_week_lists(fresh.champion_week)
            return False
        self._served = fresh  # the atomic swap
        if current is None or current.champion_week != fresh.champion_week:
            log.info("serving the model of week %s (was %s): %s", fresh.champion_week,
                        current.champion_week if current else "none", fresh.decision.get("reason"))
        self._load_week_lists(fresh.champion_week)
        return True

    def note_database_error(self, exc: Exception) -> None:
        """A request's query failed: /health says so at once, not at the next poll."""
        self.status = f"database unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"

    def _load_week_lists(self, week: str) -> None:
        """The champion week's lists in memory, when this process keeps a snapshot (no Redis). Requests
        use the database until it is loaded; the old week's copy serves nothing once the champion moved."""
        if self.snapshot_max_rows is None or (self.week_lists is not None and self.week_lists.week == week):
            return
        try:
            rows = store.count_week_rows(self.engine, week)
            if rows > self.snapshot_max_rows:
                self.snapshot_status = (f"week {week} has {rows:,} rows, above VODREC_SERVE_SNAPSHOT_MAX_ROWS "
                                        f"{self.snapshot_max_rows:,}: the database answers")
                return
            t0 = time.perf_counter()
            self.week_lists = store.load_week_lists(self.engine, week)
        except sa.exc.SQLAlchemyError as exc:
            self.snapshot_status = f"loading week {week} failed: {type(exc).__name__}"
            log.warning("%s: %s", self.snapshot_status, exc)
            return
        self.snapshot_status = "ok"
        log.info("week %s in memory: %d lists, %d rows in %.1f s", week, len(self.week_lists.subsr_ids),
                 self.week_lists.rows, time.perf_counter() - t0)

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception as exc:  # never let the refresher die: the next poll tries again
                self.status = f"refresh failed: {type(exc).__name__}: {exc}"
                log.exception("model refresh failed")

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="vodrec-model-refresher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.refresh_seconds + 5)


# --------------------------------------------------------------------------- the app


def create_app(url: str, refresh_seconds: float = DEFAULT_REFRESH_SECONDS, redis_url: str | None = None,
               redis_prefix: str = DEFAULT_PREFIX, store_name: str = "auto",
               snapshot_max_rows: int = DEFAULT_SNAPSHOT_MAX_ROWS) -> FastAPI:
    """`store_name`: auto (Redis when `redis_url`, else the in-process snapshot), redis, snapshot, or
    database (a query per request, the path before Redis). The database always backs the others."""
    if refresh_seconds <= 0:
        raise ValueError("refresh_seconds must be positive")
    if store_name not in STORES:
        raise ValueError(f"store must be one of {STORES}, got {store_name!r}")
    if store_name == "redis" and not redis_url:
        raise ValueError("store 'redis' needs a Redis URL (VODREC_REDIS_URL)")
    use_redis = bool(redis_url) and store_name in ("auto", "redis")
    use_snapshot = store_name == "snapshot" or (store_name == "auto" and not use_redis)
    engine = store.make_engine(url)
    refresher = ModelRefresher(engine, refresh_seconds, snapshot_max_rows if use_snapshot else None)
    from_redis = answers.RedisAnswers(redis_url, redis_prefix) if use_redis else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        refresher.start()
        try:
            yield
        finally:
            refresher.stop()
            engine.dispose()

    # Swagger UI from the installed fastapi-offline package rather than a CDN: /docs works on a network
    # without the internet and loads nothing from outside. No ReDoc: its bundle still fetches a logo.
    app = FastAPIOffline(
        redoc_url=None,
        title="vodrec serving",
        version="1",
        description="Weekly LightFM recommendations of the champion model, its metrics, and a dashboard.",
        lifespan=lifespan,
    )
    app.state.refresher = refresher
    app.state.engine = engine
    app.state.redis = from_redis

    def from_memory(subsr_id: int, k: int) -> answers.Answer | None:
        """Redis, else the snapshot; None when the database must answer (the endpoint does that)."""
        if from_redis is not None:
            answer = from_redis.answer(subsr_id, k)
            if answer is not None:
                return answer
        served = refresher.served
        return answers.from_snapshot(served, refresher.week_lists, subsr_id, k) if served is not None else None

    if from_redis is not None or use_snapshot:
        app.add_middleware(FastRecommendations, answer=from_memory)

    @app.exception_handler(sa.exc.SQLAlchemyError)
    async def database_unreachable(request: Any, exc: sa.exc.SQLAlchemyError) -> JSONResponse:
        """An endpoint that needs the database while it is away: 503 with the reason, never a 500."""
        refresher.note_database_error(exc)
        return JSONResponse(status_code=503, content={"detail": refresher.status})

    app.add_exception_handler(RequestValidationError, _short_validation_error)

    def served_or_503() -> store.ServedModel:
        served = refresher.served
        if served is None:
            raise HTTPException(status_code=503, detail=f"no model to serve: {refresher.status}")
        return served

    def database_state() -> str:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            refresher.note_database_error(exc)
            return refresher.status
        return "ok"

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health() -> Any:
        """Which store answers and whether the database (the source of truth) does: 200 ok, 200 degraded
        (Redis is away, the database answers), 503 degraded (the database is away: lists from Redis or the
        snapshot, or only the popularity list), 503 unavailable (nothing to serve)."""
        served = refresher.served
        database = database_state()
        redis_state, redis_week = from_redis.check_sync() if from_redis else ("not configured", None)
        lists = refresher.week_lists
        snapshot_ready = served is not None and lists is not None and lists.week == served.champion_week
        if redis_week is not None:
            answering, week = "redis", redis_week
        elif snapshot_ready:
            answering, week = "snapshot", served.champion_week
        elif served is not None:
            answering, week = ("database" if database == "ok" else "memory"), served.champion_week
        else:
            answering, week = None, None
        # Redis's pointer and champion_history move in one champion_model step; apart, one of its writes failed.
        disagree = redis_week is not None and served is not None and redis_week != served.champion_week
        if answering is None:
            status, code = "unavailable", 503
        elif database != "ok":
            status, code = "degraded", 503
        elif (from_redis is not None and redis_state != "ok") or disagree:
            status, code = "degraded", 200
        else:
            status, code = "ok", 200
        details = [f"database: {database}" if database != "ok" else None,
                   f"redis: {redis_state}" if from_redis is not None and redis_state != "ok" else None,
                   f"champion: {refresher.status}" if refresher.status not in ("ok", database) else None,
                   f"snapshot: {refresher.snapshot_status}" if refresher.snapshot_status not in ("ok", "not configured") else None,
                   f"Redis serves week {redis_week} while champion_history names {served.champion_week}: re-run "
                   f"champion_model" if disagree else None]
        body = Health(
            status=status, store=answering, champion_week=week, database=database, redis=redis_state,
            database_champion_week=served.champion_week if served else None,
            snapshot_rows=lists.rows if snapshot_ready else None,
            loaded_at=served.loaded_at if served else None,
            detail="; ".join(d for d in details if d) or None,
        ).model_dump()
        return JSONResponse(status_code=code, content=body)

    @app.get(
        "/recommendations/{subsr_id}",
        response_model=RecommendationsResponse,
        responses={422: {"description": "malformed subscriber id or k out of 1..100"},
                   503: {"description": "no champion model yet, or nothing answers"}},
    )
    async def recommendations(
        subsr_id: int = Path(..., ge=MIN_SUBSR_ID, le=MAX_SUBSR_ID, description="the set-top box's subscriber id"),
        k: int = Query(10, ge=1, le=store.MAX_K, description="how many programs (1..100)"),
    ) -> Any:
        """The champion week's top k for a subscriber; the week's popularity list for a subscriber the
        model has no list for (`source: popularity`). `store` says which store answered."""
        # Redis and the snapshot answer on the event loop (a round trip of ~0.1 ms, a binary search); only
        # the database's query goes to the thread pool: the hop costs more than the lookup itself.
        answer = from_redis.answer(subsr_id, k) if from_redis is not None else None
        if answer is None:
            served = served_or_503()
            answer = answers.from_snapshot(served, refresher.week_lists, subsr_id, k)
        if answer is None:
            try:
                answer = await run_in_threadpool(answers.from_database_or_memory, engine, served, subsr_id, k,
                                                 refresher.note_database_error)
            except answers.Unavailable as exc:
                raise HTTPException(status_code=503, detail=str(exc)) from exc
        return Response(content=answer.body, media_type="application/json",
                        headers={"X-Model-Week": answer.week, "X-Store": answer.store})

    @app.get("/model", response_model=ModelResponse, responses={503: {"description": "no champion model yet"}})
    def model() -> Any:
        """Which week's model is served, its metrics, when it was promoted and why."""
        served = served_or_503()
        week = served.champion_week
        following = store.next_metrics_week(engine, week)
        next_eval = None
        if following:
            nxt = {m: v for m, v in store.week_metrics(engine, following).items()
                   if not m.startswith("holdout_") and m not in ("legacy_diversity", "quality_gate_passed")}
            if nxt:
                next_eval = NextWeekEvaluation(week=following, metrics=nxt)
        promo = served.promotion
        return ModelResponse(
            champion_week=week,
            model_family=store.week_family(engine, week),
            promoted_at=str(promo["decided_at"]) if promo else None,
            promotion_reason=str(promo["reason"]) if promo else None,
            latest_decision=_decision(served.decision),
            metrics=store.week_metrics(engine, week),
            next_week_evaluation=next_eval,
            loaded_at=served.loaded_at,
        )

    @app.get("/metrics/history", responses={200: {"description": "{metric: {week: value}} of metrics_history"}})
    def metrics_history() -> dict[str, dict[str, float]]:
        """Every week's metrics, as the dashboard plots them."""
        return store.metrics_table(engine)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        """Weekly metrics (model vs popularity, next-week and holdout protocols) and the champion history."""
        served = refresher.served
        return HTMLResponse(render_dashboard(
            store.metrics_table(engine), store.champion_rows(engine),
            served.champion_week if served else None, refresher.status,
        ))

    return app


ECHO_LIMIT = 40  # characters of a rejected value a 422 body repeats


async def _short_validation_error(request: Any, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 body with each rejected input cut to ECHO_LIMIT characters: a 5,000-digit id is not
    echoed whole (nor anything a client sends to fill the logs)."""
    errors = []
    for error in exc.errors():
        error = {k: v for k, v in error.items() if k != "ctx"}
        text = str(error.get("input", ""))
        if len(text) > ECHO_LIMIT:
            error["input"] = f"{text[:ECHO_LIMIT]}... ({len(text)} characters)"
        errors.append(error)
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


def _refresh_seconds(args: Any) -> float:
    explicit = getattr(args, "refresh_seconds", None)
    if explicit is not None:
        return float(explicit)
    return float(current()["VODREC_SERVE_REFRESH_SECONDS"] or DEFAULT_REFRESH_SECONDS)


def _missing_sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL when it does not exist, else None."""
    path = sqlite_file(url)
    return None if path is None or os.path.exists(path) else path


def cli_serve(args: Any) -> int:
    """`vodrec serve --host 127.0.0.1 --port 8000 [--source URL]`; the refresh period comes from
    `VODREC_SERVE_REFRESH_SECONDS` (default 2 s), Redis from `VODREC_REDIS_URL` / `VODREC_REDIS_PREFIX`, the
    store from `VODREC_SERVE_STORE` (auto, redis, snapshot, database)."""
    import uvicorn

    from vodrec_assets.settings import redis_prefix, redis_url, source_url

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = source_url(getattr(args, "source", None))
    missing = _missing_sqlite_file(url)
    if missing:  # SQLite would create an empty file there and serve 503 forever
        raise SystemExit(f"no database at {missing}: pass --source (or VODREC_SOURCE_URL) of the database "
                         "the pipeline writes the recommendations to")
    app = create_app(url, refresh_seconds=_refresh_seconds(args), redis_url=redis_url(),
                     redis_prefix=redis_prefix(), store_name=current()["VODREC_SERVE_STORE"],
                     snapshot_max_rows=int(current()["VODREC_SERVE_SNAPSHOT_MAX_ROWS"] or DEFAULT_SNAPSHOT_MAX_ROWS))
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    stores = "Redis, then the database" if app.state.redis else (
        "a snapshot in memory, then the database" if app.state.refresher.snapshot_max_rows else "the database")
    log.info("serving %s on http://%s:%d (refresh every %.1f s), lists from %s", shown, args.host, args.port,
             app.state.refresher.refresh_seconds, stores)
    # No access log: one line per request would cost more than the request itself under load.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")
    return 0
