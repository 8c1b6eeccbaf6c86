"""The lookback window: the weeks' pair statistics merged (best watch ratio = max of maxima, counts = sums,
latest click = latest of latests), then the original's 95th-percentile caps, click recency and rating.

`merge_window` does the merge in memory (the reference); `write_window_ratings` gives the same table
range of subscribers by range, with memory bounded by the range size rather than the window's size.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vodrec_assets.recsys.cleaning_rules import CAP_QUANTILE, PAIR_STATS_COLUMNS, RATING_COLUMNS
from vodrec_assets.recsys.week_stats import pair_packing, key_runs

def _cap_at_quantile(values: pd.Series, q: float = CAP_QUANTILE) -> pd.Series:
    present = values.dropna()
    if present.empty:
        return values
    cap = present.quantile(q)
    return values.where(~(values > cap), cap)


def _reduce_pairs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The weeks' statistics reduced to one row per pair, sorted by (subsr_id, program_id): best ratio
    (NaN when never watched), summed counts, latest click (NaT when never clicked)."""
    return pd.DataFrame(_reduce_columns(lambda name, dtype: np.concatenate([f[name].to_numpy(dtype) for f in frames])))


def _reduce_columns(column: Callable[[str, str], np.ndarray]) -> dict[str, np.ndarray]:
    """`_reduce_pairs` of the weekly rows whose columns `column(name, dtype)` gives (weeks concatenated),
    as arrays named like the columns of `merge_window`'s merge.

    Both ids are packed into one int64 key; a stable sort of the key (the weeks are already sorted
    runs, which the sort exploits) and `reduceat` over the runs of equal keys do in numpy what a pandas
    groupby on two columns does with far more copying (docs/performance.md). Equal to
    `groupby(["subsr_id", "program_id"]).agg(max, sum, sum, max)`; ids too far apart to pack fall back
    to that groupby."""
    subsr = column("subsr_id", "int64")
    program = column("program_id", "int64")
    packing = pair_packing(subsr, program)
    if packing is None:
        weekly = pd.DataFrame({"subsr_id": subsr, "program_id": program,
                               **{name: column(name, dtype) for name, dtype in _STAT_DTYPES.items()}})
        merged = weekly.groupby(["subsr_id", "program_id"], sort=True).agg(
            watch_tms_max=("watch_max_ratio", "max"), watch_cnt=("watch_cnt", "sum"),
            click_cnt=("click_cnt", "sum"), last_click_dt=("last_click_dt", "max"),
        ).reset_index()
        return {name: merged[name].to_numpy() for name in merged.columns}
    s_lo, p_lo, span = packing
    key = (subsr - s_lo) * span + (program - p_lo)
    del subsr, program
    order, starts, key = key_runs(key, kind="stable")

    def ordered(name: str) -> np.ndarray:
        return column(name, _STAT_DTYPES[name])[order]

    last = ordered("last_click_dt").view(np.int64)  # NaT is the smallest int64
    return {
        "subsr_id": key // span + s_lo,
        "program_id": key % span + p_lo,
        "watch_tms_max": np.fmax.reduceat(ordered("watch_max_ratio"), starts),  # fmax skips NaN
        "watch_cnt": np.add.reduceat(ordered("watch_cnt"), starts),
        "click_cnt": np.add.reduceat(ordered("click_cnt"), starts),
        "last_click_dt": np.maximum.reduceat(last, starts).view("datetime64[ns]"),
    }


_STAT_DTYPES = {"watch_max_ratio": "float64", "watch_cnt": "int64", "click_cnt": "int64",
                "last_click_dt": "datetime64[ns]"}


def _empty_ratings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in RATING_COLUMNS}).astype(
        {"subsr_id": "int64", "program_id": "int64", "watched": "int8"}
    )


def merge_window(weekly: list[pd.DataFrame]) -> pd.DataFrame:
    """The cleaned ratings of a lookback window from its weeks' pair statistics, all in memory: the
    reference that `write_window_ratings` must equal (tests), fine for small windows."""
    frames = [f for f in weekly if len(f)]
    if not frames:
        return _empty_ratings()
    merged = _reduce_pairs(frames)
    # As in the original: pairs without a click or a watch have no count (NaN), not zero.
    merged["click_cnt"] = _cap_at_quantile(merged["click_cnt"].where(merged["click_cnt"] > 0).astype("float64"))
    merged["watch_cnt"] = _cap_at_quantile(merged["watch_cnt"].where(merged["watch_cnt"] > 0).astype("float64"))
    newest = merged["last_click_dt"].max()
    recency_days = (newest - merged["last_click_dt"]).dt.days.astype("float64")
    merged["click_recency"] = recency_days.max() - recency_days  # larger = newer
    merged["rating"] = merged["watch_tms_max"]
    merged["watched"] = (merged["rating"] > 0).astype("int8")
    return merged[RATING_COLUMNS]


# --------------------------------------------------------------------------- the window, range by range

CHUNK_ROWS = 1_000_000  # weekly pair rows reduced at a time (all weeks together): small ranges stay in cache
ROW_GROUP_ROWS = 1024 * 1024  # rows of a written row group: pyarrow's default, as `to_parquet` writes them
_DAY_NS = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min  # NaT viewed as int64


@dataclass
class WindowSummary:
    """What the cleaned_ratings asset reports about the table `write_window_ratings` wrote."""

    pairs: int
    watched_pairs: int
    click_only_pairs: int
    subscribers: int
    programs: int
    mean_rating: float


class _Prefetched:
    """The items of an iterator, the next one read ahead in `pool` (one worker) while the caller works
    on this one: Arrow decodes Parquet outside the GIL, so reading overlaps numpy's sorting. Without a
    pool, read when asked."""

    def __init__(self, items: Iterator, pool: ThreadPoolExecutor | None):
        self._items, self._pool = items, pool
        self._ahead: Future | None = pool.submit(next, items, None) if pool is not None else None

    def take(self):
        """The next item, None when there is none left."""
        if self._ahead is None:
            return next(self._items, None)
        item = self._ahead.result()
        self._ahead = self._pool.submit(next, self._items, None) if item is not None else None
        return item


class _WeekReader:
    """One week's pair statistics (a Parquet file sorted by subsr_id) read batch by batch; rows are
    handed out by subscriber bound, so that a subscriber's rows are never split between ranges."""

    def __init__(self, source: pq.ParquetFile, batch_rows: int, pool: ThreadPoolExecutor | None = None):
        self._batches = _Prefetched(source.iter_batches(batch_size=batch_rows, columns=PAIR_STATS_COLUMNS), pool)
        self._parts: list[pa.RecordBatch] = []
        self.ids = np.empty(0, np.int64)  # subsr_id of the buffered rows, sorted
        self.done = False

    def fill(self, rows: int) -> bool:
        """Buffer at least `rows` rows spanning two subscribers or more (or the rest of the week);
        true when rows are buffered."""
        while not self.done and (len(self.ids) < rows or self.ids[0] == self.ids[-1]):
            batch = self._batches.take()
            if batch is None:
                self.done = True
                break
            ids = batch.column(0).to_numpy().astype(np.int64, copy=False)
            if len(ids) and ((len(self.ids) and ids[0] < self.ids[-1]) or (ids[1:] < ids[:-1]).any()):
                raise ValueError("weekly pair statistics are not sorted by subsr_id")
            self._parts.append(batch)
            self.ids = np.concatenate([self.ids, ids])
        return len(self.ids) > 0

    def take_below(self, bound: int | None) -> pa.Table | None:
        """The buffered rows of subscribers below `bound` (all of them when None), removed from the buffer."""
        n = len(self.ids) if bound is None else int(np.searchsorted(self.ids, bound, side="left"))
        if n == 0:
            return None
        table = pa.Table.from_batches(self._parts)
        self._parts = table.slice(n).to_batches()
        self.ids = self.ids[n:]
        return table.slice(0, n)


def reduce_window_ranges(sources: list[pq.ParquetFile], chunk_rows: int = CHUNK_ROWS,
                         pool: ThreadPoolExecutor | None = None) -> Iterator[dict[str, np.ndarray]]:
    """The window's pairs as `_reduce_pairs` gives them (as arrays), one range of subscribers at a time,
    in order: concatenated, the ranges are `_reduce_pairs` of the whole window. Each range reduces about
    `chunk_rows` weekly rows: from each week, less than twice its share `chunk_rows / weeks` (more only
    when one subscriber alone has more rows in a week)."""
    per_week = max(1, chunk_rows // max(1, len(sources)))
    readers = [_WeekReader(s, per_week, pool) for s in sources]
    while live := [r for r in readers if r.fill(per_week)]:
        # Every open week holds all its rows below its last buffered subscriber: the range ends there.
        bound = min((int(r.ids[-1]) for r in live if not r.done), default=None)
        weekly = pa.concat_tables([t for t in (r.take_below(bound) for r in live) if t is not None],
                                  promote_options="permissive")  # weeks written with other type widths
        yield _reduce_columns(lambda name, dtype: weekly.column(name).to_numpy().astype(dtype, copy=False))


def _quantile_of_counts(histogram: np.ndarray, q: float = CAP_QUANTILE) -> float | None:
    """`pd.Series(values, dtype=float).quantile(q)` (linear interpolation) of the values a histogram
    counts, None when it counts none: numpy's virtual index (n - 1) * q, its two neighbouring order
    statistics found in the cumulative counts, and numpy's own interpolation between them."""
    n = int(histogram.sum())
    if n == 0:
        return None
    virtual = np.float64(n - 1) * np.float64(q)
    below = np.floor(virtual)
    cumulative = np.cumsum(histogram)
    lo, hi = int(below), min(int(below) + 1, n - 1)
    pair = np.searchsorted(cumulative, [lo, hi], side="right").astype(np.float64)
    return float(np.quantile(pair, virtual - below))


def _narrow_ids(values: np.ndarray) -> np.ndarray:
    """int32 when every id fits (kept between the passes), int64 otherwise."""
    if len(values) and np.iinfo(np.int32).min <= values.min() and values.max() <= np.iinfo(np.int32).max:
        return values.astype(np.int32)
    return values.astype(np.int64)


def _narrow_counts(values: np.ndarray) -> np.ndarray:
    top = int(values.max()) if len(values) else 0
    return values.astype(np.uint16 if top <= np.iinfo(np.uint16).max else np.int64)


def _add_histogram(histogram: np.ndarray, counts: np.ndarray) -> np.ndarray:
    part = np.bincount(counts[counts > 0].astype(np.int64))
    if len(part) > len(histogram):
        histogram, part = part, histogram
    histogram[: len(part)] += part
    return histogram


def _newest_click(sources: list[pq.ParquetFile]) -> int | None:
    """The window's newest click (ns; None when no click): each row group's maximum of last_click_dt from
    its Parquet statistics, or from the column itself where a row group has none."""
    newest = None
    for source in sources:
        meta = source.metadata
        for group in range(meta.num_row_groups):
            chunk = meta.row_group(group)
            stats = next(chunk.column(i) for i in range(chunk.num_columns)
                         if chunk.column(i).path_in_schema == "last_click_dt").statistics
            if stats is not None and stats.has_min_max:
                top = pd.Timestamp(stats.max).as_unit("ns").value
            else:
                column = source.read_row_group(group, columns=["last_click_dt"]).column(0)
                top = pc.max(column.cast(pa.timestamp("ns"))).value
            if top is not None:
                newest = top if newest is None else max(newest, top)
    return newest


def write_window_ratings(sources: list[pq.ParquetFile], sink: BinaryIO, chunk_rows: int = CHUNK_ROWS,
                         row_group_rows: int = ROW_GROUP_ROWS) -> WindowSummary:
    """`merge_window` of the weeks' pair statistics (each a Parquet file sorted by subsr_id, as
    `weekly_pair_stats` writes them) written to `sink` as Parquet: the same rows, order, columns,
    dtypes and values, with memory bounded by `chunk_rows` instead of the window.

    Pass 1 reduces the window range of subscribers by range (`reduce_window_ranges`) into compact
    arrays (int32 ids where they fit, uint16 counts, click recency as whole days), with a histogram
    of each count: the caps are exact quantiles of integers. The newest click comes first, from the
    Parquet statistics. Pass 2 applies the caps and the recency to consecutive ranges, a Parquet row
    group at a time. Reading and writing Parquet run in a second thread, overlapping the numpy work
    (Arrow releases the GIL): the machine's second core."""
    with ThreadPoolExecutor(1, thread_name_prefix="window-io") as io_pool:
        return _write_window_ratings(sources, sink, chunk_rows, row_group_rows, io_pool)


def _write_window_ratings(sources: list[pq.ParquetFile], sink: BinaryIO, chunk_rows: int, row_group_rows: int,
                          io_pool: ThreadPoolExecutor) -> WindowSummary:
    """`write_window_ratings` with its reads and writes in `io_pool`'s thread, overlapping the numpy work."""
    newest = _newest_click(sources)
    chunks: list[dict[str, np.ndarray]] = []
    histograms = {"click_cnt": np.zeros(1, np.int64), "watch_cnt": np.zeros(1, np.int64)}
    oldest_days = -1
    programs: list[np.ndarray] = []
    watched = click_only = subscribers = 0
    rating_sum = 0.0
    for merged in reduce_window_ranges(sources, chunk_rows, io_pool):
        last = merged["last_click_dt"].view(np.int64)
        days = np.full(len(last), -1, np.int32)
        clicked = last != _NAT
        if newest is not None:
            days[clicked] = (newest - last[clicked]) // _DAY_NS
        oldest_days = max(oldest_days, int(days.max()))
        chunk = {"subsr_id": _narrow_ids(merged["subsr_id"]), "program_id": _narrow_ids(merged["program_id"]),
                 "watch_tms_max": merged["watch_tms_max"].astype(np.float64, copy=False), "days": days}
        for name in histograms:
            counts = merged[name].astype(np.int64, copy=False)
            histograms[name] = _add_histogram(histograms[name], counts)
            chunk[name] = _narrow_counts(counts)
        del merged, last, clicked
        rating = chunk["watch_tms_max"]
        seen = rating > 0
        watched += int(seen.sum())
        click_only += int(np.isnan(rating).sum())
        rating_sum += float(rating[seen].sum())
        subscribers += int(np.count_nonzero(np.diff(chunk["subsr_id"]))) + 1  # ranges never share one
        programs.append(pd.unique(chunk["program_id"]))
        chunks.append(chunk)
    caps = {name: _quantile_of_counts(h) for name, h in histograms.items()}

    pairs = sum(len(c["days"]) for c in chunks)
    if not chunks:
        _empty_ratings().to_parquet(sink, index=False, engine="pyarrow", compression="zstd")
    # The schema (and pandas metadata) `merge_window(...).to_parquet(index=False)` writes.
    schema = pa.Schema.from_pandas(_empty_ratings(), preserve_index=False)
    writer = None
    pending: Future | None = None
    while chunks:
        group = [chunks.pop(0)]  # consecutive ranges up to a row group's rows, freed once written
        while chunks and sum(len(c["days"]) for c in group) + len(chunks[0]["days"]) <= row_group_rows:
            group.append(chunks.pop(0))
        columns = _finish_chunk({name: np.concatenate([c[name] for c in group]) for name in group[0]}, caps, oldest_days)
        del group
        # from_pandas: NaN is stored as null, as pandas' own conversion does.
        table = pa.Table.from_arrays([pa.array(columns[c], from_pandas=True) for c in RATING_COLUMNS], schema=schema)
        if writer is None:
            writer = pq.ParquetWriter(sink, schema, compression="zstd")
        if pending is not None:
            pending.result()  # one row group in flight: memory stays bounded
        pending = io_pool.submit(writer.write_table, table, row_group_size=row_group_rows)
        del columns, table
    if pending is not None:
        pending.result()
    if writer is not None:
        writer.close()
    return WindowSummary(
        pairs=pairs, watched_pairs=watched, click_only_pairs=click_only, subscribers=subscribers,
        programs=len(np.unique(np.concatenate(programs))) if programs else 0,
        mean_rating=rating_sum / watched if watched else 0.0,
    )


def _finish_chunk(chunk: dict[str, np.ndarray], caps: dict[str, float | None], oldest_days: int) -> dict[str, np.ndarray]:
    """A range's rows as `merge_window` finishes them: counts of 0 become NaN then are capped,
    recency = the window's oldest click in days minus the pair's (NaN without a click)."""
    out: dict[str, np.ndarray] = {"subsr_id": chunk["subsr_id"].astype(np.int64),
                                  "program_id": chunk["program_id"].astype(np.int64)}
    for name in ("click_cnt", "watch_cnt"):
        values = chunk[name].astype(np.float64)
        values[values == 0] = np.nan
        out[name] = values if caps[name] is None else np.minimum(values, caps[name])  # NaN stays NaN
    days = chunk["days"]
    out["click_recency"] = np.where(days >= 0, np.float64(oldest_days) - days, np.nan)
    out["watch_tms_max"] = chunk["watch_tms_max"]
    out["rating"] = chunk["watch_tms_max"]
    out["watched"] = (chunk["watch_tms_max"] > 0).astype(np.int8)
    return out
