"""Gradio 6 conventions in app.py, checked in-process: the MCP switch, the footer, the example thumbnails, the
slider, and ZeroGPU's reservation derived from the time estimate (with a stand-in `spaces` package)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from app_serving import jobs, zerogpu
from tests.app.test_app import app_module, demo, tiny_safmn  # noqa: F401 - the app imported with tiny weights

REPO = Path(__file__).resolve().parents[2]


def _by_id(demo, elem_id: str):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


@pytest.mark.parametrize(("setting", "installed", "expected"), [
    ("", True, True), ("", False, False), ("False", True, False), ("true", True, True),
])
def test_mcp_is_on_by_default_when_installed_and_one_variable_turns_it_off(app_module, monkeypatch, setting,
                                                                           installed, expected):
    monkeypatch.setenv("GRADIO_MCP_SERVER", setting)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if installed else None)
    assert app_module.launch_options()["mcp_server"] is expected


def test_mcp_required_but_not_installed_stops_with_the_fix(app_module, monkeypatch):
    monkeypatch.setenv("GRADIO_MCP_SERVER", "True")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit, match=r'pip install "gradio\[mcp\]"'):
        app_module.launch_options()


def test_footer_has_no_run_history(app_module):
    assert app_module.launch_options()["footer_links"] == ["api", "gradio", "settings"]


def test_examples_are_thumbnails_cached_lazily_and_not_an_api(app_module, demo):
    import gradio as gr

    dataset = next(b for b in demo.blocks.values() if isinstance(b, gr.Dataset))
    assert dataset.sample_labels is None  # labels would replace the pictures
    assert [Path(sample[0]["path"] if isinstance(sample[0], dict) else sample[0]).name for sample in dataset.samples] \
        == [file for file, _ in app_module.EXAMPLES]
    example_events = [fn for fn in demo.fns.values() if fn.name in ("load_example_input", "load_example_output")]
    assert [fn.api_visibility for fn in example_events] == ["private", "private"]
    assert set(demo.get_api_info()["named_endpoints"]) == {"/upscale", "/explain"}


def test_the_slider_is_lossless_bounded_and_centred(demo):
    slider = _by_id(demo, "slider")
    assert (slider.format, slider.height, slider.max_height, slider.slider_position) == ("png", 640, 900, 50)
    assert "Zoom" in _by_id(demo, "slider-hint").value  # the hint that it zooms


def test_zerogpu_reservation_follows_the_estimate(app_module, monkeypatch, tmp_path):
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((100, 200, 3), np.uint8)).save(photo)
    calls = []

    def estimate_s(width, height, tile, ensemble):
        calls.append((width, height, tile, ensemble))
        return 40.0

    asked: list[str] = []
    monkeypatch.setattr(jobs.ENGINES, "peek", lambda weights, model, precision: (
        asked.append(precision), SimpleNamespace(estimate_s=estimate_s))[1])
    assert app_module.upscale_gpu_seconds(str(photo), 128, True, "default", "rcan") == 90  # 2 x 40 s + 10 s
    assert calls == [(200, 100, 128, True)]
    calls.clear()
    assert app_module.upscale_gpu_seconds(str(photo), 128, False, "default", "rcan", "fp32", "", None) == 90  # + request
    assert asked == ["auto", "fp32"]  # the estimate of the precision that will run
    monkeypatch.setattr(zerogpu, "ZEROGPU_MAX_S", 60)
    assert app_module.upscale_gpu_seconds(str(photo)) == 60
    assert app_module.upscale_gpu_seconds(str(tmp_path / "missing.png")) == app_module.ZEROGPU_DEFAULT_S
    assert app_module.upscale_gpu_seconds(None) == app_module.ZEROGPU_DEFAULT_S
    monkeypatch.setattr(jobs.ENGINES, "peek", lambda weights, model, precision: None)  # not loaded yet: no speed known
    assert app_module.upscale_gpu_seconds(str(photo)) == app_module.ZEROGPU_DEFAULT_S


def test_the_first_run_teaches_the_speed_when_there_was_no_probe(app_module, demo):
    engine = jobs.ENGINES.get("default")
    saved = engine.throughput
    try:
        engine.throughput = None  # as on ZeroGPU, where the start-up probe cannot reach the GPU
        engine.learn_speed(200, 100, 256, False, 2.0)
        assert engine.estimate_s(200, 100, 256, False) == pytest.approx(2.0)
    finally:
        engine.throughput = saved


FAKE_SPACES = '''
guarded = {}
def GPU(duration=60):
    def guard(fn):
        guarded[fn.__name__] = duration
        return fn
    return guard
'''


def test_on_zerogpu_upscale_gets_a_callable_duration(tmp_path):
    """With a `spaces` package importable, app.py decorates upscale with spaces.GPU(duration=upscale_gpu_seconds)
    and every other model run (explain, the channel view, the step-through, the quality measurement) with a fixed
    60 s."""
    (tmp_path / "spaces.py").write_text(FAKE_SPACES)
    probe = ("import app, spaces; g = spaces.guarded; "
             "print(g.pop('upscale') is app.upscale_gpu_seconds, sorted(g.items()))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": f"{tmp_path}:{REPO}", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == ("True [('explain', 60), ('explore', 60), ('quality_on_open', 60), "
                                          "('step_through_on_open', 60)]")
