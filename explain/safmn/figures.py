"""SAFMN's own figure: where each block amplifies or suppresses features."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explain.figures import FONT, block_mean, cell_centres, common_figures, gray, hide_axes, image_trace
from explain.safmn.analysis import SAFMNAnalysis


def safm_modulation_figure(analysis: SAFMNAnalysis) -> go.Figure:
    """The photo, then one panel per block: SAFM's modulation strength (mean |m| over channels) over the photo."""
    maps, relation = analysis.modulation, analysis.modulation_texture
    n_panels = len(maps) + 1
    cols = math.ceil(math.sqrt(n_panels))
    rows = math.ceil(n_panels / cols)
    titles = ["input (working region)"] + [
        f"block {i + 1}<br>mean {block_map.mean():.2f} · texture − flat {relation.effects[i].difference:+.3f}"
        for i, block_map in enumerate(maps)]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.03, vertical_spacing=0.12)
    photo = gray(analysis.lr_region)
    height, width = photo.shape[:2]
    fig.add_trace(image_trace(analysis.lr_region), row=1, col=1)
    cells = [block_mean(block_map)[0] for block_map in maps]
    # One scale for every block, since the panels are compared; set by the interiors: the zero padding darkens the
    # image border, which would otherwise take the bottom of the scale.
    low, high = np.percentile(np.concatenate([interior(values).ravel() for values in cells]), [2, 98])
    for i, values in enumerate(cells, start=1):
        row, col = i // cols + 1, i % cols + 1
        fig.add_trace(image_trace(photo), row=row, col=col)
        fig.add_trace(go.Heatmap(
            z=values, x=cell_centres(values.shape[1], width), y=cell_centres(values.shape[0], height),
            colorscale="Inferno", zmin=float(low), zmax=float(high) if high > low else float(low) + 1e-6,
            opacity=0.65, hovertemplate=f"block {i}<br>mean |m| %{{z:.3f}}<extra></extra>",
            showscale=i == len(cells),
            colorbar=dict(title=dict(text="mean |m|, one scale for every block", side="right"), x=1.01,
                          xanchor="left", len=0.9, thickness=12, tickfont=dict(size=10)),
        ), row=row, col=col)
    hide_axes(fig)
    fig.update_annotations(font=dict(size=12))
    fig.update_layout(
        title="SAFM modulation per block, one scale for all: bright = features scaled up most, dark = least",
        height=300 * rows + 90, font=FONT, margin=dict(l=10, r=70, t=90, b=10),
    )
    return fig


def interior(values: np.ndarray) -> np.ndarray:
    """A map without its outer ring of cells (darkened by the zero padding), when it has an inside."""
    return values[1:-1, 1:-1] if min(values.shape) > 4 else values


def safmn_figures(analysis: SAFMNAnalysis) -> dict[str, go.Figure]:
    """Every SAFMN figure by its stable key."""
    return {**common_figures(analysis), "safm_modulation": safm_modulation_figure(analysis)}
