"""Where channel attention boosts which channels, and whether that follows the image's texture.

RCAN's CALayer rescales each channel by sigmoid(MLP(global average of the residual)): one number per channel for
the whole image. Re-applying the same trained gate to *tile* averages of the residual asks "what would the block
boost if it only saw this window?", which maps where a channel is boosted. Channels whose activity follows local
high-frequency energy are the texture channels; the attention they receive per tile is the texture map.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from explain.capture import attention_layers
from explain.measures import pearson
from sr_core.models.rcan import RCAN

# Tiles in the top / bottom quarter of high-frequency energy count as "most" / "least" textured.
TEXTURE_QUANTILE = 0.25


@dataclass
class TextureAttention:
    tile_hf: np.ndarray  # (ny, nx): mean high-frequency energy of each tile
    channel_texture_corr: np.ndarray  # (G, B, C): correlation of channel activity with tile_hf (NaN: constant)
    texture_channels: np.ndarray  # (G, B, C) bool: the channels taken as following texture
    basis: str  # "texture channels", or "all channels" when no channel follows texture
    texture_map: np.ndarray  # (ny, nx): mean tile attention over the texture channels
    correlation: float  # Pearson r between texture_map and tile_hf over tiles
    textured_mean: float  # texture_map averaged over the most textured tiles
    flat_mean: float  # ... and over the least textured tiles
    boosts: np.ndarray  # (G, B, C): tile attention on most textured minus least textured tiles


def tile_grid(height: int, width: int, tile: int) -> tuple[int, int]:
    """Grid of about tile x tile windows, at least 2x2 so that there is something to compare."""
    return max(2, min(height, round(height / tile))), max(2, min(width, round(width / tile)))


def tile_average(values: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """HxW -> grid, with the same window boundaries as the pooled residuals (adaptive average pooling)."""
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    return F.adaptive_avg_pool2d(tensor, grid)[0, 0].numpy()


def tile_attention(model: RCAN, tile_means: torch.Tensor) -> np.ndarray:
    """(G, B, C, ny, nx) attention from each block's own gate applied to tile averages of its residual."""
    param = next(model.parameters())
    layers = attention_layers(model)
    out = np.empty(tuple(tile_means.shape), dtype=np.float32)
    with torch.inference_mode():
        for g, group in enumerate(layers):
            for b, layer in enumerate(group):
                gated = layer.gate(tile_means[g, b][None].to(param.device, param.dtype))
                out[g, b] = gated[0].float().cpu().numpy()
    return out


def textured_vs_flat(values: np.ndarray, tile_hf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of `values` (..., ny, nx) over the most and over the least textured tiles."""
    high = tile_hf >= np.quantile(tile_hf, 1 - TEXTURE_QUANTILE)
    low = tile_hf <= np.quantile(tile_hf, TEXTURE_QUANTILE)
    return values[..., high].mean(axis=-1), values[..., low].mean(axis=-1)


def channel_texture_correlation(tile_activity: np.ndarray, tile_hf: np.ndarray) -> np.ndarray:
    """(G, B, C) Pearson r between each channel's tile activity and the tiles' high-frequency energy."""
    flat = tile_activity.reshape(-1, tile_hf.size)
    return np.array([pearson(row, tile_hf) for row in flat]).reshape(tile_activity.shape[:3])


def texture_channel_mask(corr: np.ndarray, per_block: int) -> np.ndarray:
    """Each block's `per_block` channels whose activity best follows texture (positive correlation only)."""
    mask = np.zeros(corr.shape, dtype=bool)
    for g in range(corr.shape[0]):
        for b in range(corr.shape[1]):
            scores = np.where(np.isfinite(corr[g, b]), corr[g, b], -np.inf)
            best = np.argsort(-scores, kind="stable")[:per_block]
            mask[g, b, best[scores[best] > 0]] = True
    return mask


def texture_attention(tile_att: np.ndarray, tile_activity: np.ndarray, tile_hf: np.ndarray) -> TextureAttention:
    """Which channels follow texture, how much attention they get per tile, and how that tracks texture."""
    corr = channel_texture_correlation(tile_activity, tile_hf)
    mask = texture_channel_mask(corr, per_block=max(1, tile_att.shape[2] // 8))
    basis = "texture channels" if mask.any() else "all channels"
    texture_map = tile_att[mask].mean(axis=0) if mask.any() else tile_att.mean(axis=(0, 1, 2))
    high, low = textured_vs_flat(texture_map, tile_hf)
    boost_high, boost_low = textured_vs_flat(tile_att, tile_hf)
    return TextureAttention(
        tile_hf=tile_hf,
        channel_texture_corr=corr,
        texture_channels=mask,
        basis=basis,
        texture_map=texture_map,
        correlation=pearson(texture_map, tile_hf),
        textured_mean=float(high),
        flat_mean=float(low),
        boosts=boost_high - boost_low,
    )
