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
from explain.results import BaseAnalysis, json_ready
from explain.safmn.analysis import SAFMNAnalysis, analyze_safmn
from sr_core.engine import Upscaler
from sr_core.models.rcan import RCAN

__all__ = ["MAX_SIDE", "Analysis", "BaseAnalysis", "SAFMNAnalysis", "analyze", "analyze_any", "analyze_safmn",
           "build_figures", "explainer_markdown", "metrics", "recording_for", "short_answer"]


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
    return explainer_of(analysis).markdown(analysis)


def short_answer(analysis: BaseAnalysis) -> str:
    """The plain answer of at most 120 words, from this run's numbers."""
    return explainer_of(analysis).answer(analysis)


def metrics(analysis: BaseAnalysis) -> dict:
    """The content of metrics.json: the analysis' numbers and the plain answer (`answer.short`)."""
    return json_ready({**analysis.metrics(), "answer": {"short": short_answer(analysis)}})
