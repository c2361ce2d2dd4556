"""Plotly figures of an analysis, and the quality-versus-time chart (the only module that imports plotly).

Kept light for the browser: photos are embedded as PNG data URIs no larger than 384 px a side, maps as small
Heatmap traces (hover shows the values), so a report with every figure stays responsive.
"""
from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from explain.feature_views import VIEW_NAMES
from explain.measures import luminance

if TYPE_CHECKING:
    from explain.analysis import Analysis, BaseAnalysis, SAFMNAnalysis

MAX_IMAGE_SIDE = 384
MAX_MAP_SIDE = 64  # heatmaps overlaid on photos are block-averaged to at most this many cells a side
FONT = dict(size=12)
ARCH_COLOURS = {"RCAN": "#3b5bdb", "SAFMN": "#e8590c"}


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def png_source(image: np.ndarray, max_side: int = MAX_IMAGE_SIDE) -> tuple[str, float]:
    """(data URI of the image as PNG, the downscale factor applied so that its longer side is <= max_side)."""
    pil = Image.fromarray(_to_uint8(image))
    factor = max(pil.size) / max_side if max(pil.size) > max_side else 1.0
    if factor > 1:
        pil = pil.resize((round(pil.width / factor), round(pil.height / factor)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), factor


def _image_trace(image: np.ndarray, pixel: float = 1.0, name: str = "") -> go.Image:
    """A photo whose axis units are `pixel`-sized source pixels, whatever the display downscale."""
    source, factor = png_source(image)
    return go.Image(source=source, dx=pixel * factor, dy=pixel * factor, x0=pixel * factor / 2 - 0.5,
                    y0=pixel * factor / 2 - 0.5, name=name, hoverinfo="skip")


def _enlarged(image: np.ndarray, target: int = 288) -> np.ndarray:
    """Nearest-neighbour enlargement of a small crop, so browsers do not smooth away what we want to show."""
    factor = max(1, target // max(image.shape[:2]))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def _block_mean(values: np.ndarray, max_side: int = MAX_MAP_SIDE) -> tuple[np.ndarray, int]:
    """Average f x f blocks so the map has at most max_side cells a side; returns (map, f)."""
    f = max(1, int(np.ceil(max(values.shape) / max_side)))
    rows, cols = values.shape[0] // f * f, values.shape[1] // f * f
    if f == 1:
        return values, 1
    return values[:rows, :cols].reshape(rows // f, f, cols // f, f).mean(axis=(1, 3)), f


def _cell_centres(n_cells: int, length: int) -> np.ndarray:
    """Pixel coordinates of the centres of n equal cells spanning `length` pixels."""
    return (np.arange(n_cells) + 0.5) * length / n_cells - 0.5


def _gray(image: np.ndarray) -> np.ndarray:
    gray = luminance(image)
    return np.repeat(gray[..., None], 3, axis=2)


def _hide_axes(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")


def _square_pixels(fig: go.Figure, n_cols: int) -> None:
    """Keep heatmap-only panels at the image's aspect ratio (image traces do this by themselves)."""
    for col in range(1, n_cols + 1):
        fig.update_yaxes(scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col)


def attention_heatmap(analysis: Analysis) -> go.Figure:
    """(a) Every block's attention vector: rows group.block, columns channels."""
    n_groups, n_blocks, n_channels = analysis.attention.shape
    labels = [f"G{g + 1}.B{b + 1}" for g in range(n_groups) for b in range(n_blocks)]
    fig = go.Figure(go.Heatmap(
        z=analysis.attention.reshape(-1, n_channels), x=list(range(n_channels)), y=labels,
        colorscale="Viridis", colorbar=dict(title="attention"),
        hovertemplate="block %{y}, channel %{x}<br>attention %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(
        title="Channel attention of every RCAB: the CALayer's sigmoid output on the working region",
        xaxis_title="channel", yaxis_title="group.block", yaxis_autorange="reversed",
        height=min(900, max(320, 22 * len(labels) + 140)), font=FONT, margin=dict(l=70, r=20, t=60, b=50),
    )
    return fig


def boosted_channels_figure(analysis: Analysis, group: int | None = None, block: int | None = None) -> go.Figure:
    """(b) A block's most boosted channels: their |feature map| over the photo. group/block are 0-based."""
    if group is None or block is None:
        group, block = analysis.chosen_block()
    channels = analysis.top_channels[group, block]
    titles = [f"channel {c}: attention {analysis.attention[group, block, c]:.2f}" for c in channels]
    fig = make_subplots(rows=1, cols=len(channels), subplot_titles=titles, horizontal_spacing=0.02)
    photo = _gray(analysis.lr_region)
    height, width = photo.shape[:2]
    for i, c in enumerate(channels):
        values, _ = _block_mean(analysis.top_maps[group, block, i])
        fig.add_trace(_image_trace(photo), row=1, col=i + 1)
        fig.add_trace(go.Heatmap(
            z=values, x=_cell_centres(values.shape[1], width), y=_cell_centres(values.shape[0], height),
            colorscale="Inferno", opacity=0.6, showscale=False,
            hovertemplate=f"channel {c}<br>|feature| %{{z:.3g}}<extra></extra>",
        ), row=1, col=i + 1)
    _hide_axes(fig)
    fig.update_layout(
        title=f"Group {group + 1}, block {block + 1}: its most boosted channels, feature magnitude over the photo",
        height=330, font=FONT, margin=dict(l=10, r=10, t=80, b=10),
    )
    return fig


def texture_map_figure(analysis: Analysis) -> go.Figure:
    """(c) Per tile, the attention given to texture channels, over the photo; and against tile texture energy."""
    ta = analysis.texture_attention
    ny, nx = ta.texture_map.shape
    height, width = analysis.lr_region.shape[:2]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5], horizontal_spacing=0.16, subplot_titles=(
        f"attention to {ta.basis}, per {analysis.tile_size}-px tile",
        f"tiles: r = {ta.correlation:.2f} between attention and texture energy",
    ))
    fig.add_trace(_image_trace(_gray(analysis.lr_region)), row=1, col=1)
    fig.add_trace(go.Heatmap(
        z=ta.texture_map, x=_cell_centres(nx, width), y=_cell_centres(ny, height), colorscale="Viridis",
        opacity=0.55, colorbar=dict(title="attention", x=0.43),
        hovertemplate="attention %{z:.3f}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=ta.tile_hf.ravel(), y=ta.texture_map.ravel(), mode="markers", marker=dict(size=7, opacity=0.7),
        hovertemplate="texture energy %{x:.3g}<br>attention %{y:.3f}<extra></extra>", showlegend=False,
    ), row=1, col=2)
    fig.update_xaxes(showticklabels=False, showgrid=False, row=1, col=1)
    fig.update_yaxes(showticklabels=False, showgrid=False, autorange="reversed", row=1, col=1)
    fig.update_xaxes(title_text="tile high-frequency energy", row=1, col=2)
    fig.update_yaxes(title_text="attention (texture channels)", row=1, col=2)
    fig.update_layout(
        title=(f"Texture map: most textured tiles get {ta.textured_mean:.3f}, least textured {ta.flat_mean:.3f}"),
        height=420, font=FONT, margin=dict(l=10, r=10, t=80, b=50),
    )
    return fig


def feature_views_figure(analysis: Analysis) -> go.Figure:
    """The six x3 views of RCAN's deep features (one shared PCA), next to the input and output."""
    fv = analysis.views
    scale = analysis.scale
    panels = [("input (nearest x3)", np.repeat(np.repeat(fv.window.crop(analysis.lr_region), scale, 0), scale, 1)),
              ("output (JBU guidance)", fv.guide)]
    titles = [name for name, _ in panels]
    for name in VIEW_NAMES:
        v = fv.views[name]
        titles.append(f"<b>{name}</b>: edge r {v.edge_alignment:.2f}, HF {100 * v.hf_energy:.0f}%, "
                      f"fid. {v.fidelity:.2f}")
    fig = make_subplots(rows=2, cols=4, subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.08)
    images = [image for _, image in panels] + [fv.views[name].image for name in VIEW_NAMES]
    for i, image in enumerate(images):
        fig.add_trace(_image_trace(image), row=i // 4 + 1, col=i % 4 + 1)
    _hide_axes(fig)
    fig.update_annotations(font=dict(size=11))
    lineage = "<br>".join(f"<b>{name}</b>: {fv.views[name].lineage}" for name in VIEW_NAMES)
    fig.add_annotation(
        text=lineage + "<br>Colours: one PCA of the deep features F (3 components, "
        f"{100 * sum(fv.pca_explained):.0f}% of their variance), the same projection for every view.",
        xref="paper", yref="paper", x=0, y=-0.04, xanchor="left", yanchor="top", showarrow=False, align="left",
        font=dict(size=11),
    )
    fig.update_layout(
        title="RCAN's deep features enlarged x3, FeatSharp-style (which views follow FeatSharp is said below)",
        height=820, font=FONT, margin=dict(l=10, r=10, t=80, b=190),
    )
    return fig


def feature_view_metrics_figure(analysis: Analysis) -> go.Figure:
    """The three numbers of each view side by side."""
    views = [analysis.views.views[name] for name in VIEW_NAMES]
    fig = make_subplots(rows=1, cols=3, subplot_titles=(
        "edge alignment (r with output gradients)", "energy beyond input Nyquist (share)",
        "multi-view fidelity (variance / MSE)"))
    for col, values in enumerate([[v.edge_alignment for v in views], [v.hf_energy for v in views],
                                  [v.fidelity for v in views]], start=1):
        fig.add_trace(go.Bar(x=list(VIEW_NAMES), y=values, showlegend=False,
                             hovertemplate="%{x}: %{y:.3f}<extra></extra>"), row=1, col=col)
    fig.update_layout(title="Feature views, scored", height=360, font=FONT, margin=dict(l=40, r=10, t=80, b=40))
    return fig


def texture_evidence_figure(analysis: BaseAnalysis) -> go.Figure:
    """Zoomed crops at the most textured spot, bicubic vs the model, and their radially averaged spectra."""
    tex, model = analysis.texture, analysis.model_name
    nyquist = 0.5 / analysis.scale
    fig = make_subplots(rows=1, cols=3, column_widths=[0.3, 0.3, 0.4], subplot_titles=(
        "bicubic (MATLAB imresize)", model,
        f"spectra: {model}/bicubic beyond input Nyquist = {tex.hf_energy_ratio:.2f}x"))
    fig.add_trace(_image_trace(_enlarged(tex.bicubic_zoom)), row=1, col=1)
    fig.add_trace(_image_trace(_enlarged(tex.rcan_zoom)), row=1, col=2)
    for name, power in (("bicubic", tex.power_bicubic), (model, tex.power_rcan)):
        keep = power > 0
        fig.add_trace(go.Scatter(x=tex.frequencies[keep], y=power[keep], mode="lines", name=name,
                                 hovertemplate=f"{name}: f=%{{x:.3f}}, power %{{y:.3g}}<extra></extra>"),
                      row=1, col=3)
    fig.add_vline(x=nyquist, line_dash="dash", annotation_text="input Nyquist", row=1, col=3)
    for col in (1, 2):
        fig.update_xaxes(showticklabels=False, showgrid=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, showgrid=False, autorange="reversed", row=1, col=col)
    fig.update_xaxes(title_text="frequency (cycles per output pixel)", row=1, col=3)
    fig.update_yaxes(type="log", title_text="power", row=1, col=3)
    fig.update_layout(title="Texture evidence at the most textured spot (zoomed crops) and over the working region",
                      height=420, font=FONT, margin=dict(l=10, r=10, t=80, b=50),
                      legend=dict(x=0.98, xanchor="right", y=0.98))
    return fig


def original_errors_figure(analysis: BaseAnalysis) -> go.Figure:
    """|Y error| against the original for bicubic and the model, with PSNR/SSIM (RCAN paper protocol)."""
    o = analysis.texture.original
    assert o is not None
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04, subplot_titles=(
        f"bicubic: {o.psnr_bicubic:.2f} dB, SSIM {o.ssim_bicubic:.4f}",
        f"{analysis.model_name}: {o.psnr_rcan:.2f} dB, SSIM {o.ssim_rcan:.4f}"))
    top = float(np.percentile(np.concatenate([o.error_bicubic.ravel(), o.error_rcan.ravel()]), 99)) or 1.0
    for col, error in ((1, o.error_bicubic), (2, o.error_rcan)):
        values, _ = _block_mean(error, 192)
        height, width = error.shape
        fig.add_trace(go.Heatmap(
            z=values, x=_cell_centres(values.shape[1], width), y=_cell_centres(values.shape[0], height),
            colorscale="Magma", zmin=0, zmax=top, showscale=col == 2,
            hovertemplate="|error| %{z:.1f} (Y, 0..255)<extra></extra>"), row=1, col=col)
    _hide_axes(fig)
    _square_pixels(fig, 2)
    fig.update_layout(title=f"Error against the original ({o.size[0]}x{o.size[1]}), Y channel, brighter = worse",
                      height=420, font=FONT, margin=dict(l=10, r=10, t=80, b=10), plot_bgcolor="white")
    return fig


def workflow_figure(analysis: BaseAnalysis) -> go.Figure:
    """The run as a pipeline: one box per stage (shape, parameters), with its time as a bar beside it."""
    stages = analysis.workflow
    longest = max(stage.seconds for stage in stages) or 1.0
    fig = go.Figure()
    for i, stage in enumerate(stages):
        y = -i
        fig.add_shape(type="rect", x0=0, x1=1, y0=y - 0.35, y1=y + 0.35, line=dict(color="#555"),
                      fillcolor="#e8f0fe" if stage.params else "#f4f4f4")
        shape = "x".join(str(n) for n in stage.shape)
        params = f", {stage.params:,} params" if stage.params else ""
        fig.add_annotation(x=0.5, y=y, text=f"<b>{stage.name}</b>: {shape}{params}", showarrow=False)
        fig.add_shape(type="rect", x0=1.08, x1=1.08 + 0.8 * stage.seconds / longest, y0=y - 0.25, y1=y + 0.25,
                      fillcolor="#f4a261", line=dict(width=0))
        fig.add_annotation(x=1.1, y=y, text=f"{1000 * stage.seconds:.0f} ms", showarrow=False, xanchor="left")
        if i:
            fig.add_annotation(x=0.5, y=y + 0.35, ax=0.5, ay=y + 0.65, xref="x", yref="y", axref="x", ayref="y",
                               showarrow=True, arrowhead=2, text="")
    fig.add_trace(go.Scatter(
        x=[0.5] * len(stages), y=[-i for i in range(len(stages))], mode="markers", marker=dict(opacity=0),
        hovertext=[f"{s.name}: {s.detail}" for s in stages], hoverinfo="text", showlegend=False))
    fig.update_xaxes(visible=False, range=[-0.02, 2.0])
    fig.update_yaxes(visible=False, range=[-len(stages) + 0.4, 0.6])
    fig.update_layout(title="Workflow of this run: input -> model -> output (shapes on the working region; "
                      "hover a box for what it does)",
                      height=60 * len(stages) + 100, font=FONT, margin=dict(l=10, r=10, t=60, b=10),
                      plot_bgcolor="white")
    return fig


def safm_modulation_figure(analysis: SAFMNAnalysis) -> go.Figure:
    """The photo, then one panel per block: SAFM's modulation strength (mean |m| over channels) over the photo."""
    maps, relation = analysis.modulation, analysis.modulation_texture
    n_panels = len(maps) + 1
    cols = math.ceil(math.sqrt(n_panels))
    rows = math.ceil(n_panels / cols)
    titles = ["input (working region)"] + [
        f"block {i + 1}: mean {block_map.mean():.2f}, r {relation.correlation[i]:.2f}"
        for i, block_map in enumerate(maps)]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.06)
    photo = _gray(analysis.lr_region)
    height, width = photo.shape[:2]
    fig.add_trace(_image_trace(analysis.lr_region), row=1, col=1)
    for i, block_map in enumerate(maps, start=1):
        values, _ = _block_mean(block_map)
        # Each block on its own scale (where, not how much), set by the interior: the zero padding darkens the
        # image border, which would otherwise take the bottom of the scale.
        interior = values[1:-1, 1:-1] if min(values.shape) > 4 else values
        low, high = np.percentile(interior, [2, 98])
        row, col = i // cols + 1, i % cols + 1
        fig.add_trace(_image_trace(photo), row=row, col=col)
        fig.add_trace(go.Heatmap(
            z=values, x=_cell_centres(values.shape[1], width), y=_cell_centres(values.shape[0], height),
            colorscale="Inferno", zmin=float(low), zmax=float(high) if high > low else float(low) + 1e-6,
            opacity=0.65, showscale=False, hovertemplate=f"block {i}<br>mean |m| %{{z:.3f}}<extra></extra>",
        ), row=row, col=col)
    _hide_axes(fig)
    fig.update_annotations(font=dict(size=11))
    fig.update_layout(
        title="SAFM modulation per block: bright = amplified, dark = suppressed",
        height=260 * rows + 90, font=FONT, margin=dict(l=10, r=10, t=80, b=10),
    )
    return fig


def quality_vs_time_figure(data: dict) -> go.Figure:
    """PSNR on Set5 against milliseconds per output megapixel (log scale): the bundled models as measured on
    this machine, and the full-size models at their published PSNR, joined to the bundled model of the same
    architecture. `data` is explain/quality_vs_time.json (bench/quality_vs_time.py)."""
    points = data["points"]
    log_x = np.log10([p["ms_per_mp"] for p in points])
    psnr = [p["psnr_set5"] for p in points]
    middle = (log_x.min() + log_x.max()) / 2
    fig = go.Figure()
    for arch in sorted({p["arch"] for p in points}):
        pair = [p for p in points if p["arch"] == arch]
        if len(pair) == 2:
            fig.add_trace(go.Scatter(
                x=[p["ms_per_mp"] for p in pair], y=[p["psnr_set5"] for p in pair], mode="lines",
                line=dict(color="#bbb", dash="dot"), hoverinfo="skip", showlegend=False))
    styles = {
        "measured": ("bundled model: PSNR and speed measured here", dict(symbol="circle", size=13)),
        "published": ("full-size model: published PSNR, speed measured here (random weights)",
                      dict(symbol="diamond-open", size=14, line=dict(width=2))),
    }
    for kind, (name, marker) in styles.items():
        chosen = [p for p in points if p["kind"] == kind]
        if not chosen:
            continue
        fig.add_trace(go.Scatter(
            x=[p["ms_per_mp"] for p in chosen], y=[p["psnr_set5"] for p in chosen], mode="markers+text",
            name=name, text=[p["label"] for p in chosen],
            textposition=["top right" if math.log10(p["ms_per_mp"]) <= middle else "top left" for p in chosen],
            marker=dict(color=[ARCH_COLOURS.get(p["arch"], "#555") for p in chosen], **marker),
            customdata=[[p["n_params"] / 1e6, p["psnr_source"], p["speed_source"]] for p in chosen],
            hovertemplate=("<b>%{text}</b><br>%{y:.2f} dB (%{customdata[1]})<br>%{x:,.0f} ms per output MP "
                           "(%{customdata[2]})<br>%{customdata[0]:.2f} M parameters<extra></extra>"),
        ))
    machine = data["machine"]
    fig.update_xaxes(type="log", title_text="milliseconds per output megapixel (log scale; left is faster)",
                     range=[log_x.min() - 0.3, log_x.max() + 0.3])  # room for the labels beside the end points
    fig.update_yaxes(title_text="PSNR on Set5 x3 (dB, Y channel)", range=[min(psnr) - 0.4, max(psnr) + 0.4])
    fig.update_layout(
        title=f"Quality versus time on {machine['cpu']} ({machine['threads']} threads, {machine['date'][:10]})",
        height=520, font=FONT, margin=dict(l=60, r=20, t=60, b=120),
        legend=dict(orientation="h", x=0, xanchor="left", y=-0.2, yanchor="top"),
    )
    return fig


def build_figures(analysis: BaseAnalysis) -> dict[str, go.Figure]:
    """Every figure of the analysis, keyed by a stable name (the app and the report use the same keys).
    RCAN: workflow, attention_heatmap, boosted_channels, texture_map, feature_views, feature_view_metrics,
    texture_evidence; SAFMN: workflow, safm_modulation, texture_evidence; either: original_errors with an original."""
    figures = {"workflow": workflow_figure(analysis)}
    if analysis.model_name == "SAFMN":
        figures["safm_modulation"] = safm_modulation_figure(analysis)
    else:
        figures.update({
            "attention_heatmap": attention_heatmap(analysis),
            "boosted_channels": boosted_channels_figure(analysis),
            "texture_map": texture_map_figure(analysis),
            "feature_views": feature_views_figure(analysis),
            "feature_view_metrics": feature_view_metrics_figure(analysis),
        })
    figures["texture_evidence"] = texture_evidence_figure(analysis)
    if analysis.texture.original is not None:
        figures["original_errors"] = original_errors_figure(analysis)
    return figures
