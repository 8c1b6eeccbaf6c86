"""The dashboard page: weekly metrics drawn as inline SVG by inline JavaScript, and the champion history.

Self-contained (no CDN, no external file): the server embeds the data as JSON in the page and a small
script draws one <polyline id="series-<metric>"> per metric series.
"""

from __future__ import annotations

import html
import json
from typing import Any

# (panel id, title, [(metric, label, colour, dashed)])
PANELS: list[tuple[str, str, list[tuple[str, str, str, bool]]]] = [
    ("next-week", "Next-week protocol: last week's model on this week's new watches", [
        ("precision_at_10", "model precision@10", "#1f77b4", False),
        ("popularity_precision_at_10", "popularity precision@10", "#1f77b4", True),
        ("map_at_10", "model MAP@10", "#d62728", False),
        ("popularity_map_at_10", "popularity MAP@10", "#d62728", True),
    ]),
    ("holdout", "Holdout protocol (the original's): 25 % of the window's pairs held out", [
        ("holdout_precision_at_10", "model precision@10", "#1f77b4", False),
        ("holdout_popularity_precision_at_10", "popularity precision@10", "#1f77b4", True),
        ("holdout_map_at_10", "model MAP@10", "#d62728", False),
        ("holdout_popularity_map_at_10", "popularity MAP@10", "#d62728", True),
    ]),
    ("beyond-accuracy", "Beyond accuracy (next-week protocol)", [
        ("catalog_coverage", "catalog coverage", "#2ca02c", False),
        ("personalization", "personalization", "#9467bd", False),
    ]),
]

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var W = 1100, H = 300, L = 60, R = 40, T = 20, B = 60;
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var a in attrs) { e.setAttribute(a, attrs[a]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  var weeks = data.weeks;
  function x(i) { return weeks.length < 2 ? L + (W - L - R) / 2 : L + i * (W - L - R) / (weeks.length - 1); }
  data.panels.forEach(function (panel) {
    var svg = document.getElementById("chart-" + panel.id);
    var ymax = 0;
    panel.series.forEach(function (s) {
      var values = data.metrics[s.metric] || {};
      weeks.forEach(function (w) { if (values[w] !== undefined && values[w] > ymax) { ymax = values[w]; } });
    });
    ymax = ymax > 0 ? ymax * 1.1 : 1;
    function y(v) { return T + (H - T - B) * (1 - v / ymax); }
    el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#444"}, svg);
    el("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#444"}, svg);
    for (var t = 0; t <= 4; t++) {
      var v = ymax * t / 4;
      el("line", {x1: L, y1: y(v), x2: W - R, y2: y(v), stroke: "#ddd"}, svg);
      el("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11}, svg).textContent = v.toFixed(3);
    }
    var every = Math.max(1, Math.ceil(weeks.length / 12));
    weeks.forEach(function (w, i) {
      if (i % every === 0 || i === weeks.length - 1) {
        el("text", {x: x(i), y: H - B + 16, "text-anchor": "middle", "font-size": 10}, svg).textContent = w;
      }
    });
    data.promotions.forEach(function (w) {
      var i = weeks.indexOf(w);
      if (i >= 0) {
        var line = el("line", {id: "promotion-" + panel.id + "-" + w, "class": "promotion", x1: x(i), y1: T,
                               x2: x(i), y2: H - B, stroke: "#f0a020", "stroke-dasharray": "2,3"}, svg);
        el("title", {}, line).textContent = "promoted: " + w;
      }
    });
    panel.series.forEach(function (s, k) {
      var values = data.metrics[s.metric] || {};
      var pts = [];
      weeks.forEach(function (w, i) {
        if (values[w] !== undefined) { pts.push(x(i).toFixed(1) + "," + y(values[w]).toFixed(1)); }
      });
      if (pts.length === 0) { return; }
      el("polyline", {id: "series-" + s.metric, "class": "series", "data-metric": s.metric, points: pts.join(" "),
                      fill: "none", stroke: s.color, "stroke-width": 2,
                      "stroke-dasharray": s.dashed ? "6,4" : "none"}, svg);
      weeks.forEach(function (w, i) {
        if (values[w] !== undefined) {
          var c = el("circle", {cx: x(i), cy: y(values[w]), r: 3, fill: s.color}, svg);
          el("title", {}, c).textContent = s.label + " " + w + ": " + values[w].toFixed(4);
        }
      });
      var lx = L + 230 * k, ly = H - B + 40;
      el("line", {x1: lx, y1: ly, x2: lx + 25, y2: ly, stroke: s.color, "stroke-width": 2,
                  "stroke-dasharray": s.dashed ? "6,4" : "none"}, svg);
      el("text", {x: lx + 30, y: ly + 4, "font-size": 12}, svg).textContent = s.label;
    });
  });
  document.body.setAttribute("data-drawn", "true");
})();
"""

_STYLE = """
body { font-family: sans-serif; margin: 20px; color: #222; }
h2 { font-size: 16px; margin: 24px 0 4px; }
svg { border: 1px solid #ccc; background: #fff; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
tr.current { background: #fff3cd; font-weight: bold; }
.note { color: #666; font-size: 13px; }
"""


def _num(value: Any) -> str:
    return "" if value is None else f"{float(value):.4f}"


def render_dashboard(metrics: dict[str, dict[str, float]], champion_rows: list[dict[str, Any]],
                     champion_week: str | None, status: str) -> str:
    weeks = sorted({w for per_week in metrics.values() for w in per_week})
    promotions = sorted(str(r["week"]) for r in champion_rows if r.get("promoted"))
    panels = [{"id": pid, "title": title,
               "series": [{"metric": m, "label": label, "color": color, "dashed": dashed}
                          for m, label, color, dashed in series]}
              for pid, title, series in PANELS]
    payload = {"weeks": weeks, "metrics": metrics, "panels": panels, "promotions": promotions}
    # "<" escaped so no value can close the script element.
    data_json = json.dumps(payload, sort_keys=True).replace("<", "\\u003c")

    charts = "\n".join(
        f'<h2>{html.escape(title)}</h2>\n<svg id="chart-{pid}" width="1100" height="300" '
        f'viewBox="0 0 1100 300" role="img" aria-label="{html.escape(title)}"></svg>'
        for pid, title, _ in PANELS
    )
    rows = []
    for r in champion_rows:
        current = ' class="current"' if champion_week is not None and str(r["week"]) == champion_week else ""
        rows.append(
            f"<tr{current}><td>{html.escape(str(r['week']))}</td><td>{html.escape(str(r['champion_week']))}</td>"
            f"<td>{'yes' if r['promoted'] else 'no'}</td><td>{_num(r.get('candidate_map_at_10'))}</td>"
            f"<td>{_num(r.get('champion_map_at_10'))}</td><td>{html.escape(str(r['reason']))}</td>"
            f"<td>{html.escape(str(r['decided_at']))}</td></tr>"
        )
    table = (
        '<table id="champion-history"><thead><tr><th>week</th><th>champion after</th><th>promoted</th>'
        "<th>candidate holdout MAP@10</th><th>champion holdout MAP@10</th><th>reason</th><th>decided at</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        if rows else '<p id="champion-history" class="note">No promotion decision yet.</p>'
    )
    promoted = next((r for r in champion_rows if champion_week is not None and str(r["week"]) == champion_week), None)
    why = f" Promoted {html.escape(str(promoted['decided_at']))}: {html.escape(str(promoted['reason']))}." if promoted else ""
    serving = (f'Serving the model of week <strong id="served-week">{html.escape(champion_week)}</strong>.{why}'
               if champion_week else f'<span id="served-week">No model served yet</span> ({html.escape(status)}).')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vodrec dashboard</title><style>{_STYLE}</style></head>
<body>
<h1>vodrec: weekly recommender metrics</h1>
<p>{serving} {len(weeks)} week(s) in metrics_history. Solid lines: the LightFM model; dashed: the popularity
baseline. Orange dotted verticals: weeks whose model was promoted.</p>
{charts}
<h2>Champion history</h2>
{table}
<p class="note">Definitions: docs/metrics.md. Data: <a href="/metrics/history">/metrics/history</a>,
<a href="/model">/model</a>.</p>
<script id="dashboard-data" type="application/json">{data_json}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
