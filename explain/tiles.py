"""Tiles of the working region, and which of them are textured: the shared unit of every "does X follow texture?"
statistic (RCAN's tile attention, SAFMN's modulation, the experiments' change maps)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# Tiles in the top / bottom quarter of high-frequency energy count as "most" / "least" textured.
TEXTURE_QUANTILE = 0.25


def tile_grid(height: int, width: int, tile: int) -> tuple[int, int]:
    """Grid of about tile x tile windows, at least 2x2 so that there is something to compare."""
    return max(2, min(height, round(height / tile))), max(2, min(width, round(width / tile)))


def tile_average(values: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """HxW -> grid, with the same window boundaries as pooled feature maps (adaptive average pooling)."""
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    return F.adaptive_avg_pool2d(tensor, grid)[0, 0].numpy()


def texture_masks(tile_hf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(most textured, least textured) tiles: the top and bottom TEXTURE_QUANTILE of high-frequency energy."""
    high = tile_hf >= np.quantile(tile_hf, 1 - TEXTURE_QUANTILE)
    low = tile_hf <= np.quantile(tile_hf, TEXTURE_QUANTILE)
    return high, low


def textured_vs_flat(values: np.ndarray, tile_hf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of `values` (..., ny, nx) over the most and over the least textured tiles."""
    high, low = texture_masks(tile_hf)
    return values[..., high].mean(axis=-1), values[..., low].mean(axis=-1)
