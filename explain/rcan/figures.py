"""RCAN's own figures: its gates, the channels they boost, where they would boost them, and the feature views."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explain.figures import (FONT, block_mean, cell_centres, common_figures, diverging, gray, hide_axes, image_trace,
                             map_trace)
from explain.rcan.analysis import RCANAnalysis
from explain.rcan.channel_view import ChannelView
from explain.rcan.featsharp import LearnedKernels
from explain.rcan.feature_views import VIEW_NAMES
from explain.stats import correlation_interval

TIE = 0.005  # gates closer than this print the same at two decimals: a tie, not a ranking


def attention_heatmap(analysis: RCANAnalysis) -> go.Figure:
    """Every block's gates from the engine's enlargement of the whole photo: rows group.block, columns channels,
    on the gates' own fixed 0..1 scale."""
    n_groups, n_blocks, n_channels = analysis.attention.shape
    labels = [f"G{g + 1}.B{b + 1}" for g in range(n_groups) for b in range(n_blocks)]
    fig = go.Figure(go.Heatmap(
        z=analysis.attention.reshape(-1, n_channels), x=list(range(n_channels)), y=labels,
        colorscale="Viridis", zmin=0.0, zmax=1.0, colorbar=dict(title="gate (0..1)"),
        hovertemplate="block %{y}, channel %{x}<br>gate %{z:.3f}<extra></extra>",
    ))
    width, height = analysis.computed_on
    fig.update_layout(
        title=f"Channel-attention gates of every RCAB in your enlargement (computed on the whole {width}x{height} "
        "photo; 0 mutes, 1 passes)",
        xaxis_title="channel", yaxis_title="group.block", yaxis_autorange="reversed",
        height=min(900, max(320, 22 * len(labels) + 140)), font=FONT, margin=dict(l=70, r=20, t=60, b=50),
    )
    return fig


def boosted_channels_figure(analysis: RCANAnalysis, group: int | None = None, block: int | None = None) -> go.Figure:
    """(b) A block's most boosted channels: their |feature map| over the photo. group/block are 0-based."""
    if group is None or block is None:
        group, block = analysis.chosen_block()
    channels = list(analysis.top_channels[group, block])
    gates = analysis.attention[group, block, channels]
    tied = float(gates.max() - gates.min()) < TIE
    if tied:  # equal gates are no ranking: shown in channel order, and said so
        channels = sorted(channels)
    titles = [f"channel {c}: gate {analysis.attention[group, block, c]:.2f}" for c in channels]
    fig = make_subplots(rows=1, cols=len(channels), subplot_titles=titles, horizontal_spacing=0.02)
    photo = gray(analysis.lr_region)
    height, width = photo.shape[:2]
    for i, c in enumerate(channels):
        values, _ = block_mean(analysis.top_maps[group, block, i])
        fig.add_trace(image_trace(photo), row=1, col=i + 1)
        fig.add_trace(go.Heatmap(
            z=values, x=cell_centres(values.shape[1], width), y=cell_centres(values.shape[0], height),
            colorscale="Inferno", opacity=0.6, showscale=False,
            hovertemplate=f"channel {c}<br>|feature| %{{z:.3g}}<extra></extra>",
        ), row=1, col=i + 1)
    hide_axes(fig)
    fig.update_layout(
        title=(f"Group {group + 1}, block {block + 1}: " +
               (f"{len(channels)} channels tied at gate {gates.max():.2f} (in channel order, not a ranking)"
                if tied else "its most boosted channels") + "; bright = the channel responds strongly there"),
        height=330, font=FONT, margin=dict(l=10, r=10, t=80, b=10),
    )
    return fig


def texture_map_figure(analysis: RCANAnalysis) -> go.Figure:
    """(c) Per tile, the attention given to texture channels, over the photo; and against tile texture energy."""
    ta = analysis.texture_attention
    ny, nx = ta.texture_map.shape
    height, width = analysis.lr_region.shape[:2]
    n = int(np.isfinite(ta.tile_hf).sum())
    low, high = correlation_interval(ta.correlation, n)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5], horizontal_spacing=0.22, subplot_titles=(
        f"attention to {ta.basis}, per {analysis.tile_size}-px tile",
        f"r = {ta.correlation:.2f}, 95% interval [{low:.2f}, {high:.2f}], n = {n}",
    ))
    fig.add_trace(image_trace(gray(analysis.lr_region)), row=1, col=1)
    fig.add_trace(go.Heatmap(
        z=ta.texture_map, x=cell_centres(nx, width), y=cell_centres(ny, height), colorscale="Viridis",
        zmin=0.0, zmax=1.0, opacity=0.55, colorbar=dict(title="gate (0..1)", x=0.4, thickness=14),
        hovertemplate="gate %{z:.3f}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=ta.tile_hf.ravel(), y=ta.texture_map.ravel(), mode="markers", marker=dict(size=7, opacity=0.7),
        hovertemplate="texture energy %{x:.3g}<br>attention %{y:.3f}<extra></extra>", showlegend=False,
    ), row=1, col=2)
    fig.update_xaxes(showticklabels=False, showgrid=False, row=1, col=1)
    fig.update_yaxes(showticklabels=False, showgrid=False, autorange="reversed", row=1, col=1)
    fig.update_xaxes(title_text="tile high-frequency energy", row=1, col=2)
    fig.update_yaxes(title_text="gate (texture channels), fixed 0..1", range=[0, 1], row=1, col=2)
    e = ta.effect
    fig.update_layout(
        title=(f"Texture map: textured tiles {e.textured:.3f}, flat {e.flat:.3f}, difference {e.difference:+.3f} "
               f"[95% interval {e.low:+.3f}, {e.high:+.3f}] on the 0..1 gate scale"),
        height=420, font=FONT, margin=dict(l=10, r=10, t=80, b=50),
    )
    return fig


def feature_views_figure(analysis: RCANAnalysis) -> go.Figure:
    """The x3 views of RCAN's deep features (one shared PCA), next to the input, the JBU guidance (the input's
    bicubic enlargement) and, when known, the features of the original; then, when the trained view applies,
    its learned JBU kernel at an edge and in a flat area (marked on the guide)."""
    fv = analysis.views
    scale = analysis.scale
    names = [name for name in VIEW_NAMES if name in fv.views]
    panels = [("input (nearest x3)", np.repeat(np.repeat(fv.window.crop(analysis.lr_region), scale, 0), scale, 1)),
              ("JBU guide: input, bicubic x3", fv.guide)]
    if fv.hr_image is not None:
        panels.append(("features of the original", fv.hr_image))
    titles = [name for name, _ in panels]
    for name in names:
        v = fv.views[name]
        vs = "" if v.hr_similarity is None else f"vs orig. {v.hr_similarity:.2f}, "
        titles.append(f"<b>{name}</b>: {vs}consist. {v.consistency:.2f}")
    cols = 4
    image_rows = -(-(len(panels) + len(names)) // cols)
    kernels = fv.kernels
    rows = image_rows + (kernels is not None)
    if kernels is not None:
        titles += [""] * (image_rows * cols - len(titles))
        for kind in kernels.points:
            titles += [f"guide at the {kind} pixel (7x7)",
                       f"learned kernel there: {kernels.effective_neighbours(kind):.1f} of 49 effective"]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.06)
    images = [image for _, image in panels] + [fv.views[name].image for name in names]
    for i, image in enumerate(images):
        fig.add_trace(image_trace(image), row=i // cols + 1, col=i % cols + 1)
    if kernels is not None:
        _learned_kernel_row(fig, kernels, image_rows + 1)
    hide_axes(fig)
    fig.update_annotations(font=dict(size=11))
    lineage = "<br>".join(f"<b>{name}</b>: {fv.views[name].lineage}" for name in names)
    lineage += "".join(f"<br><b>{name}</b>: {why}" for name, why in fv.missing.items())
    fig.add_annotation(
        text=lineage + "<br>Colours: one PCA of RCAN's deep features (3 directions, "
        f"{100 * sum(fv.pca_explained):.0f}% of their variance) as red, green, blue; same colour = same features.",
        xref="paper", yref="paper", x=0, y=-0.03, xanchor="left", yanchor="top", showarrow=False, align="left",
        font=dict(size=11),
    )
    fig.update_layout(
        title="RCAN's deep features enlarged x3, FeatSharp-style; scores: cosine similarity, -1..1, higher is better",
        height=330 * rows + 280, font=FONT, margin=dict(l=10, r=10, t=80, b=220), plot_bgcolor="white",
    )
    return fig


def _learned_kernel_row(fig: go.Figure, kernels: LearnedKernels, row: int) -> None:
    """The trained view's JBU weights at the edge and the flat pixel, each beside the guide under its window;
    the two pixels are marked on the guide panel (row 1, column 2)."""
    for kind, (y, x) in kernels.points.items():
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers+text", text=[kind], textposition="top center",
                                 marker=dict(size=10, symbol="x", color="red"), textfont=dict(color="red"),
                                 showlegend=False, hoverinfo="skip"), row=1, col=2)
    peak = max(float(w.max()) for w in kernels.weights.values())
    for i, kind in enumerate(kernels.points):
        patch = (np.clip(kernels.patches[kind], 0, 1) * 255 + 0.5).astype(np.uint8)
        fig.add_trace(image_trace(patch), row=row, col=2 * i + 1)
        fig.add_trace(go.Heatmap(z=kernels.weights[kind], colorscale="Viridis", zmin=0, zmax=peak,
                                 showscale=i == 1, colorbar=dict(title="weight", len=0.2, y=0.12),
                                 hovertemplate="weight %{z:.3f}<extra></extra>"), row=row, col=2 * i + 2)
        axis = (row - 1) * 4 + 2 * i + 2  # the heatmap's subplot number: keep its 7x7 cells square
        fig.update_yaxes(scaleanchor=f"x{axis}", row=row, col=2 * i + 2)


def feature_view_metrics_figure(analysis: RCANAnalysis) -> go.Figure:
    """The two scores of each view: against the original's features (when known) and consistency."""
    names = [name for name in VIEW_NAMES if name in analysis.views.views]
    views = [analysis.views.views[name] for name in names]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "vs the original's features (needs the original)", "consistency: shrunk x3 vs input features (necessary only)"))
    for col, values in enumerate([[v.hr_similarity for v in views], [v.consistency for v in views]], start=1):
        fig.add_trace(go.Bar(x=names, y=values, showlegend=False,
                             hovertemplate="%{x}: %{y:.3f}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(range=[-1, 1] if col == 1 else [0, 1], title_text="mean cosine similarity", row=1, col=col)
    fig.update_layout(title="Feature views, scored (higher is better)", height=360, font=FONT,
                      margin=dict(l=50, r=10, t=80, b=40))
    return fig


def rcan_figures(analysis: RCANAnalysis) -> dict[str, go.Figure]:
    """Every RCAN figure by its stable key (the app and the report use the same keys)."""
    return {
        **common_figures(analysis),
        "attention_heatmap": attention_heatmap(analysis),
        "boosted_channels": boosted_channels_figure(analysis),
        "texture_map": texture_map_figure(analysis),
        "feature_views": feature_views_figure(analysis),
        "feature_view_metrics": feature_view_metrics_figure(analysis),
    }


def channel_view_figure(view: ChannelView) -> go.Figure:
    """The chosen channel over the photo (its residual before the gate, signed: red adds, blue takes away), the
    block's gates with the chosen one marked, and the experiment: where the output changes when that one gate is
    set to 0. A linked view: the sliders choose (group, block, channel)."""
    height, width = view.lr_region.shape[:2]
    muted = view.muted
    fig = make_subplots(rows=1, cols=3, column_widths=[0.3, 0.4, 0.3], horizontal_spacing=0.14, subplot_titles=(
        f"channel {view.channel} before its gate",
        f"all {view.gates.size} gates of this block",
        f"its gate set to 0: output change, {muted.mean_abs_change:.2f} levels",
    ))
    fig.add_trace(image_trace(gray(view.lr_region)), row=1, col=1)
    fig.add_trace(map_trace(view.residual, height, width, opacity=0.65, **diverging(view.residual),
                            colorbar=dict(title="feature", x=0.225, len=0.9, thickness=12),
                            hovertemplate="feature %{z:.3g}<extra></extra>"), row=1, col=1)
    colours = ["#e8590c" if c == view.channel else "#adb5bd" for c in range(view.gates.size)]
    fig.add_trace(go.Bar(x=list(range(view.gates.size)), y=view.gates, marker_color=colours, showlegend=False,
                         hovertemplate="channel %{x}<br>gate %{y:.3f}<extra></extra>"), row=1, col=2)
    out_height, out_width = muted.change.shape
    fig.add_trace(map_trace(muted.change, out_height, out_width, colorscale="Inferno", zmin=0,
                            colorbar=dict(title="levels", x=1.0, len=0.9, thickness=12),
                            hovertemplate="change %{z:.2f} levels<extra></extra>"), row=1, col=3)
    for col in (1, 3):
        fig.update_xaxes(showticklabels=False, showgrid=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, showgrid=False, autorange="reversed", scaleanchor=f"x{col}",
                         row=1, col=col)
    fig.update_xaxes(title_text="channel", row=1, col=2)
    fig.update_yaxes(title_text="gate (0..1)", range=[0, 1], row=1, col=2)
    fig.update_layout(
        title=(f"Group {view.group}, block {view.block}, channel {view.channel}: gate {view.gate:.2f} "
               f"(rank {view.gate_rank} of {view.gates.size}), {100 * view.share:.1f}% of what the block adds"),
        height=380, font=FONT, margin=dict(l=10, r=10, t=80, b=50),
    )
    return fig
