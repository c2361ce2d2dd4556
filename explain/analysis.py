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

from explain.explainers import explainer_for_model, explainer_of
from explain.pipeline import MAX_SIDE
from explain.rcan.analysis import Analysis, analyze
from explain.rcan.capture import recording_gates
from explain.rcan.channel_view import channel_view
from explain.rcan.figures import channel_view_figure
from explain.rcan.text import channel_view_text
from explain.results import BaseAnalysis, json_ready
from explain.safmn.analysis import SAFMNAnalysis, analyze_safmn
from sr_core.engine import Upscaler
from sr_core.models.rcan import RCAN

__all__ = ["MAX_SIDE", "Analysis", "BaseAnalysis", "SAFMNAnalysis", "analyze", "analyze_any", "analyze_safmn",
           "build_figures", "channel_counts", "explainer_markdown", "explore_channel", "metrics", "recording_for", "short_answer"]


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
    """What to record during an engine enlargement so that the explainer need not enlarge the photo again:
    RCAN's gates (into["gates"]); nothing for other models."""
    if isinstance(upscaler.model, RCAN):
        return recording_gates(upscaler.model, into)
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
            "\"fine detail\" measured below may be compression artefacts. The JPEG-aware RCAN (weights "
            "`bundled-jpeg`), fine-tuned on JPEG-compressed inputs, smooths them instead: what a network learned "
            "from decides what it treats as texture.\n\n")


def short_answer(analysis: BaseAnalysis) -> str:
    """The plain answer of at most 120 words, from this run's numbers."""
    return explainer_of(analysis).answer(analysis)


def metrics(analysis: BaseAnalysis) -> dict:
    """The content of metrics.json: the analysis' numbers and the plain answer (`answer.short`)."""
    claims = [] if analysis.retrained is None else [c.to_dict() for c in analysis.retrained.claims]
    return json_ready({**analysis.metrics(), "answer": {"short": short_answer(analysis), "claims": claims}})


def explore_channel(model: nn.Module, rgb: np.ndarray, group: object, block: object, channel: object,
                    focus: tuple[int, int] | None = None) -> tuple[go.Figure, str, dict]:
    """The linked channel view (RCAN only: the channels its attention gates): its figure, its readout (markdown,
    without tooltips) and its numbers, on the explanation's working region. ValueError names a bad choice."""
    view = channel_view(model, rgb, group, block, channel, focus)
    return channel_view_figure(view), channel_view_text(view), view.to_dict()


def channel_counts(model: nn.Module) -> tuple[int, int, int] | None:
    """(groups, blocks per group, channels) the channel view can choose from; None for a model without channel
    attention."""
    if not isinstance(model, RCAN):
        return None
    return model.config.n_resgroups, model.config.n_resblocks, model.config.n_feats
