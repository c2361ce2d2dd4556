"""MATLAB-style bicubic imresize: hand-worked weights and resampling properties."""

import numpy as np
import pytest

from sr_core.protocol.imresize import contributions, imresize

# MATLAB cubic (a = -0.5) at the distances used below:
# k(0.25) = 1.5/64 - 2.5/16 + 1 = 0.8671875      k(0.75) = 1.5*27/64 - 2.5*9/16 + 1 = 0.2265625
# k(1.25) = -0.5*125/64 + 2.5*25/16 - 5 + 2 = -0.0703125
# k(1.75) = -0.5*343/64 + 2.5*49/16 - 7 + 2 = -0.0234375      k(>= 2) = 0


def test_downscale_weights_by_hand():
    # Six pixels -> three (scale 1/2): antialiased kernel h(d) = 0.5 k(0.5 d), width 8, P = 10 taps.
    # Output 1: u = 1/0.5 + 0.5 (1 - 2) = 1.5, left = floor(1.5 - 4) = -3, taps -3..6, d = 4.5 .. -4.5,
    # h = 0, 0.5 k(1.75), 0.5 k(1.25), 0.5 k(0.75), 0.5 k(0.25), then mirrored, 0. The first and
    # last taps are zero for every output, so those columns are dropped, leaving 8.
    half = [-0.01171875, -0.03515625, 0.11328125, 0.43359375]
    weights, indices = contributions(6, 3, 0.5)
    assert weights.shape == (3, 8)
    np.testing.assert_allclose(weights[0], half + half[::-1], atol=1e-12)
    # Taps -2..5 in 1-based MATLAB terms; symmetric padding maps -2 -> 3, -1 -> 2, 0 -> 1.
    assert indices[0].tolist() == [2, 1, 0, 0, 1, 2, 3, 4]
    # Output 3: u = 5.5, taps 1..10 less the zero ends: 2..9, where 7, 8, 9 mirror to 6, 5, 4 (1-based).
    assert indices[2].tolist() == [1, 2, 3, 4, 5, 5, 4, 3]

    row = np.array([[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]])
    expected_first = (
        -0.01171875 * 4 - 0.03515625 * 2 + 0.11328125 * 1 + 0.43359375 * 1
        + 0.43359375 * 2 + 0.11328125 * 4 - 0.03515625 * 8 - 0.01171875 * 16
    )  # = 1.28125
    out = imresize(row, 0.5)
    assert out.shape == (1, 3)
    assert out[0, 0] == pytest.approx(expected_first, abs=1e-12)


def test_upscale_by_hand():
    # Four pixels -> eight (scale 2): plain kernel, width 4, P = 6 taps; u = x/2 + 0.25.
    # Output 1: u = 0.75, taps -2..3, d = 2.75, 1.75, 0.75, -0.25, -1.25, -2.25;
    # taps -1 and 0 mirror to pixels 2 and 1:  k(1.75) v2 + k(0.75) v1 + k(0.25) v1 + k(1.25) v2.
    # Output 2: u = 1.25, taps -1..4, d = 2.25 .. -2.75:  k(1.25) v1 + k(0.25) v1 + k(0.75) v2 + k(1.75) v3.
    v1, v2, v3 = 10.0, 20.0, 40.0
    row = np.array([[v1, v2, v3, 80.0]])
    out = imresize(row, 2)
    assert out.shape == (2, 8)
    first = -0.0234375 * v2 + 0.2265625 * v1 + 0.8671875 * v1 - 0.0703125 * v2  # 9.0625
    second = -0.0703125 * v1 + 0.8671875 * v1 + 0.2265625 * v2 - 0.0234375 * v3  # 11.5625
    np.testing.assert_allclose(out[:, 0], first, atol=1e-12)
    np.testing.assert_allclose(out[:, 1], second, atol=1e-12)


@pytest.mark.parametrize("scale", [1 / 3, 3, 0.5, 2])
def test_constant_image_stays_constant(scale):
    for img in (np.full((7, 11, 3), 123, np.uint8), np.full((7, 11), 0.25)):
        out = imresize(img, scale)
        assert out.shape[:2] == (int(np.ceil(7 * scale - 1e-9)), int(np.ceil(11 * scale - 1e-9)))
        np.testing.assert_allclose(out, img.flat[0], atol=1e-12)


def test_affine_blocks_downscale_to_block_values():
    # 3x3 blocks whose values follow an affine pattern: within each block the staircase differs from
    # the plane by an odd, zero-mean term that the symmetric kernel cancels at the block centre.
    i, j = np.meshgrid(np.arange(8), np.arange(9), indexing="ij")
    blocks = 10.0 * i + 3.0 * j + 5.0
    hr = np.kron(blocks, np.ones((3, 3)))
    lr = imresize(hr, 1 / 3)
    assert lr.shape == blocks.shape
    np.testing.assert_allclose(lr[2:-2, 2:-2], blocks[2:-2, 2:-2], atol=1e-9)


def test_upscale_then_downscale_is_near_identity_and_aligned():
    i, j = np.meshgrid(np.arange(24), np.arange(30), indexing="ij")
    img = 100.0 + 40.0 * np.sin(i / 4.0) + 30.0 * np.cos(j / 5.0)
    back = imresize(imresize(img, 3), 1 / 3)
    assert back.shape == img.shape
    # A one-third-pixel misalignment would cost ~3 levels here; blur alone costs under 0.6.
    assert np.abs(back - img)[3:-3, 3:-3].max() < 0.6


def test_dtypes_and_rounding():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    out = imresize(noise, 1 / 3)
    assert out.dtype == np.uint8 and out.shape == (3, 4, 3)
    assert imresize(noise.astype(np.float32), 3).dtype == np.float32
    as_float = imresize(noise.astype(np.float64), 3)
    assert as_float.dtype == np.float64
    assert as_float.min() < 0 or as_float.max() > 255  # float results are neither clipped nor rounded
    with pytest.raises(TypeError):
        imresize(noise.astype(np.int16), 3)
    with pytest.raises(ValueError):
        imresize(noise, 0)


def test_uint8_result_is_the_rounded_float_result_on_smooth_images():
    # Without clipping, rounding after each pass moves a pixel by at most ~1 level from the float result.
    i, j = np.meshgrid(np.arange(12), np.arange(15), indexing="ij")
    smooth = np.rint(128 + 50 * np.sin(i / 3.0) * np.cos(j / 4.0)).astype(np.uint8)
    for scale in (3, 1 / 3):
        exact = imresize(smooth.astype(np.float64), scale)
        rounded = imresize(smooth, scale)
        assert rounded.dtype == np.uint8
        assert np.abs(rounded - exact).max() <= 1.0
        assert np.abs(rounded - exact).mean() < 0.5
