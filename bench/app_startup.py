"""Seconds from `python app.py` to the first HTTP answer, on the bundled model, offline.

    python bench/app_startup.py [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_startup(timeout_s: float = 120.0) -> float:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout_s:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"app.py did not answer within {timeout_s:.0f} s")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = [time_startup() for _ in range(args.runs)]
    print("runs (s):", " ".join(f"{t:.1f}" for t in times))
    print(f"median start-up: {statistics.median(times):.1f} s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
