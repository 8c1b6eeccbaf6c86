"""The original's cleaning, made decomposable and vectorized: the public names of the cleaning step.

A week's raw rows are validated once (bad rows quarantined with a reason, never dropped silently:
`validation`) and reduced to per-(subscriber, program) statistics (`week_stats`). A lookback window is
then a merge of weekly statistics, with the original's caps and recency applied after it (`window`).
The rules, columns and constants they share are in `cleaning_rules`.
"""

from vodrec_assets.recsys.cleaning_rules import (  # noqa: F401 - re-exported
    CAP_QUANTILE, CATALOG_NUMERIC, CLICK_COLUMNS, CLICK_NUMERIC, CLICK_OTHER_NUMERIC, ID_COLUMNS, PAIR_STATS_COLUMNS,
    RATING_COLUMNS, REASONS, RULES, WATCH_COLUMNS, WATCH_NUMERIC, WATCH_OTHER_NUMERIC,
)
from vodrec_assets.recsys.validation import ValidatedLogs, validate_logs, validate_reference  # noqa: F401
from vodrec_assets.recsys.week_stats import WeekStats, weekly_pair_stats  # noqa: F401
from vodrec_assets.recsys.window import (  # noqa: F401
    CHUNK_ROWS, ROW_GROUP_ROWS, WindowSummary, merge_window, reduce_window_ranges, write_window_ratings,
)
