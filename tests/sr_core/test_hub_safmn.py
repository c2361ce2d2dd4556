"""The SAFMN authors' weights from the Hub (Meloo/SAFMN, SAFMN_DF2K_x3.pth), served by the CLI and the app, with
the bundled SAFMN as the visible fallback. The Hub is the local stand-in, or a pre-filled HF cache in offline mode;
each run is a fresh interpreter because huggingface_hub reads HF_ENDPOINT / HF_HOME / HF_HUB_OFFLINE at import."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sr_core.engine import Upscaler
from sr_core.hub import hub_settings
from sr_core.image_io import to_uint8
from sr_core.models import architecture_named
from sr_core.models.safmn import SAFMN
from tests.app_server import running_app
from tests.conftest import official_layout_safmn
from tests.hub_standin import REPO_ROOT, HubStandIn, hub_env

SAFMN_HUB = architecture_named("SAFMN").hub().hub  # where the authors' weights are looked up

REPO_ID, FILENAME = "Meloo/SAFMN", "SAFMN_DF2K_x3.pth"
COMMIT = "5afe" * 10  # the commit of the hand-filled cache


@pytest.fixture(scope="module")
def safmn_model() -> SAFMN:
    return official_layout_safmn()


@pytest.fixture(scope="module")
def pth_bytes(safmn_model: SAFMN) -> bytes:
    """Saved the way BasicSR saves it: torch.save({'params': state_dict})."""
    buffer = io.BytesIO()
    torch.save({"params": safmn_model.state_dict()}, buffer)
    return buffer.getvalue()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "street.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(path)
    return path


def prefill_hf_cache(hf_home: Path, repo_id: str, filename: str, data: bytes, commit: str = COMMIT) -> Path:
    """The layout hf_hub_download leaves behind (huggingface_hub's file_download.py documents it): the blob named
    by its sha256, a snapshot per commit linking to it, and refs/main naming the commit."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    snapshot = repo / "snapshots" / commit / filename
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def run_cli(tmp_path: Path, endpoint: str, *args: str | Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sr_core", *map(str, args)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, env=hub_env(tmp_path / "hf", endpoint, **env))


def weights_line(done: subprocess.CompletedProcess) -> str:
    return next(line for line in done.stderr.splitlines() if line.startswith("weights: "))


def expected_output(model: SAFMN, photo: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(photo).convert("RGB"), dtype=np.float32) / 255
    return to_uint8(Upscaler(model, "cpu").upscale(rgb))


@pytest.mark.parametrize("spec", [
    ["--weights", "hub-safmn"],
    ["--weights", "hub", "--hub-repo", REPO_ID, "--hub-file", FILENAME],  # the recipe in the README
])
def test_cli_serves_the_official_file_then_reuses_the_cache_offline(tmp_path, pth_bytes, safmn_model, photo, spec):
    with HubStandIn() as hub:
        commit = hub.add_file(REPO_ID, FILENAME, pth_bytes)
        online = run_cli(tmp_path, hub.endpoint, "upscale", photo, "-o", tmp_path / "online.png", *spec)
        assert online.returncode == 0, online.stderr
        assert ("GET", f"/{REPO_ID}/resolve/main/{FILENAME}") in hub.requests
    assert weights_line(online) == (f"weights: SAFMN x3, 0.23M parameters, from hub ({REPO_ID}/{FILENAME}, "
                                    f"commit {commit[:12]})")
    served = np.asarray(Image.open(tmp_path / "online.png"))
    assert served.shape == (48, 60, 3)
    assert np.array_equal(served, expected_output(safmn_model, photo))  # these weights, not the bundled ones

    offline = run_cli(tmp_path, hub.endpoint, "upscale", photo, "-o", tmp_path / "offline.png", *spec,
                      HF_HUB_OFFLINE="1")
    assert offline.returncode == 0, offline.stderr
    assert weights_line(offline) == weights_line(online)
    assert (tmp_path / "offline.png").read_bytes() == (tmp_path / "online.png").read_bytes()


def test_prefilled_cache_serves_offline_without_a_request(tmp_path, pth_bytes, safmn_model, photo):
    prefill_hf_cache(tmp_path / "hf", REPO_ID, FILENAME, pth_bytes)
    with HubStandIn() as hub:
        done = run_cli(tmp_path, hub.endpoint, "upscale", photo, "-o", tmp_path / "out.png", "--weights", "hub-safmn",
                       HF_HUB_OFFLINE="1")
        assert hub.requests == []
    assert done.returncode == 0, done.stderr
    assert weights_line(done) == f"weights: SAFMN x3, 0.23M parameters, from hub ({REPO_ID}/{FILENAME}, commit {COMMIT[:12]})"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), expected_output(safmn_model, photo))


def test_the_report_says_which_file_served(tmp_path, pth_bytes, photo):
    prefill_hf_cache(tmp_path / "hf", REPO_ID, FILENAME, pth_bytes)
    done = subprocess.run([sys.executable, "-m", "explain", "report", str(photo), "-o", str(tmp_path / "report"),
                           "--weights", "hub-safmn"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env=hub_env(tmp_path / "hf", "http://127.0.0.1:9", HF_HUB_OFFLINE="1"))
    assert done.returncode == 0, done.stderr
    location = f"{REPO_ID}/{FILENAME}, commit {COMMIT[:12]}"
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["weights"] == {"arch": "SAFMN", "source": "hub", "location": location, "n_params": 232_695,
                                  "note": ""}
    assert f"<code>{location}</code>" in (tmp_path / "report" / "index.html").read_text()


def test_offline_without_the_file_falls_back_to_the_bundled_safmn_at_once(tmp_path, photo):
    with HubStandIn() as hub:
        done = run_cli(tmp_path, hub.endpoint, "upscale", photo, "-o", tmp_path / "out.png", "--weights",
                       "hub-safmn", HF_HUB_OFFLINE="1")
        assert hub.requests == []
    assert done.returncode == 0, done.stderr
    line = weights_line(done)
    assert line.startswith("weights: SAFMN x3") and "from bundled" in line
    assert f"HF_HUB_OFFLINE is set and {REPO_ID}/{FILENAME} is not in the HF cache" in line
    assert line.endswith("so the small bundled SAFMN serves instead.")


def test_a_hub_file_that_would_run_code_is_refused(tmp_path, photo):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    buffer = io.BytesIO()
    torch.save({"params": Payload()}, buffer)
    with HubStandIn() as hub:
        hub.add_file(REPO_ID, FILENAME, buffer.getvalue())
        done = run_cli(tmp_path, hub.endpoint, "upscale", photo, "-o", tmp_path / "out.png", "--weights", "hub-safmn")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "unsafe unpickling, which is refused" in done.stderr.splitlines()[-1]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out.png").exists()


def test_operators_override_repo_file_and_revision(monkeypatch):
    for name in (SAFMN_HUB.repo_env, SAFMN_HUB.file_env, SAFMN_HUB.revision_env):
        monkeypatch.delenv(name, raising=False)
    assert hub_settings(source=SAFMN_HUB).describe() == f"{REPO_ID}/{FILENAME}"
    monkeypatch.setenv("SR_SAFMN_HUB_REPO", "mirror/safmn")
    monkeypatch.setenv("SR_SAFMN_HUB_FILE", "SAFMN_DF2K_x3.safetensors")
    monkeypatch.setenv("SR_SAFMN_HUB_REVISION", "v1")
    assert hub_settings(source=SAFMN_HUB).describe() == "mirror/safmn@v1/SAFMN_DF2K_x3.safetensors"
    monkeypatch.setenv("SR_HUB_REPO", "owner/rcan")  # RCAN's variables do not leak into SAFMN's
    assert hub_settings(source=SAFMN_HUB).repo_id == "mirror/safmn"
    assert hub_settings(filename="x.pth", source=SAFMN_HUB).filename == "x.pth"  # --hub-file wins


@pytest.mark.server
def test_the_apps_safmn_choice_serves_the_cached_hub_file_offline(tmp_path, tiny_checkpoint, pth_bytes, safmn_model,
                                                                    photo):
    """`python app.py` with HF_HUB_OFFLINE=1 (running_app sets it) and an HF cache holding Meloo/SAFMN's file."""
    from gradio_client import Client, handle_file

    prefill_hf_cache(tmp_path / "hf", REPO_ID, FILENAME, pth_bytes)
    env = {"HF_HOME": str(tmp_path / "hf"), "SR_SAFMN_WEIGHTS": ""}
    with running_app(tiny_checkpoint, tmp_path, env) as url:
        client = Client(url, verbose=False)
        (_, served), download, info = client.predict(handle_file(str(photo)), model="safmn", api_name="/upscale")
    assert "SAFMN ×3" in info and "weights: hub" in info
    assert f"`{REPO_ID}/{FILENAME}, commit {COMMIT[:12]}`" in info
    assert np.array_equal(np.asarray(Image.open(download)), expected_output(safmn_model, photo))
