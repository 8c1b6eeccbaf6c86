"""Champion/challenger promotion: which week's model the serving API serves.

Pure functions (no Dagster, no I/O) so the `champion_model` asset can rebuild the whole history from
the weekly partitions on every run and get the same answer (idempotent re-runs, backfills in any order).

Rules, applied to each week's candidate in week order:

1. A candidate whose quality gate failed never becomes champion.
2. A candidate without a finite holdout `map_at_10` never becomes champion (nothing to compare).
3. With no champion yet, a candidate that passed the gate becomes the first champion.
4. Otherwise the candidate becomes champion when its holdout `map_at_10` is >= the champion's:
   a tie goes to the newer week (fresher data, same measured quality).
5. Otherwise the champion stays.

Every decision carries a human-readable reason, stored in `champion_history.reason`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

METRIC = "holdout_map_at_10"


@dataclass(frozen=True)
class ChampionState:
    """The model being served: its week and the holdout map_at_10 it won with."""

    week: str
    map_at_10: float | None


@dataclass(frozen=True)
class Decision:
    """The outcome of evaluating one week's candidate.

    `champion_week` is the week served after the decision (None while no model ever passed the gate);
    `champion_map_at_10` is the map of the champion the candidate was compared with (None when there
    was none).
    """

    week: str
    champion_week: str | None
    promoted: bool
    reason: str
    candidate_map_at_10: float | None
    champion_map_at_10: float | None
    champion_after_map_at_10: float | None
    got_worse: bool = False  # kept the champion although its gate passed: its metric fell below the champion's

    @property
    def champion(self) -> ChampionState | None:
        """The champion after this decision, to feed into the next one."""
        if self.champion_week is None:
            return None
        return ChampionState(self.champion_week, self.champion_after_map_at_10)

    def to_row(self, decided_at: str) -> dict[str, Any] | None:
        """The `champion_history` row of this decision; None while there is no champion to name
        (`champion_week` is NOT NULL: weeks before the first passing model get no row)."""
        if self.champion_week is None:
            return None
        return {
            "week": self.week,
            "champion_week": self.champion_week,
            "promoted": int(self.promoted),
            "reason": self.reason[:400],
            "candidate_map_at_10": self.candidate_map_at_10,
            "champion_map_at_10": self.champion_map_at_10,
            "decided_at": decided_at,
        }


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.6f}"


def decide_champion(
    current: ChampionState | None,
    candidate_week: str,
    candidate_gate_passed: bool,
    candidate_map_at_10: float | None,
) -> Decision:
    """Decide whether `candidate_week`'s model replaces `current` (see the module docstring)."""
    if current is not None and candidate_week <= current.week:
        raise ValueError(
            f"candidate week {candidate_week} is not newer than the champion week {current.week}: "
            "decide weeks in order (replay_history does)"
        )
    cand = _finite(candidate_map_at_10)
    champ = _finite(current.map_at_10) if current is not None else None

    def keep(reason: str, got_worse: bool = False) -> Decision:
        return Decision(
            week=candidate_week,
            champion_week=current.week if current else None,
            promoted=False,
            reason=reason,
            candidate_map_at_10=cand,
            champion_map_at_10=champ,
            champion_after_map_at_10=champ,
            got_worse=got_worse,
        )

    def promote(reason: str) -> Decision:
        return Decision(
            week=candidate_week,
            champion_week=candidate_week,
            promoted=True,
            reason=reason,
            candidate_map_at_10=cand,
            champion_map_at_10=champ,
            champion_after_map_at_10=cand,
        )

    held = f"champion {current.week} kept" if current else "no champion yet"
    if not candidate_gate_passed:
        return keep(f"{held}: the {candidate_week} model failed its quality gate")
    if cand is None:
        return keep(f"{held}: the {candidate_week} model has no {METRIC} to compare")
    if current is None:
        return promote(f"promoted {candidate_week}: first model to pass the quality gate ({METRIC} {_fmt(cand)})")
    if champ is None:
        return promote(
            f"promoted {candidate_week}: {METRIC} {_fmt(cand)}; champion {current.week} had no {METRIC} recorded"
        )
    if cand > champ:
        return promote(f"promoted {candidate_week}: {METRIC} {_fmt(cand)} > champion {current.week}'s {_fmt(champ)}")
    if cand == champ:
        return promote(
            f"promoted {candidate_week}: {METRIC} {_fmt(cand)} ties champion {current.week}; the newer week wins"
        )
    return keep(f"{held}: {candidate_week}'s {METRIC} {_fmt(cand)} < champion's {_fmt(champ)}", got_worse=True)


def replay_history(weeks: Iterable[tuple[str, bool, float | None]]) -> list[Decision]:
    """Every week's decision, oldest first, from `(week, gate_passed, holdout map_at_10)` triples.

    The input may come in any order (it is sorted by week); a week given twice is an error, since
    the asset must pass exactly one record per partition.
    """
    ordered = sorted(weeks, key=lambda w: w[0])
    duplicates = sorted(w for w, n in Counter(w[0] for w in ordered).items() if n > 1)
    if duplicates:
        raise ValueError(f"week(s) given more than once: {duplicates}")
    decisions: list[Decision] = []
    current: ChampionState | None = None
    for week, gate_passed, map_at_10 in ordered:
        decision = decide_champion(current, week, bool(gate_passed), map_at_10)
        decisions.append(decision)
        current = decision.champion
    return decisions
