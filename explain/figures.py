"""The figures every architecture shares (texture evidence and ground truth, error maps, experiments, workflow),
and the helpers the architectures' own figures use (`explain/<arch>/figures.py`); the quality-versus-time
chart is explain/quality_chart.py.

Colour scales are fixed where a value has a meaning of its own: signed differences use a diverging scale centred
at 0 (blue below, white at 0, red above), symmetric about 0; every colourbar names its unit.

Kept light for the browser: photos are embedded as PNG data URIs no larger than 384 px a side, maps as small
Heatmap traces (hover shows the values), so a report with every figure stays responsive.
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from explain.distill_study import add_study_panels, load_study
from explain.explainers import arch_colour
from explain.lesson import title_main_path
from explain.measures import luminance
from explain.results import BaseAnalysis
from explain.workflow import chw
from sr_core.image_io import to_uint8

MAX_IMAGE_SIDE = 384
MAX_MAP_SIDE = 64  # heatmaps overlaid on photos are block-averaged to at most this many cells a side
FONT = dict(size=12)
DIVERGING = "RdBu_r"  # blue < 0 < red, white at 0
LEVELS = "brightness levels (0..255)"


def png_source(image: np.ndarray, max_side: int = MAX_IMAGE_SIDE) -> tuple[str, float]:
    """(data URI of the image as PNG, the downscale factor applied so that its longer side is <= max_side)."""
    pil = Image.fromarray(image if image.dtype == np.uint8 else to_uint8(image))
    factor = max(pil.size) / max_side if max(pil.size) > max_side else 1.0
    if factor > 1:
        pil = pil.resize((round(pil.width / factor), round(pil.height / factor)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), factor


def image_trace(image: np.ndarray, pixel: float = 1.0, name: str = "") -> go.Image:
    """A photo whose axis units are `pixel`-sized source pixels, whatever the display downscale."""
    source, factor = png_source(image)
    return go.Image(source=source, dx=pixel * factor, dy=pixel * factor, x0=pixel * factor / 2 - 0.5,
                    y0=pixel * factor / 2 - 0.5, name=name, hoverinfo="skip")


def enlarged(image: np.ndarray, target: int = 288) -> np.ndarray:
    """Nearest-neighbour enlargement of a small crop, so browsers do not smooth away what we want to show."""
    factor = max(1, target // max(image.shape[:2]))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def block_mean(values: np.ndarray, max_side: int = MAX_MAP_SIDE) -> tuple[np.ndarray, int]:
    """Average f x f blocks so the map has at most max_side cells a side; returns (map, f)."""
    f = max(1, int(np.ceil(max(values.shape) / max_side)))
    rows, cols = values.shape[0] // f * f, values.shape[1] // f * f
    if f == 1:
        return values, 1
    return values[:rows, :cols].reshape(rows // f, f, cols // f, f).mean(axis=(1, 3)), f


def cell_centres(n_cells: int, length: int) -> np.ndarray:
    """Pixel coordinates of the centres of n equal cells spanning `length` pixels."""
    return (np.arange(n_cells) + 0.5) * length / n_cells - 0.5


def gray(image: np.ndarray) -> np.ndarray:
    gray = luminance(image)
    return np.repeat(gray[..., None], 3, axis=2)


def hide_axes(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")


def square_pixels(fig: go.Figure, n_cols: int) -> None:
    """Keep heatmap-only panels at the image's aspect ratio (image traces do this by themselves)."""
    for col in range(1, n_cols + 1):
        fig.update_yaxes(scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col)


def diverging(values: np.ndarray) -> dict:
    """Heatmap colour settings for signed values: centred at 0, symmetric, so white always means 'no change'."""
    top = float(np.percentile(np.abs(values), 99)) or 1.0
    return dict(colorscale=DIVERGING, zmid=0.0, zmin=-top, zmax=top)


def map_trace(values: np.ndarray, height: int, width: int, max_side: int = MAX_MAP_SIDE, **style) -> go.Heatmap:
    """A per-pixel map block-averaged for the browser, placed on the pixel grid of a height x width image."""
    cells, _ = block_mean(values, max_side)
    return go.Heatmap(z=cells, x=cell_centres(cells.shape[1], width), y=cell_centres(cells.shape[0], height),
                      **style)


def texture_evidence_figure(analysis: BaseAnalysis) -> go.Figure:
    """Zoomed crops at the most textured spot (original | bicubic | model when the original is known) and the
    radially averaged spectra of the region, the original's as the third curve."""
    tex, model = analysis.texture, analysis.model_name
    nyquist = 0.5 / analysis.scale
    crops = [("bicubic (MATLAB imresize)", tex.bicubic_zoom), (model, tex.model_zoom)]
    curves = [("bicubic", tex.power_bicubic, "#868e96"),
              (f"{model} ({tex.hf_energy_ratio:.2f}x)", tex.power_model, arch_colour(model))]
    if tex.original_zoom is not None:
        crops.insert(0, ("original", tex.original_zoom))
        curves.append((f"original ({tex.hf_energy_ratio_original:.2f}x)", tex.power_original, "#2b8a3e"))
    n = len(crops)
    widths = [0.6 / n] * n + [0.4]
    title = "spectra (n x: fine detail over bicubic's)"
    fig = make_subplots(rows=1, cols=n + 1, column_widths=widths, horizontal_spacing=0.09,  # room for "power"
                        subplot_titles=[c for c, _ in crops] + [title])
    for col, (_, crop) in enumerate(crops, start=1):
        fig.add_trace(image_trace(enlarged(crop)), row=1, col=col)
    for name, power, colour in curves:
        keep = power > 0
        fig.add_trace(go.Scatter(x=tex.frequencies[keep], y=power[keep], mode="lines", name=name,
                                 line=dict(color=colour, width=3 if name.startswith("original") else 2),
                                 hovertemplate=f"{name}: f=%{{x:.3f}}, power %{{y:.3g}}<extra></extra>"),
                      row=1, col=n + 1)
    fig.add_vline(x=nyquist, line_dash="dash", annotation_text="input Nyquist", annotation_position="bottom right",
                  row=1, col=n + 1)  # at the bottom: the legend fills the top right
    for col in range(1, n + 1):
        fig.update_xaxes(showticklabels=False, showgrid=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, showgrid=False, autorange="reversed", row=1, col=col)
    fig.update_xaxes(title_text="frequency (right = finer)", row=1, col=n + 1)
    fig.update_yaxes(type="log", title_text="power", row=1, col=n + 1)
    heading = ("Ground truth: close to the original's curve = real detail; above it = invented detail"
               if tex.original_zoom is not None else
               "Texture evidence: bicubic vs the network at the zoomed spot (no original given)")
    fig.update_layout(title=heading, height=420, font=FONT, margin=dict(l=10, r=10, t=80, b=50),
                      legend=dict(x=0.98, xanchor="right", y=0.98))
    return fig


def original_errors_figure(analysis: BaseAnalysis) -> go.Figure:
    """|Y error| against the original for bicubic and the model, border shaved as the protocol does, one shared
    colour scale in brightness levels."""
    o = analysis.texture.original
    assert o is not None
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04, subplot_titles=(
        f"bicubic: PSNR {o.psnr_bicubic:.2f} dB, SSIM {o.ssim_bicubic:.4f}",
        f"{analysis.model_name}: PSNR {o.psnr_model:.2f} dB, SSIM {o.ssim_model:.4f}"))
    top = float(np.percentile(np.concatenate([o.error_bicubic.ravel(), o.error_model.ravel()]), 99)) or 1.0
    for col, error in ((1, o.error_bicubic), (2, o.error_model)):
        height, width = error.shape
        fig.add_trace(map_trace(
            error, height, width, 192, colorscale="Magma", zmin=0, zmax=top, showscale=col == 2,
            colorbar=dict(title="|Y error|<br>levels (0..255)"),
            hovertemplate="|error| %{z:.1f} brightness levels (Y, 0..255)<extra></extra>"), row=1, col=col)
    hide_axes(fig)
    square_pixels(fig, 2)
    fig.update_layout(title=f"Error against the original ({o.size[0]}x{o.size[1]}, {o.shave}-px border shaved), "
                      "Y channel, brighter = worse", height=420, font=FONT, margin=dict(l=10, r=10, t=80, b=10),
                      plot_bgcolor="white")
    return fig


def depth_figure(analysis: BaseAnalysis) -> go.Figure:
    """The network cut to its first k groups/blocks: the output at the zoomed spot for each k; below, fine-detail
    energy against k and, when the original is known, PSNR against k, each in a panel with its own y-axis."""
    e, tex = analysis.experiments, analysis.texture
    steps = e.depth
    n = len(steps)
    has_psnr = steps[0].psnr is not None and n > 1
    left = (n + 1) // 2 if has_psnr else n
    lower = [{"colspan": left}] + [None] * (left - 1)
    if has_psnr:
        lower += [{"colspan": n - left}] + [None] * (n - left - 1)
    fig = make_subplots(
        rows=2, cols=n, specs=[[{}] * n, lower], row_heights=[0.45, 0.55], vertical_spacing=0.14,
        horizontal_spacing=0.1,
        subplot_titles=[f"k = {s.depth}" for s in steps] + ["fine detail against k"] +
                       (["PSNR against the original"] if has_psnr else []))
    for col, step in enumerate(steps, start=1):
        fig.add_trace(image_trace(tex.zoom.crop(step.output, analysis.scale)), row=1, col=col)
    k = [s.depth for s in steps]
    fig.add_trace(go.Scatter(x=k, y=[s.hf_energy_ratio for s in steps], mode="lines+markers",
                             name="fine-detail energy (x bicubic)", line=dict(color="#e8590c"), showlegend=False,
                             hovertemplate="k=%{x}: %{y:.2f}x bicubic<extra></extra>"), row=2, col=1)
    truth, curve = tex.hf_energy_ratio_original, [s.hf_energy_ratio for s in steps]
    if truth is not None and math.isfinite(truth) and truth <= 2 * max(curve):
        fig.add_hline(y=truth, line_dash="dot", line_color="#2b8a3e",
                      annotation_text="the original's", annotation_position="top left", row=2, col=1)
    elif truth is not None and math.isfinite(truth):  # far above: a line there would flatten the curve
        fig.add_annotation(text=f"the original's: {truth:.1f}x, off this scale", xref="x domain", yref="y domain",
                           x=0.02, y=0.98, xanchor="left", yanchor="top", showarrow=False, font=dict(size=11),
                           row=2, col=1)
    if has_psnr:
        fig.add_trace(go.Scatter(x=k, y=[s.psnr for s in steps], mode="lines+markers", name="PSNR vs original (dB)",
                                 line=dict(color="#3b5bdb"), showlegend=False,
                                 hovertemplate="k=%{x}: %{y:.2f} dB<extra></extra>"), row=2, col=left + 1)
        fig.update_xaxes(title_text=f"k = {e.unit} kept", dtick=1, row=2, col=left + 1)
        fig.update_yaxes(title_text="PSNR (dB)", row=2, col=left + 1)
    for col in range(1, n + 1):
        fig.update_xaxes(showticklabels=False, showgrid=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, showgrid=False, autorange="reversed", row=1, col=col)
    fig.update_xaxes(title_text=f"k = {e.unit} kept (the rest bypassed)", dtick=1, row=2, col=1)
    fig.update_yaxes(title_text="fine detail (x bicubic)", row=2, col=1)
    fig.update_layout(title=f"Depth: the same network with only its first k {e.unit}", height=560, font=FONT,
                      margin=dict(l=50, r=20, t=80, b=50))
    return fig


def ablation_figure(analysis: BaseAnalysis) -> go.Figure:
    """Top, the trained network's output and each knock-out's altered output; below, where each changed the
    brightness. The knock-outs damage a network trained with the part: the titles say so."""
    abls = list(analysis.experiments.ablations.values())
    height, width = analysis.sr_region.shape[:2]
    titles = ([f"{analysis.model_name} as trained"] + [f"{a.name.replace('_', ' ')}: the altered output"
                                                       for a in abls] +
              ["input (where the texture is)"] + [f"|change|: mean {a.mean_abs_change:.2f} levels, "
                                                  f"{100 * a.texture_share_of_change:.0f}% on the textured quarter"
                                                  for a in abls])
    fig = make_subplots(rows=2, cols=len(abls) + 1, horizontal_spacing=0.1, vertical_spacing=0.08,
                        subplot_titles=titles)
    fig.add_trace(image_trace(analysis.sr_region), row=1, col=1)
    fig.add_trace(image_trace(analysis.lr_region, analysis.scale), row=2, col=1)
    zmax = max(float(np.percentile(a.change, 99)) for a in abls) or 1.0  # one scale: the maps are compared
    for col, a in enumerate(abls, start=2):
        fig.add_trace(image_trace(a.output), row=1, col=col)
        domain = fig.layout[f"xaxis{col + len(abls) + 1}"].domain
        fig.add_trace(map_trace(a.change, height, width, 96, colorscale="Magma", zmin=0, zmax=zmax,
                                colorbar=dict(title="levels", x=domain[1] + 0.005, y=0.25, len=0.45, thickness=12),
                                showscale=col == len(abls) + 1,
                                hovertemplate="|change| %{z:.2f} brightness levels<extra></extra>"), row=2, col=col)
    hide_axes(fig)
    for index in range(1, 2 * (len(abls) + 1) + 1):
        fig.update_yaxes(scaleanchor=f"x{index}", autorange="reversed", row=(index - 1) // (len(abls) + 1) + 1,
                         col=(index - 1) % (len(abls) + 1) + 1)
    fig.update_layout(title="Knock-outs at run time: damage to the trained network, not a part's contribution",
                      height=640, font=FONT, margin=dict(l=10, r=10, t=80, b=10), plot_bgcolor="white")
    fig.update_annotations(font=dict(size=11))
    return fig


def retrained_figure(analysis: BaseAnalysis) -> go.Figure:
    """The zoomed spot enlarged by the networks retrained without one part each (the data arms are the training-data
    figure's), after the original and bicubic for reference, each titled with its PSNR against the original and
    its fine-detail energy."""
    tex, s = analysis.texture, analysis.scale
    arms = [a for a in analysis.retrained.arms if not a.arm.startswith("data_")]
    reference = [("original", tex.original_zoom)] if tex.original_zoom is not None else []
    reference.append(("bicubic", tex.bicubic_zoom))
    return crop_grid([(name, crop) for name, crop in reference] +
                     [(arm_title(a), tex.zoom.crop(a.output, s)) for a in arms],
                     "Retrained without one part each: the same spot, PSNR against the original and fine-detail "
                     "energy (x bicubic's)")


def arm_title(arm) -> str:  # noqa: ANN001 - explain.retrained.ArmRun
    psnr = "" if arm.psnr is None else f"{arm.psnr:.2f} dB, "
    return f"{arm.label}<br>{psnr}detail {arm.detail_ratio:.2f}x"


def crop_grid(crops: list[tuple[str, np.ndarray]], title: str, cols: int = 4) -> go.Figure:
    """Crops of one spot side by side (rows of `cols`), each enlarged without smoothing, on the photo's own
    brightness scale, each titled."""
    rows = -(-len(crops) // cols)
    cols = min(cols, len(crops))
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.02, vertical_spacing=0.3 / rows,
                        subplot_titles=[name for name, _ in crops])
    for i, (_, crop) in enumerate(crops):
        fig.add_trace(image_trace(enlarged(crop, 192)), row=i // cols + 1, col=i % cols + 1)
    hide_axes(fig)
    for index in range(1, rows * cols + 1):
        fig.update_yaxes(scaleanchor=f"x{index}", autorange="reversed", row=(index - 1) // cols + 1,
                         col=(index - 1) % cols + 1)
    fig.update_layout(title=title, height=90 + 250 * rows, font=FONT, margin=dict(l=10, r=10, t=110, b=10),
                      plot_bgcolor="white")
    fig.update_annotations(font=dict(size=10))
    return fig


def retrained_effects_figure(analysis: BaseAnalysis) -> go.Figure:
    """Each mechanism's effect in dB with its 95% interval, on this photo (when the original is known) and in the
    study (Set14's textured tiles), on one axis with 0 marked: a bar that crosses 0 is no measurable difference."""
    fig = go.Figure()
    claims = analysis.retrained.claims
    names = [c.mechanism for c in claims]
    series = [("the study: Set14 textured tiles", [c.study for c in claims], "#868e96")]
    if any(c.evidence == "this photo" for c in claims):
        series.insert(0, ("this photo: textured tiles", [c.effect for c in claims], "#3b5bdb"))
    for label, effects, colour in series:
        present = [(n, e) for n, e in zip(names, effects) if e is not None]
        fig.add_trace(go.Scatter(
            x=[e.effect_db for _, e in present], y=[n for n, _ in present], mode="markers", name=label,
            orientation="h", offsetgroup=label, marker=dict(color=colour, size=11),
            error_x=dict(type="data", symmetric=False, array=[e.high - e.effect_db for _, e in present],
                         arrayminus=[e.effect_db - e.low for _, e in present], thickness=2, width=6),
            hovertemplate="%{y}: %{x:+.3f} dB<extra>" + label + "</extra>"))
    fig.add_vline(x=0, line_color="#495057", line_width=1)
    fig.update_xaxes(title_text="dB lost on textured tiles when the part is removed (right of 0: it keeps texture)",
                     zeroline=False)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="What each part does for textures, measured by retraining without it (95% intervals)",
                      height=360, font=FONT, margin=dict(l=10, r=10, t=70, b=60), scattermode="group",
                      legend=dict(orientation="h", y=-0.35))
    return fig


def added_detail_figure(analysis: BaseAnalysis) -> go.Figure:
    """The network's output minus bicubic's (brightness), signed, on a diverging scale centred at 0."""
    added = analysis.experiments.added
    height, width = added.shape
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04,
                        subplot_titles=("input", f"{analysis.model_name} minus bicubic (red brighter, blue darker)"))
    fig.add_trace(image_trace(analysis.lr_region, analysis.scale), row=1, col=1)
    fig.add_trace(map_trace(added, height, width, 128, **diverging(added), colorbar=dict(title="levels"),
                            hovertemplate="%{z:+.1f} brightness levels<extra></extra>"), row=1, col=2)
    hide_axes(fig)
    fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig.update_layout(title=f"What the network adds over bicubic, {LEVELS}, 0 = white", height=420, font=FONT,
                      margin=dict(l=10, r=10, t=80, b=10), plot_bgcolor="white")
    return fig


def photo_figure(analysis: BaseAnalysis) -> go.Figure:
    """The working region as the network received it (each pixel a square) beside its enlargement."""
    s, model = analysis.scale, analysis.model_name
    height, width = analysis.lr_region.shape[:2]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.03, subplot_titles=(
        f"what the network received: {width} × {height} pixels", f"{model}, ×{s}: {width * s} × {height * s} pixels"))
    fig.add_trace(image_trace(analysis.lr_region, s), row=1, col=1)
    fig.add_trace(image_trace(analysis.sr_region), row=1, col=2)
    hide_axes(fig)
    fig.update_layout(title=f"Your photo enlarged ×{s}", height=460, font=FONT, margin=dict(l=10, r=10, t=80, b=10),
                      plot_bgcolor="white")
    return fig


def training_data_figure(analysis: BaseAnalysis, study: list[dict] | None) -> go.Figure | None:
    """Top, the zoomed spot enlarged by networks that differ only in their training data (the study's textured
    and flat arms; for a JPEG, the default model trained on clean photos and on JPEGs); below, the dataset-distillation study's PSNR on Set14 against the share of the data, with the
    seed noise as error bars. None when this copy has neither."""
    tex, s = analysis.texture, analysis.scale
    arms = [] if analysis.retrained is None else [a for a in analysis.retrained.arms
                                                  if a.arm.startswith("data_") and not a.arm.endswith("seed1")]
    crops = ([("original", tex.original_zoom)] if tex.original_zoom is not None else []) + \
        [(arm_title(a), tex.zoom.crop(a.output, s)) for a in arms]
    if analysis.jpeg is not None:  # what a network learned from: clean photos or JPEGs, on this JPEG
        crops += [(f"{analysis.jpeg.label(name)}<br>detail {analysis.jpeg.detail[name].off_grid:.2f}x off the 8x8 grid, "
                   f"{analysis.jpeg.detail[name].on_grid:.2f}x on it", zoom)
                  for name, zoom in analysis.jpeg.zooms.items()]
    has_crops = bool(arms) or analysis.jpeg is not None
    if not has_crops and not study:
        return None
    n = len(crops) if has_crops else 1
    specs = ([[{}] * n] if has_crops else []) + ([[{"colspan": n}] + [None] * (n - 1)] if study else [])
    titles = ([name for name, _ in crops] if has_crops else []) + (["PSNR on Set14 against the share of the data"]
                                                                  if study else [])
    fig = make_subplots(rows=len(specs), cols=n, specs=specs, subplot_titles=titles, vertical_spacing=0.18,
                        horizontal_spacing=0.02, row_heights=[0.55, 0.45] if len(specs) == 2 else None)
    if has_crops:
        for col, (_, crop) in enumerate(crops, start=1):
            fig.add_trace(image_trace(enlarged(crop, 192)), row=1, col=col)
            fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=1, col=col)
            fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed",
                             scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col)
    if study:
        add_study_panels(fig, study, row=len(specs), cols={"set14": 1})
    fig.update_layout(title="What a network learned from decides what it treats as texture",
                      height=300 + 240 * len(specs), font=FONT, margin=dict(l=60, r=20, t=100, b=110),
                      legend=dict(orientation="h", x=0, xanchor="left", y=-0.2, yanchor="top"))
    fig.update_annotations(font=dict(size=10))
    return fig


def common_figures(analysis: BaseAnalysis) -> dict[str, go.Figure]:
    """The figures every architecture gets, by their stable keys, the main path titled with its claims."""
    figures = {
        "photo": photo_figure(analysis),
        "texture_evidence": texture_evidence_figure(analysis),
        "depth": depth_figure(analysis),
        "ablation": ablation_figure(analysis),
        "added_detail": added_detail_figure(analysis),
        "workflow": workflow_figure(analysis),
    }
    if analysis.has_original:
        figures["original_errors"] = original_errors_figure(analysis)
    if analysis.retrained is not None and analysis.retrained.claims:
        figures["retrained"] = retrained_figure(analysis)
        figures["retrained_effects"] = retrained_effects_figure(analysis)
    try:
        study = load_study()
    except (FileNotFoundError, ValueError):
        study = None
    data = training_data_figure(analysis, study)
    if data is not None:
        figures["training_data"] = data
    return title_main_path(analysis, figures)


def workflow_figure(analysis: BaseAnalysis) -> go.Figure:
    """The run as a pipeline: one box per stage (shape, parameters), with its time as a bar beside it."""
    stages = analysis.workflow
    longest = max(stage.seconds for stage in stages) or 1.0
    fig = go.Figure()
    for i, stage in enumerate(stages):
        y = -i
        fig.add_shape(type="rect", x0=0, x1=1, y0=y - 0.35, y1=y + 0.35, line=dict(color="#555"),
                      fillcolor="#e8f0fe" if stage.params else "#f4f4f4")
        shape = chw(stage.shape)
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
