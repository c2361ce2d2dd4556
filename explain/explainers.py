"""Which explainer explains which model, and everything the app and the report need to know about it: every
subpackage of `explain` that defines EXPLAINER (explain/rcan/, explain/safmn/, ...). Adding a third
architecture's explainer means adding one such folder; nothing here, and nothing that reads these fields, changes.
"""
from __future__ import annotations

import importlib
import pkgutil
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from torch import nn

from explain.results import BaseAnalysis


@dataclass(frozen=True)
class Control:
    """One number a visitor chooses in an interactive view (the app draws it as a slider)."""

    name: str  # the argument's name, as error messages and the API say it
    label: str
    info: str
    lowest: int
    elem_id: str


@dataclass(frozen=True)
class View:
    """An interactive view an explainer offers beside its figures, e.g. RCAN's channel explorer: choose numbers,
    see one part of the network over the photo. The app draws its controls under the figure slot `after`."""

    key: str
    after: str  # the figure slot it sits under
    heading: str
    plot_label: str
    empty_text: str  # what the view says before an explanation
    plot_id: str
    text_id: str
    controls: tuple[Control, ...]
    # (model) -> the highest value of each control for this model, or None: the model has no such view
    highest: Callable[[nn.Module], tuple[int, ...] | None]
    # (metrics of an explanation) -> (highest, value) of each control to start on, or None: leave them
    start: Callable[[dict], tuple[tuple[int, int], ...] | None]
    # (model, rgb, *control values, focus) -> (figure, markdown without tooltips, numbers); ValueError names a bad
    # choice
    explore: Callable[..., tuple[Any, str, dict]]


@dataclass(frozen=True)
class Explainer:
    """One architecture's explainer: what it analyses, how it shows the result, and its words.

    The shared slots of the explanation (explain.summary.EXPLAIN_FIGURES) hold the figures every model gets; the
    slot "attention_heatmap" holds the model's own first figure (`first_figure`), and `own_slots` are filled by
    this model alone (empty, and hidden, for the others)."""

    arch: str  # the architecture's name, as BaseAnalysis.model_name and sr_core's descriptor
    model_type: type[nn.Module]
    analyze: Callable[..., BaseAnalysis]  # (model, rgb, sr=None, original=None, *, image_mode, upscaler, ...)
    figures: Callable[[BaseAnalysis], dict]  # stable key -> plotly figure
    markdown: Callable[[BaseAnalysis], str]  # the full explanation
    stages: Callable[[nn.Module], list]  # the model's stages in order, explain.workflow.StageSpec
    first_figure: str  # the key of its own first figure, shown in the shared "model's own" slot
    heading: str  # the heading of its own section, e.g. "Inside RCAN: channel attention"
    captions: dict[str, str]  # title of each figure only it draws, by key
    how_to_read: dict[str, str]  # how to read each figure only it draws, by key
    ablation: str  # the key of its knock-out in metrics["experiments"] (its mechanism switched off)
    ablation_label: str  # that knock-out in two words, e.g. "Attention off"
    glossary: dict[str, str]  # its own terms -> definitions (explain.glossary merges them with the shared ones)
    own_slots: tuple[str, ...] = ()  # slots of EXPLAIN_FIGURES only it fills
    summary_lines: Callable[[dict], list[str]] = lambda metrics: []  # its own headline numbers (markdown)
    # What to record while the engine enlarges a photo, so the explanation need not enlarge it again:
    # (the engine's model, a dict to fill) -> context manager; None: nothing to record
    record: Callable[[nn.Module, dict], AbstractContextManager] | None = None
    views: tuple[View, ...] = field(default=())
    # Which of its figures follow which part of its text in the report, by the start of the part's heading
    figures_after: dict[str, tuple[str, ...]] = field(default_factory=dict)
    glossary_aliases: dict[str, str] = field(default_factory=dict)  # other spellings of its terms -> the term
    sources: str = ""  # its papers and tools, as markdown list items for the explanation's "Papers and tools"
    colour: str = "#555555"  # its colour wherever charts compare models, the same in every chart


@lru_cache(maxsize=1)
def explainers() -> dict[str, Explainer]:
    """arch name -> Explainer, from every subpackage with an EXPLAINER."""
    found: dict[str, Explainer] = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.ispkg:
            explainer = getattr(importlib.import_module(f"explain.{module.name}"), "EXPLAINER", None)
            if isinstance(explainer, Explainer):
                found[explainer.arch] = explainer
    return found


def explainer_for_model(model: nn.Module) -> Explainer:
    for explainer in explainers().values():
        if isinstance(model, explainer.model_type):
            return explainer
    names = " or ".join(sorted(explainers()))
    raise ValueError(f"no explainer for {type(model).__name__}: they look inside {names}")


def explainer_of(analysis: BaseAnalysis) -> Explainer:
    return explainers()[analysis.model_name]


def explainer_named(arch: str) -> Explainer | None:
    """The explainer of the architecture `arch` (metrics["model"]["arch"]), None where none is registered."""
    return explainers().get(arch)


def arch_colour(arch: str) -> str:
    """The colour of the architecture `arch` in charts that compare models; grey for one without an explainer."""
    explainer = explainer_named(arch)
    return explainer.colour if explainer else Explainer.colour


def view_named(key: str) -> tuple[Explainer, View]:
    """The interactive view `key` and the explainer that offers it; KeyError where none does."""
    for explainer in explainers().values():
        for view in explainer.views:
            if view.key == key:
                return explainer, view
    raise KeyError(f"no explainer offers a view named {key!r}")
