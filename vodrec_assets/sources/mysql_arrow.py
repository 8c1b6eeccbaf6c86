"""A MySQL/MariaDB week of logs straight to Arrow through connectorx (compiled; no Python object per value).

The result is what the SQLite path gives (`SourceDatabase.read_window_text`, ADBC): every column as text,
in the same order, so ingestion and validation take it unchanged and store the same bytes. BIGINT and INT
arrive typed (exact int64, never through float64) and are written as decimal text; DOUBLE as SQLite's
text of a REAL (sqlite_text.py); text as UTF-8; datetimes as their text from the server (`CAST ... AS
CHAR`: a zero date, which MariaDB keeps outside strict mode, is no datetime a typed reader could hold),
without the `.000000` of a DATETIME(6) column.

The week is read as `parts` time slices side by side (one connection and thread each), each in the
order of the `log_dt` index: concatenated in slice order, rows come in (log_dt, insertion) order, as
SQLite's index scan gives them (a source without that index: by log_dt, ties in the server's order). connectorx takes no bound parameters: the only values in a statement are
the slices' bounds, rendered here from `datetime` objects, and names from vodrec's own schema.
"""

from __future__ import annotations

import threading
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from vodrec_assets import schema, settings
from vodrec_assets.sources.sqlite_text import as_sqlite_text

_DATETIME_TEXT = "%Y-%m-%d %H:%M:%S.%f"


def connectorx_url(url: str) -> str | None:
    """The connectorx form of a SQLAlchemy MySQL URL (`mysql+pymysql://...` -> `mysql://...`), None for
    other databases."""
    u = sa.make_url(url)
    if u.get_backend_name() != "mysql":
        return None
    return u.set(drivername="mysql").render_as_string(hide_password=False)


def select_list(table: sa.Table, columns: list[str]) -> str:
    """The columns as the statement selects them: datetimes as their text, the rest as they are."""
    out = []
    for name in columns:
        quoted = f"`{table.c[name].name}`"  # KeyError for a name outside the schema
        out.append(f"CAST({quoted} AS CHAR) AS {quoted}" if isinstance(table.c[name].type, sa.DateTime) else quoted)
    return ", ".join(out)


def time_slices(start: datetime, end: datetime, parts: int) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into `parts` consecutive slices of equal length (whole microseconds)."""
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        raise TypeError("window bounds must be datetime objects")
    step = (end - start) / max(1, parts)
    bounds = [start + step * i for i in range(max(1, parts))] + [end]
    return list(zip(bounds[:-1], bounds[1:]))


def window_sql(table: str, columns: list[str], start: datetime, end: datetime, time_column: str = "log_dt",
               index: str | None = None) -> str:
    """SELECT of `table`'s rows with `start <= time_column < end` ordered by it (typed DATETIME: no zone to
    widen for). With `index` (the source's index on the time column, as the server names it) the read is
    forced through it: ties come in the index's order, the rows' insertion order, and a whole week is a
    range scan, where the optimizer would rather scan the table and sort it."""
    t = schema.TABLES[table]  # only vodrec's own names reach the statement
    tc = f"`{t.name}`.`{t.c[time_column].name}`"  # qualified: the select list's alias is its text
    hint = " FORCE INDEX (`{}`)".format(index.replace("`", "``")) if index else ""
    return (f"SELECT {select_list(t, columns)} FROM `{t.name}`{hint} "  # noqa: S608 - schema names, rendered datetimes
            f"WHERE {tc} >= '{start:{_DATETIME_TEXT}}' AND {tc} < '{end:{_DATETIME_TEXT}}' ORDER BY {tc}")


def _read_all(url: str, queries: list[str], timeout_seconds: float | None, table: str) -> list[pa.Table]:
    """Each query read by connectorx in its own daemon thread; the tables in the queries' order. A read
    not finished after `timeout_seconds` (default: the settings' source read timeout) raises
    TimeoutError: connectorx has no socket timeout, so a server that stops answering (a locked table, a
    dead link) would stall the run; its thread is left behind."""
    import connectorx

    cx_url = connectorx_url(url)
    if cx_url is None:
        raise ValueError("connectorx reads MySQL/MariaDB sources only")
    timeout = settings.source_read_timeout_seconds() if timeout_seconds is None else timeout_seconds
    outcomes: list[dict[str, object]] = [{} for _ in queries]

    def read(i: int) -> None:
        try:
            result = connectorx.read_sql(cx_url, queries[i], return_type="arrow")
            outcomes[i]["table"] = result.read_all() if isinstance(result, pa.RecordBatchReader) else result
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcomes[i]["error"] = exc

    threads = [threading.Thread(target=read, args=(i,), name=f"connectorx-{table}-{i}", daemon=True)
               for i in range(len(queries))]
    for thread in threads:
        thread.start()
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        for thread in threads:
            while thread.is_alive() and not deadline.is_set():
                thread.join(0.05)
    finally:
        timer.cancel()
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"reading {table} from MySQL took more than {timeout:g} s (VODREC_SOURCE_READ_TIMEOUT_SECONDS)")
    for outcome in outcomes:
        error = outcome.get("error")
        if isinstance(error, Exception):
            raise error
        if error is not None:  # a panic in connectorx's Rust code (a BaseException): an ordinary, retried error
            raise RuntimeError(f"reading {table} from MySQL failed in connectorx: {error}") from error
    return [outcome["table"] for outcome in outcomes]  # type: ignore[misc]


def read_window_text(url: str, table: str, columns: list[str], start: datetime, end: datetime,
                     time_column: str = "log_dt", index: str | None = None, parts: int | None = None,
                     timeout_seconds: float | None = None) -> pa.Table:
    """The window's rows as Arrow text columns, as the SQLite path gives them (module docstring); read in
    `parts` time slices side by side (default: the settings' VODREC_SOURCE_READ_PARTS) through `index`."""
    parts = settings.source_read_parts() if parts is None else parts
    queries = [window_sql(table, columns, a, b, time_column, index) for a, b in time_slices(start, end, parts)]
    pieces = [piece.select(columns) for piece in _read_all(url, queries, timeout_seconds, table)]
    t = schema.TABLES[table]
    out = {}
    for name in columns:
        column = pa.chunked_array([c for p in pieces for c in p.column(name).chunks], pieces[0].schema.field(name).type)
        out[name] = whole_seconds(column) if isinstance(t.c[name].type, sa.DateTime) else as_sqlite_text(column)
    return pa.table(out)


def read_table_frame(url: str, table: str, columns: list[str], timeout_seconds: float | None = None) -> pd.DataFrame:
    """A whole (reference) table as the SQLite path's `read_table` gives it: integers as int64 (nullable
    Int64 with a NULL; Python ints beyond int64), reals as float64, text and datetimes as str objects."""
    t = schema.TABLES[table]
    (read,) = _read_all(url, [f"SELECT {select_list(t, columns)} FROM `{t.name}`"], timeout_seconds, table)  # noqa: S608
    return pd.DataFrame({name: _driver_like(read.column(name), isinstance(t.c[name].type, sa.DateTime))
                         for name in columns})


def _driver_like(column: pa.ChunkedArray, datetime_text: bool) -> pd.Series:
    """One column as the Python driver's values become a frame column (resources._exact_frame)."""
    if datetime_text:
        column = whole_seconds(column)
    if pa.types.is_integer(column.type):
        if pa.types.is_unsigned_integer(column.type) and (pc.max(column).as_py() or 0) > 2**63 - 1:
            return pd.Series(column.to_pylist(), dtype=object)
        column = column.cast(pa.int64())
        return pd.Series(column.to_numpy()) if column.null_count == 0 else pd.Series(pd.array(column.to_pylist(), "Int64"))
    if pa.types.is_floating(column.type):
        return pd.Series(column.cast(pa.float64()).to_numpy())
    if column.null_count == len(column):  # no value to infer a type from: None objects
        return pd.Series([None] * len(column), dtype=object)
    return column.to_pandas()  # pandas' str dtype, as it infers for a driver's str values


def whole_seconds(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Datetime text as SQLite keeps it (`YYYY-MM-DD hh:mm:ss`, fractional seconds only when there are
    some): a DATETIME(6) column's text ends in `.000000` (the week assignment treats longer text as
    possibly zoned)."""
    text = text.cast(pa.string())
    return pc.if_else(pc.ends_with(text, ".000000"), pc.utf8_slice_codeunits(text, 0, -7), text)
