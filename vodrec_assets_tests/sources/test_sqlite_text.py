"""Typed Arrow columns written as SQLite's text (sources/sqlite_text.py): every value as SQLite itself writes
it (the SQLite path's expression over the same values), the whole-number fast path included."""

from __future__ import annotations

import adbc_driver_sqlite.dbapi as adbc
import numpy as np
import pyarrow as pa

from vodrec_assets.sources.sqlite_text import as_sqlite_text, exact_text_sql


def sqlite_text_of(values: pa.Array) -> list:
    with adbc.connect() as conn, conn.cursor() as cursor:
        cursor.adbc_ingest("v", pa.table({"x": values}), mode="create")
        cursor.execute(f"SELECT {exact_text_sql('x')} FROM v ORDER BY rowid")
        return cursor.fetch_arrow_table().column(0).to_pylist()


def test_reals_are_written_as_sqlite_writes_them():
    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, 1.0, -1.0, 120.0, 1e15 - 1, 1e15, -(1e15 - 1), 2.0**53, 2.0**53 + 2, 1e300, -1e-300,
             0.1, 1 / 3, 1.5, -2.5e-7, 123456.789, 5e-324, np.finfo(float).max]
    whole = rng.integers(-10**9, 10**9, 2000).astype(float)
    fractions = rng.normal(0, 1e4, 2000)
    values = pa.array(np.concatenate([edges, whole, fractions]).tolist() + [None], pa.float64())
    got = as_sqlite_text(pa.chunked_array([values]))
    assert got.type == pa.string()
    assert got.to_pylist() == sqlite_text_of(values)
    assert got.to_pylist()[:5] == ["0.0", sqlite_text_of(pa.array([-0.0]))[0], "1.0", "-1.0", "120.0"]


def test_integers_and_text_are_exact():
    ints = pa.chunked_array([pa.array([2**63 - 1, -(2**63), None, 0], pa.int64())])
    assert as_sqlite_text(ints).to_pylist() == ["9223372036854775807", "-9223372036854775808", None, "0"]
    unsigned = pa.chunked_array([pa.array([2**64 - 1, 2**63], pa.uint64())])
    assert as_sqlite_text(unsigned).to_pylist() == [str(2**64 - 1), str(2**63)]
    text = pa.chunked_array([pa.array(["한국어 🙂", None, ""], pa.large_string())])
    assert as_sqlite_text(text).to_pylist() == ["한국어 🙂", None, ""]
    assert as_sqlite_text(text).type == pa.string()
