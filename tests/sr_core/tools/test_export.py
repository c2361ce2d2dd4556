"""Export turns a checkpoint into a Hub folder that reloads to the same model, and push uploads it."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

from sr_core.checkpoint import read_state_dict
from sr_core.tools.export import export_checkpoint
from sr_core.models import UnsupportedCheckpoint, model_from_state_dict
from sr_core.models.rcan import RCAN, RCANConfig
from tests.conftest import save_model, tiny_safmn
from tests.hub_standin import REPO_ROOT, HubStandIn, hub_env

TINY = RCANConfig(n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4, scale=3)
EXPORTED_FILES = {"model.safetensors", "config.json", "README.md"}


@pytest.fixture
def basicsr_checkpoint(tmp_path):
    """A tiny random RCAN as BasicSR saves it: {'params': state_dict}, torch.save, half precision."""
    torch.manual_seed(0)
    state_dict = {k: v.half() for k, v in RCAN(TINY).state_dict().items()}
    path = tmp_path / "rcan_tiny.pth"
    torch.save({"params": state_dict}, path)
    return path


def test_export_writes_a_folder_that_reloads_to_the_same_model(tmp_path, basicsr_checkpoint):
    out = export_checkpoint(basicsr_checkpoint, tmp_path / "export")
    assert {p.name for p in out.iterdir()} == EXPORTED_FILES

    config = json.loads((out / "config.json").read_text())
    source_model, _ = model_from_state_dict(read_state_dict(basicsr_checkpoint))
    assert config["architecture"] == "RCAN"
    assert config["config"] == TINY.to_dict()
    assert config["scale"] == 3
    assert config["n_params"] == sum(p.numel() for p in source_model.parameters())
    assert config["source"] == {
        "filename": "rcan_tiny.pth",
        "sha256": hashlib.sha256(basicsr_checkpoint.read_bytes()).hexdigest(),
    }

    tensors = load_file(out / "model.safetensors")
    assert set(tensors) == set(RCAN(TINY).state_dict())  # official key names, no wrapper, no prefix
    assert all(t.dtype == torch.float32 for t in tensors.values())

    reloaded, arch = model_from_state_dict(read_state_dict(out / "model.safetensors"))
    assert arch == "RCAN"
    x = torch.rand(1, 3, 6, 5, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        assert torch.equal(reloaded(x), source_model(x))


def test_model_card_has_hub_metadata_usage_and_citations(tmp_path, basicsr_checkpoint):
    out = export_checkpoint(basicsr_checkpoint, tmp_path / "export", repo_id="me/rcan-tiny")
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "pytorch"
    assert card.data.license == "other"
    assert card.data.tags == ["super-resolution", "rcan", "image-to-image"]
    for expected in (
        "licence is that of their source",
        "SR_HUB_REPO=me/rcan-tiny python app.py",
        "python -m sr_core upscale photo.jpg -o out.png --weights hub --hub-repo me/rcan-tiny",
        "arxiv.org/abs/1807.02758",
        "github.com/yulunzhang/RCAN",
        "rcan_tiny.pth",
    ):
        assert expected in card.text


def test_unsupported_checkpoint_is_refused_before_writing(tmp_path):
    src = tmp_path / "classifier.safetensors"
    save_file({"conv1.weight": torch.zeros(4, 3, 3, 3), "fc.weight": torch.zeros(2, 4)}, str(src))
    with pytest.raises(UnsupportedCheckpoint):
        export_checkpoint(src, tmp_path / "export")
    assert not (tmp_path / "export").exists()


PUSH_TWICE_SCRIPT = """
import sys
from sr_core.tools.export import push_folder
for _ in range(2):  # the second push finds the repo already created (409 -> exist_ok)
    print(push_folder(sys.argv[1], sys.argv[2], token="hf_test"))
"""


def test_push_uploads_every_file_and_tolerates_an_existing_repo(tmp_path, basicsr_checkpoint):
    out = export_checkpoint(basicsr_checkpoint, tmp_path / "export", repo_id="me/rcan-tiny")
    with HubStandIn() as hub:
        done = subprocess.run([sys.executable, "-c", PUSH_TWICE_SCRIPT, str(out), "me/rcan-tiny"],
                              env=hub_env(tmp_path / "hf", hub.endpoint), cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        commit, files = hub.repos["me/rcan-tiny"]
        assert done.stdout.split() == [f"{hub.endpoint}/me/rcan-tiny/commit/{commit}"] * 2
        assert {name: hosted.data for name, hosted in files.items()} == {
            name: (out / name).read_bytes() for name in EXPORTED_FILES
        }
        assert hub.requests.count(("POST", "/api/repos/create")) == 2


def test_a_safmn_export_gets_safmns_own_model_card(tmp_path):
    """The card comes from the architecture's descriptor: a SAFMN is not described as an RCAN (the old bug)."""
    src = save_model(tiny_safmn(), tmp_path / "safmn_tiny.safetensors")
    out = export_checkpoint(src, tmp_path / "export", repo_id="me/safmn-tiny")
    card = ModelCard.load(out / "README.md")
    assert card.data.tags == ["super-resolution", "safmn", "image-to-image"]
    for expected in ("# SAFMN x3 super-resolution", "Spatially-Adaptive Feature Modulation", "RGB in 0..1,",
                     "`to_feat`", "arxiv.org/abs/2302.13800", "github.com/sunny2109/SAFMN",
                     "SR_SAFMN_HUB_REPO=me/safmn-tiny SR_SAFMN_HUB_FILE=model.safetensors python app.py"):
        assert expected in card.text
    for rcan_only in ("Residual Channel Attention", "0..255", "conv_du", "1807.02758", "zhang2018rcan"):
        assert rcan_only not in card.text
