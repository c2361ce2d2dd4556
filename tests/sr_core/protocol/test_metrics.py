"""Y-channel PSNR/SSIM of the RCAN protocol on pairs with known answers."""

import math

import numpy as np
import pytest

from sr_core.protocol.metrics import psnr_y, rgb_to_y, ssim_y


def _smooth_gray(h=32, w=40):
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.rint(120 + 60 * np.sin(i / 3.0) * np.cos(j / 5.0))


def test_rgb_to_y_known_colours():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    np.testing.assert_allclose(rgb_to_y(rgb)[0], [16.0, 235.0, 81.481, 144.553, 40.966], atol=1e-4)
    gray = np.array([[0, 7], [200, 255]], np.uint8)
    np.testing.assert_array_equal(rgb_to_y(gray), gray)  # one channel is scored as it is


def test_identical_images():
    img = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    assert psnr_y(img, img, shave=3) == math.inf
    assert ssim_y(img, img, shave=3) == pytest.approx(1.0, abs=1e-12)


def test_constant_offset_gives_closed_form_psnr():
    a = _smooth_gray()
    assert psnr_y(a, a + 5, shave=3) == pytest.approx(10 * math.log10(255**2 / 5**2), abs=1e-9)
    # Adding d to R, G and B moves Y by d * 219 / 255.
    rgb = np.stack([a, a, a], axis=2)
    d_y = 10 * 219 / 255
    assert psnr_y(rgb, rgb + 10, shave=3) == pytest.approx(10 * math.log10(255**2 / d_y**2), abs=1e-3)


def test_shave_removes_border_differences():
    a = _smooth_gray()
    b = a.copy()
    b[:3, :] += 40
    b[:, -3:] -= 40
    assert psnr_y(a, b, shave=3) == math.inf
    assert psnr_y(a, b, shave=2) < 30


def test_ssim_of_constant_images_by_hand():
    # Zero variances and covariance leave only the luminance term:
    # (2*100*110 + C1) / (100^2 + 110^2 + C1) with C1 = (0.01*255)^2 = 6.5025.
    a, b = np.full((16, 16), 100.0), np.full((16, 16), 110.0)
    assert ssim_y(a, b) == pytest.approx((22000 + 6.5025) / (22100 + 6.5025), abs=1e-12)


def test_ssim_matches_direct_window_sum():
    # Reference: Wang's formula, explicit fspecial('gaussian', 11, 1.5) window, 'valid' output.
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (14, 13))
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    x = np.arange(11) - 5
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    window /= window.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for r in range(a.shape[0] - 10):
        for c in range(a.shape[1] - 10):
            pa, pb = a[r:r + 11, c:c + 11], b[r:r + 11, c:c + 11]
            ma, mb = (window * pa).sum(), (window * pb).sum()
            va, vb = (window * pa * pa).sum() - ma**2, (window * pb * pb).sum() - mb**2
            cov = (window * pa * pb).sum() - ma * mb
            values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    assert ssim_y(a, b) == pytest.approx(np.mean(values), abs=1e-12)


def test_ssim_decreases_with_noise():
    a = _smooth_gray(40, 40)
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 1, a.shape)
    scores = [ssim_y(a, np.clip(a + sigma * noise, 0, 255), shave=3) for sigma in (2, 8, 25)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0


def test_mismatched_or_tiny_inputs_are_rejected():
    with pytest.raises(ValueError):
        psnr_y(np.zeros((12, 12)), np.zeros((12, 13)))
    with pytest.raises(ValueError):
        ssim_y(np.zeros((14, 14)), np.zeros((14, 14)), shave=3)  # 8x8 left after shaving
