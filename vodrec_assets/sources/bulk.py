"""Bulk loading of the source tables through the DBAPI: many rows per statement, one transaction
per slice of rows, the log_dt indexes built after the load.

SQLite: multi-row `INSERT ... VALUES (?, ...), (?, ...)` statements through `executemany` with
journal and fsync off for the load (a crash mid-load leaves a file to regenerate, nothing else).
MySQL/MariaDB: pymysql's `executemany`, which rewrites the INSERT into multi-row statements.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.database import engine_for, sqlite_file

SLICE_ROWS = 100_000  # rows per transaction
SQLITE_ROWS_PER_STATEMENT = 1_000
MYSQL_ROWS_PER_EXECUTEMANY = 20_000


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, None for other databases or an in-memory SQLite."""
    file = sqlite_file(url)
    return Path(file) if file else None


def ensure_database(url: str) -> None:
    """Create the SQLite file's folder, or the MySQL database, when missing."""
    u = sa.make_url(url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if u.get_backend_name() == "mysql" and u.database:
        # The server without a database: SQLAlchemy 2's `URL.set(database=None)` leaves the name as it was
        # (None means "unchanged" there), so the connection would ask for the missing database itself.
        server = engine_for(sa.URL.create(u.drivername, username=u.username, password=u.password, host=u.host,
                                          port=u.port, query=u.query).render_as_string(hide_password=False), "tool")
        try:
            with server.begin() as conn:
                # A database name cannot be a bound parameter; quote it as an identifier.
                quoted = server.dialect.identifier_preparer.quote_identifier(u.database)
                conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS {quoted} CHARACTER SET utf8mb4"))
        finally:
            server.dispose()


def database_bytes(engine: sa.Engine) -> int | None:
    """Size of the SQLite file, or (approximate, InnoDB statistics) of the four source tables in MySQL."""
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is not None:
        return path.stat().st_size if path.exists() else None
    if engine.dialect.name == "mysql":
        with engine.connect() as conn:
            value = conn.execute(
                sa.text("SELECT SUM(data_length + index_length) FROM information_schema.tables "
                        "WHERE table_schema = DATABASE() AND table_name IN :names").bindparams(
                    sa.bindparam("names", expanding=True)),
                {"names": list(schema.SOURCE_TABLES)},
            ).scalar()
        return int(value) if value is not None else None
    return None


def _slice_values(columns: dict[str, Any], overrides: dict[str, tuple[np.ndarray, np.ndarray]],
                  a: int, b: int) -> np.ndarray:
    """Rows a..b as a (rows, columns) object array of Python values, overrides applied."""
    out = np.empty((b - a, len(columns)), dtype=object)
    for k, (name, col) in enumerate(columns.items()):
        out[:, k] = col[a:b]
        if name in overrides:
            rows, values = overrides[name]
            lo, hi = np.searchsorted(rows, [a, b])
            if hi > lo:
                out[rows[lo:hi] - a, k] = values[lo:hi]
    return out


def _sqlite_load_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -262144"):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


class BulkLoader:
    """Writes column arrays into one database over a single DBAPI connection."""

    def __init__(self, url: str):
        self.url = url
        self.engine = engine_for(url, "tool")
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if self.is_sqlite:
            # On every connection of the load (the DDL's too: dropping big tables journals every
            # freed page otherwise): no rollback journal, no fsync, a 256 MiB page cache that the
            # index builds' sorter also uses.
            sa.event.listen(self.engine, "connect", _sqlite_load_pragmas)
        self.dbapi = self.engine.raw_connection()

    def close(self) -> None:
        try:
            self.dbapi.close()
        finally:
            self.engine.dispose()

    def __enter__(self) -> BulkLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema

    def reset_source_tables(self) -> None:
        """Drop and recreate the four source tables, without the log_dt indexes (built after the load)."""
        schema.create_source_tables(self.engine, drop_existing=True)
        self._run_ddl([sa.schema.DropIndex(ix) for name in schema.LOG_TABLES for ix in schema.TABLES[name].indexes])

    def create_log_tables_without_indexes(self) -> None:
        tables = [schema.TABLES[name] for name in schema.LOG_TABLES]
        self._run_ddl([sa.schema.DropTable(t, if_exists=True) for t in tables] + [sa.schema.CreateTable(t) for t in tables])

    def create_log_indexes(self) -> None:
        self._run_ddl([sa.schema.CreateIndex(ix) for name in schema.LOG_TABLES for ix in schema.TABLES[name].indexes])

    def _run_ddl(self, statements: list) -> None:
        cur = self.dbapi.cursor()
        try:
            for stmt in statements:
                cur.execute(str(stmt.compile(dialect=self.engine.dialect)))
            self.dbapi.commit()
        finally:
            cur.close()

    # -- rows

    def _insert_sql(self, table: str, columns: list[str], rows: int) -> str:
        quote = self.engine.dialect.identifier_preparer.quote
        mark = "?" if self.is_sqlite else "%s"
        one = "(" + ", ".join([mark] * len(columns)) + ")"
        return (f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES "
                + ", ".join([one] * rows))

    def write(self, table: str, columns: dict[str, Any],
              overrides: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> int:
        """Insert the rows of `columns` (schema order; arrays or sliceable lookups); returns rows written."""
        names = list(columns)
        expected = schema.column_names(table)
        if names != expected:
            raise ValueError(f"columns for {table} must be {expected}, got {names}")
        n = len(next(iter(columns.values())))
        overrides = overrides or {}
        width = len(names)
        per_stmt = SQLITE_ROWS_PER_STATEMENT if self.is_sqlite else 1
        if self.is_sqlite and sqlite3.sqlite_version_info < (3, 32, 0):
            per_stmt = max(1, 999 // width)  # older SQLite allows 999 bound variables per statement
        sql_many = self._insert_sql(table, names, per_stmt)
        cur = self.dbapi.cursor()
        try:
            for a in range(0, n, SLICE_ROWS):
                b = min(a + SLICE_ROWS, n)
                values = _slice_values(columns, overrides, a, b)
                if self.is_sqlite:
                    flat = values.ravel().tolist()
                    step = per_stmt * width
                    full = (len(values) // per_stmt) * step
                    cur.executemany(sql_many, (flat[i: i + step] for i in range(0, full, step)))
                    if full < len(flat):
                        cur.execute(self._insert_sql(table, names, (len(flat) - full) // width), flat[full:])
                else:
                    rows = values.tolist()
                    for i in range(0, len(rows), MYSQL_ROWS_PER_EXECUTEMANY):
                        cur.executemany(sql_many, rows[i: i + MYSQL_ROWS_PER_EXECUTEMANY])
                self.dbapi.commit()
        except BaseException:
            self.dbapi.rollback()
            raise
        finally:
            cur.close()
        return n

    # -- SQLite shards (parallel generation)

    def append_shard(self, shard: Path) -> None:
        """Copy a shard file's log tables into this SQLite database, in the shard's row order."""
        cur = self.dbapi.cursor()
        try:
            cur.execute("ATTACH DATABASE ? AS shard", (str(shard),))
            for name in schema.LOG_TABLES:
                cols = ", ".join(schema.column_names(name))
                cur.execute(f"INSERT INTO main.{name} ({cols}) SELECT {cols} FROM shard.{name} ORDER BY rowid")
            self.dbapi.commit()
            cur.execute("DETACH DATABASE shard")
        finally:
            cur.close()


def remove_quietly(path: Path) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
