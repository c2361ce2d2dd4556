"""Texture evidence: the network against bicubic where the photo is most textured, in pixels, spectra and (given
the original) the original itself as the third crop and third spectrum, and PSNR/SSIM with the RCAN paper's
protocol. The original is what decides whether extra detail is real: a spectrum that comes close to the original's
is detail that was there; one that goes above it is detail the network invented."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explain.measures import energy_beyond_nyquist, high_frequency_energy, luminance, radial_power_spectrum
from explain.region import Box, box_around, most_textured_box
from sr_core.protocol.evaluate import bicubic_upscale
from sr_core.protocol.imresize import imresize
from sr_core.protocol.metrics import psnr_y, rgb_to_y, ssim_y

ZOOM_SIDE = 32  # input pixels of the zoomed crop (96 output pixels at x3)


@dataclass
class OriginalComparison:
    size: tuple[int, int]  # (width, height) of the mod-cropped original
    psnr_bicubic: float
    ssim_bicubic: float
    psnr_model: float
    ssim_model: float
    error_bicubic: np.ndarray  # (H - 2s, W - 2s) |Y difference| against the original, 0..255, border shaved
    error_model: np.ndarray
    shave: int  # the border (pixels) left out of the scores and the error maps, as the protocol does


@dataclass
class TextureEvidence:
    zoom: Box  # input pixels, in the working region's coordinates
    bicubic_zoom: np.ndarray  # (s*z, s*z, 3) float32 in [0, 1]
    model_zoom: np.ndarray
    frequencies: np.ndarray  # cycles per output pixel
    power_bicubic: np.ndarray  # radially averaged power of the region's luminance
    power_model: np.ndarray
    hf_share_bicubic: float  # share of spectral energy beyond the input's Nyquist
    hf_share_model: float
    hf_energy_ratio: float  # energy beyond the input's Nyquist, the model over bicubic
    original_zoom: np.ndarray | None = None  # the original's pixels at the same spot, when known
    power_original: np.ndarray | None = None  # ... and its spectrum over the region
    hf_energy_ratio_original: float | None = None  # the original's energy beyond the input's Nyquist over bicubic's
    original: OriginalComparison | None = None
    real_detail_share: float | None = None  # of the detail the model adds, the share that is where the original's is
    added_detail_correlation: float | None = None  # the model's added detail against the original's missing detail
    chance_detail_share: float | None = None  # real_detail_share against the missing detail shifted away: chance's


def texture_evidence(
    lr_region: np.ndarray, sr_region: np.ndarray, scale: int, hr_region: np.ndarray | None = None,
    focus: tuple[int, int] | None = None,
) -> TextureEvidence:
    """Compare the network's output of the working region with MATLAB-bicubic enlargement of the same input and,
    when `hr_region` (the original's pixels of the region, float in [0, 1]) is given, with the original. The
    zoomed crop is centred on `focus` (x, y in the region's pixels: a click) when given, else the most textured."""
    bicubic = np.clip(imresize(np.asarray(lr_region, np.float32), scale), 0, 1)
    rows, cols = lr_region.shape[:2]
    zoom = (box_around(*focus, ZOOM_SIDE, ZOOM_SIDE, rows, cols) if focus is not None
            else most_textured_box(high_frequency_energy(lr_region), ZOOM_SIDE, ZOOM_SIDE))
    luma_bicubic, luma_model = luminance(bicubic), luminance(sr_region)
    frequencies, power_bicubic = radial_power_spectrum(luma_bicubic)
    _, power_model = radial_power_spectrum(luma_model)
    beyond_bicubic, total_bicubic = energy_beyond_nyquist(luma_bicubic, scale)
    beyond_model, total_model = energy_beyond_nyquist(luma_model, scale)
    evidence = TextureEvidence(
        zoom=zoom,
        bicubic_zoom=zoom.crop(bicubic, scale),
        model_zoom=zoom.crop(np.asarray(sr_region, np.float32), scale),
        frequencies=frequencies,
        power_bicubic=power_bicubic,
        power_model=power_model,
        hf_share_bicubic=beyond_bicubic / total_bicubic if total_bicubic > 0 else float("nan"),
        hf_share_model=beyond_model / total_model if total_model > 0 else float("nan"),
        hf_energy_ratio=beyond_model / beyond_bicubic if beyond_bicubic > 0 else float("nan"),
    )
    if hr_region is not None:
        luma_hr = luminance(np.asarray(hr_region, np.float32))
        evidence.original_zoom = zoom.crop(np.asarray(hr_region, np.float32), scale)
        evidence.power_original = radial_power_spectrum(luma_hr)[1]
        beyond_hr = energy_beyond_nyquist(luma_hr, scale)[0]
        evidence.hf_energy_ratio_original = beyond_hr / beyond_bicubic if beyond_bicubic > 0 else float("nan")
        evidence.real_detail_share, evidence.added_detail_correlation = detail_in_place(
            luma_bicubic, luma_model, luma_hr, scale)
        evidence.chance_detail_share = chance_detail_share(luma_bicubic, luma_model, luma_hr, scale)
    return evidence


def detail_in_place(bicubic: np.ndarray, model: np.ndarray, original: np.ndarray, shave: int) -> tuple[float, float]:
    """Where the added detail sits, against the original (luminance maps; border `shave` left out).

    A spectrum ignores position, so invented texture of the right strength would pass as real. Here, pixel by
    pixel, the model's added detail (model - bicubic) is compared with the detail bicubic missed (original -
    bicubic): where both push the same way, the added detail up to the missing amount is real; the rest (the
    wrong way, too much, or where the original has nothing) is invented. Returns (the real share of the added
    detail's energy, 0..1; the correlation of added and missing detail, -1..1), NaN when nothing was added."""
    inner = (slice(shave, -shave), slice(shave, -shave)) if shave else (slice(None), slice(None))
    added = (model - bicubic)[inner].astype(np.float64)
    missing = (original - bicubic)[inner].astype(np.float64)
    energy = float(np.sum(added ** 2))
    if energy == 0:
        return float("nan"), float("nan")
    real = np.where(added * missing > 0, np.minimum(np.abs(added), np.abs(missing)), 0.0)
    spread = float(np.std(added) * np.std(missing))
    correlation = float(np.mean((added - added.mean()) * (missing - missing.mean())) / spread) if spread > 0 else float("nan")
    return float(np.sum(real ** 2)) / energy, correlation


def chance_detail_share(bicubic: np.ndarray, model: np.ndarray, original: np.ndarray, shave: int) -> float:
    """The real share `detail_in_place` gives the same added detail against the original moved by half the image
    each way: what detail with no relation to the original's positions scores, the baseline the real share is
    read against (detail the right strength lands on some of the missing detail's pixels by chance)."""
    rows, cols = original.shape[:2]
    shifted = bicubic + np.roll(original - bicubic, (rows // 2, cols // 2), axis=(0, 1))
    return detail_in_place(bicubic, model, shifted, shave)[0]


def compare_with_original(hr: np.ndarray, lr: np.ndarray, output: np.ndarray, scale: int) -> OriginalComparison:
    """The RCAN paper's protocol on uint8 images: `hr` the mod-cropped original, `lr` the input (its MATLAB-bicubic
    downscale), `output` the network's enlargement of `lr`; bicubic and the network scored on Y with a
    `scale`-pixel border shaved (the error maps are shaved the same way)."""
    bicubic = bicubic_upscale(lr, scale)
    if output.shape != hr.shape or bicubic.shape != hr.shape:
        raise ValueError(f"the enlargement has shape {output.shape}, the original {hr.shape}")
    y_hr = rgb_to_y(hr)
    inner = (slice(scale, -scale), slice(scale, -scale))
    return OriginalComparison(
        size=(hr.shape[1], hr.shape[0]),
        psnr_bicubic=psnr_y(hr, bicubic, shave=scale),
        ssim_bicubic=ssim_y(hr, bicubic, shave=scale),
        psnr_model=psnr_y(hr, output, shave=scale),
        ssim_model=ssim_y(hr, output, shave=scale),
        error_bicubic=np.abs(rgb_to_y(bicubic) - y_hr)[inner].astype(np.float32),
        error_model=np.abs(rgb_to_y(output) - y_hr)[inner].astype(np.float32),
        shave=scale,
    )
