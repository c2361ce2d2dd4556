"""The plug-in boundary, proven end to end: a toy architecture with a toy explainer, registered in this test
alone (its model descriptor and its explainer, as a new architecture's own files would), is offered by the app's
model choice, served by the engine through the app, and explained by the app and by the report: no shared file
is edited for it."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explain import explainers as explainer_registry
from explain.experiments import run_experiments
from explain.explainers import Explainer
from explain.figures import common_figures
from explain.pipeline import MAX_SIDE, engine_for, finish, start, threads_worth_using, timed
from explain.results import BaseAnalysis
from explain.text import short_answer
from explain.workflow import timed_modules
from sr_core.models import ARCHITECTURES, Weights
from tests.conftest import save_model
from tests.sr_core.models.test_architecture import TOY, Toy

TOY_SERVED = dataclasses.replace(
    TOY, key="toy", server_weights_env="SR_TOY_WEIGHTS",
    weights=(Weights("bundled-toy", "trained here for this test", file="toy_x2.safetensors"),))


def toy_stages(model: Toy) -> list:
    return [("features", "3x3 conv and ReLU", [model.head]), ("reconstruction", "conv and pixel shuffle", [model.tail])]


def analyze_toy(model: Toy, rgb: np.ndarray, sr: np.ndarray | None = None, original: np.ndarray | None = None, *,
                image_mode: str = "RGB", upscaler=None, recorded=None, focus=None) -> BaseAnalysis:  # noqa: ANN001
    """The evidence every model gets, with the toy's own experiments: depth 0..1, and its gate switched off."""
    run = start(model, rgb, sr, original, image_mode, MAX_SIDE, focus)
    sr_whole = sr if sr is not None else run.enlarge_whole(engine_for(model, upscaler))
    stages = toy_stages(model)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [module.register_forward_hook(lambda _m, _i, out, key=key: shapes.__setitem__(key, tuple(out.shape[1:])))
             for key, module in timed_modules(stages)]
    with threads_worth_using(), timed(run.timings, "forward"), torch.inference_mode():
        x, seconds = run.model_input()
        normal = run.image_of(model(x))
        gate_off = run.image_of(model.tail(model.features(x)))
        shallow = run.image_of(model.tail(torch.zeros_like(model.features(x))))
    for hook in hooks:
        hook.remove()
    experiments = run_experiments(run.measure(), "layers", 1, lambda _k: shallow,
                                  {"gate_off": ("the gate set to 1", lambda: gate_off)}, normal)
    return BaseAnalysis(**finish(run, sr_whole, seconds, {key: 0.0 for key in shapes}, shapes, stages),
                        experiments=experiments)


TOY_EXPLAINER = Explainer(
    arch="Toy", model_type=Toy, analyze=analyze_toy, figures=common_figures,
    markdown=lambda analysis: f"## The toy's answer\n\n{short_answer(analysis)}\n", stages=toy_stages,
    first_figure="depth", heading="Inside the toy: its gate", captions={}, how_to_read={}, ablation="gate_off",
    ablation_label="Gate off", glossary={"toy gate": "The toy's one gate, from the whole image's mean."})


@pytest.fixture
def toy_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The toy's descriptor and explainer in the registries, and the server's toy weights; all undone after."""
    torch.manual_seed(0)
    weights = save_model(Toy().eval(), tmp_path / "toy_x2.safetensors")
    ARCHITECTURES.append(TOY_SERVED)
    found = {**explainer_registry.explainers(), "Toy": TOY_EXPLAINER}
    monkeypatch.setattr(explainer_registry, "explainers", lambda: found)
    monkeypatch.setenv("SR_TOY_WEIGHTS", str(weights))
    try:
        yield weights
    finally:
        ARCHITECTURES.remove(TOY_SERVED)


def photo_file(path: Path, side: int = 40) -> Path:
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (side, side + 4, 3), dtype=np.uint8)).save(path)
    return path


def test_a_new_architecture_is_offered_served_and_explained_by_the_app(toy_registered: Path, tmp_path: Path,
                                                                       tiny_checkpoint: Path, monkeypatch) -> None:
    import gradio as gr

    monkeypatch.setenv("SR_WEIGHTS", str(tiny_checkpoint))
    import app
    from app_serving import jobs

    monkeypatch.setattr(jobs, "ENGINES", type(jobs.ENGINES)())
    demo = app.build_demo()
    choice = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model")
    labels = dict((value, label) for label, value in choice.choices)
    assert labels["toy"].startswith("Toy · ") and "toy_x2.safetensors" in labels["toy"]  # offered, labelled
    assert isinstance(choice, gr.Radio)

    photo = photo_file(tmp_path / "toy.png")
    (_, enlarged), download, info = app.upscale(str(photo), model="toy", precision="fp32")
    assert Image.open(download).size == (2 * 44, 2 * 40) and "Toy" in info  # served, at the toy's own scale
    assert "44×40 px → 88×80 px" in app.estimate_text(str(photo), 256, False, "default", "toy", "fp32")
    *_, metrics, _, explanation = app.explain(str(photo), False, "default", "toy")
    assert metrics["model"]["arch"] == "Toy" and "gate_off" in metrics["experiments"]
    assert "The toy's answer" in explanation


def test_a_new_architecture_is_explained_by_the_report(toy_registered: Path, tmp_path: Path) -> None:
    from explain.cli import main as explain_main

    photo = photo_file(tmp_path / "toy.png")
    assert explain_main(["report", str(photo), "--weights", str(toy_registered), "-o", str(tmp_path / "report")]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["model"]["arch"] == "Toy" and metrics["texture"]["hf_energy_ratio_model_vs_bicubic"] is not None
    assert "The toy's answer" in (tmp_path / "report" / "index.html").read_text()
