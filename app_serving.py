"""The serving machinery of app.py (the UI): how a model run learns that nobody waits for it any more, how its
failures reach the visitor as one line, and the ASGI guards in front of Gradio (request bodies, the upload cache).

One rule holds every model run together: a handler that runs a model is a `model_run`. It runs inside
`sr_core.tiling.stops_on(flag)`, so every pass it makes (the engine's tiled forward, and any other forward pass,
checked between two modules) stops once its request is cancelled, its tab is closed, or Stop is pressed; and it
is queued under the app's one concurrency limit (`model_queue`; `queue_options` closes the direct REST routes
that would skip the queue).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import gradio as gr
import torch
from gradio.context import LocalContext

from sr_core.errors import UserError, WeightsError
from sr_core.tiling import Cancelled, stops_on

log = logging.getLogger("sr_app")

# The MCP transport (the `mcp` package's streamable HTTP, which Gradio 6.31 builds with its defaults) refuses a
# request body over 4 MiB before Gradio sees it: a photo of about 3 MB once base64-encoded in a data: URL.
MCP_BODY_LIMIT = 4 * 1024 * 1024
MCP_PATHS = ("/gradio_api/mcp", "/gradio_api/mcp/", "/gradio_api/mcp/http", "/gradio_api/mcp/http/")


# ---------------------------------------------------------------------------------------------------------------
# Runs nobody waits for
# ---------------------------------------------------------------------------------------------------------------


def run_abandoned() -> bool:
    """True once nobody waits for the current event's result any more.

    Gradio 6 abandons a queued run in two ways but never stops the worker thread that runs it, which would keep
    the CPU busy and, since the queue frees the run's concurrency slot, run beside the next visitor's job:
    - the client cancels (gradio_client `job.cancel()`, POST /gradio_api/cancel): the queue cancels the event's
      task, whose cleanup drops it from `Queue.event_ids_to_events` (gradio/queueing.py, process_events);
    - the browser tab closes: the SSE stream of /gradio_api/queue/data ends and `Queue.clean_events` marks the
      session's running events `alive = False` (gradio/routes.py, queue_data_helper).
    Both are read here, from the event Gradio is running in this thread's context. Outside a queued event (a
    direct Python call, an unqueued endpoint) there is nothing to watch and the run is always wanted.
    """
    blocks = LocalContext.blocks.get(None)
    event_id = LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return False
    event = queue.event_ids_to_events.get(event_id)
    return event is None or not event.alive


@dataclass
class RunCancel:
    """The cancel flag of one run: set when Stop is pressed, or when the run is abandoned."""

    stop: threading.Event
    abandoned: Callable[[], bool] = run_abandoned

    def is_set(self) -> bool:
        return self.stop.is_set() or self.abandoned()


class StopFlags:
    """One threading.Event per browser session: the Stop button sets it and the engine stops between two steps.

    (Gradio's own `cancels=` only abandons the event; the worker thread would keep the CPU busy.) The flag a run
    gets is a `RunCancel`, so a cancelled job or a closed tab stops the engine the same way.
    """

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @contextmanager
    def running(self, session: str | None) -> Iterator[RunCancel]:
        flag = threading.Event()
        if session:
            with self._lock:
                self._flags[session] = flag
        try:
            yield RunCancel(flag)
        finally:
            with self._lock:
                if session and self._flags.get(session) is flag:
                    del self._flags[session]

    def stop(self, session: str | None) -> bool:
        with self._lock:
            flag = self._flags.get(session or "")
        if flag is not None:
            flag.set()
        return flag is not None


STOP_FLAGS = StopFlags()


def session_of(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None)


# Failures of the server's own set-up (weights files, the Hub): the details are for the operator, in the log; a
# visitor gets a plain sentence without server paths or environment variables.
WEIGHTS_UNAVAILABLE = "These model weights cannot be loaded on this server right now; choose others under Options."


def shown_to_user(fn: Callable) -> Callable:
    """Every failure becomes a gr.Error with a useful one-line message; the server keeps serving."""

    @functools.wraps(fn)  # keeps the signature, so Gradio still injects gr.Request and gr.Progress
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Cancelled as exc:
            why = "nobody is waiting for the result" if run_abandoned() else "Stop was pressed"
            log.info("%s stopped between two steps: %s", fn.__name__, why)
            raise gr.Error("Stopped. Nothing was saved.", title="Stopped", print_exception=False) from exc
        except (WeightsError, FileNotFoundError) as exc:
            log.warning("%s: weights unavailable: %s", fn.__name__, exc)
            raise gr.Error(WEIGHTS_UNAVAILABLE, print_exception=False) from exc
        except (UserError, ValueError) as exc:  # the visitor's input: the message names the photo and the problem
            raise gr.Error(str(exc), print_exception=False) from exc
        except (MemoryError, torch.OutOfMemoryError) as exc:
            raise gr.Error(
                "Out of memory for this photo. Choose a smaller tile size under Options, or crop or shrink the photo."
            ) from exc
        except Exception as exc:  # noqa: BLE001 - the last line of defence; the traceback goes to the log
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Unexpected error ({type(exc).__name__}). It has been logged.") from exc

    return wrapper


def model_run(fn: Callable) -> Callable:
    """The one mechanism every handler that runs a model goes through: its failures are one line
    (`shown_to_user`), and every pass it makes stops between two steps once nobody waits for it (a cancelled
    job, a closed tab: `run_abandoned`), whatever the pass (`sr_core.tiling.stops_on`). Handlers that also have
    a Stop button (upscale) open a narrower scope with the session's flag inside this one."""

    @functools.wraps(fn)
    def in_scope(*args, **kwargs):
        with stops_on(RunCancel(threading.Event())):
            return fn(*args, **kwargs)

    return shown_to_user(in_scope)


def model_queue(limit: int) -> dict:
    """The event options of every model run: one queue group, `limit` runs at a time."""
    return {"queue": True, "concurrency_limit": limit, "concurrency_id": "model"}


def queue_options(max_size: int) -> dict:
    """demo.queue() arguments. `api_open=False`: POST /gradio_api/run/<name> (and /run/predict with an
    fn_index) to a queued event is refused (404, "join the queue") instead of running at once outside the queue
    and its limit; a Space does this itself (SYSTEM=spaces), a self-hosted `python app.py` did not. The browser,
    gradio_client and the MCP tools use the queue (/gradio_api/queue/join); unqueued helpers run no model."""
    return {"max_size": max_size, "api_open": False}


# ---------------------------------------------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------------------------------------------


class RequestBodyLimit:
    """ASGI middleware: a request other than a file upload carries at most `max_bytes`.

    Gradio reads a JSON request (an event's inputs, with any data: URL inside) into memory in full before any
    check of ours can run: a 23 MB data URL held ~115 MB of the server's RSS. Uploads keep Gradio's own
    max_file_size; everything else gets room for one upload-sized data URL (base64 is 4/3 of the bytes) plus
    1 MiB of other inputs, and a larger body is answered 413 unread: dropped chunk by chunk, never held.
    An MCP request has the MCP transport's own, lower limit (MCP_BODY_LIMIT); over it, the caller gets a JSON-RPC
    error that says the limit and what to do, instead of the transport's bare "Request body too large".
    """

    def __init__(self, app, max_bytes: int) -> None:  # noqa: ANN001 - the wrapped ASGI app
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith("/upload"):
            await self.app(scope, receive, send)
            return
        mcp = scope["path"].endswith(MCP_PATHS)
        limit = min(self.max_bytes, MCP_BODY_LIMIT) if mcp else self.max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > limit:
            head = await self._drain(receive)  # read and drop it chunk by chunk, so the client hears the answer
            await self._refuse(send, int(declared), limit, mcp, head)
            return
        received = 0

        async def counted():  # noqa: ANN202 - a body without Content-Length (chunked) is counted as it comes
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise ValueError(f"request body over {limit:,} bytes")
            return message

        await self.app(scope, counted, send)

    @staticmethod
    async def _drain(receive) -> bytes:  # noqa: ANN001
        """Read the body to its end, keeping its first and last KB (where a JSON-RPC request's id is)."""
        head = tail = b""
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            head = head or chunk[:1024]
            tail = (tail + chunk)[-1024:]
            if message["type"] != "http.request" or not message.get("more_body"):
                return head + b"\n" + tail

    async def _refuse(self, send, size: int, limit: int, mcp: bool, head: bytes) -> None:  # noqa: ANN001
        status = 413
        if mcp:
            text = (f"MCP request too large: {size:,} bytes; an MCP request carries at most {limit:,} bytes, a "
                    f"photo of about {limit * 3 / 4 / 1e6:.1f} MB as a data: URL. Send a larger photo as an "
                    "http(s) URL, or through the HTTP API (gradio_client), which takes uploads up to the app's limit.")
            found = re.findall(rb'"id"\s*:\s*(-?\d{1,18}|"[^"\\]{0,200}")', head)  # pydantic puts it last
            request_id = json.loads(found[-1]) if found else None
            if request_id is not None:  # an answer to the call itself: MCP clients show its message to the caller
                status = 200
            body = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32600, "message": text}}).encode()
        else:
            body = json.dumps({"error": f"request too large: {size:,} bytes; the limit is {limit:,} bytes "
                                        "(send large images through /gradio_api/upload)"}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------------------------------
# The upload cache
# ---------------------------------------------------------------------------------------------------------------


def trim_folder(folder: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete the oldest files (by modification time) under `folder`, never `keep` (the file just stored), until
    the rest hold at most `max_bytes`; the files removed. Gradio's own delete_cache only removes files after an hour, so without this, uploads
    (200 of 5 MB: 1 GB in 5 s) could fill the disk meanwhile."""
    files = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            try:
                stat = path.stat()
            except OSError:  # removed meanwhile
                continue
            files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    removed = []
    for _, size, path in sorted(files, key=lambda f: f[0]):
        if total <= max_bytes:
            break
        if keep is not None and path == Path(keep):
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
    return removed


class UploadCacheBound:
    """ASGI middleware: after each upload, Gradio's upload folder is trimmed to `max_bytes`, oldest files first.

    A file removed this way belongs to a photo chosen long ago (or by an attacker's flood): a run that needs it
    says the photo is gone, and the visitor uploads it again."""

    def __init__(self, app, folder: Callable[[], Path], max_bytes: int) -> None:  # noqa: ANN001
        self.app, self.folder, self.max_bytes = app, folder, max_bytes
        self._last = 0.0

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith("/upload"):
            removed = await anyio.to_thread.run_sync(trim_folder, self.folder(), self.max_bytes)
            if removed and time.monotonic() - self._last > 60:
                self._last = time.monotonic()
                log.warning("upload cache over %d bytes: removed the %d oldest files", self.max_bytes, len(removed))
