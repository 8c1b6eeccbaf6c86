"""On the local MariaDB, the hostile values its column types admit: 64-bit ids (2^53, 2^53 + 1, the int64
extremes), BIGINT UNSIGNED above 2^63 - 1, NULL ids among them, a zero date. Read with the column types
(the MySQL path), stored, validated: ids stay exact, out-of-range ones are quarantined as such, the
zero-dated row is kept by unassigned_log_rows."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.defs.ingestion import assets as ingestion
from vodrec_assets.resources import LocalArtifactStore, SourceDatabase

from .test_properties_ingestion import INGEST, WEEK, _meta

pytestmark = pytest.mark.integration
BIG, TOP, BOTTOM = 2**53, 2**63 - 1, -(2**63)


def _rows(conn, table: str, rows: list[dict]) -> None:
    conn.execute(sa.insert(schema.TABLES[table]), rows)


def test_mysql_typed_ids_stay_exact_and_unsigned_beyond_int64_is_out_of_range(mariadb_url, tmp_path):
    engine = sa.create_engine(mariadb_url)
    schema.create_source_tables(engine)
    inside = "2023-08-09 12:00:00"
    watch = dict(use_tms=500.0, disp_rtm_sec=1000.0, e_bool=0, month=8, log_dt=inside)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE contlog MODIFY subsr_id BIGINT UNSIGNED NULL"))
        conn.execute(sa.text("SET SESSION sql_mode = ''"))  # lets the zero date in, as an old table holds it
        _rows(conn, "userinfo", [{"subsr_id": u, "join_dt": "2023-01-01 00:00:00"} for u in (BIG, BIG + 1, TOP, BOTTOM)])
        _rows(conn, "vodinfo", [{"program_id": p, "e_bool": 0, "release_date": "2023-01-01 00:00:00"}
                                for p in (10, 11, BOTTOM)])
        _rows(conn, "vods_sumut", [{**watch, "subsr_id": u, "program_id": p}
                                   for u, p in ((BIG, 10), (BIG + 1, 11), (TOP, BOTTOM), (BOTTOM, 10), (None, 10))])
        conn.execute(sa.text("INSERT INTO vods_sumut (subsr_id, program_id, log_dt, use_tms, disp_rtm_sec, e_bool) "
                             "VALUES (:u, 10, '0000-00-00 00:00:00', 1, 2, 0)"), {"u": BIG})
        _rows(conn, "contlog", [{"subsr_id": u, "program_id": 11, "log_dt": inside, "e_bool": 0, "month": 8}
                                for u in (BIG + 1, 2**63, 2**64 - 1, None)])
    engine.dispose()
    artifacts = LocalArtifactStore(root=str(tmp_path / "artifacts"))
    resources = {"source_db": SourceDatabase(url=mariadb_url), "artifacts": artifacts}
    result = dg.materialize(INGEST, partition_key=WEEK, resources=resources)
    pairs = artifacts.read_parquet(f"weekly_pair_stats/{WEEK}.parquet")
    got = {(s, p): (w, c) for s, p, w, c in zip(pairs["subsr_id"].tolist(), pairs["program_id"].tolist(),
                                                 pairs["watch_cnt"].tolist(), pairs["click_cnt"].tolist())}
    assert got == {(BIG, 10): (1, 0), (BIG + 1, 11): (1, 1), (TOP, BOTTOM): (1, 0), (BOTTOM, 10): (1, 0)}
    stats = _meta(result, "weekly_pair_stats")
    assert stats["quarantined_out_of_range"] == 2 and stats["quarantined_null_id"] == 2
    assert stats["raw_watch_rows"] == 5 and stats["raw_click_rows"] == 4
    quarantined = artifacts.read_parquet(f"quarantined_rows/{WEEK}.parquet")
    assert set(quarantined.loc[quarantined["reason"] == "out_of_range", "subsr_id"]) == {str(2**63), str(2**64 - 1)}
    unassigned = dg.materialize([ingestion.unassigned_log_rows], resources=resources)
    assert unassigned.success
    kept = artifacts.read_parquet("quarantined_rows/unassigned.parquet")
    assert kept["reason"].tolist() == ["unparsable_log_dt"] and kept["subsr_id"].tolist() == [str(BIG)]
