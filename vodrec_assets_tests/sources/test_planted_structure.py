"""The effects the generator plants are in the data (tiny scale, 6 weeks, no dirty rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vodrec_assets.sources.synthetic import build_world

START = pd.Timestamp("2023-08-07")


@pytest.fixture(scope="module")
def data(tiny_clean):
    watches = tiny_clean.frame("SELECT subsr_id, program_id, episode_num, log_dt, use_tms, disp_rtm_sec, e_bool "
                               "FROM vods_sumut")
    watches["dt"] = pd.to_datetime(watches["log_dt"], format="%Y-%m-%d %H:%M:%S")
    watches["week"] = (watches["dt"] - START).dt.days // 7
    watches["ratio"] = watches["use_tms"] / watches["disp_rtm_sec"]
    clicks = tiny_clean.frame("SELECT subsr_id, program_id, log_dt FROM contlog")
    clicks["dt"] = pd.to_datetime(clicks["log_dt"], format="%Y-%m-%d %H:%M:%S")
    programs = tiny_clean.frame("SELECT * FROM vodinfo")
    users = tiny_clean.frame("SELECT * FROM userinfo")
    world = build_world("tiny", weeks=6, start="2023-08-07", seed=0)
    return watches, clicks, programs, users, world


def test_program_popularity_is_long_tailed(data):
    watches, _, programs, _, _ = data
    counts = watches["program_id"].value_counts()
    top = counts.iloc[: len(programs) // 10].sum() / counts.sum()
    assert top > 0.35, f"top 10% of programs take only {top:.0%} of watches"
    assert len(counts) > 0.5 * len(programs), "the tail is missing: most programs are never watched"


def test_watch_ratio_is_higher_on_the_genres_a_subscriber_likes(data):
    watches, _, _, _, world = data
    sub = (watches["subsr_id"] - world.subsr_id[0]).to_numpy()
    prog = (watches["program_id"] - world.program_id[0]).to_numpy()
    assert (world.subsr_id[sub] == watches["subsr_id"]).all() and (world.program_id[prog] == watches["program_id"]).all()
    liked = (world.liked_genres(2)[sub] == world.program_genre[prog][:, None]).any(axis=1)
    per_user = watches.assign(liked=liked).groupby(["subsr_id", "liked"])["ratio"].mean().unstack().dropna()
    gap = per_user[True] - per_user[False]
    assert len(per_user) > 100
    assert gap.mean() > 0.05, f"mean ratio gap liked - other genres = {gap.mean():.3f}"
    assert (gap > 0).mean() > 0.6


def test_watch_ratio_stays_in_zero_one(data):
    watches = data[0]
    assert watches["ratio"].between(0, 1, inclusive="right").all()
    assert 0.4 < watches["ratio"].mean() < 0.9


def test_next_weeks_new_programs_follow_this_history_not_just_popularity(data):
    """A genre-profile recommender (a stand-in for a collaborative model) beats popularity on the
    programs subscribers newly watch in the last week, from the weeks before."""
    watches, _, programs, _, _ = data
    last = watches["week"].max()
    history, target = watches[watches["week"] < last], watches[watches["week"] == last]
    seen = history[["subsr_id", "program_id"]].drop_duplicates()
    new = target.merge(seen, how="left", indicator=True).query("_merge == 'left_only'")
    catalog = programs.set_index("program_id")
    cell = catalog["ct_cl"] + "/" + catalog["program_genre"]
    popularity = history["program_id"].value_counts()
    within_cell = popularity / popularity.groupby(cell[popularity.index].to_numpy()).transform("sum")
    profile = pd.crosstab(history["subsr_id"], cell[history["program_id"]].to_numpy(), normalize="index")
    hits = {"popularity": 0, "genre_profile": 0}
    users = np.intersect1d(new["subsr_id"].unique(), profile.index)
    seen_by = seen.groupby("subsr_id")["program_id"].agg(set)
    wanted = new.groupby("subsr_id")["program_id"].agg(set)
    for user in users:  # a few hundred users; clarity over speed in a test
        candidates = popularity.index[~popularity.index.isin(seen_by[user])]
        by_pop = candidates[:10]
        score = profile.loc[user].reindex(cell[candidates].to_numpy()).fillna(0).to_numpy() * within_cell[candidates].to_numpy()
        by_profile = candidates[np.argsort(-score, kind="stable")[:10]]
        hits["popularity"] += len(wanted[user] & set(by_pop))
        hits["genre_profile"] += len(wanted[user] & set(by_profile))
    assert len(users) > 100
    assert hits["genre_profile"] > 1.3 * hits["popularity"] > 0, hits


def test_clicks_precede_most_watches_and_some_are_browse_only(data):
    watches, clicks, _, _, _ = data
    pairs = watches.reset_index().merge(clicks, on=["subsr_id", "program_id"], suffixes=("", "_click"))
    before = pairs[(pairs["dt_click"] <= pairs["dt"]) & (pairs["dt_click"] > pairs["dt"] - pd.Timedelta(hours=12))]
    assert before["index"].nunique() / len(watches) > 0.8
    c = clicks.reset_index().merge(watches, on=["subsr_id", "program_id"], suffixes=("", "_watch"))
    followed = c[(c["dt_watch"] >= c["dt"]) & (c["dt_watch"] < c["dt"] + pd.Timedelta(hours=12))]["index"].nunique()
    # ~0.9 clicks per sitting (1.6 rows on average) + browse clicks up to ~2 clicks per watch row
    assert 0.5 < 1 - followed / len(clicks) < 0.9, "browse-only clicks should be about two in three"


def test_evening_and_weekend_peaks(data):
    dt = data[0]["dt"]
    evening, night = dt.dt.hour.between(19, 23).mean(), dt.dt.hour.between(2, 6).mean()
    assert evening > 5 * night
    weekend_per_day = (dt.dt.day_of_week >= 5).mean() / 2
    weekday_per_day = (dt.dt.day_of_week < 5).mean() / 5
    assert weekend_per_day > 1.2 * weekday_per_day


def test_runtimes_and_episodes_by_content_class(data):
    watches, _, programs, _, _ = data
    runtime = programs.groupby("ct_cl")["disp_rtm_sec"].median()
    assert runtime["movie"] > runtime["series"] > runtime["kids"]
    assert set(programs["ct_cl"]) >= {"movie", "series", "kids", "docu", "entertainment"}
    rows = watches.merge(programs[["program_id", "ct_cl", "episode_count", "disp_rtm_sec"]], on="program_id",
                         suffixes=("", "_catalog"))
    assert (rows["disp_rtm_sec"] == rows["disp_rtm_sec_catalog"]).all()
    assert rows["episode_num"].between(1, rows["episode_count"]).all()
    assert (rows.loc[rows["ct_cl"] == "movie", "episode_num"] == 1).all()
    assert (rows.loc[rows["ct_cl"] == "series", "episode_num"] > 1).mean() > 0.3


def test_releases_joins_and_churns_bound_the_logs(data):
    watches, clicks, programs, users, _ = data
    released = pd.to_datetime(programs.set_index("program_id")["release_date"])
    assert (released < START).mean() > 0.6
    in_range = released[(released >= START) & (released < START + pd.Timedelta(weeks=6))]
    assert in_range.dt.to_period("W").nunique() >= 4, "new programs should arrive week after week"
    join = pd.to_datetime(users.set_index("subsr_id")["join_dt"])
    churn = pd.to_datetime(users.set_index("subsr_id")["churn_dt"])
    assert (join >= START).sum() > 10 and churn.notna().sum() > 10
    for logs in (watches, clicks):
        assert (logs["dt"] >= released[logs["program_id"]].to_numpy()).all()
        assert (logs["dt"] >= join[logs["subsr_id"]].to_numpy()).all()
        churned = churn[logs["subsr_id"]].to_numpy()
        assert not (logs["dt"].to_numpy() >= churned).any()


def test_excluded_rows_and_programs(data):
    watches, _, programs, _, _ = data
    assert 0.01 < watches["e_bool"].mean() < 0.035
    excluded = programs.loc[programs["e_bool"] == 1, "program_id"]
    assert len(excluded) >= 1
    on_excluded = watches[watches["program_id"].isin(excluded)]
    assert (on_excluded["e_bool"] == 1).all()


def test_userinfo_attributes_follow_tastes(data):
    watches, _, programs, users, _ = data
    rows = watches.merge(programs[["program_id", "ct_cl"]], on="program_id").merge(users, on="subsr_id")
    kids = rows.assign(kids=rows["ct_cl"] == "kids").groupby("age_band")["kids"].mean()
    parents = kids.reindex(["30s", "40s"]).mean()
    others = kids.reindex(["<20", "20s", "60s", "70+"]).mean()
    assert parents > 2 * others, kids.to_dict()
    assert set(users["gender"]) == {"M", "F"} and users["region"].nunique() >= 8
    assert set(programs["age_limit"]) <= {0, 12, 15, 19}
    assert (programs.loc[programs["ct_cl"] == "kids", "age_limit"] == 0).all()
