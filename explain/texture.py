"""Texture evidence: RCAN against bicubic where the photo is most textured, in pixels, spectra and (given the
original) PSNR/SSIM with the RCAN paper's protocol."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from explain.measures import energy_beyond_nyquist, high_frequency_energy, luminance, radial_power_spectrum
from explain.region import Box, most_textured_box
from sr_core.evaluate import bicubic_upscale, make_lr, mod_crop
from sr_core.imresize import imresize
from sr_core.metrics import psnr_y, rgb_to_y, ssim_y

ZOOM_SIDE = 32  # input pixels of the zoomed crop (96 output pixels at x3)


@dataclass
class OriginalComparison:
    size: tuple[int, int]  # (width, height) of the mod-cropped original
    psnr_bicubic: float
    ssim_bicubic: float
    psnr_rcan: float
    ssim_rcan: float
    error_bicubic: np.ndarray  # (H, W) |Y difference| against the original, 0..255 scale
    error_rcan: np.ndarray


@dataclass
class TextureEvidence:
    zoom: Box  # input pixels, in the working region's coordinates
    bicubic_zoom: np.ndarray  # (s*z, s*z, 3) float32 in [0, 1]
    rcan_zoom: np.ndarray
    frequencies: np.ndarray  # cycles per output pixel
    power_bicubic: np.ndarray  # radially averaged power of the region's luminance
    power_rcan: np.ndarray
    hf_share_bicubic: float  # share of spectral energy beyond the input's Nyquist
    hf_share_rcan: float
    hf_energy_ratio: float  # energy beyond the input's Nyquist, RCAN over bicubic
    original: OriginalComparison | None = None


def texture_evidence(lr_region: np.ndarray, sr_region: np.ndarray, scale: int) -> TextureEvidence:
    """Compare RCAN's output of the working region with MATLAB-bicubic enlargement of the same input."""
    bicubic = np.clip(imresize(np.asarray(lr_region, np.float32), scale), 0, 1)
    zoom = most_textured_box(high_frequency_energy(lr_region), ZOOM_SIDE, ZOOM_SIDE)
    luma_bicubic, luma_rcan = luminance(bicubic), luminance(sr_region)
    frequencies, power_bicubic = radial_power_spectrum(luma_bicubic)
    _, power_rcan = radial_power_spectrum(luma_rcan)
    beyond_bicubic, total_bicubic = energy_beyond_nyquist(luma_bicubic, scale)
    beyond_rcan, total_rcan = energy_beyond_nyquist(luma_rcan, scale)
    return TextureEvidence(
        zoom=zoom,
        bicubic_zoom=zoom.crop(bicubic, scale),
        rcan_zoom=zoom.crop(np.asarray(sr_region, np.float32), scale),
        frequencies=frequencies,
        power_bicubic=power_bicubic,
        power_rcan=power_rcan,
        hf_share_bicubic=beyond_bicubic / total_bicubic if total_bicubic > 0 else float("nan"),
        hf_share_rcan=beyond_rcan / total_rcan if total_rcan > 0 else float("nan"),
        hf_energy_ratio=beyond_rcan / beyond_bicubic if beyond_bicubic > 0 else float("nan"),
    )


def compare_with_original(
    original: np.ndarray, upscale: Callable[[np.ndarray], np.ndarray], scale: int
) -> OriginalComparison:
    """The RCAN paper's protocol: LR = MATLAB-bicubic downscale of the mod-cropped original, enlarge it with
    bicubic and with `upscale` (uint8 HxWx3 -> uint8), score both on Y with a `scale`-pixel border shaved."""
    hr = mod_crop(original, scale)
    lr = make_lr(hr, scale)
    bicubic = bicubic_upscale(lr, scale)
    rcan = upscale(lr)
    if rcan.shape != hr.shape:
        raise ValueError(f"the enlargement has shape {rcan.shape}, the original {hr.shape}")
    y_hr = rgb_to_y(hr)
    return OriginalComparison(
        size=(hr.shape[1], hr.shape[0]),
        psnr_bicubic=psnr_y(hr, bicubic, shave=scale),
        ssim_bicubic=ssim_y(hr, bicubic, shave=scale),
        psnr_rcan=psnr_y(hr, rcan, shave=scale),
        ssim_rcan=ssim_y(hr, rcan, shave=scale),
        error_bicubic=np.abs(rgb_to_y(bicubic) - y_hr).astype(np.float32),
        error_rcan=np.abs(rgb_to_y(rcan) - y_hr).astype(np.float32),
    )
