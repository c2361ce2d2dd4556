"""ASGI guards in front of Gradio: a bound on request bodies (with the MCP transport's own, lower limit) and a
bound on what Gradio's upload folder may hold."""
from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import anyio

log = logging.getLogger("sr_app")

# The MCP transport (the `mcp` package's streamable HTTP, which Gradio 6.31 builds with its defaults) refuses a
# request body over 4 MiB before Gradio sees it: a photo of about 3 MB once base64-encoded in a data: URL.
MCP_BODY_LIMIT = 4 * 1024 * 1024
MCP_PATHS = ("/gradio_api/mcp", "/gradio_api/mcp/", "/gradio_api/mcp/http", "/gradio_api/mcp/http/")


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
