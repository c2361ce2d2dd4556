"""Run the serving attacks against `python app.py` on 127.0.0.1 and print what they cost the server.

    python bench/serving_attacks.py [--repo DIR]   # DIR: another checkout's app.py, to compare

1. data: URL bomb: a 420 kB PNG of 12000x12000 pixels sent inline, 6 at once to the unqueued photo-info event
   (POST /gradio_api/run/predict; --parallel) and 2 through the queue to /upscale; then a 23 MB data URL. RSS and peak RSS.
2. A long run (600x600, x8 ensemble) cancelled by gradio_client's job.cancel(), and one whose tab is closed:
   the cores the server keeps busy in the 3 s after, and whether the run says it stopped.
Runs nobody waits for and routes around the queue (`--only runs`; 1-2 alone: `--only uploads`):
3. Three 2000x2000 explanations submitted at once, each cancelled 3 s after it starts: peak RSS, and the cores
   busy 5 s after the last cancel.
4. Direct POSTs to /gradio_api/run/upscale, /run/predict with an fn_index, /run/<private helper>: what they get.
Bounded: one server, ~2-4 minutes on 2 cores. Needs /proc (Linux).
"""
from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app_server import running_app_process  # noqa: E402
from tests.attacks import (  # noqa: E402
    bomb_png, cpu_busy, data_url_payload, fn_index, join_queue, memory_mb, open_then_close_tab,
    post_run_predict, wait_for_log,
)
import json  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

LONG_SIDE = 600


def long_photo() -> bytes:
    rgb = np.random.default_rng(0).integers(0, 256, (LONG_SIDE, LONG_SIDE, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def message(response: dict) -> str:
    text = str(response.get("error") or response.get("data") or response)
    return text[:110]


def tile_steps_started(job) -> bool:  # noqa: ANN001 - a gradio_client Job
    progress = job.status().progress_data
    return bool(progress) and progress[-1].index is not None


def data_url_attack(url: str, pid: int, parallel: int) -> None:
    bomb = data_url_payload(bomb_png(12000))
    info = fn_index(url, "estimate_text")
    upscale = fn_index(url, "upscale")
    print(f"RSS before: {memory_mb(pid)}")
    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(lambda _: post_run_predict(url, info, [bomb, 256, False, "default", "rcan"]),
                                range(parallel)))
    print(f"{parallel} parallel bombs to the photo-info event: {time.perf_counter() - started:.1f} s, "
          f"statuses {[code for code, _ in results]}, first answer: {message(results[0][1])}")
    print(f"RSS after: {memory_mb(pid)}")
    for i in range(2):
        join_queue(url, upscale, [bomb, 256, False, "default", "rcan"], f"bomb{i}")
        seen = open_then_close_tab(url, f"bomb{i}", until="process_completed")
        print(f"bomb through the queue to /upscale: messages {seen[-2:]}")
    print(f"RSS after the queued bombs: {memory_mb(pid)}")
    big = data_url_payload(b"\x89PNG\r\n\x1a\n" + bytes(23 * 2**20))
    code, response = post_run_predict(url, info, [big, 256, False, "default", "rcan"])
    print(f"23 MB data URL: status {code}: {message(response)}")  # 413: refused unread (RequestBodyLimit)
    print(f"RSS at the end: {memory_mb(pid)}")


def cancel_attack(url: str, pid: int, log_path: Path, photo: Path) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    job = client.submit(handle_file(str(photo)), 256, True, api_name="/upscale")
    while not tile_steps_started(job):
        time.sleep(0.2)
    print(f"cancel: busy before: {cpu_busy(pid, 2.0):.2f} cores")
    job.cancel()
    time.sleep(1.0)
    print(f"cancel: busy in the 3 s after the cancel (+1 s): {cpu_busy(pid, 3.0):.2f} cores; "
          f"the run says it stopped: {wait_for_log(log_path, 'nobody is waiting', 5)}")


def tab_close_attack(url: str, pid: int, log_path: Path, photo_bytes: bytes) -> None:
    upscale = fn_index(url, "upscale")
    payload = {"path": None, "url": "data:image/png;base64," + base64.b64encode(photo_bytes).decode(),
               "orig_name": "long.png", "meta": {"_type": "gradio.FileData"}}
    join_queue(url, upscale, [payload, 256, True, "default", "rcan"], "tab")
    seen = open_then_close_tab(url, "tab", until="progress")
    print(f"tab: saw {seen[-3:]}, then closed the tab")
    before = log_path.read_text().count("nobody is waiting")
    time.sleep(1.0)
    print(f"tab: busy in the 3 s after closing (+1 s): {cpu_busy(pid, 3.0):.2f} cores; "
          f"the run says it stopped: {log_path.read_text().count('nobody is waiting') > before}")


def big_photo(path: Path, side: int = 2000, seed: int = 2) -> Path:
    """side x side, textured, small as a PNG (blocks of 8 pixels), under the 20 MB upload limit."""
    blocks = np.random.default_rng(seed).integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
    Image.fromarray(blocks.repeat(8, axis=0).repeat(8, axis=1)).save(path)
    return path


def cancelled_explanations_attack(url: str, pid: int, log_path: Path, photos: list[Path]) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    print(f"explanations: RSS before: {memory_mb(pid)}")
    count = len(photos)  # different photos: a finished explanation would be served to the next from the cache
    jobs = [client.submit(handle_file(str(photo)), False, api_name="/explain") for photo in photos]
    started = time.monotonic()
    waiting = list(jobs)
    while waiting and time.monotonic() - started < 600:  # the queue runs one at a time: cancel each 3 s into its run
        running = next((job for job in waiting if job.status().code.name in ("PROCESSING", "PROGRESS")), None)
        if running is None:
            waiting = [job for job in waiting if not job.done()]
            time.sleep(0.2)
            continue
        time.sleep(3.0)
        running.cancel()
        waiting.remove(running)
        print(f"cancelled an explanation 3 s into its run, at {time.monotonic() - started:.1f} s; RSS {memory_mb(pid)}")
    time.sleep(5.0)
    print(f"explanations: {count} cancelled 3 s into each; cores busy 5-8 s after the last cancel: "
          f"{cpu_busy(pid, 3.0):.2f}; RSS: {memory_mb(pid)}; stopped runs in the log: "
          f"{log_path.read_text().count('explain stopped between two steps')}")


def direct_run_attack(url: str, photo_bytes: bytes) -> None:
    photo = data_url_payload(photo_bytes, "small.png")
    inputs = [photo, 256, False, "default", "rcan", "auto"]
    for route, body in (("run/upscale", {"data": inputs}),
                        ("run/predict", {"data": inputs, "fn_index": fn_index(url, "upscale")}),
                        ("run/explain_on_open", {"data": [photo, False, "default", "rcan", None]})):
        request = urllib.request.Request(f"{url}gradio_api/{route}",
                                         json.dumps({**body, "session_hash": "attacker"}).encode(),
                                         {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                print(f"POST /gradio_api/{route}: {response.status} (ran outside the queue)")
        except urllib.error.HTTPError as exc:
            print(f"POST /gradio_api/{route}: {exc.code} {exc.read()[:110].decode(errors='replace')}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose app.py is attacked")
    parser.add_argument("--parallel", type=int, default=6, help="bombs sent at once (6: ~1 GB each "
                        "on a server that decodes them)")
    parser.add_argument("--only", choices=["uploads", "runs"], default=None,
                        help="uploads: attacks 1-2 (bombs, cancel, closed tab); runs: 3-4 (explanations, direct POSTs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        photo_bytes = long_photo()
        photo = Path(workdir) / "long.png"
        photo.write_bytes(photo_bytes)
        with running_app_process("bundled", Path(workdir), repo=args.repo) as app:
            print(f"app.py of {args.repo} on {app.url}, pid {app.pid}")
            if args.only != "runs":
                data_url_attack(app.url, app.pid, args.parallel)
                cancel_attack(app.url, app.pid, app.log_path, photo)
                time.sleep(2)
                tab_close_attack(app.url, app.pid, app.log_path, photo_bytes)
            if args.only != "uploads":
                direct_run_attack(app.url, bomb_png(20))
                cancelled_explanations_attack(app.url, app.pid, app.log_path,
                                              [big_photo(Path(workdir) / f"big{i}.png", seed=i) for i in range(3)])


if __name__ == "__main__":
    main()
