"""Safe on the open internet: memory bombs, hidden endpoints, strict API types, runs nobody waits for, temp
files of dead processes; every model run (not only the enlargement) stops when nobody waits, no REST route skips
the queue, the MCP limit is said, names and the upload folder are bounded.

The in-process tests build the demo and call Gradio's own preprocessing; the others launch `python app.py` on
127.0.0.1 (tests/app_server.py) and attack it, reading the server's memory and CPU in /proc.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app_serving import guards, inputs
from sr_core.run_folders import RunFolders
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
    from app_serving.limits import read_photo

    photo = read_photo(path)
    assert photo.size == (7, 5) and photo.output_mode == "RGBA"


def test_an_upload_over_the_pixel_limit_is_taken_undecoded(demo, tmp_path: Path, no_pixel_decoding) -> None:
    """Over the pixel limit, a region of the photo is enlarged (sr_core.photo_region), so the upload is taken;
    the header check runs, nothing is decoded."""
    from gradio.data_classes import ImageData

    big = tmp_path / "big.png"
    big.write_bytes(bomb_png(400))
    assert component(demo, "upload").preprocess(ImageData(path=str(big), orig_name="big.png")) == str(big)


def test_no_unqueued_event_decodes_pixels(demo, no_pixel_decoding) -> None:
    """Unqueued events run outside the model's concurrency limit, so none may decode an image (a photo-info
    handler that decoded every upload in full would let a burst of uploads exhaust memory)."""
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

    from app_serving import runs

    real = runs.RunCancel.__init__

    def watching(self, stop, abandoned=None):  # noqa: ANN001
        real(self, stop, lambda: gone[0])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs.RunCancel, "__init__", watching)
        with pytest.raises(gr.Error, match="Stopped"):
            app_module.upscale(str(EXAMPLES / "brick_wall.png"), progress=progress)
    assert len([s for s in steps if isinstance(s, tuple)]) == 1


def test_outside_a_queued_event_a_run_is_always_wanted(app_module) -> None:
    from app_serving import runs

    assert runs.run_abandoned() is False


# --- 10. temp folders of dead processes -------------------------------------------------------------------------


def test_start_up_removes_the_temp_folders_of_dead_processes_only(app_module, tmp_path: Path) -> None:
    live = RunFolders(tmp_path)
    (live.new() / "result.png").write_bytes(b"x")
    killed = subprocess.run(  # a process that makes its folder, then dies by SIGKILL without cleaning up
        [sys.executable, "-c", "import os, signal; from sr_core.run_folders import RunFolders; RunFolders(os.environ['BASE']).new(); "
                               "os.kill(os.getpid(), signal.SIGKILL)"],
        cwd=Path(app_module.__file__).parent, env={**os.environ, "BASE": str(tmp_path)}, capture_output=True)
    assert killed.returncode == -9
    legacy = tmp_path / "sr-app-legacy"  # made by app.py before this fix: no lock file; an hour old
    legacy.mkdir()
    os.utime(legacy, (time.time() - 2 * 3600,) * 2)
    assert len(list(tmp_path.glob("sr-app-*"))) == 3  # live, killed, legacy

    restarted = RunFolders(tmp_path)
    left = set(tmp_path.glob("sr-app-*"))
    assert left == {live.root, restarted.root}
    assert len(restarted.swept) == 2 and (live.runs).exists()


def test_gradio_cache_lives_in_the_process_folder(app_module, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # restored after the test, whatever the app sets
    folders = RunFolders(tmp_path)
    folders.use_for_gradio_cache()
    assert Path(os.environ["GRADIO_TEMP_DIR"]).parent == folders.root


# --- the launched app, attacked ----------------------------------------------------------------------------

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
    """Unguarded, a 445 kB PNG of 12000x12000 cost ~1 GB of RSS per call; six at once on the unqueued photo-info
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
    """Unguarded, after job.cancel() the server kept ~1.6 cores busy for 104 s and ran the next job beside it."""
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
    """Unguarded, a closed tab let the run go on for 90 s, and the next visitor waited 89.9 s."""
    before = server.log_path.read_text().count("nobody is waiting")
    join_queue(server.url, fn_index(server.url, "upscale"), [data_url_payload(long_photo_bytes(), "long.png"), 256, True, "default", "rcan", "auto", ""],
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
    """reduction 0 ends `python app.py` with one line, not a ZeroDivisionError traceback."""
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


# --- every model run stops when nobody waits; no route skips the queue; bounded names and disk -----------------


@contextlib.contextmanager
def queued_event_gone_at_first_module_call() -> Iterator[dict]:
    """Run the block as if inside a queued Gradio event whose client goes away (job.cancel(), a closed tab) at
    the first forward pass of any module. Yields counts: module calls seen, and those after the client left."""
    import torch
    from gradio.context import LocalContext

    event = types.SimpleNamespace(alive=True)
    queue = types.SimpleNamespace(event_ids_to_events={"e": event}, set_progress=lambda *args, **kwargs: None)
    blocks = types.SimpleNamespace(_queue=queue)
    seen = {"calls": 0, "after_gone": 0}

    def count(_module, _inputs):  # noqa: ANN001
        seen["calls"] += 1
        if not event.alive:
            seen["after_gone"] += 1
        event.alive = False  # the SSE stream ended: Gradio's Queue.clean_events

    handle = torch.nn.modules.module.register_module_forward_pre_hook(count)
    tokens = (LocalContext.blocks.set(blocks), LocalContext.event_id.set("e"))
    try:
        yield seen
    finally:
        LocalContext.blocks.reset(tokens[0])
        LocalContext.event_id.reset(tokens[1])
        handle.remove()


def fresh_photo(folder: Path, side: int = 40, seed: int = 0) -> str:
    """A photo no cache has seen (the caches are keyed by content)."""
    path = folder / f"fresh{seed}.png"
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
    return str(path)


@pytest.mark.parametrize("handler", ["explain", "explain_on_open", "step_through_on_open", "explore_channel_of"])
def test_every_model_run_stops_between_two_steps_when_nobody_waits(app_module, demo, handler, tmp_path,
                                                                  caplog) -> None:
    """Unguarded, three cancelled 2000x2000 explanations ran on side by side (2.6 -> 10.8 GB); an explanation
    (and every other model run) went on after job.cancel() or a closed tab."""
    import gradio as gr
    import torch

    photo = fresh_photo(tmp_path, seed=len(handler))
    calls = {
        "explain": lambda: app_module.explain(photo, False, "default", "rcan", None),
        "explain_on_open": lambda: app_module.explain_on_open(photo, True, "default", "rcan", None),
        "step_through_on_open": lambda: app_module.step_through_on_open(photo, "default", "rcan"),
        "explore_channel_of": lambda: app_module.VIEW_HANDLERS["channel"].explore(photo, False, "default", "rcan", None, "auto", 1, 1, 0),
    }
    with caplog.at_level("INFO", logger="sr_app"), queued_event_gone_at_first_module_call() as seen:
        with pytest.raises(gr.Error, match="Stopped"):
            calls[handler]()
    assert seen["calls"] >= 1 and seen["after_gone"] == 0  # stopped at the next module, nothing ran after
    assert "stopped between two steps: nobody is waiting" in caplog.text
    assert not torch.nn.modules.module._global_forward_pre_hooks  # the run's check went away with it
    calls[handler]()  # the same call outside a queued event runs to the end: nothing was left set


def test_direct_rest_calls_cannot_skip_the_queue(app_module, demo) -> None:
    """Unguarded, POST /gradio_api/run/upscale, /run/predict with an fn_index and /run/<private helper> ran at
    once, outside the queue and its limit of one. Unqueued helpers (no model) still answer the browser."""
    from fastapi.testclient import TestClient
    from gradio.routes import App

    demo.queue(**app_module.queue_options(app_module.QUEUE_SIZE))
    client = TestClient(App.create_app(demo))
    photo = {"path": str(EXAMPLES / "brick_wall.png"), "meta": {"_type": "gradio.FileData"}}
    index = {fn.name: fn._id for fn in reversed(list(demo.fns.values()))}
    refused = [("/gradio_api/run/upscale", {"data": [photo, 256, False, "default", "rcan", "auto"]}),
               ("/gradio_api/run/predict", {"data": [photo, False, "default", "rcan", None],
                                            "fn_index": index["explain"]}),
               ("/gradio_api/run/explain_on_open", {"data": [photo, False, "default", "rcan", None]}),
               ("/gradio_api/run/predict", {"data": [photo, "default", "rcan"],
                                            "fn_index": index["step_through_on_open"]})]
    for path, body in refused:
        response = client.post(path, json={**body, "session_hash": "attacker"})
        assert response.status_code == 404 and "join the queue" in response.json()["detail"], (path, response.text)
    response = client.post("/gradio_api/run/predict", json={
        "data": [photo, 256, False, "default", "rcan", "auto"], "fn_index": index["estimate_text"],
        "session_hash": "browser"})
    assert response.status_code == 200 and "160×160" in str(response.json()["data"])


def test_every_model_run_is_queued_under_the_one_limit(demo) -> None:
    names = ("upscale", "explain", "load_example_output", "explain_on_open", "step_through_on_open",
             "explore_channel_of", "quality_on_open")
    runs = [fn for fn in demo.fns.values() if fn.name in names]
    assert {fn.name for fn in runs} == set(names)
    assert {(fn.queue, fn.concurrency_id, fn.concurrency_limit) for fn in runs} == {(True, "model", 1)}


def test_an_mcp_request_over_the_transport_limit_gets_a_clear_message() -> None:
    """A 3.2 MB PNG as a data URL is over the MCP transport's limit: the caller reads that limit in a JSON-RPC
    error, not a plain-text 413, and the README states the same limit."""
    import json

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    mcp = pytest.importorskip("mcp.server.transport_security")
    assert guards.MCP_BODY_LIMIT == mcp.DEFAULT_MAX_REQUEST_BODY_SIZE  # the limit stated is the real one

    async def handled(request):  # noqa: ANN001
        return PlainTextResponse(f"read {len(await request.body())}")

    inner = Starlette(routes=[Route("/gradio_api/mcp/", handled, methods=["POST"]),
                              Route("/gradio_api/run/predict", handled, methods=["POST"])])
    client = TestClient(guards.RequestBodyLimit(inner, max_bytes=30 * 2**20))
    body = b"x" * (guards.MCP_BODY_LIMIT + 1)
    response = client.post("/gradio_api/mcp/", content=body)
    assert response.status_code == 413
    message = json.loads(response.content)["error"]["message"]
    assert "at most 4,194,304 bytes" in message and "about 3.1 MB" in message and "gradio_client" in message
    call = json.dumps({"method": "tools/call",  # in the order the MCP client sends it: the id last
                       "params": {"name": "upscale", "arguments": {"image": "data:image/png;base64," + "A" * 5_000_000}},
                       "jsonrpc": "2.0", "id": 7})
    response = client.post("/gradio_api/mcp/", content=call.encode())
    assert response.status_code == 200  # the call's own answer: MCP clients raise its message to the caller
    answer = json.loads(response.content)
    assert answer["id"] == 7 and answer["error"]["message"].startswith("MCP request too large: 5,000,")
    assert client.post("/gradio_api/run/predict", content=body).text == f"read {len(body)}"  # the app's own limit


def test_a_data_url_must_hold_a_photo_and_is_stored_under_its_types_extension(demo) -> None:
    """Inline bytes land where the server serves files from: a page or a script (text/html, image/svg+xml) under
    the client's name would be served back as one."""
    import gradio as gr
    from gradio.data_classes import ImageData

    buffer = io.BytesIO()
    Image.new("RGB", (9, 9), (200, 10, 10)).save(buffer, format="PNG")
    upload = component(demo, "upload")
    for mime in ("text/html", "image/svg+xml", ""):
        payload = data_url_payload(buffer.getvalue(), "page.html")
        payload["url"] = payload["url"].replace("data:image/png;", f"data:{mime};")
        with pytest.raises(gr.Error, match="a data: URL must hold a photo"):
            upload.preprocess(ImageData(**payload))
    path = Path(upload.preprocess(ImageData(**data_url_payload(buffer.getvalue(), "page.html"))))
    assert path.name == "page.png" and path.read_bytes() == buffer.getvalue()


def test_a_long_file_name_is_shortened_safely(app_module, demo) -> None:
    """Unguarded, a data URL with a 236-character orig_name failed with "[Errno 36] File name too long" and
    showed the server's temp path."""
    from gradio.data_classes import ImageData

    buffer = io.BytesIO()
    Image.new("RGB", (9, 9), (200, 10, 10)).save(buffer, format="PNG")
    name = "ä" * 236 + ".png"  # 472 bytes of UTF-8
    path = Path(component(demo, "upload").preprocess(ImageData(**data_url_payload(buffer.getvalue(), name))))
    assert path.read_bytes() == buffer.getvalue()
    assert path.name.endswith(".png") and len(path.name) <= 100 and path.name.startswith("ää")
    (_, result), _, _ = app_module.upscale(str(path))
    assert Path(result).name.endswith("_x3.png") and len(Path(result).name.encode()) < 255


def test_the_upload_folder_is_bounded_oldest_files_first(tmp_path: Path) -> None:
    """Unguarded, 200 uploads of 5 MB added 1 GB in 5 s, and nothing was removed for an hour."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    uploads = tmp_path / "gradio"
    uploads.mkdir()
    count = [0]

    async def upload(request):  # noqa: ANN001 - stands in for Gradio's /upload: a new folder, one file
        count[0] += 1
        folder = uploads / f"{count[0]:03d}"
        folder.mkdir()
        (folder / "photo.png").write_bytes(await request.body())
        os.utime(folder / "photo.png", (1000 + count[0],) * 2)  # distinct ages, oldest first
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/gradio_api/upload", upload, methods=["POST"])])
    client = TestClient(guards.UploadCacheBound(inner, folder=lambda: uploads, max_bytes=10_000))
    for _ in range(30):
        assert client.post("/gradio_api/upload", content=b"x" * 1_000).status_code == 200
    left = sorted(p.parent.name for p in uploads.rglob("*.png"))
    assert left == [f"{n:03d}" for n in range(21, 31)]  # the 10 newest, 10,000 bytes


def test_inline_images_count_against_the_upload_bound(app_module, demo, monkeypatch, tmp_path: Path) -> None:
    from gradio.data_classes import ImageData

    monkeypatch.setattr(inputs, "upload_cache_bytes", lambda: 0)  # every file but the newest goes
    upload = component(demo, "upload")
    monkeypatch.setattr(upload, "GRADIO_CACHE", str(tmp_path))  # not the machine's shared /tmp/gradio
    paths = [Path(upload.preprocess(ImageData(**data_url_payload(bomb_png(20 + i), f"p{i}.png")))) for i in range(3)]
    assert [p.exists() for p in paths] == [False, False, True]  # the photo just sent is kept, the older ones go


@pytest.mark.parametrize("value", ["abc", None, [1], True])
def test_a_channel_slider_takes_numbers_only_and_says_so(demo, value) -> None:
    import gradio as gr

    for elem_id, name in (("channel-group", "group"), ("channel-block", "block"), ("channel-index", "channel")):
        with pytest.raises(gr.Error, match=f"{name} must be a number, not "):
            component(demo, elem_id).preprocess(value)
    assert component(demo, "channel-group").preprocess(2) == 2


def test_the_channel_view_refuses_what_explain_refuses(app_module, tmp_path: Path) -> None:
    import gradio as gr

    tiny = tmp_path / "one.png"
    Image.new("RGB", (1, 1)).save(tiny)
    with pytest.raises(gr.Error, match=r"at least 8x8 pixels"):
        app_module.explain(str(tiny))
    plot, text = app_module.VIEW_HANDLERS["channel"].explore(str(tiny), False, "default", "rcan", None, "auto", 1, 1, 0)
    assert plot is None and "at least 8x8 pixels" in text


def test_the_click_note_echoes_a_huge_number_short(app_module) -> None:
    import gradio as gr

    huge = int("9" * 4000)
    _, note = app_module.focus_on_click("photo.png", gr.SelectData(None, {"index": [huge, 3], "value": None}))
    assert "x=9999999999" in note and len(note) < 200
    assert app_module.focus_on_click("photo.png", gr.SelectData(None, {"index": ["a", "b"], "value": None})) == (
        app_module.gr.update(), app_module.gr.update())
    for index in (["a", "b"], [], None, [1]):  # the centre of a big photo's region: no change, not an exception
        assert app_module.centre_on_click(gr.SelectData(None, {"index": index, "value": None})) == app_module.gr.update()
    assert app_module.centre_on_click(gr.SelectData(None, {"index": [huge, 3], "value": None})).endswith(",3")


@pytest.mark.server
def test_a_direct_run_call_is_refused_by_the_launched_app(server) -> None:
    """`python app.py` as a user starts it: the REST routes that skipped the queue answer 404, the queue works."""
    photo = data_url_payload(bomb_png(20), "small.png")
    for index in (fn_index(server.url, "upscale"), fn_index(server.url, "explain")):
        status, response = post_run_predict(server.url, index, [photo, 256, False, "default", "rcan", "auto"])
        assert status == 404 and "join the queue" in response["detail"], response
    body = json.dumps({"data": [photo, 256, False, "default", "rcan", "auto"], "session_hash": "x"}).encode()
    request = urllib.request.Request(server.url + "gradio_api/run/upscale", body, {"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 404


@pytest.mark.server
def test_a_cancelled_explanation_stops(server, tmp_path: Path) -> None:
    """Unguarded, job.cancel() 3 s into an explanation left it running while the queue started the next one."""
    from gradio_client import Client, handle_file

    path = tmp_path / "big.png"
    blocks = np.random.default_rng(1).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    Image.fromarray(blocks.repeat(8, axis=0).repeat(8, axis=1)).save(path)  # 1200x1200 under the 2 MB limit
    client = Client(server.url, verbose=False)
    job = client.submit(handle_file(str(path)), False, api_name="/explain")
    deadline = time.monotonic() + 120
    while not job.status().progress_data and time.monotonic() < deadline:  # "Looking inside the network"
        time.sleep(0.2)
    assert job.status().progress_data, job.status()
    job.cancel()
    assert wait_for_log(server.log_path, "explain stopped between two steps: nobody is waiting", 20)
    assert cpu_busy(server.pid, 2.0) < 0.3
