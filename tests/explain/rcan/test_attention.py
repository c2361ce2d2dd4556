"""Channel attention capture, tile-wise attention, and whether attention follows texture."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explain.rcan.analysis import analyze
from explain.rcan.attention import texture_attention, tile_attention
from explain.tiles import tile_average, tile_grid
from explain.rcan.capture import capture_forward
from explain.rcan.stages import rcan_stages
from explain.measures import high_frequency_energy
from explain.workflow import timed_modules
from sr_core.models.rcan import RCAN, RCANConfig
from tests.conftest import tiny_random_rcan

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def half_textured(size: int = 48, seed: int = 0) -> np.ndarray:
    """Left half noise, right half flat grey."""
    rgb = np.full((size, size, 3), 0.5, dtype=np.float32)
    rgb[:, : size // 2] = np.random.default_rng(seed).random((size, size // 2, 3), dtype=np.float32)
    return rgb


def texture_following_rcan(sign: float) -> RCAN:
    """An RCAN whose attention provably rises (sign=+1) or falls (sign=-1) with local texture.

    The head copies the grey level into channel 0 and nothing ever writes back to it (every block writes only
    channels 2 and 3, every group's closing conv is zero, so each group returns its input). Each block's residual
    is relu(+/-Laplacian of grey) in channels 2 and 3, whose mean grows with texture; the gate is
    sigmoid(sign * 0.05 * (mean_2 + mean_3) - sign * 5), monotonic in that mean with the sign of `sign`.
    """
    torch.manual_seed(0)
    model = RCAN(RCANConfig(n_resgroups=2, n_resblocks=2, n_feats=8, reduction=4, scale=3)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad and not name.startswith("tail"):
                param.zero_()
        model.head[0].weight[0, :, 1, 1] = 1.0 / 3.0
        for group in list(model.body)[:-1]:
            for block in list(group.body)[:-1]:
                first, second, attention = block.body[0], block.body[2], block.body[3]
                first.weight[0, 0] = LAPLACIAN
                first.weight[1, 0] = -LAPLACIAN
                second.weight[2, 0, 1, 1] = 1.0
                second.weight[3, 1, 1, 1] = 1.0
                attention.conv_du[0].weight[:, 2:4] = 0.05
                attention.conv_du[2].weight.fill_(sign)
                attention.conv_du[2].bias.fill_(-5.0 * sign)
    return model


def test_hooks_capture_one_vector_per_block_in_open_unit_interval():
    model = tiny_random_rcan()
    x = torch.from_numpy(half_textured(24)).permute(2, 0, 1)[None] * 255
    capture = capture_forward(model, x, (3, 3), timed_modules(rcan_stages(model)))
    cfg = model.config
    assert capture.attention.shape == (cfg.n_resgroups, cfg.n_resblocks, cfg.n_feats)
    assert np.all((capture.attention > 0) & (capture.attention < 1))
    assert capture.features.shape == (cfg.n_feats, 24, 24)
    assert capture.learned.shape == (cfg.n_feats, 72, 72)
    # The hooks only observe: the recorded output is the model's own.
    with torch.inference_mode():
        expected = model(x)[0]
    torch.testing.assert_close(capture.output, expected)
    # Each group's blocks see different inputs, so their vectors differ.
    assert not np.allclose(capture.attention[0, 0], capture.attention[0, 1])


def test_tile_attention_on_one_tile_is_the_global_attention():
    """Re-applying each gate to a single whole-image tile must reproduce the captured sigmoid outputs."""
    model = tiny_random_rcan(seed=3)
    x = torch.from_numpy(half_textured(24)).permute(2, 0, 1)[None] * 255
    capture = capture_forward(model, x, (1, 1), timed_modules(rcan_stages(model)))
    tiles = tile_attention(model, capture.tile_means)
    np.testing.assert_allclose(tiles[..., 0, 0], capture.attention, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_texture_correlation_has_the_sign_of_a_model_that_follows_texture(sign):
    analysis = analyze(texture_following_rcan(sign), half_textured(48), tile=8, view_side=24)
    ta = analysis.texture_attention
    assert ta.basis == "texture channels"
    assert set(np.nonzero(ta.texture_channels)[2]) <= {2, 3}
    assert sign * ta.correlation > 0.8
    assert sign * (ta.textured_mean - ta.flat_mean) > 0.5
    assert analysis.metrics()["texture"]["attention_texture_correlation"] == pytest.approx(ta.correlation)


def test_texture_attention_of_synthetic_maps():
    """The statistic itself: attention that grows with texture correlates positively, the reverse negatively."""
    rgb = half_textured(48, seed=1)
    grid = tile_grid(48, 48, 8)
    tile_hf = tile_average(high_frequency_energy(rgb), grid)
    rng = np.random.default_rng(2)
    activity = np.zeros((1, 2, 4) + grid)
    activity[0, :, 0] = tile_hf  # channel 0 follows texture, the others are noise
    activity[0, :, 1:] = rng.random((2, 3) + grid)
    for sign in (1.0, -1.0):
        att = 1 / (1 + np.exp(-sign * (tile_hf / tile_hf.max() - 0.5) * 6))
        tile_att = np.broadcast_to(att, (1, 2, 4) + grid).copy()
        result = texture_attention(tile_att, activity, tile_hf)
        assert result.texture_channels[0, :, 0].all()
        assert sign * result.correlation > 0.9
        assert sign * result.boosts[0, 0, 0] > 0.5


def test_tile_grid_has_at_least_two_tiles_a_side():
    assert tile_grid(128, 96, 16) == (8, 6)
    assert tile_grid(10, 10, 16) == (2, 2)
