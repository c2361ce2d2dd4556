"""Start `python app.py` in a subprocess on 127.0.0.1 and a free port, the way a Space or a user starts it.

Used by the gradio_client and browser tests. The port and host reach the app only through GRADIO_SERVER_PORT and
GRADIO_SERVER_NAME, so the tests also check that the app leaves those to Gradio.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class AppProcess:
    url: str
    pid: int
    log_path: Path


@contextmanager
def running_app(weights: Path | str, workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Yield the base URL of a running app that serves `weights`; logs go to workdir/app.log."""
    with running_app_process(weights, workdir, extra_env) as app:
        yield app.url


@contextmanager
def running_app_process(
    weights: Path | str, workdir: Path, extra_env: dict[str, str] | None = None, repo: Path = REPO
) -> Iterator[AppProcess]:
    """As `running_app`, with the server's pid (to read its memory and CPU time) and its log; `repo` is the
    checkout whose app.py runs (bench/serving_attacks.py compares two)."""
    port = free_port()
    env = {
        **os.environ,
        "SR_WEIGHTS": str(weights),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_EXAMPLES_CACHE": str(workdir / "examples_cache"),
        "GRADIO_TEMP_DIR": str(workdir / "gradio_tmp"),
        "HF_HUB_OFFLINE": "1",
        **(extra_env or {}),
    }
    env.pop("SR_HUB_REPO", None)
    log_path = workdir / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url, process, log_path)
        yield AppProcess(url, process.pid, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"app.py did not answer within {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
