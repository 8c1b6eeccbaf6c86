"""The recommendations HTTP API and the metrics dashboard (`vodrec serve`).

The API serves the champion model: the week named by the newest `champion_history` row. A background
thread polls that table every `refresh_seconds` and, when the champion changes, builds a new immutable
`ServedModel` snapshot and swaps one reference to it. A request reads the reference once, so it is
answered wholly from the old champion or wholly from the new one: promotion needs no restart and fails
no request.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Path, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from vodrec_assets.serving import store
from vodrec_assets.serving.dashboard import render_dashboard

log = logging.getLogger("vodrec.serving")

MAX_SUBSR_ID = 2**63 - 1  # BIGINT
DEFAULT_REFRESH_SECONDS = 2.0


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
    status: str
    champion_week: str | None
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

    def __init__(self, engine: sa.Engine, refresh_seconds: float):
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self._served: store.ServedModel | None = None
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
            return False
        self._served = fresh  # the atomic swap
        if current is None or current.champion_week != fresh.champion_week:
            log.info("serving the model of week %s (was %s): %s", fresh.champion_week,
                        current.champion_week if current else "none", fresh.decision.get("reason"))
        return True

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


def create_app(url: str, refresh_seconds: float = DEFAULT_REFRESH_SECONDS) -> FastAPI:
    if refresh_seconds <= 0:
        raise ValueError("refresh_seconds must be positive")
    engine = store.make_engine(url)
    refresher = ModelRefresher(engine, refresh_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        refresher.start()
        try:
            yield
        finally:
            refresher.stop()
            engine.dispose()

    app = FastAPI(
        title="vodrec serving",
        version="1",
        description="Weekly LightFM recommendations of the champion model, its metrics, and a dashboard.",
        lifespan=lifespan,
    )
    app.state.refresher = refresher
    app.state.engine = engine

    def served_or_503() -> store.ServedModel:
        served = refresher.served
        if served is None:
            raise HTTPException(status_code=503, detail=f"no model to serve: {refresher.status}")
        return served

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health() -> Any:
        """ok and the served week; 503 while there is no champion to serve."""
        served = refresher.served
        if served is None:
            return JSONResponse(status_code=503, content=Health(
                status="unavailable", champion_week=None, detail=refresher.status).model_dump())
        detail = None if refresher.status == "ok" else refresher.status
        return Health(status="ok", champion_week=served.champion_week, loaded_at=served.loaded_at, detail=detail)

    @app.get(
        "/recommendations/{subsr_id}",
        response_model=RecommendationsResponse,
        responses={422: {"description": "malformed subscriber id or k out of 1..100"},
                   503: {"description": "no champion model yet"}},
    )
    def recommendations(
        response: Response,
        subsr_id: int = Path(..., ge=0, le=MAX_SUBSR_ID, description="the set-top box's subscriber id"),
        k: int = Query(10, ge=1, le=store.MAX_K, description="how many programs (1..100)"),
    ) -> Any:
        """The champion week's top k for a subscriber; the week's popularity list for a subscriber the
        model has no list for (`source: popularity`)."""
        served = served_or_503()
        source, items = store.recommend(engine, served, subsr_id, k)
        response.headers["X-Model-Week"] = served.champion_week
        # A plain dict: FastAPI validates it against the response model once (no second model build).
        return {"subsr_id": subsr_id, "model_week": served.champion_week, "source": source, "k": k,
                "count": len(items), "items": [p.as_dict() for p in items]}

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


def _refresh_seconds(args: Any) -> float:
    explicit = getattr(args, "refresh_seconds", None)
    if explicit is not None:
        return float(explicit)
    return float(os.environ.get("VODREC_SERVE_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS))


def cli_serve(args: Any) -> int:
    """`vodrec serve --host 127.0.0.1 --port 8000 [--source URL]`; the refresh period comes from
    `VODREC_SERVE_REFRESH_SECONDS` (default 2 s)."""
    import uvicorn

    from vodrec_assets.settings import source_url

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = source_url(getattr(args, "source", None))
    app = create_app(url, refresh_seconds=_refresh_seconds(args))
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    log.info("serving %s on http://%s:%d (refresh every %.1f s)", shown, args.host, args.port,
             app.state.refresher.refresh_seconds)
    # No access log: one line per request would cost more than the request itself under load.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")
    return 0
