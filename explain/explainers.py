"""Which explainer explains which model: every subpackage of `explain` that defines EXPLAINER (explain/rcan/,
explain/safmn/, ...). Adding a third architecture's explainer means adding one such folder; nothing here changes."""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from torch import nn

from explain.results import BaseAnalysis


@dataclass(frozen=True)
class Explainer:
    """One architecture's explainer: what it analyses and how it shows the result."""

    arch: str  # the model class name, as BaseAnalysis.model_name
    model_type: type[nn.Module]
    analyze: Callable[..., BaseAnalysis]  # (model, rgb, sr=None, original=None, *, image_mode, upscaler)
    figures: Callable[[BaseAnalysis], dict]  # stable key -> plotly figure
    markdown: Callable[[BaseAnalysis], str]  # the full explanation
    answer: Callable[[BaseAnalysis], str]  # the plain short answer
    stages: Callable[[nn.Module], list]  # the model's stages in order, explain.workflow.StageSpec


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
