"""Each experiment's definition, pinned: depth k = all is the normal forward pass, gates at 1 are a model without
CALayers, modulation at 1 is a SAFMN whose SAFM passes its input, the gates shown come from the whole photo."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from explain.analysis import analyze_any, metrics, recording_for
from explain.rcan.analysis import analyze
from explain.experiments import Measure
from explain.rcan.experiments import forward_at_depth, forward_with_gates, gates_off, gates_uniform, outputs_at_depths
from explain.safmn.experiments import forward_at_depth as safmn_at_depth
from explain.safmn.experiments import forward_modulation_off
from explain.safmn.experiments import outputs_at_depths as safmn_outputs_at_depths
from explain.stats import texture_effect
from sr_core.engine import Upscaler
from sr_core.protocol.evaluate import make_lr
from sr_core.image_io import from_uint8
from sr_core.protocol.imresize import imresize
from tests.conftest import tiny_random_rcan, tiny_safmn

RNG = np.random.default_rng(0)


def rcan_input(size: int = 20) -> torch.Tensor:
    return torch.from_numpy(RNG.random((1, 3, size, size), dtype=np.float32)) * 255


class PassThrough(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_rcan_at_full_depth_is_the_normal_forward_pass_exactly():
    model, x = tiny_random_rcan(), rcan_input()
    with torch.inference_mode():
        normal = model(x)
    assert torch.equal(forward_at_depth(model, x, model.config.n_resgroups), normal)
    assert not torch.equal(forward_at_depth(model, x, 1), normal)


def test_all_depths_in_one_pass_equal_each_depth_on_its_own():
    model, x = tiny_random_rcan(), rcan_input()
    outputs = outputs_at_depths(model, x)
    assert len(outputs) == model.config.n_resgroups
    for k, out in enumerate(outputs):
        assert torch.equal(out, forward_at_depth(model, x, k))
    safmn = tiny_safmn()
    y = torch.from_numpy(RNG.random((1, 3, 16, 16), dtype=np.float32))
    for k, out in enumerate(safmn_outputs_at_depths(safmn, y)):
        assert torch.equal(out, safmn_at_depth(safmn, y, k))


def test_rcan_at_depth_zero_is_head_body_conv_long_skip_and_tail():
    model, x = tiny_random_rcan(), rcan_input()
    with torch.inference_mode():
        shallow = model.head(model.sub_mean(x))
        expected = model.upsample(shallow + model.body[-1](shallow))
    assert torch.equal(forward_at_depth(model, x, 0), expected)
    with pytest.raises(ValueError):
        forward_at_depth(model, x, model.config.n_resgroups + 1)


def test_rcan_gates_at_one_equal_a_model_without_calayers():
    model, x = tiny_random_rcan(), rcan_input()
    stripped = copy.deepcopy(model)
    for group in list(stripped.body)[:-1]:
        for block in list(group.body)[:-1]:
            block.body[3] = PassThrough()
    with torch.inference_mode():
        expected = stripped(x)
    assert torch.equal(forward_with_gates(model, x, gates_off), expected)
    assert not torch.equal(forward_with_gates(model, x, gates_uniform), expected)
    with torch.inference_mode():  # the hooks are gone afterwards
        assert not torch.equal(model(x), expected)


def test_safmn_at_full_depth_is_the_normal_forward_and_modulation_one_is_a_pass_through_safm():
    model = tiny_safmn()
    x = torch.from_numpy(RNG.random((1, 3, 16, 16), dtype=np.float32))
    with torch.inference_mode():
        normal = model(x)
    assert torch.equal(safmn_at_depth(model, x, len(model.feats)), normal)
    with torch.inference_mode():
        assert torch.equal(safmn_at_depth(model, x, 0), model.to_img(2 * model.to_feat(x)))  # skip + bypass
    stripped = copy.deepcopy(model)
    for block in stripped.feats:
        block.safm = PassThrough()
    with torch.inference_mode():
        expected = stripped(x)
    assert torch.equal(forward_modulation_off(model, x), expected)


def test_gates_shown_are_the_whole_photos_from_the_engine():
    model = tiny_random_rcan()
    rgb = RNG.random((30, 40, 3), dtype=np.float32)
    analysis = analyze(model, rgb, max_side=16, tile=4, view_side=8)
    assert analysis.computed_on == (40, 30)
    assert metrics(analysis)["attention"]["computed_on"] == [40, 30]
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None] * 255
    from explain.rcan.capture import capture_forward  # the whole photo through the plain model
    whole = capture_forward(model, x, (2, 2), [])
    np.testing.assert_allclose(analysis.attention, whole.attention, atol=1e-5)
    assert np.abs(analysis.region_attention - whole.attention).max() > 1e-4  # the crop's gates differ


def test_gates_recorded_during_the_users_enlargement_are_used_as_they_are():
    model = tiny_random_rcan()
    rgb = RNG.random((20, 20, 3), dtype=np.float32)
    upscaler = Upscaler(model, "cpu")
    recorded: dict = {}
    with recording_for(upscaler, recorded):
        sr = upscaler.upscale(rgb)
    analysis = analyze_any(model, rgb, sr=sr, recorded=recorded)
    assert analysis.attention is recorded["gates"] and "whole_photo" not in analysis.timings


def test_depth_psnr_and_ablations_are_scored_against_the_original():
    hr = (RNG.random((48, 48, 3)) * 255).astype(np.uint8)
    analysis = analyze(tiny_random_rcan(), from_uint8(make_lr(hr, 3)), original=hr, tile=4, view_side=8)
    m = metrics(analysis)
    depth = m["experiments"]["depth"]
    assert [step["groups"] for step in depth] == [0, 1, 2]
    assert all(isinstance(step["psnr"], float) for step in depth)
    assert depth[-1]["psnr"] == pytest.approx(m["experiments"]["attention_off"]["psnr_full"])
    off = m["experiments"]["attention_off"]
    assert isinstance(off["psnr"], float) and off["mean_abs_change"] > 0 and 0 <= off["texture_share_of_change"] <= 1
    assert set(m["texture"]["original"]) >= {"psnr_bicubic", "psnr_model", "ssim_bicubic", "ssim_model"}


def test_without_original_no_psnr_anywhere():
    m = metrics(analyze(tiny_random_rcan(), RNG.random((20, 20, 3), dtype=np.float32), tile=4, view_side=8))
    assert all(step["psnr"] is None for step in m["experiments"]["depth"])
    assert m["experiments"]["attention_off"]["psnr"] is None and m["texture"]["original"] is None
    assert all(v["hr_similarity"] is None for v in m["feature_views"].values())


def test_texture_share_of_a_change_confined_to_texture_is_one_and_of_a_uniform_change_a_quarter():
    lr = np.full((24, 24, 3), 0.5, np.float32)
    lr[:, :6] = RNG.random((24, 6, 3), dtype=np.float32)  # the textured quarter is the left strip
    measure = Measure(lr, np.clip(imresize(lr, 3), 0, 1), None, 3)
    confined = np.where(measure.textured, 1.0, 0.0)
    assert measure.texture_share(confined) == pytest.approx(1.0)
    assert measure.texture_share(np.ones_like(confined)) == pytest.approx(measure.textured.mean())
    assert 0.2 < measure.textured.mean() < 0.35


def test_an_effect_inside_its_uncertainty_claims_no_trend():
    tiles = np.arange(40.0)
    high, low = tiles >= 30, tiles < 10
    noisy = np.random.default_rng(1).normal(0.5, 0.01, 40)
    assert not texture_effect(noisy, high, low).exceeds_uncertainty
    clear = noisy + 0.2 * high
    effect = texture_effect(clear, high, low)
    assert effect.exceeds_uncertainty and effect.low > 0.1 and effect.relative == pytest.approx(
        effect.difference / effect.flat)
    few_high, few_low = tiles[:8] > 4, tiles[:8] < 3  # 3 textured, 3 flat tiles
    few = texture_effect(noisy[:8] + few_high, few_high, few_low)
    assert (few.n_textured, few.n_flat) == (3, 3) and few.low > 0.5  # a large, tight effect...
    assert not few.exceeds_uncertainty  # ...but too few tiles to claim it
