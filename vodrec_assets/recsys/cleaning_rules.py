"""The cleaning step's facts: the raw tables' columns, the quarantine rules and their order, the caps."""

from __future__ import annotations

from vodrec_assets.schema import ID_COLUMNS  # noqa: F401 - the id columns, named in schema.py

WATCH_COLUMNS = ["subsr_id", "program_id", "program_name", "episode_num", "log_dt", "use_tms",
                 "disp_rtm_sec", "count_watch", "month", "e_bool"]
CLICK_COLUMNS = ["subsr_id", "program_id", "program_name", "episode_num", "log_dt", "month", "e_bool"]
WATCH_NUMERIC = ["subsr_id", "program_id", "use_tms", "disp_rtm_sec", "e_bool"]
CLICK_NUMERIC = ["subsr_id", "program_id", "e_bool"]
# Numeric columns the week's statistics do not use: a value there must still be a finite number or NULL.
WATCH_OTHER_NUMERIC = ["episode_num", "count_watch", "month"]
CLICK_OTHER_NUMERIC = ["episode_num", "month"]
CATALOG_NUMERIC = ["age_limit", "disp_rtm_sec", "episode_count", "e_bool"]

PAIR_STATS_COLUMNS = ["subsr_id", "program_id", "watch_max_ratio", "watch_cnt", "click_cnt", "last_click_dt"]
RATING_COLUMNS = ["subsr_id", "program_id", "click_cnt", "click_recency", "watch_tms_max", "watch_cnt",
                  "rating", "watched"]
CAP_QUANTILE = 0.95

# The quarantine rules, in the order they are tested: a row gets the first that applies. One row of this
# table is one predicate over a row's raw values (docs/reliability.md has the same table).
RULES = {
    "null_id": "subsr_id or program_id is NULL",
    "non_numeric": "a numeric column holds text that is no number ('N/A', '1,234', 'STB-ERR')",
    "non_finite": "a numeric column holds an infinity or NaN ('inf', 'Infinity', '-inf', 'NaN', '1e999')",
    "out_of_range": "an id outside signed 64-bit integers (-2^63 .. 2^63 - 1), or a float id beyond 2^53 (no single integer)",
    "fractional_id": "an id that is a number but not a whole one (12.5)",
    "null_value": "use_tms, disp_rtm_sec, e_bool or log_dt is NULL",
    "unparsable_log_dt": "log_dt is no datetime ('2023-08-09 24:60:60'); zoned values are converted to Seoul time first",
    "log_dt_outside_week": "log_dt (in Seoul time) is outside the week it was read for",
    "bad_e_bool": "e_bool is neither 0 nor 1",
    "unknown_subscriber": "subsr_id not in userinfo as of the week's end",
    "unknown_program": "program_id not in vodinfo as of the week's end",
    "nonpositive_runtime": "disp_rtm_sec <= 0 (watch logs)",
    "negative_use_tms": "use_tms < 0 (watch logs)",
    "duplicate": "an exact copy of an earlier row (the first is kept)",
    "duplicate_id": "a catalogue or subscriber id repeated (the first row is kept)",
}
REASONS = tuple(RULES)
