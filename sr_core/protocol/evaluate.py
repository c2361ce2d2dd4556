"""Benchmark evaluation following the RCAN paper's protocol, independent of any model engine.

Protocol (facts from yulunzhang/RCAN RCAN_TestCode/Prepare_TestData_HR_LR.m and
Evaluate_PSNR_SSIM.m): HR mod-cropped to the scale, LR = MATLAB imresize(HR, 1/scale,
'bicubic') as uint8, scores on Y with a `scale`-pixel border shaved, averaged per set.

Grayscale HR (Set14 `bridge`): RCAN's preparation script copies gray into three channels, which
would score bridge on Y = 16 + 219/255 * gray. The published bicubic row is only reproduced when
a gray image is scored on its gray values (Evaluate_PSNR_SSIM.m's one-channel branch): Set14 x3
gives 27.537 dB that way and 27.631 dB the other (published 27.55), so gray values are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from sr_core.protocol.imresize import imresize
from sr_core.protocol.metrics import psnr_y, ssim_y

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# BT.601 luma weights normalised to sum to 1: an RGB result for a gray image, put back on the gray scale.
_GRAY_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 219.0

Upscale = Callable[[np.ndarray], np.ndarray]


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of `scale` (MATLAB modcrop)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def make_lr(hr_uint8: np.ndarray, scale: int) -> np.ndarray:
    """The paper's degradation: mod-crop, then MATLAB bicubic downscale by 1/scale, uint8."""
    if hr_uint8.dtype != np.uint8:
        raise TypeError(f"make_lr expects uint8, got {hr_uint8.dtype}")
    return imresize(mod_crop(hr_uint8, scale), 1.0 / scale)


def bicubic_upscale(lr_uint8: np.ndarray, scale: int) -> np.ndarray:
    """Baseline: MATLAB imresize(LR, scale, 'bicubic') on uint8, rounded to uint8."""
    return imresize(lr_uint8, scale)


def list_images(directory: str | Path) -> list[Path]:
    """Images of a set, sorted by name: those in `directory/HR` if it exists, else in `directory`."""
    root = Path(directory)
    folder = root / "HR" if (root / "HR").is_dir() else root
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def set_name(directory: Path) -> str:
    resolved = directory.resolve()
    return resolved.parent.name if resolved.name == "HR" else resolved.name


def read_uint8(path: Path, rgb: bool = False) -> np.ndarray:
    """HxWx3 uint8; HxW for gray files unless `rgb` (the protocol scores gray images as gray, training sees RGB)."""
    with Image.open(path) as im:
        gray = im.mode in ("1", "L", "LA") and not rgb
        return np.asarray(im.convert("L" if gray else "RGB"))


def protocol_pair(hr: np.ndarray, upscale: Upscale, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(mod-cropped HR, SR of its paper-protocol LR) as the protocol scores them (a gray HR: SR folded to gray)."""
    hr = mod_crop(hr, scale)
    lr = make_lr(hr, scale)
    if lr.ndim == 2:  # the upscaler always sees RGB, like RCAN's data loader (gray copied to 3 channels)
        lr = np.repeat(lr[:, :, None], 3, axis=2)
    sr = np.asarray(upscale(lr))
    if sr.dtype != np.uint8:
        raise TypeError(f"upscale must return uint8, got {sr.dtype}")
    if hr.ndim == 2 and sr.ndim == 3:
        sr = np.floor(sr.astype(np.float64) @ _GRAY_WEIGHTS + 0.5).clip(0, 255).astype(np.uint8)
    if sr.shape != hr.shape:
        raise ValueError(f"upscale returned shape {sr.shape}, expected {hr.shape}")
    return hr, sr


def _score_one(hr: np.ndarray, upscale: Upscale, scale: int) -> tuple[float, float]:
    hr, sr = protocol_pair(hr, upscale, scale)
    return psnr_y(hr, sr, shave=scale), ssim_y(hr, sr, shave=scale)


def evaluate_set(directory: str | Path, upscale: Upscale, scale: int = 3) -> dict:
    """Score `upscale` (uint8 LR HxWx3 -> uint8 SR, `scale` times larger) on every image of a set.

    For a gray HR image the LR arrives with its gray copied to 3 channels; an RGB result is folded
    back to gray with normalised BT.601 luma weights (an HxW result is used as is).

    Returns {"set": folder name, "scale", "images": [{"name", "psnr", "ssim"}, ...],
    "psnr": mean, "ssim": mean}.
    """
    directory = Path(directory)
    paths = list_images(directory)
    if not paths:
        raise ValueError(f"no images found in {directory}")
    images = []
    for path in paths:
        psnr, ssim = _score_one(read_uint8(path), upscale, scale)
        images.append({"name": path.stem, "psnr": psnr, "ssim": ssim})
    return {
        "set": set_name(directory),
        "scale": scale,
        "images": images,
        "psnr": float(np.mean([r["psnr"] for r in images])),
        "ssim": float(np.mean([r["ssim"] for r in images])),
    }


def format_table(results: Mapping[str, dict] | Sequence[dict]) -> str:
    """One row per set: name, image count, mean PSNR and SSIM.

    `results` are evaluate_set results, as a list or as a dict keyed by set name.
    """
    rows = list(results.values()) if isinstance(results, Mapping) else list(results)
    name_width = max([len("set")] + [len(r["set"]) for r in rows])
    lines = [f"{'set':<{name_width}}  scale  images  PSNR (dB)    SSIM"]
    for r in rows:
        name, count = f"{r['set']:<{name_width}}", len(r["images"])
        lines.append(f"{name}  x{r['scale']:<4}  {count:>6}  {r['psnr']:>9.2f}  {r['ssim']:.4f}")
    return "\n".join(lines)
