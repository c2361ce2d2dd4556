"""Shared fixtures: a tiny random RCAN checkpoint and the shared data folder (optional)."""
from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import save_file

from sr_core.weights import tiny_random_rcan

SHARED_SR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sr"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2x2x8 RCAN x3 with random weights, saved as safetensors."""
    path = tmp_path_factory.mktemp("weights") / "tiny_rcan.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_random_rcan().state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="session")
def shared_sr() -> Path:
    if not SHARED_SR.is_dir():
        pytest.skip("../shared/data/sr is not present")
    return SHARED_SR
