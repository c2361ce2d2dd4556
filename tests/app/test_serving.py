"""Issue 11, "safe on the open internet": memory bombs, hidden endpoints, strict API types, runs nobody waits for,
temp files of dead processes.

The in-process tests build the demo and call Gradio's own preprocessing; the others launch `python app.py` on
127.0.0.1 (tests/app_server.py) and attack it as the issue did, reading the server's memory and CPU in /proc.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app_server import running_app_process
from tests.conftest import save_tiny_safmn
from tests.attacks import (
    bomb_png, cpu_busy, data_url_payload, fn_index, join_queue, memory_mb, open_then_close_tab, post_run_predict,
    wait_for_log,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PUBLIC_EVENTS = {"upscale", "explain"}


@pytest.fixture(scope="module")
def app_module(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SR_WEIGHTS", str(tiny_checkpoint))
    mp.setenv("SR_SAFMN_WEIGHTS", str(save_tiny_safmn(tmp_path_factory.mktemp("safmn") / "s.safetensors")))
    mp.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path_factory.mktemp("examples_cache")))
    mp.delenv("SR_HUB_REPO", raising=False)
    mp.setenv("SR_MAX_PIXELS", "60000")
    mp.setenv("SR_MAX_UPLOAD", "1mb")
    import app

    yield app
    mp.undo()


@pytest.fixture(scope="module")
def demo(app_module):
    return app_module.build_demo()


def component(demo, elem_id: str):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


@pytest.fixture()
def no_pixel_decoding(monkeypatch):
    """Any decode of pixel data (Pillow's load) fails the test: only headers may be read."""
    from PIL import ImageFile

    def refuse(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        raise AssertionError(f"pixels of a {self.size} image were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# --- 1. data: URLs and uploads pass the app's size checks before any pixel is decoded -------------------------


def test_a_data_url_bomb_is_refused_from_its_header(demo, no_pixel_decoding) -> None:
    import gradio as gr
    from gradio.data_classes import ImageData

    upload = component(demo, "upload")
    # 100 MP in a small PNG: over Pillow's decompression-bomb limit, which still refuses what no region can come from
    bomb = ImageData(**data_url_payload(bomb_png(10_000)))
    with pytest.raises(gr.Error, match=r"too large: 100,000,000 pixels.*crop or shrink"):
        upload.preprocess(bomb)


def test_a_data_url_over_the_upload_limit_is_refused_before_it_is_decoded(demo, monkeypatch) -> None:
    import base64

    import gradio as gr
    from gradio.data_classes import ImageData

    def no_decoding(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("the base64 text was decoded before its size was checked")

    big = ImageData(**data_url_payload(b"\x89PNG\r\n\x1a\n" + bytes(1_200_000)))  # over SR_MAX_UPLOAD=1mb
    monkeypatch.setattr(base64, "b64decode", no_decoding)
    with pytest.raises(gr.Error, match=r"too large: 1,200,00\d bytes; the limit is 1,048,576 bytes"):
        component(demo, "upload").preprocess(big)


def test_a_small_data_url_is_stored_undecoded_and_read_like_an_upload(app_module, demo, tmp_path: Path) -> None:
    from gradio.data_classes import ImageData

    buffer = io.BytesIO()
    Image.new("RGBA", (7, 5), (10, 20, 30, 40)).save(buffer, format="PNG")
    path = component(demo, "upload").preprocess(ImageData(**data_url_payload(buffer.getvalue(), "logo.png")))
    assert Path(path).name == "logo.png" and Path(path).read_bytes() == buffer.getvalue()
    photo = app_module.read_photo(path)
    assert photo.size == (7, 5) and photo.output_mode == "RGBA"


def test_an_upload_over_the_pixel_limit_is_taken_undecoded(demo, tmp_path: Path, no_pixel_decoding) -> None:
    """Over the pixel limit, a region of the photo is enlarged (sr_core.photo_region), so the upload is taken;
    the header check runs, nothing is decoded."""
    from gradio.data_classes import ImageData

    big = tmp_path / "big.png"
    big.write_bytes(bomb_png(400))
    assert component(demo, "upload").preprocess(ImageData(path=str(big), orig_name="big.png")) == str(big)


def test_no_unqueued_event_decodes_pixels(demo, no_pixel_decoding) -> None:
    """Unqueued events run outside the model's concurrency limit, so none may decode an image (the photo-info
    handler used to decode every upload in full)."""
    import inspect

    import gradio as gr
    from gradio.data_classes import ImageData

    photo = str(EXAMPLES / "brick_wall.png")
    unqueued = [fn for fn in demo.fns.values() if not fn.queue and fn.fn is not None]
    takes_photo = [fn for fn in unqueued if any(getattr(b, "elem_id", None) == "upload" for b in fn.inputs)]
    assert takes_photo  # the photo-info line
    results = []
    for fn in takes_photo:
        values = []
        for block in fn.inputs:
            payload = ImageData(path=photo, orig_name="brick_wall.png") if block.elem_id == "upload" else block.value
            values.append(block.preprocess(payload))
        if "event" in inspect.signature(fn.fn).parameters:  # Gradio fills a gr.SelectData parameter itself
            values.append(gr.SelectData(None, {"index": [3, 4], "value": None}))
        results.append(str(fn.fn(*values)))
    assert any("160×160" in result for result in results)  # the photo-info line still knows the size


def test_helper_events_are_private_and_examples_share_the_model_limit(demo) -> None:
    named = {fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private" and fn.fn is not None}
    assert named - {"load_example_input"} == PUBLIC_EVENTS  # Gradio's own example loader only posts files back
    model_runs = [fn for fn in demo.fns.values() if fn.name in ("upscale", "explain", "load_example_output", "explain_on_open",
                                                             "step_through_on_open")]
    assert len(model_runs) >= 4
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in model_runs} == {("model", 1)}


# --- 8. strict API types ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["false", "0", "abc", 1, None])
def test_booleans_are_booleans(demo, value) -> None:
    import gradio as gr

    for elem_id, name in (("ensemble", "ensemble"), ("have-original", "have_original")):
        with pytest.raises(gr.Error, match=f"{name} must be true or false"):
            component(demo, elem_id).preprocess(value)
        assert component(demo, elem_id).preprocess(False) is False


@pytest.mark.parametrize("value", [None, "256", 256.0, True, 100])
def test_tile_must_be_a_listed_whole_number(demo, value) -> None:
    import gradio as gr

    with pytest.raises(gr.Error, match=r"tile must be one of 128, 256, 512, 1024"):
        component(demo, "tile").preprocess(value)
    assert component(demo, "tile").preprocess(256) == 256


def test_choices_refuse_other_values_without_echoing_them_at_length(demo) -> None:
    import gradio as gr

    with pytest.raises(gr.Error, match=r"model must be one of 'rcan', 'safmn', not 'x{30}") as caught:
        component(demo, "model").preprocess("x" * 10_000)
    assert len(str(caught.value)) < 120


# --- 6/5. a run nobody waits for stops between two steps ------------------------------------------------------


def test_an_abandoned_run_stops_between_two_steps(app_module, demo) -> None:
    """Whatever tells the app that the request is gone (a cancelled job, a closed tab) stops the engine."""
    import gradio as gr

    gone = [False]
    steps: list[object] = []

    def progress(value, desc=None, unit="steps"):  # the client goes away at the first tile step
        steps.append(value)
        if isinstance(value, tuple):
            gone[0] = True

    real = app_module.RunCancel.__init__

    def watching(self, stop, abandoned=None):  # noqa: ANN001
        real(self, stop, lambda: gone[0])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app_module.RunCancel, "__init__", watching)
        with pytest.raises(gr.Error, match="Stopped"):
            app_module.upscale(str(EXAMPLES / "brick_wall.png"), progress=progress)
    assert len([s for s in steps if isinstance(s, tuple)]) == 1


def test_outside_a_queued_event_a_run_is_always_wanted(app_module) -> None:
    assert app_module.run_abandoned() is False


# --- 10. temp folders of dead processes -------------------------------------------------------------------------


def test_start_up_removes_the_temp_folders_of_dead_processes_only(app_module, tmp_path: Path) -> None:
    live = app_module.RunFolders(tmp_path)
    (live.new() / "result.png").write_bytes(b"x")
    killed = subprocess.run(  # a process that makes its folder, then dies by SIGKILL without cleaning up
        [sys.executable, "-c", "import os, signal, app; app.RunFolders(os.environ['BASE']).new(); "
                               "os.kill(os.getpid(), signal.SIGKILL)"],
        cwd=Path(app_module.__file__).parent, env={**os.environ, "BASE": str(tmp_path)}, capture_output=True)
    assert killed.returncode == -9
    legacy = tmp_path / "sr-app-legacy"  # made by app.py before this fix: no lock file; an hour old
    legacy.mkdir()
    os.utime(legacy, (time.time() - 2 * 3600,) * 2)
    assert len(list(tmp_path.glob("sr-app-*"))) == 3  # live, killed, legacy

    restarted = app_module.RunFolders(tmp_path)
    left = set(tmp_path.glob("sr-app-*"))
    assert left == {live.root, restarted.root}
    assert len(restarted.swept) == 2 and (live.runs).exists()


def test_gradio_cache_lives_in_the_process_folder(app_module, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # restored after the test, whatever the app sets
    folders = app_module.RunFolders(tmp_path)
    folders.use_for_gradio_cache()
    assert Path(os.environ["GRADIO_TEMP_DIR"]).parent == folders.root


# --- the launched app, attacked as in the issue --------------------------------------------------------------

LONG_SIDE = 600  # with the bundled RCAN and the x8 ensemble: tens of seconds on 2 cores, so it is still running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("serving")
    env = {"SR_MAX_UPLOAD": "2mb", "SR_MAX_PIXELS": "4000000", "OMP_NUM_THREADS": "2"}  # not the module's
    with running_app_process("bundled", workdir, env) as app:
        yield app


def long_photo_bytes() -> bytes:
    rgb = np.random.default_rng(0).integers(0, 256, (LONG_SIDE, LONG_SIDE, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def long_photo_file(folder: Path) -> Path:
    path = folder / "long.png"
    path.write_bytes(long_photo_bytes())
    return path


@pytest.mark.server
def test_a_data_url_bomb_costs_the_server_no_memory(server) -> None:
    """The issue: a 445 kB PNG of 12000x12000 cost ~1 GB of RSS per call; six at once on the unqueued photo-info
    event took the server from 886 MB to 7.3 GB."""
    index = fn_index(server.url, "estimate_text")
    bomb = data_url_payload(bomb_png(12000))
    peak_before = memory_mb(server.pid)["VmHWM"]
    for _ in range(2):
        status, response = post_run_predict(server.url, index, [bomb, 256, False, "default", "rcan", "auto"])
        assert status == 500 and "too large" in str(response), response
    assert memory_mb(server.pid)["VmHWM"] - peak_before < 100  # one decoded copy alone would be 432 MB


def tile_steps_started(job) -> bool:  # noqa: ANN001 - a gradio_client Job
    progress = job.status().progress_data
    return bool(progress) and progress[-1].index is not None


@pytest.mark.server
def test_a_cancelled_job_stops_the_engine(server, tmp_path: Path) -> None:
    """The issue: after job.cancel() the server kept ~1.6 cores busy for 104 s and ran the next job beside it."""
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    job = client.submit(handle_file(str(long_photo_file(tmp_path))), 256, True, api_name="/upscale")
    deadline = time.monotonic() + 120
    while not tile_steps_started(job) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tile_steps_started(job), job.status()
    job.cancel()
    assert wait_for_log(server.log_path, "upscale stopped between two steps: nobody is waiting", 15)
    assert cpu_busy(server.pid, 2.0) < 0.3  # idle: the worker thread is not still computing


@pytest.mark.server
def test_closing_the_tab_stops_the_engine(server) -> None:
    """The issue: a closed tab let the run go on for 90 s, and the next visitor waited 89.9 s."""
    before = server.log_path.read_text().count("nobody is waiting")
    join_queue(server.url, fn_index(server.url, "upscale"), [data_url_payload(long_photo_bytes(), "long.png"), 256, True, "default", "rcan", "auto"],
               "closed-tab")
    seen = open_then_close_tab(server.url, "closed-tab", until="progress")
    assert "progress" in seen, seen
    deadline = time.monotonic() + 15
    while server.log_path.read_text().count("nobody is waiting") == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.log_path.read_text().count("nobody is waiting") == before + 1
    assert cpu_busy(server.pid, 2.0) < 0.3


@pytest.mark.server
def test_strict_types_reach_api_clients_as_clear_messages(server) -> None:
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    photo = handle_file(str(EXAMPLES / "brick_wall.png"))
    with pytest.raises(Exception, match="ensemble must be true or false"):
        client.predict(photo, 256, "false", api_name="/upscale")
    with pytest.raises(Exception, match="tile must be one of"):
        client.predict(photo, None, False, api_name="/upscale")


def test_a_crafted_checkpoint_at_app_start_is_one_line(tmp_path: Path) -> None:
    """reduction 0 used to end `python app.py` with a ZeroDivisionError traceback."""
    import torch
    from safetensors.torch import save_file

    from tests.conftest import tiny_random_rcan

    state = {k: v.contiguous() for k, v in tiny_random_rcan().state_dict().items()}
    state["body.0.body.0.body.3.conv_du.0.weight"] = torch.zeros(64, 8, 1, 1)
    weights = tmp_path / "reduction0.safetensors"
    save_file(state, str(weights))
    env = {**os.environ, "SR_WEIGHTS": str(weights), "HF_HUB_OFFLINE": "1", "GRADIO_TEMP_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "app.py"], cwd=Path(__file__).resolve().parents[2], env=env,
                            capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stderr.splitlines() if "Warning" not in line and line.strip()]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert errors[-1].startswith("app.py: cannot load the model weights:") and "reduction = 0" in errors[-1]


@pytest.mark.server
def test_a_request_body_over_the_limit_is_refused_before_it_is_read(server) -> None:
    """Gradio parses a JSON body in full before any handler: a 23 MB data URL held ~115 MB of RSS."""
    big = data_url_payload(b"\x89PNG\r\n\x1a\n" + bytes(4 * 2**20))  # 5.6 MB of JSON; the limit is 2mb*4/3 + 1 MiB
    status, response = post_run_predict(server.url, fn_index(server.url, "estimate_text"),
                                        [big, 256, False, "default", "rcan", "auto"])
    assert status == 413 and "request too large" in response["error"]
    small = data_url_payload(bomb_png(100))
    status, response = post_run_predict(server.url, fn_index(server.url, "estimate_text"),
                                        [small, 256, False, "default", "rcan", "auto"])
    assert status == 200 and "100×100" in str(response["data"])
