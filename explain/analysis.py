"""The one entry point of the explainers: `analyze_any` a photo with a model, then `build_figures`,
`explainer_markdown` and `metrics` from the result. Each architecture's explainer lives in its own folder
(explain/rcan/, explain/safmn/); this module only picks the right one (`explain.explainers`).
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import ContextManager

import numpy as np
import plotly.graph_objects as go
from torch import nn

from explain.explainers import explainer_for_model, explainer_of, explainers, view_named
from explain.jpeg_view import jpeg_view
from explain.pipeline import MAX_SIDE
from explain.results import BaseAnalysis, json_ready
from explain.text import short_answer
from sr_core.choice import DEFAULT_ARCH, JPEG_WEIGHTS
from sr_core.engine import Upscaler

__all__ = ["MAX_SIDE", "BaseAnalysis", "analyze_any", "build_figures", "explainer_markdown", "explore_view",
           "metrics", "note_jpeg", "recording_for", "view_highest"]


def analyze_any(
    model: nn.Module,
    rgb: np.ndarray,
    sr: np.ndarray | None = None,
    original: np.ndarray | None = None,
    *,
    image_mode: str = "RGB",
    upscaler: Upscaler | None = None,
    recorded: dict | None = None,
    focus: tuple[int, int] | None = None,
) -> BaseAnalysis:
    """The analysis that fits the model, with the texture evidence, experiments and workflow every model gets.
    With `original` (exactly x3 of `rgb` after mod-crop), everything is also scored against it. `sr` and
    `recorded`: the user's enlargement and what the engine recorded while making it (`recording_for`). `focus`:
    (x, y) in input pixels where the region should be, else the most textured one."""
    return explainer_for_model(model).analyze(model, rgb, sr, original, image_mode=image_mode, upscaler=upscaler,
                                              recorded=recorded, focus=focus)


def recording_for(upscaler: Upscaler, into: dict) -> ContextManager:
    """What to record during an engine enlargement so that the explainer need not enlarge the photo again (the
    explainer's `record`, e.g. RCAN's gates into["gates"]); nothing for other models."""
    for explainer in explainers().values():
        if isinstance(upscaler.model, explainer.model_type) and explainer.record is not None:
            return explainer.record(upscaler.model, into)
    return nullcontext()


def build_figures(analysis: BaseAnalysis) -> dict[str, go.Figure]:
    """Every figure of the analysis, keyed by a stable name (the app and the report use the same keys)."""
    return explainer_of(analysis).figures(analysis)


def explainer_markdown(analysis: BaseAnalysis) -> str:
    """The full explanation (markdown, without tooltips: `explain.glossary.with_tooltips` adds them)."""
    return jpeg_note(analysis) + explainer_of(analysis).markdown(analysis)


def jpeg_note(analysis: BaseAnalysis) -> str:
    """For a JPEG photo, a part of its own saying so and what it means for the detail measured (the report puts
    it after the short answer and the evidence, explain.report.explanation_parts)."""
    if analysis.jpeg_quality is None:
        return ""
    return (f"## This photo is a JPEG\n\nIt was saved at quality about {analysis.jpeg_quality}. JPEG stores a photo in "
            "8×8 blocks and throws fine detail away; what is left shows as faint block edges and ringing. A "
            "network trained only on clean images takes those for texture and sharpens them, so part of the "
            f"\"fine detail\" measured below may be compression artefacts. The {DEFAULT_ARCH.name} {JPEG_WEIGHTS.origin} "
            f"(weights `{JPEG_WEIGHTS.spec}`), fine-tuned on JPEG-compressed inputs, smooths them instead: what a "
            "network learned from decides what it treats as texture.\n\n")


def metrics(analysis: BaseAnalysis) -> dict:
    """The content of metrics.json: the analysis' numbers and the plain answer (`answer.short`)."""
    claims = [] if analysis.retrained is None else [c.to_dict() for c in analysis.retrained.claims]
    return json_ready({**analysis.metrics(), "answer": {"short": short_answer(analysis), "claims": claims}})


def explore_view(key: str, model: nn.Module, rgb: np.ndarray, values: tuple, focus: tuple[int, int] | None = None
                 ) -> tuple[go.Figure, str, dict]:
    """The interactive view `key` (e.g. "channel_view") with the controls at `values`: its figure, its readout
    (markdown, without tooltips) and its numbers, on the explanation's working region. ValueError names a bad
    choice, or a model the view cannot look inside."""
    return view_named(key)[1].explore(model, rgb, *values, focus)


def view_highest(key: str, model: nn.Module) -> tuple[int, ...] | None:
    """The highest value of each of the view's controls for `model`; None where the view cannot look inside it."""
    return view_named(key)[1].highest(model)


def note_jpeg(analysis: BaseAnalysis, quality: int | None, offset: tuple[int, int] = (0, 0)) -> None:
    """Record that the analysed photo was saved as a JPEG at `quality` (None: it was not), with its comparison of
    the served model's and both bundled RCANs' detail on and off the block grid; `offset`: where the analysed
    image starts in the saved photo, when it was cut from it."""
    analysis.jpeg_quality = quality
    analysis.jpeg = None if quality is None else jpeg_view(
        quality, analysis.lr_region, analysis.sr_region, analysis.region, analysis.texture.zoom, analysis.scale,
        offset)
