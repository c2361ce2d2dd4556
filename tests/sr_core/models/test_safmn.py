"""SAFMN: official key layout, checkpoint detection, and exact tiling despite the whole-image pooling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from sr_core.checkpoint import read_state_dict
from sr_core.engine import Upscaler
from sr_core.models import model_from_state_dict
from sr_core.models.safmn import SAFMN, SAFMNConfig, detect_safmn_config
from sr_core.tiling import Progress
from tests.conftest import random_safmn, tiny_random_rcan

ONE_LEVEL = 1 / 255


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width, 3), dtype=np.float32)


def test_published_x3_layout_has_148_tensors_and_232695_parameters() -> None:
    state = SAFMN().state_dict()
    assert len(state) == 148
    assert sum(t.numel() for t in state.values()) == 232_695
    for key in ("to_feat.weight", "feats.7.norm1.bias", "feats.0.norm2.weight", "feats.3.safm.mfr.3.weight",
                "feats.0.safm.aggr.weight", "feats.0.ccm.ccm.0.weight", "feats.0.ccm.ccm.2.bias", "to_img.0.weight"):
        assert key in state
    assert tuple(state["feats.0.safm.mfr.0.weight"].shape) == (9, 1, 3, 3)  # depthwise over a quarter of 36
    assert tuple(state["to_img.0.weight"].shape) == (27, 36, 3, 3)


def test_blocks_are_residual_and_the_network_has_a_global_skip() -> None:
    """With every block's last layers zeroed, blocks pass x through and the output is to_img(2 * to_feat(x))."""
    model = random_safmn()
    with torch.no_grad():
        for block in model.feats:
            for layer in (block.safm.aggr, block.ccm.ccm[2]):  # GELU(0) = 0 gates SAFM shut; CCM adds 0
                layer.weight.zero_()
                layer.bias.zero_()
        x = torch.from_numpy(random_image(16, 16)).permute(2, 0, 1)[None]
        assert torch.allclose(model(x), model.to_img(2 * model.to_feat(x)), atol=1e-6)


def test_basicsr_wrapper_plain_pth_and_safetensors_give_identical_output(tmp_path) -> None:
    state = random_safmn().state_dict()
    torch.save({"params": state}, tmp_path / "wrapped.pth")
    torch.save(state, tmp_path / "plain.pth")
    save_file(state, str(tmp_path / "plain.safetensors"))
    x = torch.from_numpy(random_image(12, 10)).permute(2, 0, 1)[None]
    outputs = []
    for name in ("wrapped.pth", "plain.pth", "plain.safetensors"):
        model, arch = model_from_state_dict(read_state_dict(tmp_path / name))
        assert arch == "SAFMN" and isinstance(model, SAFMN)
        with torch.no_grad():
            outputs.append(model(x))
    assert outputs[0].shape == (1, 3, 36, 30)
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])


@pytest.mark.parametrize(
    "config",
    [SAFMNConfig(), SAFMNConfig(dim=20, n_blocks=3, ffn_scale=1.5, scale=2),
     SAFMNConfig(dim=44, n_blocks=1, ffn_scale=0.35, scale=4)],  # width 15, yet int(44 * (15 / 44)) == 14
)
def test_config_is_detected_from_the_keys(config: SAFMNConfig) -> None:
    state = SAFMN(config).state_dict()
    detected = detect_safmn_config(state)
    assert (detected.dim, detected.n_blocks, detected.scale) == (config.dim, config.n_blocks, config.scale)
    model, arch = model_from_state_dict(state)
    assert arch == "SAFMN"
    assert model.state_dict()["feats.0.ccm.ccm.0.weight"].shape == state["feats.0.ccm.ccm.0.weight"].shape


def test_rcan_state_dict_is_still_rcan() -> None:
    _, arch = model_from_state_dict(tiny_random_rcan().state_dict())
    assert arch == "RCAN"


def test_pooling_sees_the_whole_image_so_naive_tiles_differ() -> None:
    """Why SAFMN needs its own tiled forward: a crop with a generous halo still changes the answer."""
    model = random_safmn()
    x = torch.from_numpy(random_image(32, 32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        whole = model(x)[:, :, :48, :48]  # the top-left 16x16 input tile, x3
        naive = model(x[:, :, :24, :24])[:, :, :48, :48]  # that tile with a halo of 8
    assert (whole - naive).abs().max() > ONE_LEVEL


def test_engine_tiles_match_the_whole_image_within_one_level() -> None:
    model = random_safmn()
    image = random_image(20, 27)  # not multiples of 8 or 16: uneven pooling windows and edge tiles
    upscaler = Upscaler(model, device="cpu")
    reports: list[Progress] = []
    tiled = upscaler.upscale(image, tile=16, progress=reports.append)
    whole = upscaler.upscale(image)
    assert tiled.shape == whole.shape == (60, 81, 3)
    assert whole.std() > 0.05 and np.mean((whole == 0) | (whole == 1)) < 0.05  # non-trivial, hardly clipped
    assert np.abs(tiled - whole).max() <= ONE_LEVEL
    with torch.no_grad():
        direct = model(torch.from_numpy(image).permute(2, 0, 1)[None]).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(whole - direct).max() <= ONE_LEVEL
    assert reports[-1].done == reports[-1].total == 4 * (2 + 3 * 8)  # 2x2 tiles; to_feat, 3 per block, to_img


def test_images_smaller_than_the_coarsest_pool_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="at least 8 pixels"):
        Upscaler(random_safmn(), device="cpu").upscale(random_image(7, 20))
