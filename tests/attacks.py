"""What an attacker (or a careless client) sends to the launched app, and how the server's cost is read.

Shared by tests/app/test_app_serving.py (small, bounded versions) and bench/serving_attacks.py (full size).
Everything talks to 127.0.0.1 only.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import struct
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import urlparse


def bomb_png(side: int) -> bytes:
    """A valid side x side black RGB PNG, compressed to almost nothing (12000 px: ~420 kB for 432 MB of pixels).

    Built row by row, so making it costs this process no more than one row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * side)  # filter byte 0, then the pixels
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def data_url_payload(png: bytes, name: str = "bomb.png") -> dict:
    """An image sent inline, as an attacker can: no path, so Gradio's /upload limit never sees it."""
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    return {"path": None, "url": url, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def fn_index(base_url: str, name: str) -> int:
    """The index of the first event whose function is `name` (api_name or not), from the page's config."""
    with urllib.request.urlopen(base_url.rstrip("/") + "/config", timeout=10) as response:
        config = json.load(response)
    for dep in config["dependencies"]:
        if dep.get("api_name") == name:
            return dep["id"]
    raise KeyError(f"no event named {name!r}")


def post_run_predict(base_url: str, index: int, data: list, timeout_s: float = 120) -> tuple[int, dict]:
    """POST /gradio_api/run/predict: how the browser calls an unqueued event, and anyone can."""
    body = json.dumps({"data": data, "fn_index": index, "session_hash": "attacker"}).encode()
    request = urllib.request.Request(base_url.rstrip("/") + "/gradio_api/run/predict", body,
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def join_queue(base_url: str, index: int, data: list, session: str) -> str:
    body = json.dumps({"data": data, "fn_index": index, "session_hash": session, "trigger_id": None}).encode()
    request = urllib.request.Request(base_url.rstrip("/") + "/gradio_api/queue/join", body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["event_id"]


def open_then_close_tab(base_url: str, session: str, until: str = "progress", timeout_s: float = 120) -> list[str]:
    """Listen on the session's event stream like a browser tab, until a message of kind `until`, then drop the
    connection the way a closed tab does. Returns the kinds of message seen."""
    parsed = urlparse(base_url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout_s)
    connection.request("GET", f"/gradio_api/queue/data?session_hash={session}")
    response = connection.getresponse()
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            line = response.fp.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                kind = json.loads(line[5:]).get("msg", "")
                seen.append(kind)
                if kind == until or kind == "process_completed":
                    break
    finally:
        response.close()
        connection.close()
    return seen


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_busy(pid: int, window_s: float) -> float:
    """Cores busy in `pid` over the next `window_s` seconds (1.0 = one core all the time)."""
    before = cpu_seconds(pid)
    time.sleep(window_s)
    return (cpu_seconds(pid) - before) / window_s


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def wait_for_log(log_path: Path, text: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log_path.read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False
