"""How a week's lists are laid out in Redis: key names, buckets, and the packed value of one list.

Pure functions (numpy and the standard library only), shared by the publisher and the API.

Keys, under a prefix (default `vodrec`):

    {p}:champion                 "<version>|<bits>": the version the API serves (the one pointer switched)
    {p}:week:<week>              the week's current version
    {p}:v:<version>:meta         hash: week, bits, index ('H' or 'I'), source, subscribers, rows, published_at
    {p}:v:<version>:programs     JSON [[program_id, program_name, ct_cl, program_genre], ...]: the catalogue
                                 fields of every program the version names, in index order
    {p}:v:<version>:popular      JSON [[program_id, score], ...]: the week's popularity list, ranked
    {p}:v:<version>:b:<bucket>   hash {subsr_id (decimal text): packed list}, 2**bits buckets

A version is `<week>.<random token>`: re-publishing a week writes a fresh version beside the served one and
then switches, so a reader never sees half of a week.

A subscriber's bucket is the top `bits` bits of a multiplicative hash of the id taken modulo 2**64, so any
id pattern (sequential, strided, sparse) spreads evenly. Each bucket holds about 64 subscribers and each
value of a 10-item list is 60 bytes (10 uint16 program indexes + 10 float32 scores), under Redis's
`hash-max-listpack-*` limits (128 entries, 64 bytes by default): the buckets stay listpack-encoded, about
75 bytes per subscriber in place of ~200 for one key per subscriber.

Ids stay exact: subscriber ids are the fields' decimal text, program ids are JSON integers (Python's json
reads them as int, whatever their size), nothing goes through a float.
"""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np

HASH_MULTIPLIER = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd: a bijection of the 64-bit ids
MASK64 = (1 << 64) - 1
TARGET_PER_BUCKET = 64
EMPTY_BUCKET_FIELD = "_"  # every bucket key exists, so a missing key always means an expired version


def bucket_bits(subscribers: int) -> int:
    """The smallest number of bits giving at most TARGET_PER_BUCKET subscribers per bucket on average."""
    bits = 0
    while subscribers > TARGET_PER_BUCKET << bits and bits < 32:
        bits += 1
    return bits


def id_hash_high(subsr_id: int) -> int:
    """The top 32 bits of the id's 64-bit hash; the bucket is its top `bits` bits (Lua computes that
    from this with doubles, exact below 2**53)."""
    return (((subsr_id & MASK64) * HASH_MULTIPLIER) & MASK64) >> 32


def bucket_of(subsr_id: int, bits: int) -> int:
    return id_hash_high(subsr_id) >> (32 - bits) if bits else 0


def buckets_of(subsr_ids: np.ndarray, bits: int) -> np.ndarray:
    """bucket_of for an int64 array (uint64 arithmetic wraps modulo 2**64, as the Python version masks)."""
    if bits == 0:
        return np.zeros(len(subsr_ids), dtype=np.int64)
    hashed = subsr_ids.astype(np.int64).view(np.uint64) * np.uint64(HASH_MULTIPLIER)
    return (hashed >> np.uint64(64 - bits)).astype(np.int64)


def index_code(programs: int) -> str:
    return "H" if programs <= 0xFFFF else "I"


def pack_lists(starts: np.ndarray, lengths: np.ndarray, program_index: np.ndarray, scores: np.ndarray,
               code: str) -> list[bytes]:
    """One packed value per list: its program indexes (uint16/uint32 little-endian) then its float32 scores.
    `starts`/`lengths` locate each list's rows in the row arrays; lists of one length are packed together
    as one matrix, so the cost per list is one bytes slice."""
    idx_dtype = np.dtype("<u2") if code == "H" else np.dtype("<u4")
    out: list[bytes | None] = [None] * len(starts)
    for length in np.unique(lengths):
        which = np.flatnonzero(lengths == length)
        rows = starts[which, None] + np.arange(length)
        block = np.concatenate([program_index[rows].astype(idx_dtype).view(np.uint8).reshape(len(which), -1),
                                scores[rows].astype("<f4").view(np.uint8).reshape(len(which), -1)], axis=1)
        width = block.shape[1]
        flat = block.tobytes()
        for n, i in enumerate(which.tolist()):
            out[i] = flat[n * width:(n + 1) * width]
    return out  # type: ignore[return-value]


@lru_cache(maxsize=256)
def _layout(code: str, nbytes: int) -> struct.Struct:
    per_item = struct.calcsize(f"<{code}") + 4
    if nbytes % per_item:
        raise ValueError(f"a packed list of {nbytes} bytes is not a whole number of {per_item}-byte items")
    n = nbytes // per_item
    return struct.Struct(f"<{n}{code}{n}f")


def unpack_list(value: bytes, code: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(program indexes, scores) of one packed list, ranked."""
    fields = _layout(code, len(value)).unpack(value)
    n = len(fields) // 2
    return fields[:n], fields[n:]
