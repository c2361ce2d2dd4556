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

from explain.measures import pearson
from explain.rcan.capture import attention_layers
from explain.stats import Effect, texture_effect
from explain.tiles import texture_masks, textured_vs_flat
from sr_core.models.rcan import RCAN

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
    effect: Effect  # texture_map on textured minus flat tiles, with its bootstrap interval over tiles

    def extremes(self, n: int, tile_att: np.ndarray) -> dict[str, list[dict]]:
        """The n most boosted and the n most suppressed (group, block, channel) on textured tiles relative to
        flat ones, each with its effect and interval (groups and blocks from 1, channels 0-based)."""
        boosts = np.nan_to_num(self.boosts, nan=0.0)
        order = np.argsort(boosts, axis=None, kind="stable")
        high, low = texture_masks(self.tile_hf)
        picked = {"boosted": order[::-1][:n], "suppressed": order[:n]}
        return {
            kind: [{"group": int(g) + 1, "block": int(b) + 1, "channel": int(c),
                    **texture_effect(tile_att[g, b, c], high, low).to_dict()}
                   for g, b, c in zip(*np.unravel_index(indices, boosts.shape))]
            for kind, indices in picked.items()
        }


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
    high_tiles, low_tiles = texture_masks(tile_hf)
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
        effect=texture_effect(texture_map, high_tiles, low_tiles),
    )
