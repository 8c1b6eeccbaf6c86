"""The clean stage's fast paths (recsys/parsing.py, the packed weekly reduction) give exactly what the
pandas calls they replace give: on crafted edge cases, and on a week of generated dirty logs read
the way the ingestion assets store them."""

import io
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from vodrec_assets.defs.ingestion.assets import parquet_safe
from vodrec_assets.recsys import week_stats
from vodrec_assets.recsys.cleaning import (
    CLICK_COLUMNS, CLICK_NUMERIC, REASONS, WATCH_COLUMNS, WATCH_NUMERIC, validate_logs, weekly_pair_stats,
)
from vodrec_assets.recsys.parsing import LOG_DT_FORMAT, duplicate_rows, is_in, log_dt_values, number_flags, numeric_values
from vodrec_assets.resources import SourceDatabase
from vodrec_assets.sources.synthetic import generate

NUMBER_TEXT = ["1234", "1234.0", "0", "-0", "-5", "-5.0", "007", "1e3", " 12", "12 ", "1,234", "N/A", "",
               "1234.5", "0.1", "123456789012345", "1234567890123456", "99999999999999999999", "inf", "nan",
               "-", "12분", "+7", "1.", ".5", None]
DATE_TEXT = ["2023-08-07 20:00:00", "2023-02-29 10:00:00", "2024-02-29 10:00:00", "2023-04-31 00:00:00",
             "2023-08-09 24:60:60", "2023-08-09 23:59:60", "2023-08-09 ??:??:??", "2023-08-09 오후 9:15",
             "1970-01-01 00:00:05", "2037-06-01 12:00:00", "1600-01-01 00:00:00", "2300-01-01 00:00:00",
             "2023-08-07T20:00:00", "2023-08-07 20:00:00.5", "2023-08-07", "20230807", "not-a-date", "",
             " 2023-08-07 20:00:00", "2023-8-7 20:00:00", None]


def as_text(values, dtype):
    return pd.Series(values, dtype=dtype)


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_numeric_values_equal_pandas_to_numeric(dtype):
    series = as_text(NUMBER_TEXT * 3, dtype)
    values, bad = numeric_values(series)
    want = pd.to_numeric(series.astype(object), errors="coerce").astype("float64")
    np.testing.assert_array_equal(values, want.to_numpy())
    np.testing.assert_array_equal(np.signbit(values), np.signbit(want.to_numpy()))  # "-0" reads as 0
    np.testing.assert_array_equal(bad, (want.isna() & series.notna()).to_numpy())
    assert bad.any() and not bad.all()


def test_numeric_values_of_numbers_pass_through():
    values, bad = numeric_values(pd.Series([1, 2, None], dtype="Int64"))
    np.testing.assert_array_equal(values, [1.0, 2.0, np.nan])
    assert not bad.any()


def reference_log_dt(series: pd.Series) -> list:
    """Value by value: the exact format, then ISO 8601 (a Timestamp of any unit, or NaT)."""
    out = []
    for value in series.astype(object):
        stamp = pd.NaT
        if isinstance(value, str):
            for fmt in (LOG_DT_FORMAT, "ISO8601"):
                stamp = pd.to_datetime(pd.Series([value]), format=fmt, errors="coerce").iloc[0]
                if not pd.isna(stamp):
                    break
        out.append(stamp)
    return out


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_log_dt_values_equal_pandas_to_datetime(dtype):
    series = as_text(DATE_TEXT * 3, dtype)
    got = log_dt_values(series)
    assert got.dtype == np.dtype("datetime64[ns]")
    for value, stamp, want in zip(series, got, reference_log_dt(series)):
        if pd.isna(want):
            assert np.isnat(stamp), value
        elif want.year < 1678:  # beyond datetime64[ns]: clamped, still outside every week
            assert stamp <= np.datetime64("1677-09-22", "ns"), value
        elif want.year > 2261:
            assert stamp >= np.datetime64("2262-04-11", "ns"), value
        else:
            assert stamp == want.to_datetime64().astype("datetime64[ns]"), value
    assert np.isnat(got).any() and not np.isnat(got).all()


def test_is_in_equals_numpy_isin_on_exact_int64_ids():
    known = np.array([60_000_001, 60_000_005, 60_000_009, 60_000_005, 2**53])
    values = np.array([60_000_001, 60_000_002, 60_000_005, -1, 99_000_000, 60_000_009, 2**53, 2**53 + 1,
                       2**63 - 1, -(2**63)], dtype=np.int64)
    np.testing.assert_array_equal(is_in(values, known), np.isin(values, known))
    assert not is_in(np.array([2**53 + 1]), np.array([2**53]))[0]  # through float64 they would be equal
    far = np.array([1, 2**40])  # too wide for a lookup table: a binary search
    np.testing.assert_array_equal(is_in(np.array([1, 2, 2**40]), far), [True, False, True])
    assert not is_in(values, np.array([])).any()


def test_duplicate_rows_equal_a_full_row_hash():
    rng = np.random.default_rng(3)
    n = 2_000
    raw = pd.DataFrame({
        "subsr_id": pd.Series(rng.integers(1, 20, n).astype(str), dtype="str"),
        "program_id": rng.integers(1, 5, n).astype(float),
        "log_dt": pd.Series(pd.Timestamp("2023-08-07") + pd.to_timedelta(rng.integers(0, 50, n), unit="s")).astype(str),
        "use_tms": pd.Series(rng.choice(["1", "2", "N/A"], n), dtype="str"),
    })
    raw.loc[::97, "subsr_id"] = None
    keys = (numeric_values(raw["subsr_id"])[0], numeric_values(raw["program_id"])[0], log_dt_values(raw["log_dt"]))
    want = pd.util.hash_pandas_object(raw, index=False).duplicated(keep="first").to_numpy()
    got = duplicate_rows(raw, *keys)
    assert want.sum() > 100
    np.testing.assert_array_equal(got, want)


def test_packed_week_reduction_equals_the_groupby_reference():
    rng = np.random.default_rng(5)
    n = 5_000
    watches = pd.DataFrame({"subsr_id": rng.integers(60_000_001, 60_000_300, n), "program_id": rng.integers(100_001, 100_200, n),
                            "log_dt": pd.Timestamp("2023-08-07"), "e_bool": (rng.random(n) < 0.05).astype("int8"),
                            "use_tms": rng.integers(0, 4000, n).astype(float), "disp_rtm_sec": 1800.0})
    clicks = pd.DataFrame({"subsr_id": rng.integers(60_000_001, 60_000_400, 2 * n),
                           "program_id": rng.integers(100_001, 100_300, 2 * n),
                           "log_dt": pd.Timestamp("2023-08-07") + pd.to_timedelta(rng.integers(0, 600_000, 2 * n), unit="s"),
                           "e_bool": (rng.random(2 * n) < 0.05).astype("int8")})
    for w, c in ((watches, clicks), (watches.iloc[:0], clicks), (watches, clicks.iloc[:0]), (watches.iloc[:0], clicks.iloc[:0])):
        got = weekly_pair_stats(w, c)
        keep_w, keep_c = w["e_bool"].to_numpy() == 0, c["e_bool"].to_numpy() == 0
        ratio = np.clip(w["use_tms"].to_numpy()[keep_w] / w["disp_rtm_sec"].to_numpy()[keep_w], 0, 1)
        want = week_stats._pair_stats_groupby(
            [w[col].to_numpy(np.int64)[keep_w] for col in week_stats.ID_COLUMNS], ratio,
            [c[col].to_numpy(np.int64)[keep_c] for col in week_stats.ID_COLUMNS],
            c["log_dt"].to_numpy("datetime64[ns]")[keep_c])
        pd.testing.assert_frame_equal(got.pairs, want)
        assert got.counts["pairs"] == len(want)


# --------------------------------------------------------------------------- a week of generated logs


def reference_validate_logs(raw, *, numeric_columns, week_start, week_end, known_subscribers, known_programs,
                            check_runtime):
    """validate_logs as it was before the fast paths (pandas throughout), kept as the reference."""
    n = len(raw)
    reason = np.full(n, "", dtype=object)

    def mark(mask, name):
        m = np.asarray(mask, dtype=bool) & (reason == "")
        reason[m] = name

    parsed, non_numeric = {}, np.zeros(n, dtype=bool)
    for col in numeric_columns:
        values = pd.to_numeric(raw[col], errors="coerce")
        parsed[col] = values.astype("float64")
        non_numeric |= (values.isna() & raw[col].notna()).to_numpy()
    text = raw["log_dt"].astype("string")
    log_dt = pd.to_datetime(text, format=LOG_DT_FORMAT, errors="coerce")
    retry = log_dt.isna() & text.notna()
    if retry.any():
        log_dt[retry] = pd.to_datetime(text[retry], format="ISO8601", errors="coerce")
    log_dt = log_dt.astype("datetime64[ns]")
    mark(raw["subsr_id"].isna().to_numpy() | raw["program_id"].isna().to_numpy(), "null_id")
    mark(non_numeric, "non_numeric")
    missing = raw["log_dt"].isna().to_numpy().copy()
    for col in numeric_columns:
        if col not in ("subsr_id", "program_id"):
            missing |= raw[col].isna().to_numpy()
    mark(missing, "null_value")
    mark(log_dt.isna().to_numpy(), "unparsable_log_dt")
    mark(((log_dt < week_start) | (log_dt >= week_end)).to_numpy(), "log_dt_outside_week")
    mark(~parsed["e_bool"].isin([0.0, 1.0]).to_numpy(), "bad_e_bool")
    mark(~parsed["subsr_id"].isin(known_subscribers).to_numpy(), "unknown_subscriber")
    mark(~parsed["program_id"].isin(known_programs).to_numpy(), "unknown_program")
    if check_runtime:
        mark((parsed["disp_rtm_sec"] <= 0).to_numpy() | parsed["disp_rtm_sec"].isna().to_numpy(), "nonpositive_runtime")
        mark((parsed["use_tms"] < 0).to_numpy() | parsed["use_tms"].isna().to_numpy(), "negative_use_tms")
    mark(pd.Series(pd.util.hash_pandas_object(raw, index=False).to_numpy()).duplicated(keep="first").to_numpy(), "duplicate")
    good = reason == ""
    rows = pd.DataFrame({"subsr_id": parsed["subsr_id"][good].astype("int64").to_numpy(),
                         "program_id": parsed["program_id"][good].astype("int64").to_numpy(),
                         "log_dt": log_dt[good].to_numpy(), "e_bool": parsed["e_bool"][good].astype("int8").to_numpy()})
    if check_runtime:
        rows["use_tms"] = parsed["use_tms"][good].to_numpy()
        rows["disp_rtm_sec"] = parsed["disp_rtm_sec"][good].to_numpy()
    quarantined = raw.loc[~good].astype("string")
    quarantined.insert(0, "reason", reason[~good])
    return rows, quarantined.reset_index(drop=True), {r: int((reason == r).sum()) for r in REASONS}


@pytest.fixture(scope="module")
def dirty_week(tmp_path_factory):
    """A week of 5 %-dirty tiny logs, stored and read back as raw_vod_logs / raw_click_logs store them."""
    path = tmp_path_factory.mktemp("parsing") / "source.db"
    generate(f"sqlite:///{path}", scale="tiny", weeks=2, seed=9, dirty_rate=0.05)
    db = SourceDatabase(url=f"sqlite:///{path}")
    start, end = datetime(2023, 8, 14), datetime(2023, 8, 21)
    stored, as_text = {}, {}
    for table, columns in (("vods_sumut", WATCH_COLUMNS), ("contlog", CLICK_COLUMNS)):
        buf = io.BytesIO()
        parquet_safe(db.read_window(table, start, end, columns)).to_parquet(buf, index=False, compression="zstd")
        stored[table] = pd.read_parquet(buf)
        buf = io.BytesIO()
        pq.write_table(db.read_window_text(table, start, end, columns), buf, compression="zstd")
        as_text[table] = pd.read_parquet(buf)  # what raw_*_logs store from an SQLite file
    known = {name: pd.to_numeric(db.read_table(table, [col])[col], errors="coerce").dropna().to_numpy()
             for name, table, col in (("users", "userinfo", "subsr_id"), ("programs", "vodinfo", "program_id"))}
    return stored, known, pd.Timestamp(start), pd.Timestamp(end), as_text


@pytest.mark.parametrize("table,numeric,runtime", [("vods_sumut", WATCH_NUMERIC, True), ("contlog", CLICK_NUMERIC, False)])
def test_validate_logs_equals_the_pandas_reference_on_dirty_generated_logs(dirty_week, table, numeric, runtime):
    stored, known, start, end, as_text = dirty_week
    raw = stored[table]
    assert any(isinstance(raw[c].dtype, pd.StringDtype) for c in numeric)  # text in a numeric column
    kwargs = dict(numeric_columns=numeric, week_start=start, week_end=end, known_subscribers=known["users"],
                  known_programs=known["programs"], check_runtime=runtime)
    got = validate_logs(raw, **kwargs)
    rows, quarantined, counts = reference_validate_logs(raw, **kwargs)
    pd.testing.assert_frame_equal(got.rows, rows)
    pd.testing.assert_frame_equal(got.quarantined, quarantined)
    assert got.counts == counts
    assert sum(counts.values()) == len(quarantined) > 0.02 * len(raw)
    assert len(set(got.quarantined["reason"])) >= 6


def test_a_date_beyond_datetime64_ns_is_outside_the_week_not_a_crash():
    raw = pd.DataFrame({"subsr_id": ["1", "1", "1"], "program_id": ["10", "10", "10"],
                        "log_dt": ["1600-01-01 00:00:00", "3000-01-01 00:00:00", "2023-08-08 20:00:00"],
                        "month": [8, 8, 8], "e_bool": ["0", "0", "0"]}).astype("str")
    v = validate_logs(raw, numeric_columns=CLICK_NUMERIC, week_start=pd.Timestamp("2023-08-07"),
                      week_end=pd.Timestamp("2023-08-14"), known_subscribers=np.array([1]),
                      known_programs=np.array([10]), check_runtime=False)
    assert v.quarantined["reason"].tolist() == ["log_dt_outside_week", "log_dt_outside_week"]
    assert v.quarantined["log_dt"].tolist() == ["1600-01-01 00:00:00", "3000-01-01 00:00:00"]  # kept as written
    assert len(v.rows) == 1


@pytest.mark.parametrize("table,numeric,runtime", [("vods_sumut", WATCH_NUMERIC, True), ("contlog", CLICK_NUMERIC, False)])
def test_a_week_stored_as_sqlite_text_validates_to_the_same_rows(dirty_week, table, numeric, runtime):
    """raw_*_logs keep an SQLite week as text (read_window_text): the same usable rows, reasons and
    counts as the typed frame the generic read gives."""
    stored, known, start, end, as_text = dirty_week
    assert all(isinstance(as_text[table][c].dtype, pd.StringDtype) for c in as_text[table].columns)
    kwargs = dict(numeric_columns=numeric, week_start=start, week_end=end, known_subscribers=known["users"],
                  known_programs=known["programs"], check_runtime=runtime)
    typed, text = validate_logs(stored[table], **kwargs), validate_logs(as_text[table], **kwargs)
    pd.testing.assert_frame_equal(text.rows, typed.rows)
    assert text.counts == typed.counts
    assert text.quarantined["reason"].tolist() == typed.quarantined["reason"].tolist()
    # The quarantined raw values are the same, written as SQLite's text ("60000101" for 60000101.0).
    for col in numeric:
        np.testing.assert_array_equal(pd.to_numeric(text.quarantined[col], errors="coerce"),
                                      pd.to_numeric(typed.quarantined[col], errors="coerce"))


def test_a_drivers_float_nan_is_non_finite_not_null():
    """A driver hands rows over as Python objects: None is NULL, a float NaN is a value that is no number
    (Hypothesis found a kept row with episode_num NaN)."""
    non_numeric, non_finite = number_flags(pd.Series([float("nan"), np.float64("nan"), None, 3, "4"], dtype=object))
    assert non_finite.tolist() == [True, True, False, False, False]
    assert not non_numeric.any()
