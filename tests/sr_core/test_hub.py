"""The Hub path for real: hf_hub_download against a local stand-in, each download in a fresh interpreter
(huggingface_hub reads its environment at import), as the app would run it."""
from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from sr_core.checkpoint import read_state_dict
from sr_core.hub import DEFAULT_HUB_FILE, HubUnavailable, download_weights, hub_settings
from sr_core.models import model_from_state_dict
from sr_core.models.rcan import RCAN, RCANConfig
from tests.hub_standin import REPO_ROOT, HubStandIn, hub_env

REPO_ID = "tiny-sr/rcan-x3"
FAST = 10.0  # seconds; generous, yet hf_hub_download's retry loop alone takes 23 s

DOWNLOAD_SCRIPT = """
import json, sys, time
from sr_core.hub import HubUnavailable, download_weights, hub_settings
start = time.monotonic()
try:
    result = {"path": str(download_weights(hub_settings(), timeout_s=float(sys.argv[1])))}
except HubUnavailable as exc:
    result = {"error": str(exc)}
result["elapsed"] = time.monotonic() - start
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def checkpoint_bytes() -> bytes:
    torch.manual_seed(0)
    model = RCAN(RCANConfig(n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4, scale=3))
    return save({k: v.contiguous() for k, v in model.state_dict().items()})


@pytest.fixture
def hub(checkpoint_bytes: bytes):
    with HubStandIn() as standin:
        standin.add_file(REPO_ID, DEFAULT_HUB_FILE, checkpoint_bytes)
        yield standin


def run_download(tmp_path: Path, endpoint: str, timeout_s: float = 5.0, **env: str) -> dict:
    """download_weights in a fresh interpreter; HF_* and SR_HUB_* come only from the arguments."""
    done = subprocess.run([sys.executable, "-c", DOWNLOAD_SCRIPT, str(timeout_s)],
                          env=hub_env(tmp_path / "hf", endpoint, **{"SR_HUB_REPO": REPO_ID, **env}),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def closed_port_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_downloads_into_hf_cache_then_serves_cache_offline(tmp_path, hub, checkpoint_bytes):
    online = run_download(tmp_path, hub.endpoint)
    assert "path" in online, online
    path = Path(online["path"])
    assert path.read_bytes() == checkpoint_bytes
    cache = tmp_path / "hf" / "hub" / "models--tiny-sr--rcan-x3"
    assert path.is_relative_to(cache / "snapshots")
    assert (cache / "blobs" / hashlib.sha256(checkpoint_bytes).hexdigest()).is_file()
    assert ("GET", f"/{REPO_ID}/resolve/main/{DEFAULT_HUB_FILE}") in hub.requests
    assert model_from_state_dict(read_state_dict(path))[1] == "RCAN"

    hub.stop()
    offline = run_download(tmp_path, hub.endpoint, HF_HUB_OFFLINE="1")
    assert offline["path"] == online["path"]
    assert Path(offline["path"]).read_bytes() == checkpoint_bytes

    network_down = run_download(tmp_path, hub.endpoint)  # no offline flag: the refused HEAD falls back to the cache
    assert network_down["path"] == online["path"]
    assert network_down["elapsed"] < FAST


def test_offline_mode_makes_no_request_and_says_so(tmp_path, hub):
    result = run_download(tmp_path, hub.endpoint, HF_HUB_OFFLINE="1")
    assert "HF_HUB_OFFLINE" in result["error"] and f"{REPO_ID}/{DEFAULT_HUB_FILE}" in result["error"]
    assert hub.requests == []


def test_closed_port_fails_fast_without_retries(tmp_path):
    result = run_download(tmp_path, closed_port_endpoint())
    assert "cannot reach" in result["error"] and "refused" in result["error"].lower()
    assert result["elapsed"] < FAST


def test_silent_server_fails_after_the_timeout(tmp_path):
    """A Hub that accepts connections but never answers: bounded by our timeout, not a back-off loop."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        host, port = silent.getsockname()
        result = run_download(tmp_path, f"http://{host}:{port}", timeout_s=1.0)
    assert "cannot reach" in result["error"] and "timed out" in result["error"]
    assert result["elapsed"] < FAST


@pytest.mark.parametrize(
    ("repo", "filename", "revision", "expected"),
    [
        ("nobody/missing", DEFAULT_HUB_FILE, "", "Hub repo nobody/missing not found"),
        (REPO_ID, "weights.pth", "", f"file weights.pth not found in Hub repo {REPO_ID}"),
        (REPO_ID, DEFAULT_HUB_FILE, "v9", f"revision 'v9' not found in Hub repo {REPO_ID}"),
    ],
)
def test_absent_repo_file_or_revision_is_named(tmp_path, hub, repo, filename, revision, expected):
    result = run_download(tmp_path, hub.endpoint, SR_HUB_REPO=repo, SR_HUB_FILE=filename, SR_HUB_REVISION=revision)
    assert result["error"].startswith(expected)
    assert "\n" not in result["error"]
    assert result["elapsed"] < FAST
    assert not any(method == "GET" and "/resolve/" in path for method, path in hub.requests)


def test_settings_come_from_arguments_then_environment(monkeypatch):
    monkeypatch.setenv("SR_HUB_REPO", "env/repo")
    monkeypatch.setenv("SR_HUB_FILE", "env.safetensors")
    monkeypatch.delenv("SR_HUB_REVISION", raising=False)
    assert hub_settings() == hub_settings("env/repo", "env.safetensors", None)
    explicit = hub_settings("arg/repo", revision="v1")
    assert (explicit.repo_id, explicit.filename, explicit.revision) == ("arg/repo", "env.safetensors", "v1")
    monkeypatch.delenv("SR_HUB_FILE")
    assert hub_settings().filename == DEFAULT_HUB_FILE


@pytest.mark.parametrize(("repo", "expected"), [("", "no Hub repo configured"), ("not a repo!", "invalid Hub repo id")])
def test_missing_or_malformed_repo_is_refused_before_any_network(monkeypatch, repo, expected):
    monkeypatch.delenv("SR_HUB_REPO", raising=False)
    with pytest.raises(HubUnavailable, match=expected):
        download_weights(hub_settings(repo or None))
