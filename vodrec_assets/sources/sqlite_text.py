"""Typed Arrow columns as the text SQLite gives for the same values (`exact_text_sql`, the SQLite path's
expression), so that a typed source (MySQL through connectorx) stores the bytes the SQLite path stores.

Integers: decimal text (exact). Text: as it is. A REAL: SQLite's own text when that reads back to the same
number, else 17 significant digits. Whole numbers below 10^15 are written here (`120.0`, as SQLite's
`%!.15g`); any other real (fractions, large, -0.0) is handed to SQLite itself, the same ADBC driver the
SQLite path reads with, so the two can never disagree.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_WHOLE_LIMIT = 1e15  # below it SQLite's %!.15g of a whole number is its digits and ".0"


def exact_text_sql(column: str, text_affinity: bool = False) -> str:
    """An SQLite expression giving a column's value as text that reads back to the same value. A column
    declared as text converts numbers to text when they are stored: a plain CAST is exact there."""
    c = f'"{column}"'
    if text_affinity:
        return f"CAST({c} AS TEXT) AS {c}"
    # Only a real can need more digits than SQLite's own text (15 significant); typeof first keeps the
    # round-trip test off every other value.
    return (f"CASE WHEN typeof({c}) <> 'real' OR CAST(CAST({c} AS TEXT) AS REAL) = {c} THEN CAST({c} AS TEXT) "
            f"ELSE printf('%!.17g', {c}) END AS {c}")


def _reals_by_sqlite(values: np.ndarray) -> list[str]:
    """SQLite's exact text of each float (the SQLite path's expression), from an in-memory database."""
    import adbc_driver_sqlite.dbapi as adbc

    with adbc.connect() as conn, conn.cursor() as cursor:
        cursor.adbc_ingest("reals", pa.table({"x": pa.array(values, pa.float64())}), mode="create")
        cursor.execute(f"SELECT {exact_text_sql('x')} FROM reals ORDER BY rowid")  # noqa: S608 - a constant name
        return cursor.fetch_arrow_table().column(0).to_pylist()


def real_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A float64 column as SQLite's text of each REAL (nulls kept)."""
    x = column.to_numpy()  # nulls become NaN; put back below
    whole = np.isfinite(x) & (np.abs(x) < _WHOLE_LIMIT) & (np.trunc(x) == x) & ~((x == 0) & np.signbit(x))
    digits = pc.cast(pa.array(np.where(whole, x, 0).astype(np.int64)), pa.string())
    text = pc.binary_join_element_wise(digits, pa.scalar(".0"), pa.scalar(""))
    valid = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    others = valid & ~whole
    if others.any():
        text = pc.replace_with_mask(text, pa.array(others), pa.array(_reals_by_sqlite(x[others]), pa.string()))
    return pa.chunked_array([pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string()))])


def as_sqlite_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Any column connectorx gives as SQLite's text of the same values (pa.string)."""
    kind = column.type
    if pa.types.is_floating(kind):
        return real_text(column.cast(pa.float64()))
    if pa.types.is_string(kind):
        return column
    if pa.types.is_large_string(kind):
        return column.cast(pa.string())
    return column.cast(pa.string())  # integers: exact decimal text
