"""A local stand-in for the Hugging Face Hub: just enough HTTP for `hf_hub_download` (huggingface_hub 2.4.0).

What hf_hub_download asks, read from its source (file_download.py, utils/_http.py, utils/_detect_agent.py):
- GET /api/agent-harnesses (for the user-agent; 3 s timeout; cached a day in HF_HOME), unless offline or
  HF_HUB_DISABLE_TELEMETRY is set;
- HEAD /{repo_id}/resolve/{revision}/{filename}: needs `X-Repo-Commit` (40 hex) and `ETag` (or `X-Linked-Etag`)
  and reads `Content-Length`; errors are told apart by `X-Error-Code` (RepoNotFound, RevisionNotFound,
  EntryNotFound), which hf_raise_for_status maps to its exception classes;
- GET on the same URL for the bytes (no Xet headers here, so the plain HTTP download path is taken).
The blob is stored under its ETag, so serving the sha256 as ETag mimics an LFS file on the real Hub.

And for `HfApi.create_repo` + `upload_folder` (hf_api.py, _commit_api.py): POST /api/repos/create (409 when it
exists), POST /api/validate-yaml (README.md metadata), POST /api/models/{repo_id}/preupload/{revision} and
POST /api/models/{repo_id}/commit/{revision} (NDJSON: a header line, then one line per file). The stand-in
answers "regular" upload mode for every file, so contents arrive base64 in the commit itself; the real Hub
sends large or binary files through LFS/Xet storage first, which is not reproduced here.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
RESOLVE_PATH = re.compile(r"^/(?P<repo>.+?)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)$")
COMMIT_API_PATH = re.compile(r"^/api/models/(?P<repo>.+?)/(?P<action>preupload|commit)/(?P<revision>[^/]+)$")


@dataclass(frozen=True)
class HostedFile:
    data: bytes
    sha256: str


class HubStandIn:
    """Serves registered files on 127.0.0.1 (random free port) and records every request as (method, path)."""

    def __init__(self) -> None:
        self.repos: dict[str, tuple[str, dict[str, HostedFile]]] = {}  # repo_id -> (commit, files)
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_file(self, repo_id: str, filename: str, data: bytes) -> str:
        """Host `data` at `main` of `repo_id` (a new commit); returns the commit hash."""
        return self.commit(repo_id, {filename: data})

    def create_repo(self, repo_id: str) -> bool:
        """An empty repo; False when it already exists."""
        with self._lock:
            if repo_id in self.repos:
                return False
            self.repos[repo_id] = ("0" * 40, {})
            return True

    def commit(self, repo_id: str, new_files: dict[str, bytes]) -> str:
        with self._lock:
            files = dict(self.repos.get(repo_id, ("", {}))[1])
            files.update({name: HostedFile(data, hashlib.sha256(data).hexdigest()) for name, data in new_files.items()})
            digest = hashlib.sha1(repo_id.encode())
            for name in sorted(files):
                digest.update(f"{name}:{files[name].sha256}".encode())
            self.repos[repo_id] = (digest.hexdigest(), files)
            return digest.hexdigest()

    def start(self) -> HubStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down and close the listening socket, so the port refuses connections afterwards."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HubStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        if self._thread.is_alive():
            self.stop()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))


def hub_env(hf_home: Path, endpoint: str, **overrides: str) -> dict[str, str]:
    """Environment for a fresh interpreter talking to `endpoint`: no inherited HF_* / SR_HUB_* settings or tokens.

    huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, at import, hence subprocesses.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "SR_HUB_"))}
    env.update(PYTHONPATH=str(REPO_ROOT), HF_HOME=str(hf_home), HF_ENDPOINT=endpoint)
    env.update(overrides)
    return env


def _handler_for(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive connections, like the Hub

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            hub.record("POST", path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if path == "/api/repos/create":
                request = json.loads(body)
                repo_id = "/".join(filter(None, (request.get("organization"), request["name"])))
                if hub.create_repo(repo_id):
                    self._send_json(200, {"url": self._url(repo_id)})
                else:
                    self._send_json(409, {"error": "You already created this model repo", "url": self._url(repo_id)})
                return
            if path == "/api/validate-yaml":
                self._send_json(200, {"errors": [], "warnings": []})
                return
            match = COMMIT_API_PATH.match(path)
            repo_id = unquote(match["repo"]) if match else ""
            if repo_id not in hub.repos:
                self._send_json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            elif match["action"] == "preupload":
                files = json.loads(body)["files"]
                self._send_json(200, {"files": [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files
                ]})
            else:
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                added = {line["value"]["path"]: base64.b64decode(line["value"]["content"])
                         for line in lines if line["key"] == "file"}
                oid = hub.commit(repo_id, added)
                self._send_json(200, {"commitUrl": f"{self._url(repo_id)}/commit/{oid}", "commitOid": oid,
                                      "pullRequestUrl": None})

        def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
            pass

        def _answer(self, with_body: bool) -> None:
            path = urlsplit(self.path).path
            hub.record(self.command, path)
            if path == "/api/agent-harnesses":
                self._send(200, json.dumps({"standardEnvVars": [], "harnesses": {}}).encode(), with_body,
                           {"Content-Type": "application/json"})
                return
            match = RESOLVE_PATH.match(path)
            if match is None:
                self._send(404, b"not found", with_body)
                return
            repo_id, revision, filename = (unquote(match[k]) for k in ("repo", "revision", "filename"))
            if repo_id not in hub.repos:
                self._send(404, b'{"error":"Repository not found"}', with_body,
                           {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
                return
            commit, files = hub.repos[repo_id]
            if revision not in ("main", commit):
                self._send(404, b'{"error":"Invalid rev id"}', with_body,
                           {"X-Error-Code": "RevisionNotFound", "X-Error-Message": f"Invalid rev id: {revision}"})
                return
            hosted = files.get(filename)
            if hosted is None:
                self._send(404, b'{"error":"Entry not found"}', with_body,
                           {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found",
                            "X-Repo-Commit": commit})
                return
            self._send(200, hosted.data, with_body, {
                "Content-Type": "application/octet-stream",
                "ETag": f'"{hosted.sha256}"',
                "X-Repo-Commit": commit,
            })

        def _url(self, repo_id: str) -> str:
            return f"{hub.endpoint}/{repo_id}"

        def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            headers = {"Content-Type": "application/json", **(headers or {})}
            self._send(status, json.dumps(payload).encode(), True, headers)

        def _send(self, status: int, body: bytes, with_body: bool, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

    return Handler
