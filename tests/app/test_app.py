"""The Gradio app: it builds without launching, its pieces behave, and a launched copy serves the API.

The API tests start `python app.py` once (tiny random RCAN via SR_WEIGHTS, tiny random SAFMN via SR_SAFMN_WEIGHTS,
127.0.0.1, a free port through GRADIO_SERVER_PORT) and talk to it with gradio_client, as outside checks do.
"""
from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app_serving import jobs
from sr_core import serving
from tests.app_server import running_app
from tests.conftest import TINY_SAFMN_BLOCKS, save_tiny_safmn

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def tiny_safmn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_safmn(tmp_path_factory.mktemp("safmn") / "tiny_safmn.safetensors")


@pytest.fixture(scope="module")
def app_module(tiny_checkpoint: Path, tiny_safmn: Path, tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SR_WEIGHTS", str(tiny_checkpoint))
    mp.setenv("SR_SAFMN_WEIGHTS", str(tiny_safmn))
    mp.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path_factory.mktemp("examples_cache")))
    mp.delenv("SR_HUB_REPO", raising=False)
    mp.delenv("SR_MAX_PIXELS", raising=False)
    import app

    yield app
    mp.undo()


@pytest.fixture(scope="module")
def demo(app_module):
    return app_module.build_demo()


# --- building -------------------------------------------------------------------------------------------------


def test_builds_with_both_api_endpoints(demo) -> None:
    api_names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"upscale", "explain"} <= api_names


def test_no_component_recompresses_to_webp(demo) -> None:
    import gradio as gr

    image_like = [b for b in demo.blocks.values() if isinstance(b, (gr.Image, gr.ImageSlider, gr.Plot, gr.Gallery))]
    assert image_like
    assert {b.format for b in image_like} == {"png"}


def test_upload_keeps_alpha_and_bit_depth(demo) -> None:
    upload = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "upload")
    assert upload.image_mode is None and upload.type == "filepath"


def test_fallback_weights_are_announced_in_plain_words(app_module, tiny_checkpoint: Path, monkeypatch,
                                                       caplog) -> None:
    """Visitors read a short plain note; the operator's details (SR_HUB_REPO, the path) go to the log."""
    import sr_core.weights

    monkeypatch.setenv("SR_WEIGHTS", "auto")
    monkeypatch.delenv("SR_HUB_REPO", raising=False)
    monkeypatch.setitem(sr_core.weights.BUNDLED, "bundled", tiny_checkpoint)
    monkeypatch.setattr(jobs, "ENGINES", serving.ServedModels())
    with caplog.at_level("WARNING", logger="sr_app"):
        demo = app_module.build_demo()
    banner = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "banner")
    assert banner.visible and "A small built-in model is serving" in banner.value
    info = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "info")
    assert "weights: bundled" in info.value
    shown = [b.value for b in demo.blocks.values() if isinstance(getattr(b, "value", None), str)]
    shown += [str(getattr(b, "info", "") or "") for b in demo.blocks.values()]
    shown += [str(getattr(b, "choices", "") or "") for b in demo.blocks.values()]
    assert not any("SR_HUB_REPO" in text or "SR_WEIGHTS" in text or str(tiny_checkpoint.parent) in text
                   for text in shown)
    assert "SR_HUB_REPO" in caplog.text  # the operator is told how to fix it


def test_the_info_line_says_when_the_hub_fell_back(app_module, tiny_checkpoint: Path, monkeypatch) -> None:
    """weights="hub" with an unreachable Hub serves the bundled model; the API's info line must say so."""
    import sr_core.weights

    monkeypatch.setenv("SR_HUB_REPO", "nobody/no-such-weights")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(sr_core.weights, "BUNDLED_RCAN", tiny_checkpoint)
    monkeypatch.setattr(jobs, "ENGINES", serving.ServedModels())
    monkeypatch.setattr(serving, "measure_speed", lambda upscaler: None)
    _, _, info = app_module.upscale(str(EXAMPLES / "brick_wall.png"), weights="hub")
    assert "fallback: the Hugging Face Hub could not be reached" in info
    assert str(tiny_checkpoint.parent) not in info and "sr_core/bundled" not in info


def test_a_jpeg_gets_the_jpeg_aware_rcan_and_a_photo_over_the_limit_a_region(app_module, tmp_path: Path,
                                                                             monkeypatch) -> None:
    import sr_core.weights
    from tests.conftest import save_model, tiny_random_rcan

    monkeypatch.setenv("SR_WEIGHTS", "auto")
    monkeypatch.setenv("SR_MAX_PIXELS", "60000")
    monkeypatch.delenv("SR_HUB_REPO", raising=False)
    for spec, seed in (("bundled", 0), ("bundled-jpeg", 1)):
        monkeypatch.setitem(sr_core.weights.BUNDLED, spec, save_model(tiny_random_rcan(seed), tmp_path / f"{spec}.safetensors"))
    monkeypatch.setattr(jobs, "ENGINES", serving.ServedModels())
    monkeypatch.setattr(serving, "measure_speed", lambda upscaler: None)
    photo = tmp_path / "holiday.jpg"  # 300x250 = 75,000 pixels, over the 60,000-pixel limit
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (250, 300, 3), dtype=np.uint8)).save(photo, quality=70)

    _, download, info = app_module.upscale(str(photo), centre="290,5", precision="fp32")
    assert "Saved at JPEG quality about 70, so the JPEG-trained RCAN serves" in info
    assert "268×223 px region around x=166, y=111 (left 32, top 0)" in info
    assert "python -m sr_core upscale holiday.jpg -o holiday_x3.png" in info
    assert _read_png(download).size == (268 * 3, 223 * 3)
    _, forced, info = app_module.upscale(str(photo), weights="bundled", centre="290,5", precision="fp32")
    assert "JPEG-trained" not in info
    assert not np.array_equal(np.asarray(_read_png(forced)), np.asarray(_read_png(download)))
    # the explanation describes the model that made the picture: the JPEG-aware one, unless weights are named
    for weights, served in (("default", "bundled-jpeg.safetensors"), ("bundled", "bundled.safetensors")):
        *_, numbers, _, _ = app_module.explain(str(photo), False, weights, "rcan", None, "fp32")
        assert numbers["model"]["weights"] == served
    for centre in ("middle", "inf,3", "1e400,5"):  # one line for the visitor, not an unexpected OverflowError
        with pytest.raises(Exception, match="region centre must be two numbers"):
            app_module.upscale(str(photo), centre=centre)


def test_a_photo_over_the_limit_is_explained_on_the_region_upscale_enlarges(app_module, tmp_path: Path,
                                                                            monkeypatch) -> None:
    """A phone photo over the pixel limit is explained, not refused: the explanation, its channel view and its
    step-through look at the region `upscale` enlarges around the same click, with the click in its pixels."""
    monkeypatch.setenv("SR_MAX_PIXELS", "60000")
    photo = tmp_path / "holiday.png"  # 300x250 = 75,000 pixels, over the 60,000-pixel limit
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (250, 300, 3), dtype=np.uint8)).save(photo)
    clicked = (str(photo), 290, 5)  # the region: 268x223 px, left 32, top 0; the click at (258, 5) in it

    *_, numbers, _, _ = app_module.explain(str(photo), False, "default", "rcan", clicked, "fp32")
    assert numbers["input"]["size"] == [268, 223]
    box = numbers["input"]["working_region"]  # the analysed part, around the click moved into the region
    assert box["left"] <= 258 < box["left"] + box["width"] and box["top"] <= 5 < box["top"] + box["height"]
    steps, *_ = app_module.step_through_on_open(str(photo), "default", "rcan", "fp32", False, clicked)
    assert steps[0].shape == (3, 223, 268)
    _, readout = app_module.VIEW_HANDLERS["channel"].explore(str(photo), False, "default", "rcan", clicked, "fp32",
                                                             1, 1, 0)
    assert "⚠️" not in readout


def test_upload_reaches_the_handler_undecoded(demo, tmp_path: Path) -> None:
    """A file Pillow cannot open must reach read_image (which explains the refusal), not fail inside Gradio."""
    from gradio.data_classes import ImageData

    upload = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "upload")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    assert upload.preprocess(ImageData(path=str(text_file), orig_name="notes.txt")) == str(text_file)


def test_stable_element_ids(demo) -> None:
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"upload", "model", "run", "stop", "slider", "download", "info", "banner", "tile", "ensemble", "weights",
            "explain-run", "have-original", "plot-attention-heatmap", "plot-workflow", "plot-quality", "plot-distill-study", "metrics"} <= ids


def test_model_choice_defaults_to_rcan_and_the_chart_is_drawn(demo) -> None:
    import gradio as gr

    choice = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model")
    assert isinstance(choice, gr.Radio) and choice.value == "rcan"
    labels = [label for label, _ in choice.choices]
    # What each choice is (model, size, where its weights came from); which keeps more texture is the chart's to say.
    assert [label.split(" · ")[0] for label in labels] == ["RCAN", "SAFMN"]
    assert not any("best" in label or "fast" in label for label in labels)
    assert "M parameters" in labels[0] and "the server's file" in labels[0]  # SR_WEIGHTS, loaded at start-up
    assert "tiny_safmn.safetensors" in labels[1]  # SR_SAFMN_WEIGHTS, read from the file's header before loading
    assert "faster" in choice.info
    chart = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "plot-quality")
    names = {trace["name"] for trace in json.loads(chart.value["plot"])["data"] if trace.get("name")}
    assert any("measured here" in n for n in names) and any("published" in n for n in names)


def test_the_workflow_tab_shows_the_distillation_study_and_its_finding(demo) -> None:
    from explain.distill_study import finding, load_study

    by_id = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    names = {trace["name"] for trace in json.loads(by_id["plot-distill-study"].value["plot"])["data"]}
    assert {"random share (and the full set)"} <= names
    assert finding(load_study()) in by_id["distill-study-caption"].value


# --- pieces ---------------------------------------------------------------------------------------------------


def test_explain_tab_shows_the_sections_of_the_model_that_ran(app_module) -> None:
    def arranged(arch: str, original: dict | None) -> tuple:
        return app_module.arrange_explain_tab({"model": {"arch": arch}, "texture": {"original": original}})

    heading, plot, help_text, *rcan_only, errors = arranged("SAFMN", None)
    assert "Inside SAFMN" in heading["value"] and "SAFM" in plot["label"] and "amplifies" in help_text["value"]
    assert [column["visible"] for column in rcan_only] == [False] * len(app_module.OWN_SLOTS)
    assert errors["visible"] is False
    heading, plot, _, *rcan_only, errors = arranged("RCAN", {"psnr_rcan": 30.0})
    assert "Inside RCAN: channel attention" in heading["value"] and all(column["visible"] for column in rcan_only)
    assert errors["visible"] is True


def _event_of(demo, fn_name: str):
    return next(event for event in demo.fns.values() if getattr(event.fn, "__name__", "") == fn_name)


def test_enlarging_never_waits_for_the_explainer(demo) -> None:
    upscale = _event_of(demo, "upscale")
    after = [event.fn.__name__ for event in demo.fns.values() if event.trigger_after == upscale._id]
    assert after and not any("explain" in name for name in after)  # only the banner and the slider label follow
    opened = [event for event in demo.fns.values() if getattr(event.fn, "__name__", "") == "explain_on_open"]
    assert [event.targets[0][1] for event in opened] == ["select", "select"]
    assert {demo.blocks[event.targets[0][0]].elem_id for event in opened} == {"tab-explain", "tab-workflow"}
    # One progress bar for each run: on the result, not on the download and the info text.
    assert [block.elem_id for block in upscale.show_progress_on] == ["slider"]


def test_explanations_are_cached_per_photo_and_options(app_module, monkeypatch, tmp_path: Path) -> None:
    calls = []
    real = jobs.analyze_any
    monkeypatch.setattr(jobs, "analyze_any", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(3)
    photo = _png_file(tmp_path / "a.png", Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)))
    first = app_module.explain(str(photo))
    copy = tmp_path / "copy.png"
    copy.write_bytes(photo.read_bytes())  # the same photo under another path, as Gradio serves examples
    assert app_module.explain_on_open(str(copy), False, "default", "rcan") is first and len(calls) == 1
    app_module.explain(str(photo), True)  # another option is another explanation
    assert len(calls) == 2
    assert app_module.explain_on_open(None, False, "default", "rcan") == app_module.not_explained_yet()


def test_every_model_run_takes_the_precision_chosen_and_keeps_it_apart(app_module, monkeypatch, tmp_path) -> None:
    """Upscale, the explanation, its interactive view and the step-through each run the engine of the precision
    chosen under Options, and each keeps its result under it: fp32 and bf16 are two results, never one."""
    engines = []
    real = jobs.analyze_any
    monkeypatch.setattr(jobs, "analyze_any", lambda *a, **k: engines.append(k["upscaler"]) or real(*a, **k))
    photo = _png_file(tmp_path / "p.png", Image.fromarray(
        np.random.default_rng(8).integers(0, 256, (40, 44, 3), dtype=np.uint8)))
    for precision in ("fp32", "bf16"):
        *_, metrics, _, _ = app_module.explain(str(photo), False, "default", "rcan", None, precision)
        served = jobs.ENGINES.peek("default", "rcan", precision).upscaler
        assert engines[-1] is served and metrics["model"]["precision"] == served.precision  # what ran, said
    assert app_module.explain(str(photo), False, "default", "rcan", None, "fp32")[-3]["model"]["precision"] == (
        jobs.ENGINES.peek("default", "rcan", "fp32").upscaler.precision)
    assert len(engines) == 2 and engines[0] is not engines[1]  # fp32 again came from its own cache entry
    for precision in ("fp32", "bf16"):
        app_module.step_through_on_open(str(photo), "default", "rcan", precision)
        app_module.VIEW_HANDLERS["channel"].explore(str(photo), False, "default", "rcan", None, precision, 1, 1, 0)
    assert {key[4] for key in jobs.STEPPED.keys()} >= {"fp32", "bf16"}
    assert {key[5] for key in jobs.EXPLORED.keys() if key[1] == jobs.file_digest(str(photo))} == {"fp32", "bf16"}


def test_a_click_on_the_photo_is_where_the_explanation_looks(app_module, tmp_path: Path) -> None:
    clicked, note = app_module.focus_on_click("p.png", SimpleNamespace(index=[250, 150]))
    assert clicked == ("p.png", 250, 150) and "x=250, y=150" in note
    assert app_module.explain_on_open(None, False, "default", "rcan", clicked) == app_module.not_explained_yet()
    photo = _png_file(tmp_path / "w.png", Image.fromarray(
        np.random.default_rng(5).integers(0, 256, (200, 300, 3), dtype=np.uint8)))
    *_, metrics, _, _ = app_module.explain(str(photo), False, "default", "rcan", (str(photo), 250, 150))
    assert "the 128x128 crop you chose, at x=172, y=72" in metrics["input"]["working_region"]["how"]
    *_, metrics, _, _ = app_module.explain(str(photo), False, "default", "rcan", ("other.png", 250, 150))
    assert "most textured" in metrics["input"]["working_region"]["how"]  # a click on another photo is forgotten


def test_the_channel_sliders_follow_the_explanation_and_choose_the_view(app_module, tmp_path: Path) -> None:
    photo = _png_file(tmp_path / "c.png", Image.fromarray(
        np.random.default_rng(6).integers(0, 256, (60, 80, 3), dtype=np.uint8)))
    *_, metrics, _, _ = app_module.explain(str(photo))
    group, block, channel = app_module.VIEW_HANDLERS["channel"].start(metrics)
    chosen = metrics["attention"]["chosen_block"]
    assert (group["maximum"], block["maximum"], channel["maximum"]) == (2, 2, 7)  # the tiny RCAN: 2 x 2 x 8
    assert (group["value"], block["value"], channel["value"]) == (
        chosen["group"], chosen["block"], chosen["most_boosted_channels"][0])
    figure, readout = app_module.VIEW_HANDLERS["channel"].explore(str(photo), False, "default", "rcan", None, "auto", 2, 1, 5)
    assert "Group 2, block 1, channel 5" in figure.layout.title.text and "rank" in readout
    assert "<abbr" in readout  # the glossary's tooltips
    _, refused = app_module.VIEW_HANDLERS["channel"].explore(str(photo), False, "default", "rcan", None, "auto", 2, 1, 99)
    assert refused.startswith("⚠️ channel must be a whole number from 0 to 7")
    _, safmn = app_module.VIEW_HANDLERS["channel"].explore(str(photo), False, "default", "safmn", None, "auto", 1, 1, 0)
    assert "needs an RCAN" in safmn
    assert app_module.VIEW_HANDLERS["channel"].start(None) == (app_module.gr.update(),) * 3
    assert app_module.VIEW_HANDLERS["channel"].explore(None, False, "default", "rcan", None, "auto", 1, 1, 0)[0] is None
    again = app_module.VIEW_HANDLERS["channel"].explore(str(photo), False, "default", "rcan", None, "auto", 2, 1, 5)
    assert again[0] is figure  # the tab opened again: served from the cache, no new passes


def test_model_runs_that_open_with_a_tab_explain_a_bad_file_in_one_line(app_module, tmp_path: Path) -> None:
    import gradio as gr

    text = tmp_path / "notes.png"
    text.write_bytes(b"this is not a photo")
    for run in (lambda: app_module.step_through_on_open(str(text), "default", "rcan"),
                lambda: app_module.VIEW_HANDLERS["channel"].explore(str(text), False, "default", "rcan", None, "auto", 1, 1, 0)):
        with pytest.raises(gr.Error, match="notes.png is not an image") as error:
            run()
        assert "\n" not in str(error.value)


def test_an_example_click_names_the_model_in_the_slider(app_module) -> None:
    _, slider, model, weights = app_module.example_shown()
    assert slider["label"] == "Bicubic (left) · RCAN (right)"
    assert (model["value"], weights["value"]) == ("rcan", "default")  # the options the examples ran with


def test_durations_read_naturally(app_module) -> None:
    fmt = app_module.format_duration
    assert [fmt(0.44), fmt(42.4), fmt(125), fmt(3 * 3600 + 120)] == ["0.4 s", "42 s", "2 min 05 s", "3 h 02 min"]


def test_time_estimate_scales_with_pixels_and_ensemble(app_module, demo) -> None:
    engine = jobs.ENGINES.get("default")
    tile = app_module.DEFAULT_TILE
    small = engine.estimate_s(100, 100, tile, ensemble=False)
    assert small is not None and small > 0
    assert engine.estimate_s(200, 100, tile, ensemble=False) == pytest.approx(2 * small)  # one tile: no halos
    assert engine.estimate_s(100, 100, tile, ensemble=True) == pytest.approx(8 * small)
    assert engine.estimate_s(600, 600, 128, ensemble=False) > engine.estimate_s(600, 600, 600, ensemble=False)


def test_stop_ends_the_run_between_two_steps(app_module, demo) -> None:
    import gradio as gr

    session = SimpleNamespace(session_hash="stop-test")
    steps: list[object] = []

    def progress(value, desc=None, unit="steps"):  # the stand-in gr.Progress presses Stop at the first tile step
        steps.append(value)
        if isinstance(value, tuple):
            app_module.STOP_FLAGS.stop("stop-test")

    with pytest.raises(gr.Error, match="Stopped"):
        app_module.upscale(str(EXAMPLES / "brick_wall.png"), request=session, progress=progress)
    tile_steps = [s for s in steps if isinstance(s, tuple)]
    assert len(tile_steps) == 1 and tile_steps[0][0] < tile_steps[0][1]  # stopped long before the last step
    assert not app_module.STOP_FLAGS.stop("stop-test")  # the flag went away with the run


def test_stop_confirms_that_it_stopped(app_module, monkeypatch) -> None:
    told: list[tuple[str, str]] = []
    monkeypatch.setattr(app_module.gr, "Info", lambda message, title="Info", **_: told.append((title, message)))
    session = SimpleNamespace(session_hash="confirm-test")
    with app_module.STOP_FLAGS.running("confirm-test"):
        app_module.stop_run(session)
    app_module.stop_run(session)  # nothing left to stop
    assert told == [("Stopped", "Stopped. Nothing was saved."), ("Stop", "Nothing is running.")]


def test_the_quality_chart_speaks_to_visitors(app_module) -> None:
    _, caption, data = app_module.quality_section()
    assert "How to read it" in caption and "left is faster" in caption
    assert "bench/" not in caption and "`" not in caption and "ms_per_mp" not in caption  # no script, no keys


def test_the_quality_chart_measures_the_models_this_server_serves(app_module, demo) -> None:
    """Opening the workflow tab measures each served choice (SR_WEIGHTS and SR_SAFMN_WEIGHTS: tiny models) on the
    example photos, once, and the chart, its caption and the line under the model choice say so."""
    from app_serving import jobs
    from sr_core.weights import weights_label

    figure, caption, choice = app_module.quality_on_open("default", "fp32")
    served = [jobs.ENGINES.get("default", key, "fp32").weights for key in ("rcan", "safmn")]
    labels = [weights_label(weights) for weights in served]
    assert "tiny_rcan.safetensors" in labels[0] and "tiny_safmn.safetensors" in labels[1]
    assert {trace.name for trace in figure.data if trace.xaxis == "x"} == set(labels)  # no JPEG point: SR_WEIGHTS
    assert "example photos" in caption and "CPU: " in caption and "fp32" in caption
    assert choice["info"].startswith("Measured on this server's example photos")
    before = len(jobs.MEASURED.keys())
    app_module.quality_on_open("default", "fp32")
    assert len(jobs.MEASURED.keys()) == before  # kept per (weights, precision): measured once
    event = next(fn for fn in demo.fns.values() if fn.name == "quality_on_open")
    assert (event.queue, event.concurrency_id, event.concurrency_limit) == (True, "model", 1)


def test_examples_are_small_credited_pngs() -> None:
    files = sorted(EXAMPLES.glob("*.png"))
    licences = (EXAMPLES / "LICENSES.md").read_text()
    assert len(files) >= 4
    assert sum(f.stat().st_size for f in files) < 1_000_000
    for path in files:
        with Image.open(path) as im:
            assert im.format == "PNG" and max(im.size) <= 256, path.name
        assert f"`{path.name}`" in licences, f"{path.name} is not credited in examples/LICENSES.md"


# --- the launched app, through gradio_client ------------------------------------------------------------------

MAX_PIXELS = 60_000  # small, so the refusal test needs only a small file


@pytest.fixture(scope="module")
def client(tiny_checkpoint: Path, tiny_safmn: Path, tmp_path_factory: pytest.TempPathFactory):
    from gradio_client import Client

    workdir = tmp_path_factory.mktemp("app_server")
    env = {"SR_MAX_PIXELS": str(MAX_PIXELS), "SR_MAX_UPLOAD": "1mb", "SR_SAFMN_WEIGHTS": str(tiny_safmn)}
    with running_app(tiny_checkpoint, workdir, env) as url:
        yield Client(url, verbose=False)


def _png_file(path: Path, image: Image.Image, **save_options) -> Path:
    image.save(path, **save_options)
    return path


def _read_png(path: str) -> Image.Image:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    return Image.open(io.BytesIO(data))


@pytest.mark.server
def test_upscale_returns_lossless_png_x3(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    rgb = np.random.default_rng(0).integers(0, 256, (20, 28, 3), dtype=np.uint8)
    source = _png_file(tmp_path / "holiday.png", Image.fromarray(rgb))
    (bicubic, rcan), download, info = client.predict(handle_file(str(source)), api_name="/upscale")
    assert Path(download).name == "holiday_x3.png"
    result = _read_png(download)
    assert result.size == (84, 60) and result.mode == "RGB"
    assert _read_png(bicubic).size == _read_png(rcan).size == (84, 60)
    assert Path(rcan).read_bytes() == Path(download).read_bytes()
    assert "RCAN" in info and "28×20 → 84×60" in info


@pytest.mark.server
def test_the_safmn_choice_reaches_the_engine(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    rgb = np.random.default_rng(2).integers(0, 256, (20, 28, 3), dtype=np.uint8)
    source = _png_file(tmp_path / "street.png", Image.fromarray(rgb))
    (_, fast), download, info = client.predict(handle_file(str(source)), model="safmn", api_name="/upscale")
    assert _read_png(download).size == (84, 60) and Path(fast).read_bytes() == Path(download).read_bytes()
    assert "SAFMN ×3" in info and "RCAN" not in info
    (_, default), _, info = client.predict(handle_file(str(source)), api_name="/upscale")  # the default is RCAN
    assert "RCAN ×3" in info
    assert not np.array_equal(np.asarray(_read_png(fast)), np.asarray(_read_png(default)))


@pytest.mark.server
def test_the_precision_choice_reaches_the_engine_and_the_info_line(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    from sr_core.precision import resolve_dtype

    rgb = np.random.default_rng(5).integers(0, 256, (20, 28, 3), dtype=np.uint8)
    source = _png_file(tmp_path / "harbour.png", Image.fromarray(rgb))
    _, _, info = client.predict(handle_file(str(source)), precision="fp32", api_name="/upscale")
    assert "precision: fp32" in info
    _, _, info = client.predict(handle_file(str(source)), precision="bf16", api_name="/upscale")
    assert "precision: fp32 (bf16 asked: no conv is wide enough)" in info  # the tiny test model is too thin
    _, _, info = client.predict(handle_file(str(source)), api_name="/upscale")  # the old call: auto
    auto_is_bf16 = resolve_dtype("auto", torch.device("cpu")) == torch.bfloat16  # native bf16 on this CPU
    assert "precision: fp32" in info and ("bf16 asked" in info) == auto_is_bf16
    with pytest.raises(Exception, match="precision must be one of"):
        client.predict(handle_file(str(source)), precision="fp8", api_name="/upscale")


@pytest.mark.server
def test_alpha_and_exif_rotation_survive(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    rgba = np.zeros((12, 16, 4), np.uint8)
    rgba[..., 1], rgba[:, 8:, 3] = 200, 255  # left half transparent
    source = _png_file(tmp_path / "logo.png", Image.fromarray(rgba, "RGBA"))
    _, download, _ = client.predict(handle_file(str(source)), api_name="/upscale")
    result = _read_png(download)
    assert result.mode == "RGBA" and result.size == (48, 36)
    alpha = np.asarray(result)[..., 3]
    assert alpha[:, :20].max() == 0 and alpha[:, 28:].min() == 255

    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees: portrait
    source = _png_file(tmp_path / "phone.jpg", Image.new("RGB", (16, 10), (90, 120, 60)), exif=exif, quality=95)
    _, download, _ = client.predict(handle_file(str(source)), api_name="/upscale")
    assert _read_png(download).size == (30, 48)


@pytest.mark.server
def test_bad_input_gets_a_clear_error_and_the_next_call_works(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    text_file = tmp_path / "notes.txt"
    text_file.write_text("this is not a photo")
    with pytest.raises(Exception, match="notes.txt is not an image"):
        client.predict(handle_file(str(text_file)), api_name="/upscale")

    # over the 60,000-pixel limit: the largest region of the photo's shape around the centre, and a note
    over = _png_file(tmp_path / "big.png", Image.new("RGB", (300, 250)))
    _, download, info = client.predict(handle_file(str(over)), api_name="/upscale")
    assert _read_png(download).size == (268 * 3, 223 * 3)
    assert "268×223 px region around x=150, y=125" in info and "python -m sr_core upscale big.png" in info
    _, _, info = client.predict(handle_file(str(over)), centre="290,5", api_name="/upscale")
    assert "(left 32, top 0)" in info

    source = _png_file(tmp_path / "ok.png", Image.new("RGB", (10, 10), (10, 200, 30)))
    _, download, _ = client.predict(handle_file(str(source)), api_name="/upscale")
    assert _read_png(download).size == (30, 30)


@pytest.mark.server
def test_upload_size_limit_is_enforced(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    noise = np.random.default_rng(1).integers(0, 256, (700, 700, 3), dtype=np.uint8)  # ~1.5 MB as PNG
    source = _png_file(tmp_path / "noise.png", Image.fromarray(noise), compress_level=0)
    assert source.stat().st_size > 1_000_000
    with pytest.raises(Exception, match="exceeds the maximum file size of 1048576 bytes"):
        client.predict(handle_file(str(source)), api_name="/upscale")


def _plain(markdown: str) -> str:
    """The text without its tooltip tags, as a reader sees it."""
    return re.sub(r"<[^>]+>", "", markdown)


def _slots(app_module_keys: list[str], figures: list) -> dict:
    return dict(zip(app_module_keys, figures, strict=True))


SLOTS = ["texture_evidence", "original_errors", "depth", "ablation", "added_detail", "attention_heatmap",
         "boosted_channels", "texture_map", "feature_views", "feature_view_metrics", "retrained", "retrained_effects",
         "photo", "training_data"]


@pytest.mark.server
def test_explain_returns_the_answer_experiments_figures_and_metrics(client) -> None:
    from gradio_client import handle_file

    photo = handle_file(str(EXAMPLES / "brick_wall.png"))
    *figures, summary, metrics, workflow, explainer = client.predict(photo, api_name="/explain")
    slots = _slots(SLOTS, figures)
    attention = slots["attention_heatmap"]
    assert attention["type"] == "plotly" and json.loads(attention["plot"])["data"][0]["type"] == "heatmap"
    assert slots["original_errors"] is None  # the error maps need an original
    assert all(slots[key]["type"] == "plotly" for key in ("depth", "ablation", "added_detail"))
    assert all(slots[key]["type"] == "plotly" for key in ("retrained", "retrained_effects"))  # appended slots
    assert workflow["type"] == "plotly"
    assert metrics["attention"]["shape"] == [2, 2, 8] and metrics["attention"]["computed_on"] == [160, 160]
    assert metrics["texture"]["original"] is None
    assert "8 of every 9 output pixels" in summary and "<abbr title=" in summary
    assert "Fine detail, RCAN vs bicubic" in _plain(summary) and "arxiv.org/abs/1807.02758" in explainer
    assert "<abbr title=" in explainer and "What this run revealed" in explainer

    *figures, summary, metrics, _, _ = client.predict(photo, True, api_name="/explain")
    original = metrics["texture"]["original"]
    assert original["size"] == [159, 159]  # mod-cropped to a multiple of 3
    assert metrics["attention"]["computed_on"] == [53, 53]  # the original shrunk x3 is the input
    assert original["psnr_bicubic"] > 20 and 0 < original["ssim_rcan"] <= 1
    assert all(isinstance(step["psnr"], float) for step in metrics["experiments"]["depth"])
    assert _slots(SLOTS, figures)["original_errors"]["type"] == "plotly" and "| RCAN |" in summary


@pytest.mark.server
def test_explain_after_enlarge_reuses_the_gates_of_that_enlargement(client) -> None:
    from gradio_client import handle_file

    photo = handle_file(str(EXAMPLES / "wood_coffee.png"))
    client.predict(photo, api_name="/upscale")
    *_, metrics, _, _ = client.predict(photo, api_name="/explain")
    assert metrics["attention"]["computed_on"] == [216, 144]
    assert "whole_photo" not in metrics["timings"]  # the photo was not enlarged a second time


def test_examples_are_their_own_originals(app_module, tmp_path) -> None:
    copy = tmp_path / "upload.png"
    copy.write_bytes((EXAMPLES / "brick_wall.png").read_bytes())  # Gradio serves examples as copies
    assert app_module.original_mode_for(str(copy))["value"] is True
    other = _png_file(tmp_path / "other.png", Image.new("RGB", (40, 40), "red"))
    assert app_module.original_mode_for(str(other))["value"] is False
    assert app_module.original_mode_for(None)["value"] is False


@pytest.mark.server
def test_explain_with_safmn_keeps_the_outputs_and_shows_the_modulation_maps(client) -> None:
    from gradio_client import handle_file

    photo = handle_file(str(EXAMPLES / "brick_wall.png"))  # 160x160
    *figures, summary, metrics, workflow, explainer = client.predict(photo, False, "default", "safmn",
                                                                     api_name="/explain")
    slots = _slots(SLOTS, figures)  # the same slots as for RCAN
    traces = json.loads(slots["attention_heatmap"]["plot"])["data"]
    assert sum(trace["type"] == "heatmap" for trace in traces) == TINY_SAFMN_BLOCKS
    assert [slots[key] for key in SLOTS[6:10]] == [None] * 4  # RCAN only; the retrained arms serve every model
    assert slots["texture_evidence"]["type"] == "plotly" and slots["original_errors"] is None
    assert slots["depth"]["type"] == "plotly" and metrics["experiments"]["depth_unit"] == "blocks"
    assert metrics["model"]["arch"] == "SAFMN" and "attention" not in metrics
    assert metrics["modulation"]["shape"] == [TINY_SAFMN_BLOCKS, 128, 128]  # the working region, capped
    assert "Modulation off" in _plain(summary) and "Fine detail, SAFMN vs bicubic" in _plain(summary)
    assert workflow["type"] == "plotly" and "arxiv.org/abs/2302.13800" in explainer

    *figures, summary, metrics, _, _ = client.predict(photo, True, model="safmn", api_name="/explain")
    assert metrics["texture"]["original"]["psnr_safmn"] > 0 and _slots(SLOTS, figures)["original_errors"]["type"] == "plotly"
    assert "| SAFMN |" in summary
