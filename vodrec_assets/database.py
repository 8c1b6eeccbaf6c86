"""The one place vodrec opens a database: the engine for each use, and the file a SQLite URL points at."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import sqlalchemy as sa

from vodrec_assets import settings

# pipeline: the assets' source database (SourceDatabase); serving: the API's small pool of index lookups;
# tool: a one-off command (the generator, the MovieLens importer, the load test).
Use = Literal["pipeline", "serving", "tool"]

SERVING_POOL_SIZE = 4
SERVING_POOL_OVERFLOW = 4


def _options(url: str, use: Use) -> dict[str, Any]:
    sqlite = url.startswith("sqlite")
    mysql = url.startswith("mysql")
    if use == "tool":
        return {}
    if use == "serving":
        # A small connection pool: a handful of connections is enough for index lookups of ~1 ms.
        kwargs: dict[str, Any] = {"pool_size": SERVING_POOL_SIZE, "max_overflow": SERVING_POOL_OVERFLOW,
                                  "pool_timeout": 10}
        if sqlite:
            # Waits (rather than failing) while the pipeline commits a week's rows; thread-shared pool.
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            kwargs["poolclass"] = sa.pool.QueuePool
            return kwargs
        kwargs |= {"pool_pre_ping": True, "pool_recycle": 1800}
        if mysql:
            # A vanished or hung server fails the request in seconds (the API then answers from memory)
            # instead of holding a worker for pymysql's defaults (no read timeout at all).
            kwargs["connect_args"] = {"connect_timeout": 3, "read_timeout": 10, "write_timeout": 10}
        return kwargs
    kwargs = {"future": True}
    if sqlite:
        kwargs["connect_args"] = {"timeout": 60}
        return kwargs
    kwargs |= {"pool_pre_ping": True, "pool_recycle": 1800}
    if mysql:
        kwargs["paramstyle"] = "format"  # positional: bulk inserts pass plain tuples
        if "pymysql" in url:
            # A server that stops answering (a lock, an overloaded host) fails the read after this long
            # instead of stalling the run; pymysql's default is to wait forever. Per socket read, so a
            # long streamed read that keeps receiving rows is not cut.
            timeout = settings.source_read_timeout_seconds()
            kwargs["connect_args"] = {"connect_timeout": 10, "read_timeout": timeout, "write_timeout": timeout}
    return kwargs


@lru_cache(maxsize=8)
def _pipeline_engine(url: str) -> sa.Engine:
    return sa.create_engine(url, **_options(url, "pipeline"))


def engine_for(url: str, use: Use) -> sa.Engine:
    """The engine of `url` for a use; the pipeline's is shared by every read of the same URL in a process."""
    if use == "pipeline":
        return _pipeline_engine(url)
    return sa.create_engine(url, **_options(url, use))


def sqlite_file(url: str, plain: bool = False) -> str | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite. With `plain`,
    also None for a driver other than the standard one or a URL with options (what ADBC can open)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if plain and (parsed.drivername not in ("sqlite", "sqlite+pysqlite") or parsed.query):
        return None
    return parsed.database
