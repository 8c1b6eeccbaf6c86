"""The Redis layout on the local Redis server: exact ids, atomic versions, expiry of what is no longer served."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vodrec_assets.serving import redis_layout as layout
from vodrec_assets.serving.redis_store import RedisLists, VersionMissing

BIG = [2**53, 2**53 + 1, 2**63 - 1, 0, 1]  # 2**53 and 2**53 + 1 are one float64


@pytest.fixture
def lists(redis_lists):
    return redis_lists


def week_frame(week: str, subscribers: list[int], salt: int, short: int | None = None) -> pd.DataFrame:
    rows = []
    for s in subscribers:
        for r in range(1, (3 if s == short else 10) + 1):
            rows.append({"week": week, "subsr_id": s, "rank": r, "program_id": 2**62 + salt * 1000 + r * 10 + s % 7,
                         "score": float(np.float32(1.0 - r / 64)), "source": "model"})
    return pd.DataFrame(rows)


def popular(salt: int) -> pd.DataFrame:
    return pd.DataFrame({"rank": range(1, 6), "program_id": [salt * 100 + r for r in range(1, 6)],
                         "score": [50.0 - r for r in range(1, 6)]})


CATALOGUE = pd.DataFrame({"program_id": [2**62 + 1010 + i for i in range(7)] + ["101"],
                          "program_name": [f"P{i}" for i in range(7)] + ["text id"],
                          "ct_cl": "movie", "program_genre": "drama"})


def decoded(store: RedisLists, subsr_id: int) -> tuple[str, list[tuple[int, float]] | None]:
    version, value = store.read(subsr_id)
    if value is None:
        return version, None
    meta = store.load_version(version)
    idx, scores = layout.unpack_list(value, meta.code)
    return version, [(meta.programs[i], s) for i, s in zip(idx, scores)]


def expected(frame: pd.DataFrame, subsr_id: int) -> list[tuple[int, float]]:
    rows = frame[frame.subsr_id == subsr_id].sort_values("rank")
    return [(int(p), float(s)) for p, s in zip(rows.program_id.tolist(), rows.score.tolist())]


def test_lists_read_back_exactly_with_64_bit_ids(lists):
    subscribers = BIG + list(range(100, 400))
    frame = week_frame("2023-08-07", subscribers, 1, short=2**53 + 1)
    figures = lists.publish_week("2023-08-07", frame, popular(1), CATALOGUE, make_champion=True)
    assert figures["champion"] and figures["subscribers"] == len(subscribers) and figures["rows"] == len(frame)
    for s in subscribers:
        version, got = decoded(lists, s)
        assert version == figures["version"]
        assert got == expected(frame, s), s
    assert len(decoded(lists, 2**53 + 1)[1]) == 3
    assert decoded(lists, 999)[1] is None  # no list: the API answers the popularity list
    meta = lists.load_version(figures["version"])
    assert meta.popular[0] == (101, 49.0)
    names = dict(zip(meta.programs, meta.fragments))
    assert '"program_name": "P0"' in names[2**62 + 1010] and '"program_name": "text id"' in names[101]
    assert '"program_name": null' in names[2**62 + 1020 + 6]  # in no catalogue row


def test_buckets_stay_listpack_encoded(lists):
    subscribers = list(range(10_000, 10_000 + 5000 * 7, 7))  # strided ids spread by the hash
    figures = lists.publish_week("2023-08-07", week_frame("2023-08-07", subscribers, 1), popular(1), CATALOGUE, True)
    bits = layout.bucket_bits(len(subscribers))
    sizes = [lists.client.hlen(f"{lists.prefix}:v:{figures['version']}:b:{b}") for b in range(1 << bits)]
    assert sum(sizes) == len(subscribers) and max(sizes) <= 128, (min(sizes), max(sizes))
    encodings = {lists.client.object("encoding", f"{lists.prefix}:v:{figures['version']}:b:{b}") for b in range(1 << bits)}
    assert encodings == {b"listpack"}


def test_republishing_the_served_week_replaces_it_and_retires_the_old_version(lists):
    first = lists.publish_week("2023-08-07", week_frame("2023-08-07", BIG, 1), popular(1), CATALOGUE, True)
    second = lists.publish_week("2023-08-07", week_frame("2023-08-07", BIG[:2], 2), popular(2), CATALOGUE)
    assert second["champion"], "the served week's new version is served at once"
    assert lists.champion() == second["version"] and lists.week_version("2023-08-07") == second["version"]
    assert decoded(lists, 2**63 - 1)[1] is None, "a list absent from the new version is gone, not kept"
    old_key, new_key = (f"{lists.prefix}:v:{v['version']}:b:0" for v in (first, second))
    assert 0 < lists.client.ttl(old_key) <= 600 and lists.client.ttl(new_key) == -1


def test_a_published_week_waits_for_promotion_and_the_old_champion_expires(lists):
    old = lists.publish_week("2023-08-07", week_frame("2023-08-07", BIG, 1), popular(1), CATALOGUE, True)
    new = lists.publish_week("2023-08-14", week_frame("2023-08-14", BIG, 2), popular(2), CATALOGUE)
    assert not new["champion"] and lists.champion() == old["version"]
    assert lists.client.ttl(f"{lists.prefix}:v:{new['version']}:meta") > 0  # expires unless promoted
    assert lists.activate("2023-08-14") == "champion"
    assert lists.champion() == new["version"]
    assert lists.client.ttl(f"{lists.prefix}:v:{new['version']}:meta") == -1
    assert 0 < lists.client.ttl(f"{lists.prefix}:v:{old['version']}:meta") <= 600
    assert 0 < lists.client.ttl(f"{lists.prefix}:week:2023-08-07") <= 600
    assert lists.activate("2023-08-07") == "champion", "a rollback while the old version lives"
    assert lists.client.ttl(f"{lists.prefix}:v:{old['version']}:meta") == -1


def test_a_version_with_an_expired_key_is_never_switched_to(lists):
    old = lists.publish_week("2023-08-07", week_frame("2023-08-07", BIG, 1), popular(1), CATALOGUE, True)
    new = lists.publish_week("2023-08-14", week_frame("2023-08-14", BIG, 2), popular(2), CATALOGUE)
    lists.client.delete(f"{lists.prefix}:v:{new['version']}:b:0")
    with pytest.raises(VersionMissing, match="expired"):
        lists.activate("2023-08-14")
    with pytest.raises(VersionMissing, match="no version"):
        lists.activate("2023-09-04")
    assert lists.champion() == old["version"]


def test_bad_ranks_and_mixed_sources_are_refused(lists):
    frame = week_frame("2023-08-07", BIG, 1)
    with pytest.raises(ValueError, match="rank"):
        lists.publish_week("2023-08-07", frame[frame["rank"] != 2], popular(1), CATALOGUE)
    frame.loc[0, "source"] = "popularity"
    with pytest.raises(ValueError, match="source"):
        lists.publish_week("2023-08-07", frame, popular(1), CATALOGUE)
    assert lists.champion() is None and not list(lists.client.scan_iter(match=f"{lists.prefix}:*"))
