"""`vodrec bench` and the fast paths it times, against simple references.

Top-k against a full sort is in test_topk.py; here: the vectorized cleaning against a row-by-row
reference, the original's cleaning (the `--compare-original` baseline) against vodrec's, and the
command itself on tiny data. No timing is asserted anywhere.
"""

import json
import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from vodrec_assets.benchmarks import original
from vodrec_assets.benchmarks.scale import STAGES, format_table
from vodrec_assets.cli import main
from vodrec_assets.recsys.cleaning import (
    CLICK_NUMERIC, WATCH_NUMERIC, merge_window, validate_logs, weekly_pair_stats,
)

START = pd.Timestamp("2023-08-07")
WEEK = pd.Timedelta(days=7)
USERS, PROGRAMS = list(range(1, 25)), list(range(100, 130))


def raw_week(rng: np.random.Generator, start: pd.Timestamp, n: int, watches: bool) -> pd.DataFrame:
    """Raw rows as the source returns them (text where SQLite holds text), with some dirty ones."""
    rows = []
    for _ in range(n):
        row = {
            "subsr_id": int(rng.choice(USERS + [999])),  # 999: unknown subscriber
            "program_id": int(rng.choice(PROGRAMS)),
            "program_name": "x", "episode_num": 1, "month": 8,
            "log_dt": (start + pd.Timedelta(seconds=int(rng.integers(-3600, 7 * 86400 + 3600)))).strftime("%Y-%m-%d %H:%M:%S"),
            "e_bool": int(rng.random() < 0.1),
        }
        if watches:
            row |= {"use_tms": float(rng.integers(-10, 4000)), "disp_rtm_sec": float(rng.choice([0, 1800, 3600])),
                    "count_watch": 1}
        if rng.random() < 0.03:
            row["program_id"] = "N/A"
        rows.append(row)
        if rng.random() < 0.05:
            rows.append(dict(row))  # an exact duplicate
    return pd.DataFrame(rows)


def reference_week(raw: pd.DataFrame, start: pd.Timestamp, watches: bool) -> list[dict]:
    """Usable rows, one at a time: the rules of docs/data.md written as plain Python."""
    seen, out = set(), []
    for row in raw.to_dict("records"):
        key = tuple(row.values())
        duplicate = key in seen
        seen.add(key)
        try:
            subsr, program = float(row["subsr_id"]), float(row["program_id"])
        except (TypeError, ValueError):
            continue
        when = pd.Timestamp(row["log_dt"])
        if not (start <= when < start + WEEK) or subsr not in USERS or program not in PROGRAMS:
            continue
        if watches and (row["disp_rtm_sec"] <= 0 or row["use_tms"] < 0):
            continue
        if duplicate:
            continue
        out.append({**row, "subsr_id": int(subsr), "program_id": int(program), "log_dt": when})
    return out


def reference_window(weeks: list[tuple[list[dict], list[dict]]]) -> dict[tuple[int, int], dict]:
    """The window's cleaned ratings, accumulated pair by pair, then capped as the original did."""
    pairs: dict[tuple[int, int], dict] = defaultdict(lambda: {"ratio": None, "watch": 0, "click": 0, "last": None})
    for watches, clicks in weeks:
        for r in watches:
            if r["e_bool"] == 0:
                p = pairs[(r["subsr_id"], r["program_id"])]
                ratio = min(max(r["use_tms"] / r["disp_rtm_sec"], 0.0), 1.0)
                p["ratio"] = ratio if p["ratio"] is None else max(p["ratio"], ratio)
                p["watch"] += 1
        for r in clicks:
            if r["e_bool"] == 0:
                p = pairs[(r["subsr_id"], r["program_id"])]
                p["click"] += 1
                p["last"] = r["log_dt"] if p["last"] is None else max(p["last"], r["log_dt"])

    def cap(values: list[float]) -> float:
        return float(pd.Series(values).quantile(0.95))

    click_cap = cap([p["click"] for p in pairs.values() if p["click"]])
    watch_cap = cap([p["watch"] for p in pairs.values() if p["watch"]])
    newest = max(p["last"] for p in pairs.values() if p["last"] is not None)
    days = {k: (newest - p["last"]).days for k, p in pairs.items() if p["last"] is not None}
    oldest = max(days.values())
    out = {}
    for key, p in pairs.items():
        out[key] = {
            "watch_tms_max": p["ratio"],
            "watch_cnt": min(p["watch"], watch_cap) if p["watch"] else None,
            "click_cnt": min(p["click"], click_cap) if p["click"] else None,
            "click_recency": oldest - days[key] if key in days else None,
            "watched": int(p["ratio"] is not None and p["ratio"] > 0),
        }
    return out


@pytest.fixture(scope="module")
def window():
    rng = np.random.default_rng(11)
    weeks = []
    for w in range(3):
        start = START + w * WEEK
        weeks.append((start, raw_week(rng, start, 300, True), raw_week(rng, start, 500, False)))
    return weeks


def test_vectorized_cleaning_equals_a_row_by_row_reference(window):
    stats, reference_rows = [], []
    for start, raw_w, raw_c in window:
        common = dict(week_start=start, week_end=start + WEEK, known_subscribers=np.array(USERS),
                      known_programs=np.array(PROGRAMS))
        w = validate_logs(raw_w, numeric_columns=WATCH_NUMERIC, check_runtime=True, **common)
        c = validate_logs(raw_c, numeric_columns=CLICK_NUMERIC, check_runtime=False, **common)
        ref_w, ref_c = reference_week(raw_w, start, True), reference_week(raw_c, start, False)
        assert len(w.rows) == len(ref_w) and len(c.rows) == len(ref_c)
        assert len(w.rows) + len(w.quarantined) == len(raw_w)  # nothing dropped silently
        stats.append(weekly_pair_stats(w.rows, c.rows).pairs)
        reference_rows.append((ref_w, ref_c))
    merged = merge_window(stats)
    reference = reference_window(reference_rows)
    assert len(merged) == len(reference)
    assert merged[["subsr_id", "program_id"]].apply(tuple, axis=1).tolist() == sorted(reference)  # sorted pairs
    for row in merged.itertuples(index=False):
        ref = reference[(row.subsr_id, row.program_id)]
        for column in ("watch_tms_max", "watch_cnt", "click_cnt", "click_recency"):
            got, want = getattr(row, column), ref[column]
            assert (want is None and math.isnan(got)) or got == pytest.approx(want), (row, column)
        assert row.watched == ref["watched"]
        assert (math.isnan(row.rating) and ref["watch_tms_max"] is None) or row.rating == pytest.approx(ref["watch_tms_max"])


def test_the_original_baseline_cleans_to_the_same_ratings_as_vodrec(window):
    """`--compare-original` must time the same work: its step 3 gives vodrec's pairs and ratings
    (the original did not clip ratios above 1; the window here has none in usable rows)."""
    watches, clicks, stats = [], [], []
    for start, raw_w, raw_c in window:
        common = dict(week_start=start, week_end=start + WEEK, known_subscribers=np.array(USERS),
                      known_programs=np.array(PROGRAMS))
        w = validate_logs(raw_w, numeric_columns=WATCH_NUMERIC, check_runtime=True, **common).rows
        c = validate_logs(raw_c, numeric_columns=CLICK_NUMERIC, check_runtime=False, **common).rows
        w = w.assign(use_tms=np.minimum(w["use_tms"], w["disp_rtm_sec"]))  # ratios <= 1 for both
        watches.append(w)
        clicks.append(c)
        stats.append(weekly_pair_stats(w, c).pairs)
    ours = merge_window(stats)
    theirs = original.clean(pd.concat(watches), pd.concat(clicks)).sort_values(["subsr_id", "program_id"])
    np.testing.assert_array_equal(theirs["subsr_id"], ours["subsr_id"])
    np.testing.assert_array_equal(theirs["program_id"], ours["program_id"])
    np.testing.assert_allclose(theirs["rating"], ours["rating"])
    assert (theirs["watched"].fillna(0).to_numpy() == ours["watched"].to_numpy()).all()


def test_bench_json_on_tiny_data_has_every_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VODREC_HOME", str(tmp_path))
    assert main(["bench", "--scale", "tiny", "--weeks", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == ["scale", "subscribers", "programs", "watch_rows", "click_rows", "stages", "total_s",
                            "peak_rss_mb", "recommend_subscribers_per_s"]
    assert list(result["stages"]) == list(STAGES)
    assert result["scale"] == "tiny" and result["subscribers"] == 500 and result["programs"] == 200
    assert result["watch_rows"] > 0 and result["click_rows"] > 0
    assert all(v >= 0 for v in result["stages"].values())
    assert result["total_s"] == pytest.approx(sum(result["stages"].values()), abs=0.01)
    assert result["peak_rss_mb"] > 0 and result["recommend_subscribers_per_s"] > 0
    assert (tmp_path / "bench" / "tiny-2w-seed0" / "source.db").exists()  # generated once, then reused
    record = json.loads((tmp_path / "bench" / "tiny-2w-seed0" / "result.json").read_text())
    cpu = record["details"]["stage_cpu_seconds"]
    assert list(cpu) == list(STAGES) and all(v >= 0 for v in cpu.values()) and sum(cpu.values()) > 0
    table = format_table(record["result"], record["details"])
    assert "CPU-s" in table and f"{cpu['train']:.2f}" in table
    # the timed week continues the previous week's model that the untimed preparation trained
    assert record["details"]["warm_start"] == "from 2023-08-07"
    # the weekly model's fit and the holdout protocol's, recorded by recorded_fit_seconds
    assert len(record["details"]["lightfm_fit_seconds"]) == 2 and min(record["details"]["lightfm_fit_seconds"]) > 0


def test_packed_key_reduction_equals_a_pandas_groupby_and_its_own_fallback():
    """merge_window's numpy reduction (one int64 key, stable sort, reduceat) against the groupby it
    replaced, with NaN ratios, NaT clicks and pairs repeated across weeks; ids too far apart to pack
    take the groupby path and give the same rows."""
    from vodrec_assets.recsys.window import _reduce_pairs

    rng = np.random.default_rng(3)
    frames = []
    for week in range(4):
        n = 200
        frame = pd.DataFrame({
            "subsr_id": rng.integers(60_000_001, 60_000_040, n), "program_id": rng.integers(100_001, 100_030, n),
            "watch_max_ratio": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
            "watch_cnt": rng.integers(0, 5, n), "click_cnt": rng.integers(0, 5, n),
            "last_click_dt": pd.Series(START + pd.to_timedelta(rng.integers(0, 86400 * 7 * (week + 1), n), unit="s"))
            .where(rng.random(n) > 0.3).astype("datetime64[ns]"),
        }).drop_duplicates(["subsr_id", "program_id"]).sort_values(["subsr_id", "program_id"], ignore_index=True)
        frames.append(frame)
    expected = pd.concat(frames, ignore_index=True).groupby(["subsr_id", "program_id"], sort=True).agg(
        watch_tms_max=("watch_max_ratio", "max"), watch_cnt=("watch_cnt", "sum"),
        click_cnt=("click_cnt", "sum"), last_click_dt=("last_click_dt", "max"),
    ).reset_index()
    pd.testing.assert_frame_equal(_reduce_pairs(frames), expected)
    far = [f.assign(subsr_id=f["subsr_id"] * 10**10, program_id=f["program_id"] * 10**12) for f in frames]
    back = _reduce_pairs(far).assign(subsr_id=lambda f: f["subsr_id"] // 10**10,  # spans' product >= 2**62
                                     program_id=lambda f: f["program_id"] // 10**12)
    pd.testing.assert_frame_equal(back, expected)
