"""Image-signal measures shared by the explainers: luminance, local high-frequency energy, gradients, spectra.

Everything here is plain numpy on float arrays, so the same definition of "texture" (energy left after a Gaussian
blur) and of "above Nyquist" is used by the attention, feature-view and texture explainers alike.
"""
from __future__ import annotations

import numpy as np

# BT.601 luma weights: the same colour-to-brightness mapping as the Y channel used for PSNR/SSIM.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# High-pass = image minus a Gaussian blur of this sigma (pixels): keeps detail finer than about 2-3 pixels,
# i.e. the fabric weaves, bricks and foliage that bicubic enlargement smears.
HIGH_PASS_SIGMA = 1.0


def luminance(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 RGB -> HxW brightness in the same range."""
    return np.asarray(rgb, dtype=np.float32) @ _LUMA


def gaussian_blur(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with mirrored borders (so a flat image stays flat up to its edges)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    out = np.asarray(gray, dtype=np.float32)
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="symmetric")
        length = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + length), axis=axis) for i, w in enumerate(taps))
    return out


def high_frequency_energy(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel energy of the luminance detail finer than the blur: HxW float32, zero on flat areas."""
    gray = luminance(rgb)
    return (gray - gaussian_blur(gray, HIGH_PASS_SIGMA)) ** 2


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally sized arrays; NaN when either is constant (no answer exists)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 1e-12 else float("nan")


def _power_spectrum(x: np.ndarray) -> np.ndarray:
    """|FFT|^2 of each channel (mean removed, Hann window against edge leakage), summed over channels, centred."""
    stack = np.asarray(x, dtype=np.float64)
    stack = stack[None] if stack.ndim == 2 else stack
    _, height, width = stack.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    centred = (stack - stack.mean(axis=(1, 2), keepdims=True)) * window
    return np.fft.fftshift((np.abs(np.fft.fft2(centred)) ** 2).sum(axis=0))


def _frequencies(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertical and horizontal frequency (cycles per pixel) of each bin of a centred spectrum."""
    fy = np.fft.fftshift(np.fft.fftfreq(height))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(width))[None, :]
    return np.broadcast_to(fy, (height, width)), np.broadcast_to(fx, (height, width))


def energy_beyond_nyquist(x: np.ndarray, scale: int) -> tuple[float, float]:
    """(energy beyond the *input's* Nyquist frequency, total energy) of an x`scale` map's spectrum.

    The input holds frequencies up to 0.5 cycles per input pixel, i.e. 0.5/scale per output pixel in each
    direction; everything outside that square is detail the input could not carry.
    """
    power = _power_spectrum(x)
    fy, fx = _frequencies(*power.shape)
    beyond = np.maximum(np.abs(fy), np.abs(fx)) > 0.5 / scale
    return float(power[beyond].sum()), float(power.sum())


def radial_power_spectrum(gray: np.ndarray, bins: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum: (bin-centre frequency in cycles/pixel, mean power) up to 0.5."""
    power = _power_spectrum(gray)
    fy, fx = _frequencies(*power.shape)
    radius = np.hypot(fy, fx)
    edges = np.linspace(0.0, 0.5, bins + 1)
    index = np.digitize(radius, edges) - 1
    inside = (index >= 0) & (index < bins)
    total = np.bincount(index[inside], weights=power[inside], minlength=bins)
    count = np.bincount(index[inside], minlength=bins)
    mean = np.divide(total, count, out=np.zeros(bins), where=count > 0)
    return (edges[:-1] + edges[1:]) / 2, mean
