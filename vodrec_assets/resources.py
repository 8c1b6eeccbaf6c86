"""Resources: every byte vodrec reads or writes goes through one of these.

`SourceDatabase` is the operator's MySQL (or the embedded SQLite file); `ArtifactStore` keeps the
per-week artifacts (Parquet tables, no-pickle model files) on local disk or in S3.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from vodrec_assets import schema, settings
from vodrec_assets.database import engine_for, sqlite_file
from vodrec_assets.recsys.assignment import PLAIN_LENGTH, ZONE_MARGIN
from vodrec_assets.sources import mysql_arrow
from vodrec_assets.sources.mysql_arrow import connectorx_url
from vodrec_assets.sources.sqlite_text import exact_text_sql


class SourceSchemaError(dg.Failure):
    """The source table is missing or lacks a column the pipeline needs (schema drift).

    A dg.Failure that is never retried: waiting does not bring a renamed table or a dropped column
    back, unlike a database that is restarting (those errors are retried by the assets' RetryPolicy)."""

    def __init__(self, description: str):
        super().__init__(description=description, allow_retries=False)


class ArtifactIntegrityError(ValueError):
    """A stored array artifact is torn, truncated or does not match its manifest: never used."""


MANIFEST_ENTRY = "__manifest__"


def _sql_dt(value: datetime) -> str:
    return value.strftime(schema.SQL_DATETIME_FORMAT)


def _window_params(start: datetime, end: datetime) -> dict[str, str]:
    """The window's bounds, and the same ZONE_MARGIN outside and inside them (for zoned text)."""
    return {"start": _sql_dt(start), "end": _sql_dt(end), "start_out": _sql_dt(start - ZONE_MARGIN),
            "end_out": _sql_dt(end + ZONE_MARGIN), "start_in": _sql_dt(start + ZONE_MARGIN),
            "end_in": _sql_dt(end - ZONE_MARGIN)}


def _exact_column(values: list) -> pd.Series:
    """One column of driver values as pandas would infer it, except that integers are never made
    float64 (a NULL among BIGINTs would, merging 2^53 and 2^53 + 1): int64, else nullable Int64, else
    (BIGINT UNSIGNED above 2^63 - 1, or integers mixed with other values) Python objects, stored as
    text by ingestion and read exactly by the cleaning rules."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "integer":
        try:
            return pd.Series(pd.array(values, dtype="Int64"))
        except (OverflowError, TypeError, ValueError):
            return pd.Series(values, dtype=object)
    if kind.startswith("mixed-integer"):  # ints with floats or text (SQLite): keep each as it is
        return pd.Series(values, dtype=object)
    return pd.Series(values, dtype=object).infer_objects()


def _exact_frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    """`pd.DataFrame.from_records(rows, columns=columns)` with integer columns kept exact: a column it made
    float64 is rebuilt by `_exact_column` when its values are not all floats (a NULL among BIGINTs)."""
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for i, name in enumerate(columns):
        if frame[name].dtype.kind == "f":
            values = [row[i] for row in rows]
            if pd.api.types.infer_dtype(values, skipna=True) not in ("floating", "empty"):
                frame[name] = _exact_column(values)
    return frame


def _python_values(column: pd.Series) -> list:
    """The column as Python values for the driver, NULL as None. numpy's `tolist` gives Python ints
    and floats directly; only a column that has missing values goes through objects."""
    if not column.hasnans and isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
        return column.to_numpy().tolist()
    return column.astype(object).where(column.notna(), None).tolist()


class SourceDatabase(dg.ConfigurableResource):
    """The source database named by a SQLAlchemy URL (SQLite or MySQL), read with bound parameters."""

    url: str
    chunk_rows: int = 500_000

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.url, "pipeline")

    def _table(self, name: str) -> sa.Table:
        # Table and column names can't be bound parameters, so they come only from our schema.
        if name not in schema.TABLES:
            raise ValueError(f"unknown table {name!r}")
        return schema.TABLES[name]

    def check_columns(self, table: str, required: list[str]) -> None:
        """Fail with the table and column named when the source lost a column (schema drift)."""
        inspector = sa.inspect(self.engine)
        if not inspector.has_table(table):
            raise SourceSchemaError(f"source table {table!r} does not exist in {self.engine.url.render_as_string(hide_password=True)}")
        present = {c["name"] for c in inspector.get_columns(table)}
        missing = [c for c in required if c not in present]
        if missing:
            raise SourceSchemaError(f"source table {table!r} is missing column(s) {missing}")

    def _index_on(self, table: str, column: str) -> str | None:
        """The name the source gives its index on exactly `column` of `table`, if it has one."""
        return next((ix["name"] for ix in sa.inspect(self.engine).get_indexes(table) if ix["column_names"] == [column]),
                    None)

    def _read(self, stmt: sa.Select, params: dict[str, Any] | None = None) -> pd.DataFrame:
        chunks = []
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                # The DBAPI cursor's plain tuples: SQLAlchemy's Row objects cost 4x the CPU per row to
                # fetch and turn into a frame (docs/performance.md); same statement, same bound values.
                compiled = stmt.compile(dialect=self.engine.dialect)
                values = compiled.construct_params(params or {})
                cursor = conn.connection.driver_connection.cursor()
                try:
                    cursor.execute(str(compiled), [values[name] for name in compiled.positiontup or []])
                    columns = [d[0] for d in cursor.description]
                    while rows := cursor.fetchmany(self.chunk_rows):
                        chunks.append(_exact_frame(rows, columns))
                finally:
                    cursor.close()
            else:
                result = conn.execution_options(stream_results=True).execute(stmt, params or {})
                columns = list(result.keys())
                while rows := result.fetchmany(self.chunk_rows):
                    chunks.append(_exact_frame([tuple(r) for r in rows], columns))
        if not chunks:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def read_table(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        t = self._table(table)
        cols = columns or [c.name for c in t.columns]
        self.check_columns(table, cols)
        if connectorx_url(self.url) is not None:  # compiled, as the logs (sources/mysql_arrow.py)
            return mysql_arrow.read_table_frame(self.url, table, cols)
        # Untyped columns: dirty values (SQLite keeps anything) reach the cleaning code as they are.
        stmt = sa.select(*[sa.column(c) for c in cols]).select_from(sa.table(t.name))
        return self._read(stmt)

    def read_window(
        self, table: str, start: datetime, end: datetime, columns: list[str] | None = None,
        time_column: str = "log_dt",
    ) -> pd.DataFrame:
        """Rows with `start <= time_column < end` (naive local times), read in chunks; from SQLite also the
        rows whose text is longer than a plain datetime within ZONE_MARGIN of the window (zoned values
        that may belong to it: `assignment.belongs_to` decides)."""
        return self._read_timed(table, columns, time_column, outside=False, start=start, end=end)

    def read_outside(
        self, table: str, start: datetime, end: datetime, columns: list[str] | None = None,
        time_column: str = "log_dt",
    ) -> pd.DataFrame:
        """The complement of read_window over [start, end): rows whose `time_column` is NULL, before `start`
        or at/after `end` (for SQLite text, anything that does not sort inside), plus from SQLite the long
        text within ZONE_MARGIN inside the edges (zoned values that may belong outside)."""
        return self._read_timed(table, columns, time_column, outside=True, start=start, end=end)

    def _window_condition(self, time_column: str, outside: bool) -> sa.ColumnElement:
        tc = sa.column(time_column)
        inside = sa.and_(tc >= sa.bindparam("start"), tc < sa.bindparam("end"))
        if self.engine.dialect.name != "sqlite":  # typed DATETIME columns hold no zone
            return sa.or_(tc.is_(None), sa.not_(inside)) if outside else inside
        long = sa.func.length(tc) > PLAIN_LENGTH
        if outside:
            near_edges = sa.or_(tc < sa.bindparam("start_in"), tc >= sa.bindparam("end_in"))
            return sa.or_(tc.is_(None), sa.not_(inside), sa.and_(long, near_edges))
        return sa.and_(tc >= sa.bindparam("start_out"), tc < sa.bindparam("end_out"), sa.or_(inside, long))

    def _read_timed(self, table: str, columns: list[str] | None, time_column: str, outside: bool,
                    start: datetime, end: datetime) -> pd.DataFrame:
        t = self._table(table)
        cols = columns or [c.name for c in t.columns]
        self.check_columns(table, cols + [time_column])
        stmt = sa.select(*[sa.column(c) for c in cols]).select_from(sa.table(t.name)).where(
            self._window_condition(time_column, outside))
        return self._read(stmt, _window_params(start, end))

    def read_window_text(
        self, table: str, start: datetime, end: datetime, columns: list[str], time_column: str = "log_dt",
    ) -> pa.Table | None:
        """`read_window` of an SQLite file as Arrow text columns, decoded in compiled code (ADBC's SQLite
        driver): the Python driver builds an object per value, three times the CPU at a million rows
        (docs/performance.md). SQLite keeps any value in any column, so each one comes back as its
        text: integers and text exactly as stored, a real as SQLite's shortest text when that reads
        back to the same number (else 17 significant digits), NULL as null. A MySQL/MariaDB source
        gives the same text columns in the same order through connectorx (sources/mysql_arrow.py).
        Other databases, in-memory SQLite or a missing driver give None: use `read_window`."""
        if connectorx_url(self.url) is not None:
            self.check_columns(table, columns + [time_column])
            return mysql_arrow.read_window_text(self.url, table, columns, start, end, time_column,
                                                self._index_on(table, time_column))
        path = sqlite_file(self.url, plain=True)
        if path is None:
            return None
        try:
            import adbc_driver_sqlite.dbapi as adbc
        except ImportError:  # pragma: no cover - a declared dependency
            return None
        self.check_columns(table, columns + [time_column])
        t = self._table(table)  # only our schema's names reach the SQL below
        exprs = ", ".join(exact_text_sql(name, text_affinity=isinstance(t.c[name].type, sa.String)) for name in columns)
        c = f'"{time_column}"'
        # The window, plus the long text within ZONE_MARGIN of its edges: found by a scan of the log_dt
        # index alone (rowids), so the plain rows of the margins are never fetched.
        sql = (f"SELECT {exprs} FROM \"{table}\" WHERE {c} >= ? AND {c} < ? UNION ALL "  # noqa: S608 - schema names
               f"SELECT {exprs} FROM \"{table}\" WHERE rowid IN (SELECT rowid FROM \"{table}\" "
               f"WHERE (({c} >= ? AND {c} < ?) OR ({c} >= ? AND {c} < ?)) AND length({c}) > {PLAIN_LENGTH})")
        p = _window_params(start, end)
        with adbc.connect(path) as conn, conn.cursor() as cursor:
            cursor.execute(sql, (p["start"], p["end"], p["start_out"], p["start"], p["end"], p["end_out"]))
            rows = cursor.fetch_arrow_table()
        if rows.num_rows == 0:
            return pa.schema([(name, pa.string()) for name in columns]).empty_table()
        return rows

    def count_rows(self, table: str) -> int:
        self._table(table)
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())

    def has_table(self, table: str) -> bool:
        self._table(table)  # only our schema's names reach the database, even in a lookup
        return sa.inspect(self.engine).has_table(table)

    def _bulk_insert(self, conn: sa.Connection, t: sa.Table, frame: pd.DataFrame) -> None:
        """executemany with plain tuples on the DBAPI cursor: building a dict per row would cost
        more than the insert. The statement comes from our schema; every value is a bound parameter."""
        if frame.empty:
            return
        compiled = sa.insert(t).compile(dialect=self.engine.dialect)
        order = compiled.positiontup
        if order is None:
            raise RuntimeError(f"bulk insert needs a positional paramstyle, {self.engine.dialect.name} has none")
        sql = str(compiled)
        cursor = conn.connection.driver_connection.cursor()
        try:
            # 50,000 rows at a time: the Python tuples of 10 M rows would take gigabytes.
            for start in range(0, len(frame), 50_000):
                part = frame.iloc[start : start + 50_000]
                cursor.executemany(sql, list(zip(*(_python_values(part[name]) for name in order))))
        finally:
            cursor.close()

    def replace_week_rows(self, table: str, week: str, frame: pd.DataFrame) -> int:
        """Replace one week's rows of `table` in a single transaction; returns rows written."""
        t = self._table(table)
        schema.metadata.create_all(self.engine, tables=[t])
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.week == sa.bindparam("w")), {"w": week})
            self._bulk_insert(conn, t, frame[[c.name for c in t.columns]])
        return len(frame)

    def replace_all_rows(self, table: str, frame: pd.DataFrame) -> int:
        """Replace a whole derived table (e.g. metrics_history) in a single transaction."""
        t = self._table(table)
        schema.metadata.create_all(self.engine, tables=[t])
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t))
            self._bulk_insert(conn, t, frame[[c.name for c in t.columns]])
        return len(frame)


class ServingRedis(dg.ConfigurableResource):
    """The Redis the API serves the champion week's lists from (`VODREC_REDIS_URL`, passed as an EnvVar so
    no URL or password lands in Dagster's storage). An empty url (the embedded default) means none: the
    database alone serves."""

    url: str = ""
    prefix: str = "vodrec"
    retired_ttl_seconds: int = 3600

    @property
    def configured(self) -> bool:
        return bool(self.url)

    def lists(self) -> Any:
        """A `RedisLists` over this server (publish, activate); a client with generous timeouts for bulk writes."""
        from vodrec_assets.serving.redis_store import RedisLists, client_from_url

        return RedisLists(client_from_url(self.url, timeout=60.0), self.prefix, self.retired_ttl_seconds)


# --------------------------------------------------------------------------- artifacts


class ArtifactStore(dg.ConfigurableResource):
    """Where per-week artifacts live. Keys look like `raw_vod_logs/2023-08-07.parquet`."""

    def put_bytes(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def get_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def list_keys(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def uri(self, key: str) -> str:
        raise NotImplementedError

    # -- typed helpers shared by every backend

    def write_parquet(self, key: str, frame: pd.DataFrame) -> None:
        buf = io.BytesIO()
        # Fixed writer options so that the same frame always gives the same bytes.
        frame.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
        self.put_bytes(key, buf.getvalue())

    def write_arrow(self, key: str, table: pa.Table) -> None:
        """An Arrow table as Parquet, with `write_parquet`'s options."""
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        self.put_bytes(key, buf.getvalue())

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.get_bytes(key)), columns=columns, engine="pyarrow")

    def open_parquet(self, key: str) -> pq.ParquetFile:
        """A Parquet artifact to read row group by row group or column by column (close it, or use
        `with`). Here from its bytes in memory; a local store reads the file as it goes."""
        return pq.ParquetFile(pa.BufferReader(self.get_bytes(key)))

    def write_json(self, key: str, payload: Any) -> None:
        self.put_bytes(key, json.dumps(payload, indent=2, sort_keys=True, default=_json_default).encode())

    def read_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def write_arrays(self, key: str, arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> None:
        """Arrays as ONE self-contained .npz (allow_pickle never needed): the arrays plus a JSON manifest
        entry with each array's shape, dtype and sha256. One object is written with one atomic put (a
        rename locally, a PUT in S3), so a reader sees the old artifact or the new one, never a mix, and
        two writers of the same week leave one complete artifact: the last put wins whole.

        `<key>.json` is a copy of the manifest for people and listings, written after the .npz; readers
        never trust it (read_arrays verifies the .npz against its own embedded manifest)."""
        if MANIFEST_ENTRY in arrays:
            raise ValueError(f"{MANIFEST_ENTRY!r} is reserved")
        full_manifest = dict(manifest)
        full_manifest["arrays"] = {
            name: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": _array_sha256(a)}
            for name, a in arrays.items()
        }
        full_manifest["sha256"] = _manifest_digest(full_manifest["arrays"])
        encoded = json.dumps(full_manifest, sort_keys=True, default=_json_default).encode()
        blob = _deterministic_npz({**arrays, MANIFEST_ENTRY: np.frombuffer(encoded, dtype=np.uint8)})
        self.put_bytes(f"{key}.npz", blob)
        self.write_json(f"{key}.json", {**full_manifest, "npz_sha256": hashlib.sha256(blob).hexdigest()})

    def read_arrays(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The arrays and manifest of `key`, verified (every array's sha256, shape and dtype against the
        manifest inside the same .npz); ArtifactIntegrityError when anything does not match."""
        blob = self.get_bytes(f"{key}.npz")
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise ArtifactIntegrityError(f"artifact {key}.npz is unreadable (torn or corrupt): {exc}") from exc
        if MANIFEST_ENTRY not in arrays:
            return self._read_legacy_pair(key, blob, arrays)
        try:
            manifest = json.loads(arrays.pop(MANIFEST_ENTRY).tobytes())
        except ValueError as exc:
            raise ArtifactIntegrityError(f"artifact {key}.npz has an unreadable manifest: {exc}") from exc
        specs = manifest.get("arrays", {})
        if set(specs) != set(arrays) or manifest.get("sha256") != _manifest_digest(specs):
            raise ArtifactIntegrityError(f"artifact {key}.npz: arrays {sorted(arrays)} do not match its manifest")
        for name, spec in specs.items():
            a = arrays[name]
            if list(a.shape) != spec["shape"] or str(a.dtype) != spec["dtype"] or _array_sha256(a) != spec["sha256"]:
                raise ArtifactIntegrityError(f"artifact {key}: array {name!r} fails its manifest {spec}")
        return arrays, manifest

    def _read_legacy_pair(self, key: str, blob: bytes, arrays: dict[str, np.ndarray]) -> tuple[dict, dict]:
        """Artifacts written before the manifest moved into the .npz: verified against `<key>.json`."""
        manifest = self.read_json(f"{key}.json")
        digest = hashlib.sha256(blob).hexdigest()
        if digest != manifest.get("sha256"):
            raise ArtifactIntegrityError(
                f"artifact {key}.npz fails its checksum (manifest {manifest.get('sha256')}, file {digest})")
        for name, spec in manifest["arrays"].items():
            a = arrays.get(name)
            if a is None or list(a.shape) != spec["shape"] or str(a.dtype) != spec["dtype"]:
                raise ArtifactIntegrityError(f"artifact {key}: array {name!r} does not match its manifest {spec}")
        return arrays, manifest


def _array_sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _manifest_digest(specs: dict[str, dict]) -> str:
    """One sha256 over every array's name, shape, dtype and sha256: the artifact's content digest."""
    return hashlib.sha256(json.dumps(specs, sort_keys=True).encode()).hexdigest()


def _deterministic_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz (readable by np.load) whose bytes depend only on the arrays: np.savez stamps the
    current time into the zip entries, which would make re-materialized weeks differ."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, entry.getvalue())
    return buf.getvalue()


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value)}")


class LocalArtifactStore(ArtifactStore):
    """Artifacts under a local folder; writes go to a temporary file then an atomic rename."""

    root: str

    def _path(self, key: str) -> Path:
        path = (Path(self.root) / key).resolve()
        if not str(path).startswith(str(Path(self.root).resolve())):
            raise ValueError(f"artifact key escapes the store: {key!r}")
        return path

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open_parquet(self, key: str) -> pq.ParquetFile:
        return pq.ParquetFile(self._path(key))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        base = Path(self.root).resolve()
        if not prefix:
            folder = base
        else:
            folder = self._path(prefix) if prefix.endswith("/") else self._path(prefix).parent
        if not folder.is_dir():
            return []
        keys = []
        for p in folder.rglob("*"):
            if p.is_file() and not p.name.startswith("."):
                key = p.relative_to(base).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()


class S3ArtifactStore(ArtifactStore):
    """Artifacts in an S3 bucket (or an S3-compatible store) through dagster-aws's S3Resource.

    A PUT is atomic in S3, so a reader sees the old object or the new one, never a mix.
    """

    s3: S3Resource
    bucket: str
    prefix: str = "vodrec"

    _client: Any = PrivateAttr(default=None)

    def _s3(self) -> Any:
        """The S3Resource's client with explicit timeouts: an endpoint that accepts connections and never
        answers would otherwise hold each attempt for botocore's 60 s (settings.s3_timeouts_seconds)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            s3 = self.s3
            connect, read = settings.s3_timeouts_seconds()
            self._client = boto3.session.Session(profile_name=s3.profile_name).client(
                "s3", region_name=s3.region_name, use_ssl=s3.use_ssl, verify=s3.verify, endpoint_url=s3.endpoint_url,
                aws_access_key_id=s3.aws_access_key_id, aws_secret_access_key=s3.aws_secret_access_key,
                aws_session_token=s3.aws_session_token,
                config=Config(retries={"max_attempts": s3.max_attempts}, connect_timeout=connect, read_timeout=read),
            )
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key

    def put_bytes(self, key: str, data: bytes) -> None:
        self._s3().put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get_bytes(self, key: str) -> bytes:
        return self._s3().get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._s3().head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def list_keys(self, prefix: str) -> list[str]:
        full = self._key(prefix)
        strip = len(self._key(""))
        keys: list[str] = []
        paginator = self._s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(keys)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"
