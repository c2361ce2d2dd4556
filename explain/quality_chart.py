"""The quality-versus-time chart: the record alone (Set5; bench/quality_vs_time.py), or the models this server
serves, measured here on the example photos (explain/served_quality.py), beside the record in its own panel: the
two are measured on different photos, so their numbers are never put on one axis."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explain.explainers import arch_colour
from explain.figures import FONT

TICKS_MS = [10, 25, 50, 100, 250, 500, 1000, 2000, 3000, 5000, 10_000, 20_000, 50_000]
RECORD_STYLES = {
    "measured": ("bundled model: PSNR and speed measured here", dict(symbol="circle", size=13)),
    "published": ("full-size model: published PSNR, speed measured here (random weights)",
                  dict(symbol="diamond-open", size=14, line=dict(width=2))),
}
SERVED_SYMBOLS = {"choice": "circle", "jpeg": "square"}


def add_record(fig: go.Figure, data: dict, row: int | None = None, col: int | None = None,
               names: dict[str, str] | None = None) -> None:
    """The record's points (PSNR on Set5 against ms per output megapixel), each full-size model joined to the
    bundled model of its architecture; `names` replaces the legend names of RECORD_STYLES' kinds."""
    points = data["points"]
    middle = float(np.mean([math.log10(min(p["ms_per_mp"] for p in points)),
                            math.log10(max(p["ms_per_mp"] for p in points))]))
    for arch in sorted({p["arch"] for p in points}):
        pair = [p for p in points if p["arch"] == arch]
        if len(pair) == 2:
            fig.add_trace(go.Scatter(
                x=[p["ms_per_mp"] for p in pair], y=[p["psnr_set5"] for p in pair], mode="lines",
                line=dict(color="#bbb", dash="dot"), hoverinfo="skip", showlegend=False), row=row, col=col)
    for kind, (name, marker) in RECORD_STYLES.items():
        chosen = [p for p in points if p["kind"] == kind]
        if not chosen:
            continue
        fig.add_trace(go.Scatter(
            x=[p["ms_per_mp"] for p in chosen], y=[p["psnr_set5"] for p in chosen], mode="markers+text",
            name=(names or {}).get(kind, name), text=[p["label"] for p in chosen],
            textposition=["top right" if math.log10(p["ms_per_mp"]) <= middle else "top left" for p in chosen],
            marker=dict(color=[arch_colour(p["arch"]) for p in chosen], **marker),
            customdata=[[p["n_params"] / 1e6, p["psnr_source"], p["speed_source"]] for p in chosen],
            hovertemplate=("<b>%{text}</b><br>%{y:.2f} dB (%{customdata[1]})<br>%{x:,.0f} ms per output MP "
                           "(%{customdata[2]})<br>%{customdata[0]:.2f} M parameters<extra></extra>"),
        ), row=row, col=col)


def log_range(values: list[float], margin: float) -> list[float]:
    logs = np.log10(values)
    return [float(logs.min()) - margin, float(logs.max()) + margin]


def time_axis(fig: go.Figure, values: list[float], margin: float, row: int | None = None,
              col: int | None = None) -> None:
    fig.update_xaxes(type="log", title_text="time per megapixel of output (log; left = faster)",
                     range=log_range(values, margin), tickvals=TICKS_MS,
                     ticktext=[f"{ms / 1000:g} s" for ms in TICKS_MS], tickfont=dict(size=12),
                     title_font=dict(size=13), row=row, col=col)


def quality_vs_time_figure(data: dict) -> go.Figure:
    """PSNR on Set5 against milliseconds per output megapixel (log scale): the bundled models as measured on
    the record's machine, and the full-size models at their published PSNR. `data` is
    explain/quality_vs_time.json (bench/quality_vs_time.py)."""
    points = data["points"]
    psnr = [p["psnr_set5"] for p in points]
    fig = go.Figure()
    add_record(fig, data)
    machine = data["machine"]
    time_axis(fig, [p["ms_per_mp"] for p in points], 0.3)  # room for the labels beside the end points
    fig.update_yaxes(title_text="quality: PSNR on Set5 ×3 (dB; up = better)", range=[min(psnr) - 0.4, max(psnr) + 0.4],
                     tickfont=dict(size=13), title_font=dict(size=14))
    fig.update_layout(
        title=f"Quality versus time on {machine['cpu']} ({machine['threads']} threads, {machine['date'][:10]})",
        height=520, font=FONT, margin=dict(l=60, r=20, t=60, b=120),
        legend=dict(orientation="h", x=0, xanchor="left", y=-0.2, yanchor="top"),
    )
    return fig


def served_quality_figure(points: list[dict], record: dict | None) -> go.Figure:
    """Three panels: the served models' PSNR on the example photos' most textured tiles and on the whole photos,
    against ms per output megapixel on this server; then, separately titled, the Set5 record (published
    full-size models and the bundled ones as measured once), when there is one."""
    first = points[0]
    titles = [f"Served here: most textured tiles<br>({len(first['images'])} example photos)",
              f"Served here: whole photos<br>({len(first['images'])} example photos)"]
    if record is not None:
        titles.append("Set5 ×3, not comparable: papers' full-size<br>models and the bundled ones, measured "
                      f"{record['machine']['date'][:10]}")
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.09)
    ms = [p["ms_per_mp"] for p in points]
    for col, key in ((1, "psnr_texture"), (2, "psnr_whole")):
        for point in points:
            fig.add_trace(go.Scatter(
                x=[point["ms_per_mp"]], y=[point[key]], mode="markers", name=point["label"],
                legendgroup=point["label"], showlegend=col == 1,
                marker=dict(color=arch_colour(point["arch"]), size=13,
                            symbol=SERVED_SYMBOLS[point["role"]]),
                hovertemplate=(f"<b>{point['label']}</b><br>%{{y:.2f}} dB<br>%{{x:,.0f}} ms per output MP "
                               f"({point['precision']})<extra></extra>"),
            ), row=1, col=col)
        values = [p[key] for p in points]
        time_axis(fig, ms, 0.25, row=1, col=col)
        fig.update_yaxes(title_text="PSNR (dB; up = more kept)", range=[min(values) - 0.3, max(values) + 0.3],
                         row=1, col=col)
    if record is not None:
        add_record(fig, record, row=1, col=3, names={"measured": "Set5: bundled model, measured once",
                                                     "published": "Set5: full-size model, published PSNR"})
        set5 = [p["psnr_set5"] for p in record["points"]]
        time_axis(fig, [p["ms_per_mp"] for p in record["points"]], 0.4, row=1, col=3)
        fig.update_yaxes(title_text="PSNR on Set5 ×3 (dB)", range=[min(set5) - 0.4, max(set5) + 0.4], row=1, col=3)
    fig.update_annotations(font=dict(size=13))
    fig.update_layout(
        title=f"Quality versus time of the models served here ({first['device']}, {first['precision']})",
        height=560, font=FONT, margin=dict(l=60, r=20, t=100, b=140),
        legend=dict(orientation="h", x=0, xanchor="left", y=-0.25, yanchor="top"),
    )
    return fig
