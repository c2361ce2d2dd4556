"""The tables and plot of the retrained-ablation study, from its record.

    python bench/ablation_plot.py [--json bench/results/ablation_study.json] [--png bench/results/ablation_study.png]

Reads what `python -m sr_core ablation` wrote, prints the arms' Markdown table and each mechanism's effect with its
95% interval (sr_core.tools.ablation.format_rows, format_effects), the same effects halfway through training (is a
gap still closing?), and draws them into a PNG with Debian's chromium (bench/distill_study_plot.write_png). Nothing
is measured: the numbers are the JSON's.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from distill_study_plot import write_png  # noqa: E402
from sr_core.tools.ablation import format_effects, format_rows, study_effects  # noqa: E402

STUDY_JSON = ROOT / "bench" / "results" / "ablation_study.json"
SERIES = (("texture_psnr", "textured tiles", "#e8590c"), ("flat_psnr", "flat tiles", "#868e96"),
          ("psnr", "whole images", "#3b5bdb"))


def halfway(rows: list[dict]) -> list[dict]:
    """The rows as they stood halfway through training."""
    return [{"arm": r["arm"], "per_image": r["half"]["per_image"]} for r in rows]


def effect_trace(effects: dict, name: str, colour: str, show: bool = True) -> go.Scatter:
    items = list(effects.items())
    return go.Scatter(
        x=[e.effect_db for _, e in items], y=[m for m, _ in items], mode="markers", name=name, showlegend=show,
        orientation="h", offsetgroup=name,
        marker=dict(color=colour, size=10),
        error_x=dict(type="data", symmetric=False, array=[e.high - e.effect_db for _, e in items],
                     arrayminus=[e.effect_db - e.low for _, e in items], thickness=2, width=5))


def figure(rows: list[dict]) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04, subplot_titles=(
        "Set14, end of training: textured tiles, flat tiles, whole images",
        "textured tiles: halfway (open) and at the end (filled)"))
    for key, label, colour in SERIES:
        fig.add_trace(effect_trace(study_effects(rows, key), label, colour), row=1, col=1)
    half = effect_trace(study_effects(halfway(rows)), "halfway, textured tiles", "#e8590c")
    half.marker.symbol = "circle-open"
    fig.add_trace(half, row=1, col=2)
    fig.add_trace(effect_trace(study_effects(rows), "textured tiles", "#e8590c", show=False), row=1, col=2)
    for col in (1, 2):
        fig.add_vline(x=0, line_color="#495057", line_width=1, row=1, col=col)
        fig.update_xaxes(title_text="dB lost without the part (95% interval)", zeroline=False, row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Retrained without each part: what it costs (right of 0: the part helps)",
                      font=dict(size=12), scattermode="group", legend=dict(orientation="h", y=-0.25),
                      margin=dict(l=10, r=10, t=70, b=90))
    return fig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=STUDY_JSON)
    parser.add_argument("--png", type=Path, default=ROOT / "bench" / "results" / "ablation_study.png")
    args = parser.parse_args()
    rows = json.loads(args.json.read_text())
    print(format_rows(rows))
    print()
    print(format_effects(rows))
    print()
    print("Halfway:")
    print(format_effects(halfway(rows)))
    write_png(figure(rows), args.png)
    print(f"wrote {args.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
