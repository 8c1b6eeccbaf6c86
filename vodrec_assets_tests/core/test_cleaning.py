import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vodrec_assets.recsys.cleaning import (
    CLICK_NUMERIC, PAIR_STATS_COLUMNS, WATCH_NUMERIC, WindowSummary, merge_window, reduce_window_ranges, validate_logs,
    weekly_pair_stats, write_window_ratings,
)
from vodrec_assets.recsys.window import _quantile_of_counts

WEEK = (pd.Timestamp("2023-08-07"), pd.Timestamp("2023-08-14"))


def watch(s, p, dt, use, rt, e=0):
    return {"subsr_id": s, "program_id": p, "program_name": f"p{p}", "episode_num": 1, "log_dt": dt,
            "use_tms": use, "disp_rtm_sec": rt, "count_watch": 1, "month": 8, "e_bool": e}


def click(s, p, dt, e=0):
    return {"subsr_id": s, "program_id": p, "program_name": f"p{p}", "episode_num": 1, "log_dt": dt, "month": 8, "e_bool": e}


def validate(rows, numeric, runtime, users=(1, 2, 3), programs=(10, 20, 30)):
    return validate_logs(pd.DataFrame(rows), numeric_columns=numeric, week_start=WEEK[0], week_end=WEEK[1],
                         known_subscribers=np.array(users), known_programs=np.array(programs), check_runtime=runtime)


def test_every_bad_row_class_is_quarantined_with_its_reason_and_nothing_is_lost():
    rows = [
        watch(1, 10, "2023-08-07 20:00:00", 600, 1200),           # good
        watch(None, 10, "2023-08-07 20:00:00", 600, 1200),        # null_id
        watch(1, "abc", "2023-08-07 20:00:00", 600, 1200),        # non_numeric
        watch(1, 10, "not-a-date", 600, 1200),                    # unparsable_log_dt
        watch(1, 10, "1970-01-01 00:00:00", 600, 1200),           # log_dt_outside_week
        watch(1, 10, "2023-08-14 00:00:00", 600, 1200),           # the end bound is outside (half-open)
        watch(1, 10, "2023-08-08 20:00:00", 600, 1200, e=7),      # bad_e_bool
        watch(9, 10, "2023-08-08 20:00:00", 600, 1200),           # unknown_subscriber
        watch(1, 99, "2023-08-08 20:00:00", 600, 1200),           # unknown_program
        watch(1, 10, "2023-08-08 20:00:00", 600, 0),              # nonpositive_runtime
        watch(1, 10, "2023-08-08 20:00:00", -5, 1200),            # negative_use_tms
        watch(1, 10, "2023-08-07 20:00:00", 600, 1200),           # duplicate of the first row
        watch(2, 20, "2023-08-07 00:00:00", 2400, 1200),          # good (ratio above 1 is repaired later)
        watch(1, 10, "2023-08-08 20:00:00", None, 1200),          # null_value (a NULL measure)
        watch(1, 10, None, 600, 1200),                            # null_value (a NULL log_dt)
    ]
    v = validate(rows, WATCH_NUMERIC, True)
    assert len(v.rows) == 2
    assert len(v.rows) + len(v.quarantined) == len(rows)
    assert v.counts == {"null_id": 1, "non_numeric": 1, "null_value": 2, "duplicate_id": 0, "unparsable_log_dt": 1, "log_dt_outside_week": 2,
                        "bad_e_bool": 1, "unknown_subscriber": 1, "unknown_program": 1, "nonpositive_runtime": 1,
                        "negative_use_tms": 1, "duplicate": 1, "non_finite": 0, "out_of_range": 0, "fractional_id": 0}
    assert set(v.quarantined["reason"]) == set(k for k, n in v.counts.items() if n)
    assert v.quarantined.loc[v.quarantined["reason"] == "non_numeric", "program_id"].iloc[0] == "abc"


def test_week_reduction_filters_e_bool_clips_ratio_and_counts():
    watches = validate([
        watch(1, 10, "2023-08-07 20:00:00", 300, 1200),
        watch(1, 10, "2023-08-08 20:00:00", 900, 1200),
        watch(1, 20, "2023-08-08 21:00:00", 5000, 1200),   # above the runtime: ratio clipped to 1
        watch(2, 10, "2023-08-08 21:00:00", 600, 1200, e=1),  # e_bool = 1: excluded
    ], WATCH_NUMERIC, True).rows
    clicks = validate([
        click(1, 10, "2023-08-07 19:00:00"),
        click(1, 10, "2023-08-09 19:00:00"),
        click(3, 30, "2023-08-10 19:00:00"),
    ], CLICK_NUMERIC, False).rows
    week = weekly_pair_stats(watches, clicks)
    pairs = week.pairs.set_index(["subsr_id", "program_id"])
    assert week.counts["excluded_e_bool_watch_rows"] == 1 and week.counts["repaired_ratio_above_one"] == 1
    assert pairs.loc[(1, 10), "watch_max_ratio"] == pytest.approx(0.75)
    assert pairs.loc[(1, 10), "watch_cnt"] == 2 and pairs.loc[(1, 10), "click_cnt"] == 2
    assert pairs.loc[(1, 10), "last_click_dt"] == pd.Timestamp("2023-08-09 19:00:00")
    assert pairs.loc[(1, 20), "watch_max_ratio"] == 1.0
    assert np.isnan(pairs.loc[(3, 30), "watch_max_ratio"]) and pairs.loc[(3, 30), "click_cnt"] == 1
    assert (2, 10) not in pairs.index


def original_cleaning(vod_log: pd.DataFrame, cont_log: pd.DataFrame) -> pd.DataFrame:
    """The original DAG's data_preprocessing, row by row as it was (plus the ratio clip the issue asks for)."""
    vod_log = vod_log[vod_log["e_bool"] == 0].copy()
    cont_log = cont_log[cont_log["e_bool"] == 0].copy()
    vod_log["use_tms_ratio"] = (vod_log["use_tms"] / vod_log["disp_rtm_sec"]).clip(0, 1)
    cont_log["recency"] = (cont_log["log_dt"].max() - cont_log["log_dt"]).dt.days
    log = pd.concat([vod_log[["subsr_id", "program_id"]], cont_log[["subsr_id", "program_id"]]]).drop_duplicates()
    log = log.merge(cont_log.groupby(["subsr_id", "program_id"])[["program_name"]].count().reset_index()
                    .rename(columns={"program_name": "click_cnt"}), how="left")
    log = log.merge(cont_log.groupby(["subsr_id", "program_id"])[["recency"]].min().reset_index()
                    .rename(columns={"recency": "click_recency"}), how="left")
    log = log.merge(vod_log.groupby(["subsr_id", "program_id"])[["use_tms_ratio"]].max().reset_index()
                    .rename(columns={"use_tms_ratio": "watch_tms_max"}), how="left")
    log = log.merge(vod_log.groupby(["subsr_id", "program_id"])[["use_tms_ratio"]].count().reset_index()
                    .rename(columns={"use_tms_ratio": "watch_cnt"}), how="left")
    log["watch_cnt"] = log["watch_cnt"].where(log["watch_cnt"] > 0)
    cap = log["click_cnt"].quantile(0.95)
    log.loc[log["click_cnt"] > cap, "click_cnt"] = cap
    log["click_recency"] = log["click_recency"].max() - log["click_recency"]
    cap = log["watch_cnt"].quantile(0.95)
    log.loc[log["watch_cnt"] > cap, "watch_cnt"] = cap
    log["rating"] = log["watch_tms_max"]
    log["watched"] = (log["rating"] > 0).astype("int8")
    return log.sort_values(["subsr_id", "program_id"]).reset_index(drop=True)


def test_weekly_merge_equals_the_original_cleaning_over_the_whole_window():
    rng = np.random.default_rng(7)
    weeks = [pd.Timestamp("2023-08-07") + pd.Timedelta(days=7 * w) for w in range(3)]
    watch_frames, click_frames, stats = [], [], []
    for start in weeks:
        n = 400
        w = pd.DataFrame({
            "subsr_id": rng.integers(1, 30, n), "program_id": rng.integers(1, 40, n),
            "log_dt": start + pd.to_timedelta(rng.integers(0, 7 * 86400, n), unit="s"),
            "use_tms": rng.integers(0, 3000, n).astype(float), "disp_rtm_sec": 1800.0,
            "e_bool": (rng.random(n) < 0.05).astype("int8"),
        })
        c = pd.DataFrame({
            "subsr_id": rng.integers(1, 30, 2 * n), "program_id": rng.integers(1, 40, 2 * n),
            "log_dt": start + pd.to_timedelta(rng.integers(0, 7 * 86400, 2 * n), unit="s"),
            "e_bool": (rng.random(2 * n) < 0.05).astype("int8"),
        })
        watch_frames.append(w)
        click_frames.append(c.assign(program_name="x"))
        stats.append(weekly_pair_stats(w, c).pairs)
    merged = merge_window(stats).reset_index(drop=True)
    reference = original_cleaning(pd.concat(watch_frames), pd.concat(click_frames))
    assert len(merged) == len(reference)
    for col in ["subsr_id", "program_id", "click_cnt", "click_recency", "watch_tms_max", "watch_cnt", "rating", "watched"]:
        np.testing.assert_allclose(merged[col].to_numpy(float), reference[col].to_numpy(float), err_msg=col, equal_nan=True)


def _weekly_stats(rng, week, subscribers, n):
    """One week's pair statistics as weekly_pair_stats writes them: sorted, one row per pair, NaN
    ratios (click-only pairs), NaT clicks (watch-only pairs), counts with a long tail."""
    start = pd.Timestamp("2023-08-07") + pd.Timedelta(days=7 * week)
    frame = pd.DataFrame({
        "subsr_id": rng.choice(subscribers, n), "program_id": rng.integers(100, 140, n),
        "watch_max_ratio": np.where(rng.random(n) < 0.3, np.nan, rng.random(n).round(3)),
        "click_cnt": rng.geometric(0.4, n), "watch_cnt": rng.geometric(0.5, n),
        "last_click_dt": pd.Series(start + pd.to_timedelta(rng.integers(0, 7 * 86400, n), unit="s")),
    }).drop_duplicates(["subsr_id", "program_id"])
    frame["watch_cnt"] = frame["watch_cnt"].where(frame["watch_max_ratio"].notna(), 0)
    frame["click_cnt"] = frame["click_cnt"].where(rng.random(len(frame)) < 0.8, 0)
    frame["last_click_dt"] = frame["last_click_dt"].where(frame["click_cnt"] > 0).astype("datetime64[ns]")
    frame = frame[(frame["watch_cnt"] > 0) | (frame["click_cnt"] > 0)]
    return frame[PAIR_STATS_COLUMNS].sort_values(["subsr_id", "program_id"], ignore_index=True)


def _parquet(frame, row_group_size):
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow", compression="zstd", row_group_size=row_group_size)
    return buf.getvalue()


def _write_window(weeks, chunk_rows, row_group_size=5, out_row_group_rows=1024 * 1024):
    sources = [pq.ParquetFile(pa.BufferReader(_parquet(f, row_group_size))) for f in weeks]
    sink = io.BytesIO()
    summary = write_window_ratings(sources, sink, chunk_rows=chunk_rows, row_group_rows=out_row_group_rows)
    return pd.read_parquet(io.BytesIO(sink.getvalue())), summary, pq.ParquetFile(io.BytesIO(sink.getvalue()))


@pytest.fixture
def window_stats():
    rng = np.random.default_rng(5)
    early, late = np.arange(1_000, 1_040), np.arange(1_030, 1_090)  # overlapping in 1030..1039
    return [
        _weekly_stats(rng, 0, early, 150),
        _weekly_stats(rng, 1, early, 120),
        _weekly_stats(rng, 2, np.arange(5_000, 5_020), 60),  # subscribers no other week has
        _weekly_stats(rng, 3, early, 0),  # an empty week
        _weekly_stats(rng, 4, late, 200),
        _weekly_stats(rng, 5, late, 180),
    ]


@pytest.mark.parametrize("chunk_rows, out_row_group_rows", [(1, 1), (7, 50), (60, 10**6), (10**9, 10**6)])
def test_range_by_range_merge_writes_exactly_what_merge_window_gives(window_stats, chunk_rows, out_row_group_rows):
    expected = merge_window(window_stats)
    got, summary, written = _write_window(window_stats, chunk_rows, out_row_group_rows=out_row_group_rows)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)  # rows, order, columns, dtypes, values
    groups = [written.metadata.row_group(i).num_rows for i in range(written.metadata.num_row_groups)]
    assert max(groups) <= out_row_group_rows and len(groups) >= len(expected) / out_row_group_rows
    ranges = list(reduce_window_ranges([pq.ParquetFile(pa.BufferReader(_parquet(f, 5))) for f in window_stats],
                                       chunk_rows))
    assert len(ranges) > (10 if chunk_rows < 100 else 0)  # many subscriber ranges where the range is small
    # The caps bit (values above the 95th percentile exist before capping) and are exactly pandas' own.
    raw = pd.concat(window_stats).groupby(["subsr_id", "program_id"])[["click_cnt", "watch_cnt"]].sum()
    for name in ("click_cnt", "watch_cnt"):
        cap = raw[name].where(raw[name] > 0).dropna().astype(float).quantile(0.95)
        assert raw[name].max() > cap and got[name].max() == cap
    assert got["rating"].isna().any() and got["click_recency"].isna().any()
    watched = expected["watched"] == 1
    assert summary == WindowSummary(
        pairs=len(expected), watched_pairs=int(watched.sum()), click_only_pairs=int(expected["rating"].isna().sum()),
        subscribers=expected["subsr_id"].nunique(), programs=expected["program_id"].nunique(),
        mean_rating=pytest.approx(expected.loc[watched, "rating"].mean()),
    )


def test_range_by_range_merge_of_an_empty_window_and_of_unsorted_weeks(window_stats):
    empty = window_stats[3]
    got, summary, _ = _write_window([empty, empty], chunk_rows=4)
    pd.testing.assert_frame_equal(got, merge_window([empty, empty]), check_exact=True)
    assert summary.pairs == 0 and summary.mean_rating == 0.0
    shuffled = window_stats[0].sample(frac=1, random_state=1)
    with pytest.raises(ValueError, match="not sorted"):
        _write_window([shuffled], chunk_rows=4)


def test_quantile_of_counts_is_pandas_linear_quantile():
    rng = np.random.default_rng(2)
    for n in [1, 2, 3, 19, 20, 21, 101, 1_000, 12_345]:
        values = rng.geometric(0.3, n)
        expected = pd.Series(values.astype(float)).quantile(0.95)
        assert _quantile_of_counts(np.bincount(values)) == expected, n
    assert _quantile_of_counts(np.zeros(3, np.int64)) is None
