"""SAFMN's spatially-adaptive feature modulation, captured: where each block amplifies or suppresses features.

In every block, SAFM (Sun et al., ICCV 2023, arXiv 2302.13800; official code github.com/sunny2109/SAFMN) computes
a modulation map m = GELU(aggr(multi-scale features)) with one value per channel and pixel, and returns m * LN(x),
which the block adds to its input: x + m * LN(x). So m = 0 leaves a position as it was (suppressed), and the
larger |m|, the more strongly the block writes the normalised features back there (amplified). A forward hook on
each block's GELU (`feats.{i}.safm.act`) records m during one plain forward pass; each block's m is reduced over
channels to mean |m| per pixel: one map per block, at the input's resolution. Unlike RCAN's channel attention (one
gate per channel for the whole image), these maps vary from pixel to pixel, so they show directly where the
network looks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from explain.hooks import owner_thread, removed_after, stage_timing_hooks
from explain.measures import pearson
from explain.stats import Effect, texture_effect
from explain.tiles import texture_masks, textured_vs_flat, tile_average
from sr_core.models.safmn import SAFMN


@dataclass
class ModulationCapture:
    output: torch.Tensor  # (3, sH, sW) float32, in the model's pixel range (0..1 for SAFMN), unclipped
    maps: np.ndarray  # (n_blocks, H, W) float32: mean over channels of |m|, per block
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass
class ModulationTexture:
    """How each block's modulation relates to local texture, over the same tiles as RCAN's texture map."""

    tile_hf: np.ndarray  # (ny, nx): mean high-frequency energy of each tile
    tile_maps: np.ndarray  # (n_blocks, ny, nx): mean |m| of each tile
    correlation: np.ndarray  # (n_blocks,): Pearson r between tile modulation and tile energy (NaN: a flat map)
    textured_mean: np.ndarray  # (n_blocks,): mean |m| on the most textured quarter of tiles
    flat_mean: np.ndarray  # (n_blocks,): ... and on the least textured quarter
    effects: list[Effect]  # per block: textured minus flat mean |m|, with its bootstrap interval over tiles


def capture_modulation(
    model: SAFMN, x: torch.Tensor, timed: list[tuple[str, torch.nn.Module]] | None = None
) -> ModulationCapture:
    """Run `model` once on x (1x3xHxW in 0..1, on the model's device and dtype); keep every block's mean |m|,
    the output, and the time and output shape of each (name, module) in `timed`."""
    n_blocks = len(model.feats)
    maps: dict[int, np.ndarray] = {}
    seconds: dict[str, float] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    mine = owner_thread()

    def on_modulation(index: int):
        def hook(_module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            if mine():
                maps[index] = output.detach().float().abs().mean(dim=1)[0].cpu().numpy()

        return hook

    handles = [block.safm.act.register_forward_hook(on_modulation(i)) for i, block in enumerate(model.feats)]
    handles += stage_timing_hooks(timed or [], mine, seconds, shapes)
    with removed_after(handles), torch.inference_mode():
        output = model(x)
    return ModulationCapture(
        output=output[0].float().cpu(),
        maps=np.stack([maps[i] for i in range(n_blocks)]).astype(np.float32),
        stage_seconds=seconds,
        stage_shapes=shapes,
    )


def modulation_texture(maps: np.ndarray, energy: np.ndarray, grid: tuple[int, int]) -> ModulationTexture:
    """Tile averages of every block's map and of the high-frequency `energy` (HxW), and how they relate."""
    tile_hf = tile_average(energy, grid)
    tile_maps = np.stack([tile_average(block_map, grid) for block_map in maps])
    textured, flat = textured_vs_flat(tile_maps, tile_hf)
    high, low = texture_masks(tile_hf)
    return ModulationTexture(
        tile_hf=tile_hf,
        tile_maps=tile_maps,
        correlation=np.array([pearson(tile_map, tile_hf) for tile_map in tile_maps]),
        textured_mean=textured,
        flat_mean=flat,
        effects=[texture_effect(tile_map, high, low) for tile_map in tile_maps],
    )
