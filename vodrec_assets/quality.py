"""The quality policy: thresholds shared by the asset checks, the gate and promotion."""

import dagster as dg

from vodrec_assets.recsys import rules, volume


class QualityPolicy(dg.ConfigurableResource):
    """Thresholds of the asset checks. The gate compares holdout metrics of model and popularity."""

    gate_metric: str = "map_at_10"
    gate_margin: float = 0.0  # the model must beat popularity by this fraction (0.1 = 10 % better)
    regression_tolerance: float = 0.5  # WARN when map_at_10 drops by more than this fraction
    quarantine_warn_share: float = 0.01
    quarantine_error_share: float = 0.20
    # A week's raw logs below this share of the median of its trailing weeks are blocked at ingestion
    # (recsys/volume.py: none of MovieLens' or the generator's real weeks is below a tenth).
    volume_floor_share: float = volume.DEFAULT_FLOOR_SHARE
    volume_trailing_weeks: int = volume.DEFAULT_TRAILING_WEEKS

    def gate(self, metrics: dict) -> tuple[bool, str]:
        """Whether the week's model may be published, and why."""
        verdict = rules.quality_gate(metrics, self.gate_metric, self.gate_margin)
        return verdict.passed, verdict.description
