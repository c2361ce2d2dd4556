"""FeatSharp-style feature views: shapes, JBU guided by the input, tiling, alignment, and the two scores."""
from __future__ import annotations

import numpy as np
import torch

from explain.rcan.analysis import analyze
from explain.rcan.feature_views import (
    VIEW_NAMES,
    align_to_features,
    consistency,
    downscale,
    joint_bilateral_upsample,
    tiled_features,
    upsample_bilinear,
    upsample_nearest,
)
from sr_core.protocol.evaluate import make_lr
from sr_core.image_io import from_uint8
from sr_core.protocol.imresize import imresize
from tests.conftest import tiny_random_rcan

RNG = np.random.default_rng(0)


def blocky_guide(size: int = 36) -> torch.Tensor:
    """(3, size, size) guide of random flat 6x6 patches: strong, known edges."""
    patches = RNG.random((3, size // 6, size // 6)).astype(np.float32)
    return torch.from_numpy(np.repeat(np.repeat(patches, 6, axis=1), 6, axis=2))


def test_views_have_the_expected_shapes_and_scores():
    rgb = RNG.random((24, 30, 3), dtype=np.float32)
    analysis = analyze(tiny_random_rcan(), rgb, tile=8, view_side=12)
    assert set(analysis.views.views) == set(VIEW_NAMES) - {"featsharp"}  # trained for the bundled RCAN only
    assert "bundled RCAN" in analysis.views.missing["featsharp"]
    for view in analysis.views.views.values():
        assert view.image.shape == (36, 36, 3) and view.image.dtype == np.uint8
        assert -1 <= view.consistency <= 1 and view.hr_similarity is None  # no original, no score against it
    assert analysis.views.guide.shape == (36, 36, 3) and analysis.views.hr_image is None


def test_with_the_original_every_view_is_scored_against_the_originals_features():
    hr = (RNG.random((36, 42, 3)) * 255).astype(np.uint8)
    analysis = analyze(tiny_random_rcan(), from_uint8(make_lr(hr, 3)), original=hr, tile=4, view_side=8)
    for view in analysis.views.views.values():
        assert isinstance(view.hr_similarity, float) and -1 <= view.hr_similarity <= 1
    assert analysis.views.hr_image.shape == (24, 24, 3)
    # The same input, the same enlarged features, another "original": only a score computed against the
    # original's own features can change (one against the input, or the output, would not).
    other = analyze(tiny_random_rcan(), from_uint8(make_lr(hr, 3)), original=255 - hr, tile=4, view_side=8)
    for name, view in analysis.views.views.items():
        np.testing.assert_array_equal(other.views.views[name].image, view.image)
        assert abs(other.views.views[name].hr_similarity - view.hr_similarity) > 1e-3, name


def test_jbu_guidance_is_the_inputs_bicubic_enlargement_never_the_output():
    rgb = RNG.random((24, 24, 3), dtype=np.float32)
    model = tiny_random_rcan()
    plain = analyze(model, rgb, tile=8, view_side=12)
    other_output = analyze(model, rgb, sr=RNG.random((72, 72, 3), dtype=np.float32), tile=8, view_side=12)
    window = plain.views.window
    expected = window.crop(np.clip(imresize(plain.lr_region, 3), 0, 1), 3)
    np.testing.assert_array_equal(plain.views.guide, expected)
    np.testing.assert_array_equal(other_output.views.views["jbu"].image, plain.views.views["jbu"].image)


def test_consistency_is_passed_by_nearest_enlargement_and_failed_by_unrelated_features():
    """A necessary condition only: the view that adds nothing passes it."""
    features = torch.from_numpy(RNG.standard_normal((4, 12, 12)).astype(np.float32))
    unrelated = torch.from_numpy(RNG.standard_normal((4, 36, 36)).astype(np.float32))
    assert consistency(upsample_nearest(features, 3), features, 3) > 0.9
    assert abs(consistency(unrelated, features, 3)) < 0.3


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


def test_downscale_matches_matlab_imresize():
    image = RNG.random((12, 15, 3), dtype=np.float32)
    out = downscale(torch.from_numpy(image).permute(2, 0, 1), 3).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, imresize(image, 1 / 3), atol=1e-5)
