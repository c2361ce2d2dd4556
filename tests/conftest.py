"""Shared factories and fixtures: tiny random models and checkpoints, the shared data folder (optional), and the
markers that let the fast suite run alone (`pytest -m "not server and not browser and not data"`).

The factories are plain functions too, so a test module imports them (`from tests.conftest import ...`) when it
needs a model rather than a file."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sr_core.models.rcan import RCAN, RCANConfig
from sr_core.models.safmn import SAFMN, SAFMNConfig

SHARED_SR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sr"
TINY_SAFMN_BLOCKS = 2

MARKERS = {
    "server": "starts the app in a server process (slow)",
    "browser": "drives Debian's chromium against a running app (slowest)",
    "data": "reads the shared data sets (../shared/data/sr); skipped when they are absent",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def tiny_random_rcan(seed: int = 0) -> RCAN:
    """A 2x2x8 RCAN with non-trivial random weights, for fast tests."""
    generator = torch.Generator().manual_seed(seed)
    model = RCAN(RCANConfig(n_resgroups=2, n_resblocks=2, n_feats=8, reduction=4, scale=3))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.copy_(torch.randn(param.shape, generator=generator) * (0.05 if "weight" in name else 0.01))
    return model.eval()


def random_safmn(config: SAFMNConfig = SAFMNConfig(), seed: int = 0) -> SAFMN:
    """Random weights of fan-in scale, the output conv damped and centred so few pixels clip at 0 or 1."""
    generator = torch.Generator().manual_seed(seed)
    model = SAFMN(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim > 1:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5 / param[0].numel() ** 0.5)
            else:
                centre = 1.0 if ".norm" in name and name.endswith("weight") else 0.0
                param.copy_(centre + 0.1 * torch.randn(param.shape, generator=generator))
        model.to_img[0].weight.mul_(0.3)
        model.to_img[0].bias.fill_(0.5)
    return model.eval()


def tiny_safmn(n_blocks: int = TINY_SAFMN_BLOCKS) -> SAFMN:
    """An 8-channel SAFMN x3 with PyTorch's default init after torch.manual_seed(0)."""
    torch.manual_seed(0)
    return SAFMN(SAFMNConfig(dim=8, n_blocks=n_blocks, scale=3)).eval()


def official_layout_safmn(seed: int = 0) -> SAFMN:
    """The published x3 configuration (dim 36, 8 blocks) with random weights: the real file's keys and shapes."""
    torch.manual_seed(seed)
    model = SAFMN(SAFMNConfig())
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.02)
    return model.eval()


def save_model(model: torch.nn.Module, path: Path) -> Path:
    """The model's state dict as safetensors (the official keys), for loading through `sr_core.weights`."""
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def save_tiny_safmn(path: Path) -> Path:
    """`tiny_safmn()` as safetensors: the app's SAFMN choice in tests (through SR_SAFMN_WEIGHTS)."""
    return save_model(tiny_safmn(), path)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2x2x8 RCAN x3 with random weights, saved as safetensors."""
    return save_model(tiny_random_rcan(), tmp_path_factory.mktemp("weights") / "tiny_rcan.safetensors")


@pytest.fixture(scope="session")
def shared_sr() -> Path:
    if not SHARED_SR.is_dir():
        pytest.skip("../shared/data/sr is not present")
    return SHARED_SR


@pytest.fixture(scope="module")
def served_tiny_models(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The app's weights settings pointed at tiny models (SR_WEIGHTS: RCAN, SR_SAFMN_WEIGHTS: SAFMN), no Hub repo,
    so the served choices load in milliseconds and never reach the network. Yields the SAFMN file."""
    safmn = save_tiny_safmn(tmp_path_factory.mktemp("safmn") / "tiny_safmn.safetensors")
    patch = pytest.MonkeyPatch()
    patch.setenv("SR_WEIGHTS", str(tiny_checkpoint))
    patch.setenv("SR_SAFMN_WEIGHTS", str(safmn))
    patch.delenv("SR_HUB_REPO", raising=False)
    yield safmn
    patch.undo()
