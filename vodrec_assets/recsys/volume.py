"""Is a week's log volume far below its trailing weeks? The rule behind the blocking volume checks at
ingestion (a week that was emptied or half-lost must not be trained on, published or promoted).

Real weeks swing: MovieLens-100K has a week of 877 ratings between weeks of 1,783 and 2,624, and one of
9,735 followed by 1,550. The reference is the median of the trailing weeks (one outlier week does not
move it) and the default floor is a tenth of it: none of MovieLens' or the generator's weeks is below
(the lowest is 0.33 of its reference, MovieLens' 877), while an empty week always is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_FLOOR_SHARE = 0.1  # of the trailing weeks' median
DEFAULT_TRAILING_WEEKS = 4


@dataclass(frozen=True)
class VolumeVerdict:
    too_small: bool
    rows: int
    reference: float | None  # the trailing weeks' median; None without trailing weeks
    floor: float | None
    reason: str


def week_far_smaller(rows: int, trailing: Sequence[int], floor_share: float = DEFAULT_FLOOR_SHARE,
                     trailing_weeks: int = DEFAULT_TRAILING_WEEKS) -> VolumeVerdict:
    """Whether a week of `rows` log rows is far smaller than the weeks before it (`trailing`, oldest first;
    only the last `trailing_weeks` count): below `floor_share` x their median. A week without rows is
    always too small; a week without trailing weeks is judged on that alone."""
    if not 0 <= floor_share < 1:
        raise ValueError(f"floor_share must be in [0, 1), got {floor_share}")
    if rows == 0:
        return VolumeVerdict(True, 0, None, None, "the week has no rows")
    recent = [int(n) for n in list(trailing)[-trailing_weeks:] if n is not None] if trailing_weeks > 0 else []
    if not recent:
        return VolumeVerdict(False, rows, None, None, "no trailing weeks to compare with")
    reference = float(np.median(recent))
    floor = floor_share * reference
    if rows < floor:
        return VolumeVerdict(True, rows, reference, floor,
                             f"{rows:,} rows, below {floor_share:.0%} of the median {reference:,.0f} of the "
                             f"{len(recent)} weeks before")
    return VolumeVerdict(False, rows, reference, floor,
                         f"{rows:,} rows, {rows / reference:.2f} x the median {reference:,.0f} of the {len(recent)} weeks before")
