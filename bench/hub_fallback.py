"""How fast the weights resolver falls back when the Hub cannot be reached, against huggingface_hub alone.

    python bench/hub_fallback.py

Both are pointed at a closed localhost port (HF_ENDPOINT), in fresh interpreters with an empty cache,
so the numbers do not depend on this machine's DNS.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RAW = """
import time
from huggingface_hub import hf_hub_download
start = time.perf_counter()
try:
    hf_hub_download("someone/rcan-x3", "model.safetensors")
except Exception as exc:
    print(f"{time.perf_counter() - start:.2f} {type(exc).__name__}")
"""

RESOLVER = """
import time
start = time.perf_counter()
from sr_core.weights import load_weights
loaded = load_weights("auto", hub_repo="someone/rcan-x3")
print(f"{time.perf_counter() - start:.2f} {loaded.source}")
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket closes


def run(code: str) -> str:
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SR_"))}
        env.update(HF_HOME=home, HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}", HF_HUB_DISABLE_TELEMETRY="1")
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300).stdout.strip()


def main() -> None:
    print("huggingface_hub.hf_hub_download alone:", run(RAW), "(seconds, error)")
    print("sr_core.weights.load_weights('auto') :", run(RESOLVER), "(seconds including imports and the model load, source)")


if __name__ == "__main__":
    main()
