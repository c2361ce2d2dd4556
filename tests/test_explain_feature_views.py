"""FeatSharp-style feature views: shapes, JBU, tiling, alignment, and the three numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explain.analysis import analyze
from explain.feature_views import (
    FIDELITY_SHIFTS,
    VIEW_NAMES,
    align_to_features,
    downscale,
    edge_alignment,
    joint_bilateral_upsample,
    multiview_fidelity,
    tiled_features,
    upsample_bilinear,
    upsample_nearest,
)
from explain.measures import luminance, share_beyond_nyquist
from sr_core.imresize import imresize
from sr_core.weights import tiny_random_rcan

RNG = np.random.default_rng(0)


def blocky_guide(size: int = 36) -> torch.Tensor:
    """(3, size, size) guide of random flat 6x6 patches: strong, known edges."""
    patches = RNG.random((3, size // 6, size // 6)).astype(np.float32)
    return torch.from_numpy(np.repeat(np.repeat(patches, 6, axis=1), 6, axis=2))


def test_views_have_the_expected_shapes_and_numbers():
    rgb = RNG.random((24, 30, 3), dtype=np.float32)
    analysis = analyze(tiny_random_rcan(), rgb, tile=8, view_side=12)
    assert set(analysis.views.views) == set(VIEW_NAMES)
    for view in analysis.views.views.values():
        assert view.image.shape == (36, 36, 3) and view.image.dtype == np.uint8
        assert np.isfinite([view.edge_alignment, view.hf_energy, view.fidelity]).all()
        assert 0 <= view.hf_energy <= 1
    assert analysis.views.guide.shape == (36, 36, 3)


def test_jbu_of_a_constant_map_is_constant():
    features = torch.full((5, 6, 6), 2.5)
    out = joint_bilateral_upsample(features, blocky_guide(18))
    assert out.shape == (5, 18, 18)
    torch.testing.assert_close(out, torch.full_like(out, 2.5))


def test_jbu_keeps_an_edge_that_bilinear_blurs():
    """A feature step and a guide step at the same place: JBU stays near the step's values next to it."""
    features = torch.zeros(1, 8, 8)
    features[:, :, 4:] = 1.0
    guide = torch.zeros(3, 24, 24)
    guide[:, :, 12:] = 1.0
    jbu = joint_bilateral_upsample(features, guide)[0, 12]
    bilinear = upsample_bilinear(features, 3)[0, 12]
    assert abs(float(jbu[11])) < abs(float(bilinear[11])) / 3
    assert abs(1 - float(jbu[12])) < abs(1 - float(bilinear[12])) / 3


def test_edge_alignment_of_an_aligned_view_beats_a_shuffled_one():
    guide = blocky_guide(36)
    luma = luminance(guide.permute(1, 2, 0).numpy())
    view = torch.from_numpy(np.stack([3 * luma, -luma, luma**2]))  # features whose edges are the guide's
    shuffled = view.reshape(3, -1)[:, torch.from_numpy(RNG.permutation(36 * 36))].reshape(3, 36, 36)
    aligned_r = edge_alignment(view, luma, border=3)
    assert aligned_r > 0.9
    assert aligned_r > edge_alignment(shuffled, luma, border=3) + 0.5


def test_tiled_view_stitches_3x3_tiles_of_the_enlarged_input_in_place():
    lr = RNG.random((8, 10, 3), dtype=np.float32)
    batches = []

    def identity(batch: torch.Tensor) -> torch.Tensor:
        batches.append(batch.shape)
        return batch

    out = tiled_features(identity, lr, 3)
    assert batches == [(9, 3, 8, 10)]  # one batch of nine input-sized tiles
    expected = np.clip(imresize(lr, 3), 0, 1).transpose(2, 0, 1)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)


def test_learned_view_alignment_undoes_a_linear_change_of_basis():
    features = torch.from_numpy(RNG.standard_normal((4, 10, 10)).astype(np.float32))
    mixing = torch.from_numpy(RNG.standard_normal((6, 4)).astype(np.float32))
    target = upsample_nearest(features, 3)
    learned = torch.einsum("oc,chw->ohw", mixing, target) + 0.7  # other basis, more channels, an offset
    torch.testing.assert_close(align_to_features(learned, features, 3), target, atol=1e-4, rtol=1e-4)


def test_fidelity_is_highest_for_the_view_that_explains_the_shifted_views():
    v, s = 10, 3
    truth = torch.from_numpy(RNG.standard_normal((4, s * v, s * v)).astype(np.float32))
    rows = s * (v - 1)
    targets = torch.stack([downscale(truth[:, dy : dy + rows, dx : dx + rows], s) for dy, dx in FIDELITY_SHIFTS])
    targets = targets + 0.01 * torch.from_numpy(RNG.standard_normal(targets.shape).astype(np.float32))
    blurred = upsample_bilinear(downscale(truth, s), s)
    unrelated = torch.from_numpy(RNG.standard_normal(truth.shape).astype(np.float32))
    best = multiview_fidelity(truth, targets, s)
    assert best > 10 * multiview_fidelity(blurred, targets, s)
    assert multiview_fidelity(blurred, targets, s) > multiview_fidelity(unrelated, targets, s)


def test_downscale_matches_matlab_imresize():
    image = RNG.random((12, 15, 3), dtype=np.float32)
    out = downscale(torch.from_numpy(image).permute(2, 0, 1), 3).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, imresize(image, 1 / 3), atol=1e-5)


@pytest.mark.parametrize("smooth", [True, False])
def test_energy_beyond_nyquist_separates_blocky_from_smooth_enlargement(smooth):
    lr = torch.from_numpy(RNG.standard_normal((2, 16, 16)).astype(np.float32))
    nearest = share_beyond_nyquist(upsample_nearest(lr, 3).numpy(), 3)
    other = upsample_bilinear(lr, 3) if smooth else torch.zeros(2, 48, 48) + torch.linspace(0, 1, 48)
    assert nearest > 0.05
    assert share_beyond_nyquist(other.numpy(), 3) < nearest / 2
