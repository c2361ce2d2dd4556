"""PSNR on the most and the least textured tiles of an image: where a model keeps or loses fine detail.

A whole-image PSNR mixes sky and fabric. Here the Y channel (border `scale` shaved, as the protocol does) is cut
into `tile`-pixel squares; each square's texture is how badly the paper's bicubic reconstructs it (its bicubic
Y-PSNR, lower = more texture: the score the distillation study's `texture` subset is chosen by,
sr_core.tools.distill). Per image, the `share` of squares with the lowest bicubic PSNR are its textured tiles and
the `share` with the highest its flat tiles; each group's PSNR is taken over its pooled squared error.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sr_core.protocol.evaluate import Upscale, bicubic_upscale, list_images, make_lr, protocol_pair, read_uint8
from sr_core.protocol.metrics import psnr_y, rgb_to_y

TILE = 48  # HR pixels: one 16-pixel LR square at x3
SHARE = 0.25  # the most and the least textured quarter


def tile_errors(reference: np.ndarray, image: np.ndarray, scale: int, tile: int = TILE) -> np.ndarray:
    """Mean squared Y error per whole tile (row-major), after the protocol's border shave."""
    a, b = rgb_to_y(reference), rgb_to_y(image)
    if scale > 0:
        a, b = a[scale:-scale, scale:-scale], b[scale:-scale, scale:-scale]
    rows, cols = a.shape[0] // tile, a.shape[1] // tile
    if rows == 0 or cols == 0:
        raise ValueError(f"an image of {a.shape[1]}x{a.shape[0]} px (shaved) holds no {tile}-pixel tile")
    err = (a[: rows * tile, : cols * tile] - b[: rows * tile, : cols * tile]) ** 2
    return err.reshape(rows, tile, cols, tile).mean(axis=(1, 3)).ravel()


def texture_tiles(hr: np.ndarray, bicubic: np.ndarray, scale: int, tile: int = TILE,
                  share: float = SHARE) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the textured and of the flat tiles: the `share` worst and best reconstructed by bicubic."""
    errors = tile_errors(hr, bicubic, scale, tile)
    k = max(1, round(share * errors.size))
    order = np.argsort(-errors, kind="stable")  # largest bicubic error (lowest PSNR) first
    return order[:k], order[::-1][:k]


def pooled_psnr(errors: np.ndarray) -> float:
    mse = float(np.mean(errors))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def split_scores(hr: np.ndarray, sr: np.ndarray, scale: int, tile: int = TILE) -> dict[str, float]:
    """{"psnr", "texture_psnr", "flat_psnr"} of one protocol pair (HR mod-cropped, SR as scored)."""
    lr = make_lr(hr, scale)
    textured, flat = texture_tiles(hr, bicubic_upscale(lr, scale), scale, tile)
    errors = tile_errors(hr, sr, scale, tile)
    return {"psnr": psnr_y(hr, sr, shave=scale), "texture_psnr": pooled_psnr(errors[textured]),
            "flat_psnr": pooled_psnr(errors[flat])}


def evaluate_split(directory: str | Path, upscale: Upscale, scale: int = 3) -> dict:
    """Per image and in the mean over the set: PSNR (as `sr_core.protocol.evaluate.evaluate_set`), and the PSNR
    of its textured and of its flat tiles. Returns {"images": [{"name", "psnr", "texture_psnr", "flat_psnr"}],
    "psnr", "texture_psnr", "flat_psnr"}."""
    images = []
    for path in list_images(directory):
        hr, sr = protocol_pair(read_uint8(path), upscale, scale)
        images.append({"name": path.stem, **split_scores(hr, sr, scale)})
    if not images:
        raise ValueError(f"no images found in {directory}")
    means = {key: float(np.mean([im[key] for im in images])) for key in ("psnr", "texture_psnr", "flat_psnr")}
    return {"images": images, **means}
