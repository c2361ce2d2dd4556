"""What the explanation tab shows after an explanation: the sections of the model that ran
(`arrange_explain_tab`), and the handlers of the explainers' interactive views (explain.explainers.View), made
once per view: a model run that draws the view with its controls' values, and where its controls start."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from app_serving import jobs
from app_serving.runs import model_run
from app_serving.zerogpu import ZEROGPU_DEFAULT_S, on_gpu
from explain.explainers import View, explainers
from explain.glossary import with_tooltips
from explain.summary import OWN_SLOTS, first_slot, own_slots_shown


@dataclass(frozen=True)
class ViewHandlers:
    """The two handlers of an explainer's interactive view (explain.explainers.View): `explore`, a model run (its
    controls' values over the explanation's region, kept), and `start`, where its controls start after an
    explanation. Named after the view, e.g. explore_channel_of and channel_sliders_for."""

    view: View
    explore: Callable
    start: Callable


def view_handlers(view: View) -> ViewHandlers:
    @on_gpu(duration=ZEROGPU_DEFAULT_S)  # a few passes over at most a 128×128 region
    @model_run
    def explore(image: str | None, have_original: bool, weights: str, model: str, clicked: tuple | None,
                precision: str, *values: float) -> tuple:
        if not image:
            return None, view.empty_text
        figure, text = jobs.view_result(view.key, image, have_original, weights, model, precision,
                                        clicked, values)
        return figure, with_tooltips(text)

    def start(metrics: dict | None) -> tuple:
        started = view.start(metrics or {})
        if started is None:
            return tuple(gr.update() for _ in view.controls)
        return tuple(gr.update(maximum=highest, value=value) for highest, value in started)

    explore.__name__ = explore.__qualname__ = f"explore_{view.key}_of"  # the event's name in the page's config
    start.__name__ = start.__qualname__ = f"{view.key}_sliders_for"
    return ViewHandlers(view, explore, start)


# Every explainer's interactive views, by key: drawn under their figure slot whichever model is served.
VIEW_HANDLERS = {view.key: view_handlers(view) for explainer in explainers().values() for view in explainer.views}


def arrange_explain_tab(metrics: dict | None) -> tuple:
    """After an explanation: the sections of the model that ran, and the error maps only with an original.

    Outputs, in order: the first slot's heading, plot (label) and help text; the columns of OWN_SLOTS; the error
    maps' column. A new photo (no metrics) keeps the layout and hides the error maps."""
    if metrics is None:
        return (*(gr.update() for _ in range(3 + len(OWN_SLOTS))), gr.update(visible=False))
    arch = metrics["model"]["arch"]
    heading, caption, help_text = first_slot(arch)
    return (
        gr.update(value=f"### {heading}"),
        gr.update(label=caption),
        gr.update(value=help_text),
        *(gr.update(visible=shown) for shown in own_slots_shown(arch)),
        gr.update(visible=bool(metrics["texture"]["original"])),
    )
