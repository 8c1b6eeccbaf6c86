"""The latent model behind the synthetic set-top-box logs: who the subscribers are, what they like,
and what the catalogue holds. Built once per `generate` call from the seed; the weekly log
generator (`synthetic_logs`) only samples from it, so tests can read the planted tastes here.

Times are seconds relative to the first Monday 00:00 (naive Asia/Seoul), so a week is
`[7 * 86400 * k, 7 * 86400 * (k + 1))`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86_400
WEEK = 7 * DAY

# Content classes (ct_cl): share of the catalogue, genres with their weight inside the class,
# runtime in minutes (mean, sd, min, max) and the mean episodes watched in one sitting.
CLASSES = ("movie", "series", "kids", "docu", "entertainment", "sports")
CLASS_CATALOG_SHARE = np.array([0.35, 0.25, 0.12, 0.10, 0.13, 0.05])
CLASS_GENRES: dict[str, dict[str, float]] = {
    "movie": {"drama": 3, "comedy": 2, "action": 2.5, "thriller": 1.5, "romance": 1.5, "horror": 1, "sf": 1,
              "animation": 1},
    "series": {"drama": 3, "romance": 2, "comedy": 1, "thriller": 1.5, "period": 1, "action": 1},
    "kids": {"animation": 3, "education": 1.5, "family": 1.5},
    "docu": {"nature": 2, "history": 1.5, "science": 1.5, "travel": 1},
    "entertainment": {"variety": 3, "music": 1.5, "reality": 1.5, "talk": 1},
    "sports": {"football": 1.5, "baseball": 2, "golf": 1},
}
CLASS_RUNTIME_MIN = {
    "movie": (112, 18, 75, 180), "series": (62, 8, 40, 90), "kids": (15, 6, 5, 30),
    "docu": (50, 10, 25, 90), "entertainment": (85, 15, 50, 120), "sports": (120, 30, 60, 200),
}
CLASS_BINGE_MEAN = {"movie": 1.0, "series": 2.2, "kids": 2.6, "docu": 1.3, "entertainment": 1.4, "sports": 1.0}
GENRES = tuple(dict.fromkeys(g for c in CLASSES for g in CLASS_GENRES[c]))

# Subscriber segments (households). Each has a class prior, favourite genres and an age profile;
# the segment itself is not written anywhere, only its traces (age_band, what they watch).
SEGMENTS = ("family", "young", "adult", "senior")
SEGMENT_SHARE = np.array([0.30, 0.25, 0.30, 0.15])
#                     movie series kids docu  ent  sports
SEGMENT_CLASS_PRIOR = np.array([
    [0.20, 0.15, 0.45, 0.07, 0.10, 0.03],  # family: children in the household
    [0.35, 0.25, 0.03, 0.04, 0.25, 0.08],  # young
    [0.30, 0.35, 0.03, 0.10, 0.12, 0.10],  # adult
    [0.15, 0.30, 0.02, 0.30, 0.15, 0.08],  # senior
])
SEGMENT_GENRES = {
    "family": ("animation", "family", "education", "comedy"),
    "young": ("romance", "action", "sf", "variety", "music", "comedy"),
    "adult": ("drama", "thriller", "action", "reality", "football"),
    "senior": ("drama", "period", "history", "nature", "talk"),
}
AGE_BANDS = ("<20", "20s", "30s", "40s", "50s", "60s", "70+")
SEGMENT_AGE = np.array([
    [0.00, 0.05, 0.45, 0.45, 0.05, 0.00, 0.00],
    [0.15, 0.70, 0.15, 0.00, 0.00, 0.00, 0.00],
    [0.00, 0.00, 0.25, 0.35, 0.40, 0.00, 0.00],
    [0.00, 0.00, 0.00, 0.00, 0.00, 0.60, 0.40],
])
# LG HelloVision's service areas (the cable operator of the original system).
REGIONS = ("Seoul", "Gyeonggi", "Incheon", "Busan", "Gyeongnam", "Daegu", "Gyeongbuk", "Chungbuk", "Jeonbuk",
           "Gangwon")
REGION_SHARE = np.array([0.18, 0.20, 0.06, 0.12, 0.12, 0.08, 0.08, 0.06, 0.05, 0.05])
REGION_GENRE_TILT = {"Busan": "baseball", "Gyeongnam": "baseball"}  # the Lotte Giants' home

# How strongly tastes are concentrated (smaller = more personal) and how they drive choices.
CLASS_CONCENTRATION = 6.0
GENRE_BASE_ALPHA = 0.25
GENRE_FAVOURITE_ALPHA = 1.5
COMMUNITIES = 24  # taste communities below the genre level: which programs of a genre a subscriber picks
COMMUNITY_BOOST_SD = 1.0  # log-scale spread of a program's appeal across communities
ZIPF_EXPONENT = 1.0
ZIPF_OFFSET = 2.0
PRE_START_PROGRAM_SHARE = 0.80  # the rest are released during the generated weeks
PRE_START_DAYS = 730
E_BOOL_PROGRAM_SHARE = 0.01
JOIN_DURING_SHARE = 0.12
CHURN_SHARE = 0.08
PRE_START_JOIN_DAYS = 3 * 365
ACTIVITY_SHAPE = 1.5  # Gamma shape of a subscriber's activity (mean 1): few heavy viewers, many light ones

ADJECTIVES = (
    "Silent", "Golden", "Hidden", "Broken", "Crimson", "Distant", "Endless", "Frozen", "Gentle", "Hollow", "Iron",
    "Jade", "Lonely", "Midnight", "Northern", "Ordinary", "Painted", "Quiet", "Restless", "Secret", "Tender",
    "Urban", "Velvet", "Wild", "Young", "Burning", "Clever", "Daring", "Electric", "Fearless", "Glass", "Happy",
    "Last", "Little", "Lucky", "Magic", "Perfect", "Rainy", "Second", "Strange",
)
NOUNS = (
    "River", "Garden", "Kingdom", "Detective", "Summer", "Letter", "Island", "Doctor", "Family", "Harbor",
    "Journey", "Kitchen", "Legend", "Melody", "Mountain", "Night", "Office", "Palace", "Promise", "Road",
    "Season", "Shadow", "Signal", "Spring", "Station", "Stranger", "Teacher", "Tiger", "Tower", "Village",
    "Voyage", "Window", "Winter", "Witness", "Dream", "Empire", "Friend", "Heart", "Hero", "Moon",
)


@dataclass(frozen=True)
class Scale:
    name: str
    subscribers: int
    programs: int
    default_weeks: int


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 500, 200, 8),
    "small": Scale("small", 10_000, 2_000, 12),
    "medium": Scale("medium", 100_000, 10_000, 12),
    "large": Scale("large", 1_000_000, 30_000, 12),
}
WATCH_ROWS_PER_SUBSCRIBER_WEEK = 5.0
CLICK_ROWS_PER_SUBSCRIBER_WEEK = 10.0
CLICK_BEFORE_WATCH_PROB = 0.9  # a session starts with a click on the program's detail page


@dataclass
class World:
    """Everything fixed for the whole run. Arrays are indexed by subscriber / program position."""

    scale: Scale
    weeks: int
    start: np.datetime64  # first Monday 00:00
    seed: int
    # subscribers
    subsr_id: np.ndarray  # int64
    segment: np.ndarray  # int8 index into SEGMENTS
    age_band: np.ndarray  # int8 index into AGE_BANDS
    gender: np.ndarray  # int8: 0 = M, 1 = F
    region: np.ndarray  # int8 index into REGIONS
    class_taste: np.ndarray  # (n_sub, n_classes) float32, rows sum to 1
    genre_taste: np.ndarray  # (n_sub, n_genres) float32, rows sum to 1
    community: np.ndarray  # int16: the subscriber's taste community (taste below the genre level)
    activity: np.ndarray  # float32, mean 1
    join_day: np.ndarray  # int32 days relative to start
    churn_day: np.ndarray  # int32 days relative to start; a huge value = never churns
    cell_cdf: np.ndarray  # (n_sub, n_cells) float32: cumulative P(class, genre | subscriber)
    # programs
    program_id: np.ndarray  # int64
    program_name: np.ndarray  # object (str)
    program_class: np.ndarray  # int8 index into CLASSES
    program_genre: np.ndarray  # int8 index into GENRES
    program_cell: np.ndarray  # int16 index into cells
    popularity: np.ndarray  # float64 Zipf weight (before novelty)
    community_boost: np.ndarray  # (COMMUNITIES, n_prog) float32: log appeal of a program to each community
    runtime_sec: np.ndarray  # int32
    episode_count: np.ndarray  # int32
    age_limit: np.ndarray  # int16
    program_e_bool: np.ndarray  # int8
    release_day: np.ndarray  # int32 days relative to start (negative = before the first week)
    # the (class, genre) cells
    cell_class: np.ndarray  # int8
    cell_genre: np.ndarray  # int8

    @property
    def n_subscribers(self) -> int:
        return len(self.subsr_id)

    @property
    def n_programs(self) -> int:
        return len(self.program_id)

    def week_start(self, week: int) -> np.datetime64:
        return self.start + np.timedelta64(7 * week, "D")

    def affinity(self, sub: np.ndarray, prog: np.ndarray) -> np.ndarray:
        """How much a subscriber likes a program (about 0 for an average match, higher = better).

        The same quantity drives the watch ratio, so tests can check the planted effect with it.
        """
        c = self.program_class[prog]
        g = self.program_genre[prog]
        n_classes, n_genres = len(CLASSES), len(GENRES)
        class_part = np.log(np.maximum(self.class_taste[sub, c], 1e-6) * n_classes)
        genre_part = np.log(np.maximum(self.genre_taste[sub, g], 1e-6) * n_genres)
        community_part = self.community_boost[self.community[sub], prog] / COMMUNITY_BOOST_SD
        return (0.35 * class_part + 0.35 * genre_part + 0.6 * community_part).astype(np.float32)

    def liked_genres(self, top: int = 2) -> np.ndarray:
        """(n_sub, top) genre indices each subscriber likes most (from the latent tastes)."""
        return np.argsort(-self.genre_taste, axis=1, kind="stable")[:, :top]


def world_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))


def week_rng(seed: int, week: int) -> np.random.Generator:
    """Each week has its own stream, so a week's rows do not depend on how the others were made."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, week)))


def _cells() -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], int]]:
    cell_class, cell_genre, index = [], [], {}
    for ci, c in enumerate(CLASSES):
        for g in CLASS_GENRES[c]:
            index[(ci, GENRES.index(g))] = len(cell_class)
            cell_class.append(ci)
            cell_genre.append(GENRES.index(g))
    return np.array(cell_class, np.int8), np.array(cell_genre, np.int8), index


def _truncated_normal(rng: np.random.Generator, mean: np.ndarray, sd: np.ndarray, lo: np.ndarray,
                      hi: np.ndarray) -> np.ndarray:
    return np.clip(rng.normal(mean, sd), lo, hi)


def _program_names(n: int, rng: np.random.Generator) -> np.ndarray:
    # "Silent River", "Silent River 2", ...: word pairs first, then sequels; shuffled so a name
    # says nothing about popularity.
    k = rng.permutation(n)
    n_words = len(ADJECTIVES) * len(NOUNS)
    adj = np.array(ADJECTIVES, dtype=object)[k % len(ADJECTIVES)]
    noun = np.array(NOUNS, dtype=object)[(k // len(ADJECTIVES)) % len(NOUNS)]
    sequel = k // n_words
    suffix = np.where(sequel > 0, np.char.add(" ", (sequel + 1).astype(str)).astype(object), "")
    return (adj + " " + noun + suffix).astype(object)


def _age_limits(rng: np.random.Generator, cls: np.ndarray, genre: np.ndarray) -> np.ndarray:
    # Korean ratings: 0 (all), 12, 15, 19.
    levels = np.array([0, 12, 15, 19], np.int16)
    p = np.tile(np.array([0.25, 0.35, 0.30, 0.10]), (len(cls), 1))
    name = np.array(CLASSES)[cls]
    gname = np.array(GENRES)[genre]
    p[name == "kids"] = [1.0, 0, 0, 0]
    p[name == "docu"] = [0.6, 0.4, 0, 0]
    p[name == "sports"] = [1.0, 0, 0, 0]
    p[name == "entertainment"] = [0.2, 0.5, 0.3, 0]
    p[np.isin(gname, ["horror", "thriller"])] = [0, 0.05, 0.45, 0.5]
    p[(name == "movie") & (gname == "animation")] = [0.7, 0.3, 0, 0]
    u = rng.random(len(cls))
    return levels[(p.cumsum(axis=1) < u[:, None]).sum(axis=1).clip(0, 3)]


def build_world(scale: str | Scale = "tiny", weeks: int | None = None, start: str = "2023-08-07",
                seed: int = 0) -> World:
    sc = SCALES[scale] if isinstance(scale, str) else scale
    n_weeks = sc.default_weeks if weeks is None else weeks
    rng = world_rng(seed)
    cell_class, cell_genre, cell_index = _cells()
    n_cells, n_classes, n_genres = len(cell_class), len(CLASSES), len(GENRES)

    # ---- programs
    n_prog = sc.programs
    prog_class = rng.choice(n_classes, n_prog, p=CLASS_CATALOG_SHARE).astype(np.int8)
    prog_genre = np.empty(n_prog, np.int8)
    u = rng.random(n_prog)
    for ci, c in enumerate(CLASSES):  # a loop over the six classes, not over programs
        names = list(CLASS_GENRES[c])
        w = np.array([CLASS_GENRES[c][g] for g in names], float)
        pick = np.minimum(np.searchsorted(np.cumsum(w / w.sum()), u, side="right"), len(names) - 1)
        genre_idx = np.array([GENRES.index(g) for g in names], np.int8)
        mask = prog_class == ci
        prog_genre[mask] = genre_idx[pick[mask]]
    lookup = np.full((n_classes, n_genres), -1, np.int16)
    for (ci, gi), k in cell_index.items():
        lookup[ci, gi] = k
    prog_cell = lookup[prog_class, prog_genre]
    rank = rng.permutation(n_prog)
    popularity = (rank + ZIPF_OFFSET) ** -ZIPF_EXPONENT
    community_boost = (COMMUNITY_BOOST_SD * rng.standard_normal((COMMUNITIES, n_prog))).astype(np.float32)
    rt = np.array([CLASS_RUNTIME_MIN[c] for c in CLASSES], float)[prog_class]
    runtime_sec = np.round(_truncated_normal(rng, rt[:, 0], rt[:, 1], rt[:, 2], rt[:, 3]) * 60).astype(np.int32)
    cname = np.array(CLASSES)[prog_class]
    episode_count = np.ones(n_prog, np.int32)
    series = cname == "series"
    episode_count[series] = rng.choice([8, 12, 16, 16, 20, 24, 50], series.sum())
    kids = cname == "kids"
    episode_count[kids] = rng.integers(13, 105, kids.sum())
    docu = cname == "docu"
    episode_count[docu] = rng.integers(1, 11, docu.sum())
    ent = cname == "entertainment"
    episode_count[ent] = rng.integers(10, 201, ent.sum())
    age_limit = _age_limits(rng, prog_class, prog_genre)
    e_bool = (rng.random(n_prog) < E_BOOL_PROGRAM_SHARE).astype(np.int8)
    if not e_bool.any():
        e_bool[np.argmin(popularity)] = 1  # at least one excluded program, the least popular
    pre = rng.random(n_prog) < PRE_START_PROGRAM_SHARE
    release_day = np.where(
        pre,
        -rng.integers(1, PRE_START_DAYS + 1, n_prog),
        7 * rng.integers(0, max(n_weeks, 1), n_prog) + rng.integers(0, 7, n_prog),
    ).astype(np.int32)
    # Every cell keeps its most popular program from before the start, so early weeks can serve it.
    order = np.lexsort((-popularity, prog_cell))
    first_of_cell = order[np.r_[True, prog_cell[order][1:] != prog_cell[order][:-1]]]
    release_day[first_of_cell] = np.minimum(release_day[first_of_cell], -1)
    program_name = _program_names(n_prog, rng)

    # ---- subscribers
    n_sub = sc.subscribers
    segment = rng.choice(len(SEGMENTS), n_sub, p=SEGMENT_SHARE).astype(np.int8)
    age_cdf = SEGMENT_AGE.cumsum(axis=1)[segment]
    age_band = (age_cdf < rng.random(n_sub)[:, None]).sum(axis=1).clip(0, len(AGE_BANDS) - 1).astype(np.int8)
    gender = (rng.random(n_sub) < 0.5).astype(np.int8)
    region = rng.choice(len(REGIONS), n_sub, p=REGION_SHARE).astype(np.int8)
    # Dirichlet with a per-row alpha: normalised Gamma draws, vectorised.
    alpha_c = CLASS_CONCENTRATION * SEGMENT_CLASS_PRIOR[segment]
    g = rng.gamma(alpha_c)
    class_taste = g / g.sum(axis=1, keepdims=True)
    favourite = np.zeros((len(SEGMENTS), n_genres))
    for si, s in enumerate(SEGMENTS):
        favourite[si, [GENRES.index(x) for x in SEGMENT_GENRES[s]]] = 1.0
    alpha_g = GENRE_BASE_ALPHA + GENRE_FAVOURITE_ALPHA * favourite[segment]
    for reg, genre in REGION_GENRE_TILT.items():
        alpha_g[region == REGIONS.index(reg), GENRES.index(genre)] += 1.0
    g = rng.gamma(alpha_g)
    genre_taste = np.maximum(g, 1e-12) / np.maximum(g, 1e-12).sum(axis=1, keepdims=True)
    community = rng.integers(0, COMMUNITIES, n_sub).astype(np.int16)
    activity = np.minimum(rng.gamma(ACTIVITY_SHAPE, 1.0 / ACTIVITY_SHAPE, n_sub), 6.0).astype(np.float32)
    horizon = 7 * max(n_weeks, 1)
    joins_during = rng.random(n_sub) < JOIN_DURING_SHARE
    join_day = np.where(joins_during, rng.integers(0, horizon, n_sub),
                        -rng.integers(1, PRE_START_JOIN_DAYS + 1, n_sub)).astype(np.int32)
    churns = rng.random(n_sub) < CHURN_SHARE
    earliest = np.maximum(join_day, 0) + 1
    churn_day = np.where(churns & (earliest < horizon), earliest + (rng.random(n_sub) * (horizon - earliest)).astype(np.int32),
                         np.iinfo(np.int32).max).astype(np.int32)

    # P(cell | subscriber) = P(class) * P(genre | class), the genre chosen by taste times the
    # genre's share of the class's popularity (a class's minor genres stay minor).
    cell_mass = np.bincount(prog_cell, weights=popularity, minlength=n_cells)
    class_mass = np.bincount(cell_class, weights=cell_mass, minlength=n_classes)
    share_in_class = np.divide(cell_mass, class_mass[cell_class], out=np.zeros(n_cells), where=class_mass[cell_class] > 0)
    genre_taste = genre_taste.astype(np.float32)
    w = genre_taste[:, cell_genre] * share_in_class.astype(np.float32)  # (n_sub, n_cells)
    # Cells are numbered class by class; reduceat (not BLAS, whose sums vary by machine) totals each class.
    per_class = np.add.reduceat(w, np.searchsorted(cell_class, np.arange(n_classes)), axis=1)
    theta = (class_taste * (class_mass > 0)).astype(np.float32)
    theta /= theta.sum(axis=1, keepdims=True)
    # Every class has a genre with weight > 0 (Gamma draws are > 0), so per_class > 0 where theta > 0.
    p_cell = w * (theta / np.maximum(per_class, np.float32(1e-30)))[:, cell_class]
    cell_cdf = np.cumsum(p_cell, axis=1)
    cell_cdf /= cell_cdf[:, -1:]
    cell_cdf[:, -1] = 1.0

    return World(
        scale=sc, weeks=n_weeks, start=np.datetime64(start, "s"), seed=seed,
        subsr_id=(60_000_001 + np.arange(n_sub)).astype(np.int64),
        segment=segment, age_band=age_band, gender=gender, region=region,
        class_taste=class_taste.astype(np.float32), genre_taste=genre_taste, community=community,
        activity=activity, join_day=join_day, churn_day=churn_day, cell_cdf=cell_cdf,
        program_id=(100_001 + np.arange(n_prog)).astype(np.int64), program_name=program_name,
        program_class=prog_class, program_genre=prog_genre, program_cell=prog_cell.astype(np.int16),
        popularity=popularity, community_boost=community_boost, runtime_sec=runtime_sec, episode_count=episode_count,
        age_limit=age_limit, program_e_bool=e_bool, release_day=release_day,
        cell_class=cell_class, cell_genre=cell_genre,
    )
