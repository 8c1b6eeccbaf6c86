"""The charts and dashboard files made from the weekly metrics: the metrics history's plot and the original
dashboard's files (asset `metrics_history`), the backtest's comparison (job `backtest`)."""

from __future__ import annotations

import io

import pandas as pd

# The original dashboard's files and the metric each showed.
LEGACY_DASHBOARD = {
    "precision": "holdout_precision_at_10",
    "recall": "holdout_recall_at_10",
    "map": "holdout_map_at_10",
    "mar": "holdout_mar_at_10",
    "all_diversity": "legacy_diversity",
}


def legacy_dashboard_files(history: pd.DataFrame) -> dict[str, dict]:
    """The original React dashboard's `model_accuracy/<metric>.json`, one value per week in week order."""
    files = {}
    if history.empty:
        return files
    first = pd.Timestamp(history["week"].min()).strftime("%Y.%m.%d")
    for name, column in LEGACY_DASHBOARD.items():
        if column in history:
            label = {"map": "MAP", "mar": "MAR", "all_diversity": "all_Diversity"}.get(name, name.capitalize())
            values = [[round(float(v), 5)] for v in history[column] if pd.notna(v)]
            files[name] = {"columns": [[f"{label}({first})"]], "values": values}
    return files


def plot_history(history: pd.DataFrame, dpi: int = 100) -> bytes:
    from matplotlib.figure import Figure

    # A Figure of its own, outside pyplot's registry: the weekly step draws this in every run, and a
    # long-lived process (the demo's) keeps nothing of it.
    fig = Figure(figsize=(12, 4.5))
    axes = fig.subplots(1, 2, sharey=False)
    weeks = pd.to_datetime(history["week"])
    for ax, prefix, title in ((axes[0], "", "next-week protocol"), (axes[1], "holdout_", "holdout protocol (original)")):
        for metric, style in (("precision_at_10", "-o"), ("map_at_10", "-s")):
            for who, color in (("", "tab:blue"), ("popularity_", "tab:gray")):
                col = f"{prefix}{who}{metric}"
                if col in history and history[col].notna().any():
                    ax.plot(weeks, history[col], style, color=color, alpha=1.0 if not who else 0.7,
                            label=f"{'model' if not who else 'popularity'} {metric}")
        finish_week_axes(ax, title)
        stride = max(1, -(-len(weeks) // 12))  # at most 12 labelled weeks, each on its Monday
        ax.set_xticks(weeks[::stride], history["week"].astype(str)[::stride])
    # Fixed margins: tight_layout would draw the figure once more, and the weekly step draws this every run.
    fig.subplots_adjust(left=0.05, right=0.99, top=0.93, bottom=0.27, wspace=0.15)
    return figure_png(fig, dpi, tight=False)


def finish_week_axes(ax, title: str) -> None:
    ax.set_title(title)
    ax.set_xlabel("week (Monday)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=45)


def figure_png(fig, dpi: int = 100, tight: bool = True) -> bytes:
    """The figure as PNG bytes without a timestamp or version (re-runs write the same bytes); closed."""
    if tight:
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    if fig.canvas.manager is not None:  # a pyplot figure: pyplot keeps it until closed
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buf.getvalue()


def thumbnail(png: bytes, scale: float) -> bytes:
    """The PNG scaled by `scale` (a smaller copy for the UI's event log, without drawing the chart again)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    small = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="PNG")
    return out.getvalue()


def plot_comparison(per_week: pd.DataFrame, metric: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for family, rows in per_week.groupby("family", sort=False):
        ax.plot(pd.to_datetime(rows["week"]), rows[metric], "-o", label=family)
    finish_week_axes(ax, f"held-out next-week {metric}")
    return figure_png(fig)
