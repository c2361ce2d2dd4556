"""One RCAN forward pass that records everything the explainers need, so no explainer runs the network again.

Forward hooks collect, in a single pass:
- each RCAB's channel-attention vector: the output of the CALayer's Sigmoid (`body.{g}.body.{b}.body.3.conv_du.3`),
  cloned, because the block goes on to multiply and add in place around it;
- the CALayer's input (the block's residual) pooled per tile, so the same gate can be re-applied to local
  statistics afterwards (tile-wise attention), plus its mean magnitude per tile (channel activity);
- the residual maps of each block's most boosted channels, for the overlay figure;
- the upsampler's output (`tail.0`, after PixelShuffle): RCAN's own learned feature upsampling;
- wall time and output shape of each named stage.

The gates *shown* are not this pass's: `recording_gates` records them during the engine's enlargement of the whole
photo (the engine's tiled forward pools each residual over the whole image, then calls the same CALayer gate), so
they are exactly the gates that made the user's picture.

The hooks sit on a model that the app may be running for someone else at the same time, so they record only
the forward pass of the thread that registered them and ignore every other.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explain.hooks import owner_thread, removed_after, stage_timing_hooks
from sr_core.models.rcan import RCAN, CALayer


@dataclass
class ForwardCapture:
    output: torch.Tensor  # (3, sH, sW) float32, in the model's pixel range
    features: torch.Tensor  # (C, H, W): body output plus the long skip
    learned: torch.Tensor  # (C, sH, sW): output of the upsampler (conv + PixelShuffle)
    attention: np.ndarray  # (G, B, C): global channel attention, in (0, 1)
    tile_means: torch.Tensor  # (G, B, C, ny, nx): residual averaged per tile, what a local CALayer would pool
    tile_activity: np.ndarray  # (G, B, C, ny, nx): mean |residual| per tile
    top_channels: np.ndarray  # (G, B, k): each block's most boosted channels, strongest first
    top_maps: np.ndarray  # (G, B, k, H, W): |residual| of those channels
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


def feature_extractor(model: RCAN) -> Callable[[torch.Tensor], torch.Tensor]:
    """(N, 3, h, w) RGB in [0, 1] -> (N, C, h, w) float32 CPU deep features, on the model's device and dtype."""
    param = next(model.parameters())
    value_range = model.config.rgb_range

    def extract(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model.features(batch.to(param.device, param.dtype) * value_range).float().cpu()

    return extract


def attention_layers(model: RCAN) -> list[list[CALayer]]:
    """The CALayer of every RCAB, indexed [group][block] (each group's closing conv is not a block)."""
    return [[block.body[3] for block in list(group.body)[:-1]] for group in list(model.body)[:-1]]


@contextmanager
def recording_gates(model: RCAN, into: dict[str, np.ndarray]) -> Iterator[None]:
    """While inside, every CALayer gate the model computes in this thread is kept; afterwards into["gates"] is
    the (G, B, C) array of the last pass. Works on the engine's copy (`Upscaler.model`), whose tiled forward calls
    each block's gate once on the whole image's mean."""
    layers = attention_layers(model)
    gates: dict[tuple[int, int], torch.Tensor] = {}
    mine = owner_thread()

    def on_gate(g: int, b: int):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            if mine():
                gates[g, b] = output.detach().float().flatten().cpu()

        return hook

    handles = [layer.conv_du[3].register_forward_hook(on_gate(g, b))
               for g, group in enumerate(layers) for b, layer in enumerate(group)]
    with removed_after(handles):
        yield
    into["gates"] = np.stack([np.stack([gates[g, b].numpy() for b in range(len(group))])
                              for g, group in enumerate(layers)])


def capture_forward(
    model: RCAN,
    x: torch.Tensor,
    grid: tuple[int, int],
    timed: list[tuple[str, nn.Module]],
    top_k: int = 4,
) -> ForwardCapture:
    """Run `model` once on x (1x3xHxW, model range) and collect attention, tile statistics, features and timings."""
    layers = attention_layers(model)
    n_groups, n_blocks = len(layers), len(layers[0])
    n_feats = model.config.n_feats
    k = min(top_k, n_feats)
    gates: dict[tuple[int, int], torch.Tensor] = {}
    means = torch.zeros(n_groups, n_blocks, n_feats, *grid)
    activity = torch.zeros(n_groups, n_blocks, n_feats, *grid)
    top_channels = np.zeros((n_groups, n_blocks, k), dtype=np.int64)
    top_maps = np.zeros((n_groups, n_blocks, k, x.shape[2], x.shape[3]), dtype=np.float32)
    learned: list[torch.Tensor] = []
    seconds: dict[str, float] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    mine = owner_thread()

    def on_gate(g: int, b: int):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            if mine():
                gates[g, b] = output.detach().clone()

        return hook

    def on_block(g: int, b: int):
        def hook(_module: nn.Module, inputs: tuple, _output: torch.Tensor) -> None:
            if not mine():
                return
            residual = inputs[0].detach().float()
            means[g, b] = F.adaptive_avg_pool2d(residual, grid)[0].cpu()
            activity[g, b] = F.adaptive_avg_pool2d(residual.abs(), grid)[0].cpu()
            order = torch.argsort(gates[g, b].float().flatten(), descending=True)[:k]
            top_channels[g, b] = order.cpu().numpy()
            top_maps[g, b] = residual[0, order].abs().cpu().numpy()

        return hook

    handles = []
    for g, group in enumerate(layers):
        for b, layer in enumerate(group):
            handles.append(layer.conv_du[3].register_forward_hook(on_gate(g, b)))
            handles.append(layer.register_forward_hook(on_block(g, b)))
    handles.append(model.tail[0].register_forward_hook(
        lambda _m, _i, out: learned.append(out.detach().clone()) if mine() else None))
    handles += stage_timing_hooks(timed, mine, seconds, shapes)

    with removed_after(handles), torch.inference_mode():
        features = model.features(x)
        output = model.upsample(features)

    attention = np.stack([np.stack([gates[g, b].float().flatten().cpu().numpy() for b in range(n_blocks)])
                          for g in range(n_groups)])
    return ForwardCapture(
        output=output[0].float().cpu(),
        features=features[0].float().cpu(),
        learned=learned[0][0].float().cpu(),
        attention=attention,
        tile_means=means,
        tile_activity=activity.numpy(),
        top_channels=top_channels,
        top_maps=top_maps,
        stage_seconds=seconds,
        stage_shapes=shapes,
    )
