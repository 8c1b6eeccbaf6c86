"""The week-volume rule (recsys/volume.py) the ingestion's blocking checks use: an emptied or half-lost
week is far smaller than its trailing weeks; none of MovieLens-100K's weeks (which swing from 9,735 to
1,550 and have 877 between 1,783 and 2,624) nor the generator's is, with the default floor."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vodrec_assets.recsys.volume import DEFAULT_FLOOR_SHARE, week_far_smaller
from vodrec_assets.sources.synthetic import generate

MOVIELENS = Path("/work/shared/data/ml-100k")


def _verdicts(counts: list[int], **kwargs) -> list:
    return [week_far_smaller(n, counts[:i], **kwargs) for i, n in enumerate(counts)]


def _weekly(log_dt: pd.Series) -> list[int]:
    """Rows per Monday-to-Monday week as the week's window reads them (by the date log_dt's text starts
    with: Seoul wall time), empty weeks included."""
    when = pd.to_datetime(log_dt.str[:10], format="%Y-%m-%d")
    monday = when.dt.normalize() - pd.to_timedelta(when.dt.day_of_week, unit="D")
    counts = monday.value_counts().sort_index()
    return counts.reindex(pd.date_range(counts.index.min(), counts.index.max(), freq="7D"), fill_value=0).tolist()


@pytest.mark.skipif(not MOVIELENS.is_dir(), reason="MovieLens-100K is not at /work/shared/data/ml-100k")
def test_no_movielens_week_is_blocked_by_default():
    from vodrec_assets.sources.movielens import read_movielens

    tables = read_movielens(MOVIELENS)
    for table in ("vods_sumut", "contlog"):
        counts = _weekly(pd.Series(tables[table]["log_dt"]))
        assert len(counts) == 32 and 877 in counts and 9_735 in counts
        verdicts = _verdicts(counts)
        assert not any(v.too_small for v in verdicts), [v.reason for v in verdicts if v.too_small]
        lowest = min(v.rows / v.reference for v in verdicts if v.reference)
        assert lowest > 3 * DEFAULT_FLOOR_SHARE  # a wide margin: MovieLens' lowest is 877 / 2,663 = 0.33


def test_no_generated_week_is_blocked_by_default(tmp_path):
    path = tmp_path / "source.db"
    generate(f"sqlite:///{path}", scale="tiny", weeks=12, seed=0)
    with sqlite3.connect(path) as conn:
        for table in ("vods_sumut", "contlog"):
            log_dt = pd.Series([r[0] for r in conn.execute(
                f"SELECT log_dt FROM {table} WHERE log_dt >= '2023-08-07' AND log_dt < '2023-10-30'")])  # noqa: S608
            counts = _weekly(log_dt)
            assert len(counts) == 12
            assert not any(v.too_small for v in _verdicts(counts))


def test_an_emptied_or_gutted_week_is_blocked():
    trailing = [2_554, 2_317, 2_557, 2_548]
    assert week_far_smaller(0, trailing).too_small and week_far_smaller(0, []).too_small
    gutted = week_far_smaller(200, trailing)
    assert gutted.too_small and "below 10% of the median 2,551" in gutted.reason
    assert not week_far_smaller(300, trailing).too_small
    assert week_far_smaller(300, trailing, floor_share=0.2).too_small  # the floor is configurable
    assert not week_far_smaller(5, []).too_small  # the first week has nothing to compare with
    # One outlier week among the trailing ones does not move the reference (the median).
    assert not week_far_smaller(1_550, [1_783, 877, 2_624, 9_735]).too_small
    assert week_far_smaller(10, [1_000] * 10, trailing_weeks=2).reference == 1_000.0
    with pytest.raises(ValueError):
        week_far_smaller(1, trailing, floor_share=1.5)
    assert np.isclose(week_far_smaller(2_551, trailing).rows / week_far_smaller(2_551, trailing).reference, 1.0)
