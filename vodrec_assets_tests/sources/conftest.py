"""Synthetic databases shared by the source tests, each generated once per session."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from vodrec_assets.sources.synthetic import GenerateSummary, generate

START = "2023-08-07"


@dataclass
class Generated:
    path: Path
    summary: GenerateSummary

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def frame(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        with sqlite3.connect(self.path) as conn:
            return pd.read_sql_query(sql, conn, params=params)


def _generate(tmp_path_factory, name: str, **kwargs) -> Generated:
    path = tmp_path_factory.mktemp(name) / "source.db"
    return Generated(path, generate(f"sqlite:///{path}", **kwargs))


@pytest.fixture(scope="session")
def tiny_dirty(tmp_path_factory) -> Generated:
    """Tiny scale, 3 weeks, the default dirty-row rate."""
    return _generate(tmp_path_factory, "tiny_dirty", scale="tiny", weeks=3, seed=0)


@pytest.fixture(scope="session")
def tiny_clean(tmp_path_factory) -> Generated:
    """Tiny scale, 6 weeks, no dirty rows: the planted structure without noise on top."""
    return _generate(tmp_path_factory, "tiny_clean", scale="tiny", weeks=6, seed=0, dirty_rate=0.0)
