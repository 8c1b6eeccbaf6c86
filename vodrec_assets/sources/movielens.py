"""`vodrec import-movielens DIR`: MovieLens-100K in the original's four source tables.

Each rating becomes one watch (`vods_sumut`) whose watch ratio grows with the rating
(use_tms = runtime * rating / 5) and one click (`contlog`) a minute before it; films become
`vodinfo` rows, users `userinfo` rows. Timestamps (Unix seconds) become naive Asia/Seoul local
times, as the source tables keep them. docs/data.md has the whole mapping.

The files are checked before anything is written: a missing file, a line with the wrong number of
fields, a non-integer id, a rating outside 1..5 or an id that the other files do not know raises
`MovieLensFormatError` naming the file (and the line).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from vodrec_assets.database import engine_for
from vodrec_assets import schema, settings
from vodrec_assets.sources import bulk

RUNTIME_SEC = 6000  # MovieLens has no runtimes: every film counts as 100 minutes
CLICK_BEFORE_WATCH_SEC = 60
ENCODING = "latin-1"  # u.item holds Latin-1 titles; the other files are ASCII, a subset
ITEM_FIXED_FIELDS = ["movie_id", "title", "release_date", "video_release_date", "imdb_url"]
# The first digit of a US ZIP code is its national area (USPS); Canadian postal codes start with a letter.
ZIP_AREAS = {
    "0": "New England", "1": "New York-Pennsylvania", "2": "Mid-Atlantic", "3": "Southeast", "4": "Great Lakes",
    "5": "Upper Midwest", "6": "Central", "7": "South Central", "8": "Mountain", "9": "Pacific",
}


class MovieLensFormatError(ValueError):
    """A MovieLens file is missing or does not have the expected format."""


@dataclass
class ImportSummary:
    directory: str
    url: str
    rows: dict[str, int]
    first_log_dt: str
    last_log_dt: str
    first_week: str  # the Monday of the first rating's week (set VODREC_START_DATE to it)
    weeks: int
    seconds: float
    database_bytes: int | None

    def to_dict(self) -> dict:
        return asdict(self)


def _read_lines(path: Path, sep: str, fields: list[str] | None) -> pd.DataFrame:
    """The file's non-blank lines split on `sep` (all text), with `line` = the 1-based line number."""
    if not path.is_file():
        raise MovieLensFormatError(f"{path}: file not found (MovieLens-100K needs u.data, u.item, u.genre, u.user)")
    lines = pd.Series(path.read_bytes().decode(ENCODING).splitlines(), dtype=object)
    numbers = pd.Series(np.arange(1, len(lines) + 1))
    keep = lines.str.strip() != ""
    lines, numbers = lines[keep].reset_index(drop=True), numbers[keep].reset_index(drop=True)
    if lines.empty:
        raise MovieLensFormatError(f"{path}: the file is empty")
    count = lines.str.count(re.escape(sep)) + 1
    expected = len(fields) if fields is not None else int(count.iloc[0])
    wrong = np.flatnonzero(count.to_numpy() != expected)
    if len(wrong):
        i = wrong[0]
        what = f" ({', '.join(fields)})" if fields is not None and len(fields) < 8 else ""
        raise MovieLensFormatError(
            f"{path} line {numbers[i]}: expected {expected} fields separated by {sep!r}{what}, "
            f"found {count[i]}: {lines[i][:80]!r}")
    frame = lines.str.split(sep, expand=True, regex=False)
    frame.columns = fields if fields is not None else [f"f{k}" for k in range(expected)]
    frame["line"] = numbers
    return frame


def _first_bad(path: Path, frame: pd.DataFrame, bad: np.ndarray, column: str, problem: str) -> None:
    where = np.flatnonzero(bad)
    if len(where):
        i = where[0]
        raise MovieLensFormatError(
            f"{path} line {frame['line'].iloc[i]}: {column} {problem}: {frame[column].iloc[i]!r}"
            + (f" ({len(where)} such lines)" if len(where) > 1 else ""))


def _integers(path: Path, frame: pd.DataFrame, column: str, lo: int | None = None, hi: int | None = None) -> np.ndarray:
    text = frame[column].str.strip()
    ok = text.str.fullmatch(r"-?\d+").fillna(False).to_numpy(bool)
    _first_bad(path, frame, ~ok, column, "is not an integer")
    values = text.astype(np.int64).to_numpy()
    if lo is not None or hi is not None:
        out = np.zeros(len(values), bool)
        if lo is not None:
            out |= values < lo
        if hi is not None:
            out |= values > hi
        bounds = f"between {lo} and {hi}" if lo is not None and hi is not None else f"at least {lo}"
        _first_bad(path, frame, out, column, f"is not {bounds}")
    return values


def _unique(path: Path, frame: pd.DataFrame, ids: np.ndarray, column: str) -> None:
    _first_bad(path, frame, pd.Series(ids).duplicated().to_numpy(), column, "repeats an earlier line's")


def _genres(directory: Path) -> list[str]:
    path = directory / "u.genre"
    frame = _read_lines(path, "|", ["name", "index"])
    index = _integers(path, frame, "index", 0)
    _first_bad(path, frame, index != np.arange(len(index)), "index", "is out of order (expected 0, 1, 2, ...)")
    return frame["name"].str.strip().tolist()


def _items(directory: Path, genres: list[str]) -> pd.DataFrame:
    path = directory / "u.item"
    fields = ITEM_FIXED_FIELDS + [f"genre_{k}" for k in range(len(genres))]
    frame = _read_lines(path, "|", fields)
    ids = _integers(path, frame, "movie_id", 1)
    _unique(path, frame, ids, "movie_id")
    flags = np.column_stack([_integers(path, frame, f"genre_{k}", 0, 1) for k in range(len(genres))]).astype(bool)
    text = frame["release_date"].str.strip()
    released = pd.to_datetime(text, format="%d-%b-%Y", errors="coerce")
    _first_bad(path, frame, (released.isna() & (text != "")).to_numpy(), "release_date", "is not a dd-Mon-yyyy date")
    # Genres as u.genre lists them, '|'-joined: the first listed genre is the main one.
    pieces = np.where(flags, np.array([g + "|" for g in genres], dtype=object)[None, :], "")
    joined = pd.DataFrame(pieces).sum(axis=1).str.rstrip("|")
    width = schema.vodinfo.c.program_genre.type.length
    too_long = joined.str.len() > width
    joined = joined.where(~too_long, joined.str[: width + 1].str.rsplit("|", n=1).str[0])  # drop trailing genres
    joined = joined.where(joined != "", "unknown")
    title = frame["title"].str.strip().str.slice(0, schema.vodinfo.c.program_name.type.length)
    return pd.DataFrame({
        "program_id": ids,
        "program_name": title.to_numpy(object),
        "program_genre": joined.to_numpy(object),
        "release_date": released,
    })


def _users(directory: Path) -> pd.DataFrame:
    path = directory / "u.user"
    frame = _read_lines(path, "|", ["user_id", "age", "gender", "occupation", "zip_code"])
    ids = _integers(path, frame, "user_id", 1)
    _unique(path, frame, ids, "user_id")
    age = _integers(path, frame, "age", 0, 130)
    gender = frame["gender"].str.strip().str.upper()
    _first_bad(path, frame, ~gender.isin(["M", "F"]).to_numpy(), "gender", "is not M or F")
    first = frame["zip_code"].str.strip().str[:1]
    region = first.map(ZIP_AREAS)
    region = region.where(region.notna(), np.where(first.str.isalpha().fillna(False), "Canada", "unknown"))
    return pd.DataFrame({"subsr_id": ids, "age_band": age_band(age), "gender": gender.to_numpy(object),
                         "region": region.to_numpy(object)})


def age_band(age: np.ndarray) -> np.ndarray:
    """'<20', '20s' ... '60s', '70+': the same bands as the synthetic userinfo."""
    decade = np.clip(np.asarray(age) // 10, 1, 7)
    labels = np.array(["", "<20", "20s", "30s", "40s", "50s", "60s", "70+"], dtype=object)
    return labels[decade]


def _ratings(directory: Path, item_ids: np.ndarray, user_ids: np.ndarray) -> pd.DataFrame:
    path = directory / "u.data"
    frame = _read_lines(path, "\t", ["user_id", "item_id", "rating", "timestamp"])
    user = _integers(path, frame, "user_id", 1)
    item = _integers(path, frame, "item_id", 1)
    rating = _integers(path, frame, "rating", 1, 5)
    ts = _integers(path, frame, "timestamp", 0)
    _first_bad(path, frame, ~np.isin(user, user_ids), "user_id", "is not in u.user")
    _first_bad(path, frame, ~np.isin(item, item_ids), "item_id", "is not in u.item")
    seoul = pd.to_datetime(ts, unit="s", utc=True).tz_convert(settings.TIMEZONE).tz_localize(None)
    out = pd.DataFrame({"subsr_id": user, "program_id": item, "rating": rating, "log_dt": seoul,
                        "line": frame["line"].to_numpy()})
    # Time order, as a log store receives rows; the line number makes ties deterministic.
    return out.sort_values(["log_dt", "line"], kind="stable", ignore_index=True)


def _text_datetimes(values: pd.Series) -> np.ndarray:
    text = values.dt.strftime(schema.SQL_DATETIME_FORMAT).to_numpy(object)
    text[values.isna().to_numpy()] = None
    return text


def read_movielens(directory: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """The four source tables' columns from a MovieLens-100K folder (validated, nothing written)."""
    folder = Path(directory)
    if not folder.is_dir():
        raise MovieLensFormatError(f"{folder}: no such directory (expected the MovieLens-100K folder ml-100k)")
    genres = _genres(folder)
    items = _items(folder, genres)
    users = _users(folder)
    ratings = _ratings(folder, items["program_id"].to_numpy(), users["subsr_id"].to_numpy())

    names = pd.Series(items["program_name"].to_numpy(), index=items["program_id"].to_numpy())
    n = len(ratings)
    watch_dt = ratings["log_dt"]
    click_dt = watch_dt - pd.Timedelta(seconds=CLICK_BEFORE_WATCH_SEC)
    program_names = names.loc[ratings["program_id"].to_numpy()].to_numpy(object)
    first_seen = ratings.groupby("subsr_id")["log_dt"].min()
    join = pd.Series(users["subsr_id"].map(first_seen))

    return {
        "userinfo": {
            "subsr_id": users["subsr_id"].to_numpy(),
            "age_band": np.asarray(users["age_band"], dtype=object),
            "gender": users["gender"].to_numpy(object),
            "region": users["region"].to_numpy(object),
            "join_dt": _text_datetimes(join),
            "churn_dt": np.full(len(users), None, dtype=object),
        },
        "vodinfo": {
            "program_id": items["program_id"].to_numpy(),
            "program_name": items["program_name"].to_numpy(object),
            "ct_cl": np.full(len(items), "movie", dtype=object),
            "program_genre": items["program_genre"].to_numpy(object),
            "release_date": _text_datetimes(items["release_date"]),
            "age_limit": np.full(len(items), None, dtype=object),  # MovieLens has no age rating
            "disp_rtm_sec": np.full(len(items), RUNTIME_SEC, dtype=np.int64),
            "episode_count": np.ones(len(items), dtype=np.int64),
            "e_bool": np.zeros(len(items), dtype=np.int64),
        },
        "vods_sumut": {
            "subsr_id": ratings["subsr_id"].to_numpy(),
            "program_id": ratings["program_id"].to_numpy(),
            "program_name": program_names,
            "episode_num": np.ones(n, dtype=np.int64),
            "log_dt": _text_datetimes(watch_dt),
            "use_tms": (RUNTIME_SEC * ratings["rating"].to_numpy() // 5).astype(np.int64),
            "disp_rtm_sec": np.full(n, RUNTIME_SEC, dtype=np.int64),
            "count_watch": np.ones(n, dtype=np.int64),
            "month": watch_dt.dt.month.to_numpy(np.int64),
            "e_bool": np.zeros(n, dtype=np.int64),
        },
        "contlog": {
            "subsr_id": ratings["subsr_id"].to_numpy(),
            "program_id": ratings["program_id"].to_numpy(),
            "program_name": program_names,
            "episode_num": np.ones(n, dtype=np.int64),
            "log_dt": _text_datetimes(click_dt),
            "month": click_dt.dt.month.to_numpy(np.int64),
            "e_bool": np.zeros(n, dtype=np.int64),
        },
    }


def import_movielens(directory: str | Path, url: str) -> ImportSummary:
    """Validate the MovieLens-100K files in `directory`, then (re)create the four source tables at `url`."""
    t0 = time.perf_counter()
    tables = read_movielens(directory)
    bulk.ensure_database(url)
    with bulk.BulkLoader(url) as loader:
        loader.reset_source_tables()
        for name in schema.SOURCE_TABLES:
            loader.write(name, tables[name])
        loader.create_log_indexes()
    engine = engine_for(url, "tool")
    try:
        size = bulk.database_bytes(engine)
    finally:
        engine.dispose()
    watch_dt = pd.to_datetime(pd.Series(tables["vods_sumut"]["log_dt"]), format=schema.SQL_DATETIME_FORMAT)
    first, last = watch_dt.min(), watch_dt.max()
    first_week = (first.normalize() - pd.Timedelta(days=first.weekday()))
    return ImportSummary(
        directory=str(Path(directory).resolve()),
        url=sa.make_url(url).render_as_string(hide_password=True),
        rows={name: len(next(iter(tables[name].values()))) for name in schema.SOURCE_TABLES},
        first_log_dt=first.strftime(schema.SQL_DATETIME_FORMAT),
        last_log_dt=last.strftime(schema.SQL_DATETIME_FORMAT),
        first_week=first_week.strftime("%Y-%m-%d"),
        weeks=int((last - first_week).days // 7 + 1),
        seconds=round(time.perf_counter() - t0, 2),
        database_bytes=size,
    )


def cli_import(args: argparse.Namespace) -> int:
    url = settings.source_url(args.source)
    try:
        summary = import_movielens(args.directory, url)
    except MovieLensFormatError as exc:
        raise SystemExit(f"vodrec import-movielens: {exc}") from None
    if getattr(args, "json", False):
        print(json.dumps(summary.to_dict(), indent=2))
        return 0
    r = summary.rows
    print(f"imported MovieLens from {summary.directory} into {summary.url} in {summary.seconds:.1f}s")
    print(f"  userinfo   {r['userinfo']:>9,} subscribers")
    print(f"  vodinfo    {r['vodinfo']:>9,} programs")
    print(f"  vods_sumut {r['vods_sumut']:>9,} watch rows (one per rating)")
    print(f"  contlog    {r['contlog']:>9,} click rows (one a minute before each watch)")
    print(f"  log_dt     {summary.first_log_dt} .. {summary.last_log_dt} Asia/Seoul: {summary.weeks} weeks")
    if summary.database_bytes is not None:
        print(f"  database   {summary.database_bytes / 1e6:,.1f} MB")
    print(f"  the weekly partitions must start on that data's first Monday: VODREC_START_DATE={summary.first_week}")
    return 0
