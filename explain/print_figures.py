"""Figures fitted to the report's printed column: a fixed width that fits A4, the title taken out (the page sets
it as text), subplot and axis titles wrapped to the space they have, margins sized to hold them, maps compact.

Why: the app shows the figures ~1100 px wide, where their titles fit on one line; on an A4 page (186 mm between
12 mm margins, ~700 CSS px) the same titles ran into their neighbours and colourbars and were clipped at the SVG's
edge. Plotly does not wrap text, so its lines are broken here, from an estimate of the glyph width.
"""
from __future__ import annotations

import re
import textwrap

import numpy as np
import plotly.graph_objects as go

COLUMN_PX = 680  # CSS px: the report's column on screen and on paper (A4 leaves 186 mm = 703 px)
GLYPH_EM = 0.55  # average glyph width of the sans-serif fonts plotly uses, in em
LINE_EM = 1.3  # line height, in em
SUBPLOT_TITLE_SIZE = 11
AXIS_TITLE_SIZE = 11


def _visible_length(text: str) -> int:
    return len(re.sub(r"<[^>]+>", "", text))


def wrap(text: str, width_px: float, font_px: float) -> tuple[str, int]:
    """(text with <br> where it must break to fit width_px at font_px, its number of lines); words stay whole."""
    chars = max(8, int(width_px / (GLYPH_EM * font_px)))
    lines: list[str] = []
    for line in re.split(r"<br\s*/?>", text):
        if _visible_length(line) <= chars:
            lines.append(line)
        else:
            lines += textwrap.wrap(line, chars, break_long_words=False, break_on_hyphens=False) or [""]
    return "<br>".join(lines), len(lines)


def _plot_width(fig: go.Figure, width: int) -> float:
    margin = fig.layout.margin
    return width - (margin.l if margin.l is not None else 80) - (margin.r if margin.r is not None else 80)


def _subplot_titles(fig: go.Figure) -> list:
    """The annotations make_subplots placed as subplot titles (centred, anchored at their bottom, in paper units)."""
    return [a for a in fig.layout.annotations
            if a.xref == "paper" and a.yref == "paper" and a.yanchor == "bottom" and a.xanchor == "center"
            and a.showarrow is False]


def _room(titles: list, title, plot_width: float) -> float:  # noqa: ANN001 - a plotly annotation
    """The width a subplot title may use: up to half-way to its neighbours on the same row, else the whole plot."""
    row = sorted(a.x for a in titles if abs(a.y - title.y) < 1e-6)
    gaps = [abs(x - title.x) for x in row if x != title.x]
    return (min(gaps) if gaps else 1.0) * plot_width * 0.95


def _fit_maps(fig: go.Figure) -> None:
    """Heatmap values as float32 (half the bytes, more precision than a colour or a hover label shows), and every
    full-height colourbar's title beside it, read upwards: above the bar it sat on the top tick label."""
    for trace in fig.data:
        if not isinstance(trace, go.Heatmap):
            continue
        if trace.z is not None:
            trace.z = np.asarray(trace.z, dtype=np.float32)
        if trace.showscale is not False and trace.colorbar.title.text and trace.colorbar.len is None:
            trace.colorbar.title.side = "right"


def fit_to_column(figure: go.Figure, width: int = COLUMN_PX) -> tuple[str, go.Figure]:
    """(the figure's title, a copy of `figure` without it, `width` px wide): the page sets the title as text, which
    wraps by itself and cannot run into a colourbar; subplot and axis titles are wrapped to fit, the margins sized
    to the lines they hold (the plot area keeps its height), and the maps compact."""
    fig = go.Figure(figure)
    title = fig.layout.title.text or ""
    plot_width = _plot_width(fig, width)
    titles = _subplot_titles(fig)
    deepest = 0
    for annotation in titles:
        wrapped, lines = wrap(annotation.text, _room(titles, annotation, plot_width), SUBPLOT_TITLE_SIZE)
        annotation.update(text=wrapped, font=dict(size=SUBPLOT_TITLE_SIZE))
        if annotation.y >= max(a.y for a in titles) - 1e-6:  # the top row's titles stand in the top margin
            deepest = max(deepest, lines)
    notes_extra = axes_extra = 0.0
    for note in fig.layout.annotations:  # notes set left-aligned under the plot (FeatSharp views' lineage)
        if note not in titles and note.xref == "paper" and note.xanchor == "left" and note.yanchor == "top" \
                and note.y is not None and note.y < 0:
            size = note.font.size or 12
            before = len(re.split(r"<br\s*/?>", note.text))
            note.text, lines = wrap(note.text, (1 - (note.x or 0)) * plot_width, size)
            notes_extra += (lines - before) * LINE_EM * size
    for name in [key for key in fig.layout if key.startswith("xaxis")]:
        axis = fig.layout[name]
        if axis.title.text:
            domain = axis.domain or (0, 1)
            wrapped, lines = wrap(axis.title.text, (domain[1] - domain[0]) * plot_width, AXIS_TITLE_SIZE)
            axis.title.update(text=wrapped, font=dict(size=AXIS_TITLE_SIZE))
            axes_extra = max(axes_extra, (lines - 1) * LINE_EM * AXIS_TITLE_SIZE)
    bottom_extra = notes_extra + axes_extra
    margin = fig.layout.margin
    old_top = margin.t if margin.t is not None else 100
    top = 14 + deepest * LINE_EM * SUBPLOT_TITLE_SIZE
    bottom = (margin.b if margin.b is not None else 80) + bottom_extra
    height = (fig.layout.height or 450) - old_top + top + bottom_extra
    fig.update_layout(title=None, width=width, height=round(height), autosize=False,
                      margin=dict(t=round(top), b=round(bottom)))
    _fit_maps(fig)
    return title, fig
