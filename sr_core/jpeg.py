"""JPEG in this project: the degradation the JPEG-aware RCAN learned from, and the quality a file was saved at.

- `jpeg_roundtrip`: encode and decode an RGB uint8 array with Pillow (libjpeg) at one quality, chroma subsampled
  4:2:0 as phone and camera JPEGs are. The training tool applies it to each sampled LR crop (`--degradation jpeg`).
- `estimate_quality`: the quality a JPEG was saved at, read from its quantisation tables. libjpeg (the IJG code,
  which Pillow, most editors and many cameras use) scales two standard tables (ITU-T T.81 Annex K) by the
  quality; the estimate is the quality whose scaled tables fit the file's best. Files made with other tables
  (some cameras) get the nearest IJG quality, which is still a fair measure of how hard they were compressed.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

# ITU-T T.81 Annex K tables K.1 (luminance) and K.2 (chrominance), in natural (row-major) order, as Pillow
# reports `Image.quantization`.
IJG_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)
IJG_CHROMA = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
)
SUBSAMPLING_420 = 2  # Pillow's code for 4:2:0 chroma subsampling


def ijg_table(base: tuple[int, ...], quality: int) -> np.ndarray:
    """libjpeg's jpeg_quality_scaling and jpeg_add_quant_table (baseline: entries clamped to 1..255)."""
    quality = min(max(int(quality), 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    table = (np.asarray(base, dtype=np.int64) * scale + 50) // 100
    return np.clip(table, 1, 255)


_SCALED = {q: (ijg_table(IJG_LUMA, q), ijg_table(IJG_CHROMA, q)) for q in range(1, 101)}


def quality_from_tables(tables: dict[int, list[int]]) -> int | None:
    """The IJG quality (1..100) whose scaled tables are nearest (sum of absolute differences) to `tables`.

    `tables` as Pillow's `Image.quantization`: table id -> 64 entries in natural order; table 0 is luminance,
    table 1 (if present) chrominance. None when there is no 64-entry luminance table.
    """
    luma = np.asarray(tables.get(0, ()), dtype=np.int64)
    if luma.shape != (64,):
        return None
    chroma = np.asarray(tables.get(1, ()), dtype=np.int64)
    use_chroma = chroma.shape == (64,)

    def misfit(q: int) -> int:
        ref_luma, ref_chroma = _SCALED[q]
        error = int(np.abs(luma - ref_luma).sum())
        return error + (int(np.abs(chroma - ref_chroma).sum()) if use_chroma else 0)

    # the highest quality among equal fits: at high qualities several map to the same all-ones tables
    return min(range(100, 0, -1), key=misfit)


def estimate_quality(image: Image.Image) -> int | None:
    """The quality a decoded-from-file Pillow image was saved at, if it is a JPEG; None for any other format."""
    if image.format != "JPEG":
        return None
    return quality_from_tables(getattr(image, "quantization", None) or {})


def file_quality(path: Path) -> int | None:
    """The JPEG quality of a file from its header alone (nothing is decoded); None for another format or a file
    Pillow cannot open (reading it properly then says what is wrong, in one line)."""
    try:
        with Image.open(path) as image:
            return estimate_quality(image)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array saved as a 4:2:0 JPEG at `quality` and decoded again (deterministic)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="JPEG", quality=int(quality),
                                                    subsampling=SUBSAMPLING_420)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))
