"""PSNR and SSIM on the luma (Y) channel, as in the RCAN paper's MATLAB test code.

Facts from yulunzhang/RCAN RCAN_TestCode/Evaluate_PSNR_SSIM.m (code written here):
- Y = single(rgb2ycbcr(im2double(img))) * 255, i.e. 16 + 65.481 R + 128.553 G + 24.966 B
  with RGB in [0, 1], kept unrounded, in single precision; a one-channel image is used as is;
- a border of `shave` (= scale) pixels is removed, then PSNR = 10 log10(255^2 / MSE);
- SSIM is Wang et al.'s ssim_index.m: 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
  K2 = 0.03, L = 255, 'valid' filtering, mean of the SSIM map.
"""

from __future__ import annotations

import numpy as np

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0  # per unit of RGB in [0, 255]


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma in [16, 235] (float64) of an RGB HxWx3 image in 0..255; HxW images pass through.

    Rounded through float32 like MATLAB's single(...) so scores match the official script.
    """
    x = np.asarray(img, dtype=np.float64)
    if x.ndim == 2:
        return x
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected HxW or HxWx3, got shape {x.shape}")
    y01 = (16.0 + x @ _Y_WEIGHTS) / 255.0
    return (y01.astype(np.float32) * np.float32(255.0)).astype(np.float64)


def _shaved_y_pair(a: np.ndarray, b: np.ndarray, shave: int) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    if shave > 0:
        ya, yb = ya[shave:-shave, shave:-shave], yb[shave:-shave, shave:-shave]
    if ya.size == 0:
        raise ValueError(f"nothing left after shaving {shave} pixels from {a.shape}")
    return ya, yb


def psnr_y(a: np.ndarray, b: np.ndarray, shave: int = 0) -> float:
    """PSNR in dB between the Y channels of two 0..255 images (inf when identical)."""
    ya, yb = _shaved_y_pair(a, b, shave)
    mse = float(np.mean((ya - yb) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D factor of fspecial('gaussian', size, sigma); the 2-D window is its outer product."""
    x = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """filter2(outer(g, g), img, 'valid'), done separably (the window is symmetric)."""
    k = g.size
    h, w = img.shape[0] - k + 1, img.shape[1] - k + 1
    rows = sum(g[i] * img[i:i + h, :] for i in range(k))
    return sum(g[j] * rows[:, j:j + w] for j in range(k))


def ssim_y(a: np.ndarray, b: np.ndarray, shave: int = 0) -> float:
    """Mean SSIM (Wang et al. 2004) between the Y channels of two 0..255 images."""
    ya, yb = _shaved_y_pair(a, b, shave)
    if min(ya.shape) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after shaving, got {ya.shape}")
    g = _gaussian_1d()
    c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
    mu_a, mu_b = _filter_valid(ya, g), _filter_valid(yb, g)
    var_a = _filter_valid(ya * ya, g) - mu_a * mu_a
    var_b = _filter_valid(yb * yb, g) - mu_b * mu_b
    cov = _filter_valid(ya * yb, g) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())
