"""The same generated weeks (dirty rows included) from MariaDB and from SQLite give byte-identical
artifacts: the raw logs, the reference tables, the week's pair statistics, quarantine and summary, and the
window's cleaned ratings. The MariaDB data is generated, then copied row by row into an SQLite file."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.defs.features import assets as features
from vodrec_assets.defs.ingestion import assets as ingestion
from vodrec_assets.resources import LocalArtifactStore, SourceDatabase
from vodrec_assets.sources.synthetic import generate

pytestmark = pytest.mark.integration
WEEKS = ["2023-08-07", "2023-08-14"]


def copy_to_sqlite(url: str, path: Path) -> str:
    """The four source tables of `url` copied into a new SQLite file, rows in the source's order."""
    sqlite_url = f"sqlite:///{path}"
    source, target = sa.create_engine(url), sa.create_engine(sqlite_url)
    schema.create_source_tables(target)
    with source.connect() as read, target.begin() as write:
        for name in schema.SOURCE_TABLES:
            table = schema.TABLES[name]
            rows = [dict(row._mapping) for row in read.execute(sa.select(table))]
            write.execute(table.insert(), rows)
    source.dispose()
    target.dispose()
    return sqlite_url


def materialize_weeks(url: str, root: Path) -> Path:
    """Ingestion and weekly_pair_stats for every week, then the last week's cleaned_ratings."""
    source_db, artifacts = SourceDatabase(url=url), LocalArtifactStore(root=str(root))
    for week in WEEKS:
        for asset in (ingestion.vod_catalog, ingestion.subscribers, ingestion.raw_vod_logs, ingestion.raw_click_logs):
            asset(dg.build_asset_context(partition_key=week), source_db=source_db, artifacts=artifacts)
        features.weekly_pair_stats(dg.build_asset_context(partition_key=week), artifacts=artifacts)
    features.cleaned_ratings(dg.build_asset_context(partition_key=WEEKS[-1]), artifacts=artifacts)
    return root


def test_mariadb_and_sqlite_give_the_same_artifacts(mariadb_url, tmp_path):
    summary = generate(mariadb_url, scale="tiny", weeks=len(WEEKS), seed=3, dirty_rate=0.05)
    assert sum(summary.dirty_rows["vods_sumut"].values()) > 0 and sum(summary.dirty_rows["contlog"].values()) > 0
    sqlite_url = copy_to_sqlite(mariadb_url, tmp_path / "source.db")
    from_mysql = materialize_weeks(mariadb_url, tmp_path / "mysql")
    from_sqlite = materialize_weeks(sqlite_url, tmp_path / "sqlite")
    files = sorted(p.relative_to(from_sqlite).as_posix() for p in from_sqlite.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(from_mysql).as_posix() for p in from_mysql.rglob("*") if p.is_file())
    for week in WEEKS:
        assert {f"raw_vod_logs/{week}.parquet", f"quarantined_rows/{week}.parquet",
                f"weekly_pair_stats/{week}.parquet"} <= set(files)
    assert any(name.startswith("cleaned_ratings/") for name in files)
    different = [name for name in files if (from_mysql / name).read_bytes() != (from_sqlite / name).read_bytes()]
    assert different == []
