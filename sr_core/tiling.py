"""Tiled inference that gives the same answer as whole-image inference.

RCAN's channel attention pools each residual over the *whole* image, so cutting the image into
overlapping tiles and running the network on each (Real-ESRGAN, RCAN's own `forward_chop`)
changes every attention vector and hence the output. Here only the local operators are tiled:
each conv stack runs tile by tile with a halo equal to its receptive-field radius, the result is
written into a full-size buffer, and the attention gate is computed from the mean of that whole
buffer. Transient memory is bounded by the tile size; the residual stream itself is kept whole.
"""
from __future__ import annotations

import time
import threading
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from sr_core.models.rcan import RCAN
from sr_core.models.safmn import SAFMN, safmn_forward_tiled, safmn_steps


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    eta_s: float


class Cancelled(RuntimeError):
    """The caller set the cancel flag; work stopped between two tiles."""


class StepCounter:
    """Counts tile steps, reports progress with an ETA, and honours a cancel flag between steps."""

    def __init__(
        self,
        total: int,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.total, self.done = total, 0
        self.progress, self.cancel = progress, cancel
        self.started = time.perf_counter()

    def step(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled")
        self.done += 1
        if self.progress is not None:
            elapsed = time.perf_counter() - self.started
            eta = elapsed / self.done * (self.total - self.done)
            self.progress(Progress(self.done, self.total, eta))


def tile_spans(length: int, tile: int) -> list[tuple[int, int]]:
    return [(start, min(start + tile, length)) for start in range(0, length, tile)]


def map_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    halo: int,
    counter: StepCounter,
    scale: int = 1,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Apply a local operator tile by tile; exact when its receptive-field radius is <= halo.

    At the image border the zero padding of the convs sees the same zeros as on the whole image.
    """
    _, _, height, width = x.shape
    for y0, y1 in tile_spans(height, tile):
        for x0, x1 in tile_spans(width, tile):
            ya, yb = max(y0 - halo, 0), min(y1 + halo, height)
            xa, xb = max(x0 - halo, 0), min(x1 + halo, width)
            result = fn(x[:, :, ya:yb, xa:xb])
            if out is None:
                out = x.new_empty(x.shape[0], result.shape[1], height * scale, width * scale)
            top, left = (y0 - ya) * scale, (x0 - xa) * scale
            out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = result[
                :, :, top : top + (y1 - y0) * scale, left : left + (x1 - x0) * scale
            ]
            counter.step()
    assert out is not None
    return out


def rcan_steps(model: nn.Module, height: int, width: int, tile: int) -> int:
    """How many tile steps `rcan_forward_tiled` takes, for progress totals."""
    cfg = model.config
    per_map = len(tile_spans(height, tile)) * len(tile_spans(width, tile))
    maps = 1 + cfg.n_resgroups * (cfg.n_resblocks + 1) + 1 + 1
    return per_map * maps


def rcan_forward_tiled(model: nn.Module, x: torch.Tensor, tile: int, counter: StepCounter) -> torch.Tensor:
    """RCAN's forward pass with its local parts tiled and its global pools exact."""
    halo_conv, halo_pair = 1, 2  # one 3x3 conv; conv-ReLU-conv (and the upsampler's conv, shuffle, conv)
    shallow = map_tiles(lambda t: model.head(model.sub_mean(t)), x, tile, halo_conv, counter)
    stream = shallow.clone()
    residual = torch.empty_like(shallow)
    groups: list[nn.Module] = list(model.body)[:-1]
    for group in groups:
        group_input = stream.clone()
        *blocks, closing_conv = list(group.body)
        for block in blocks:
            convs, attention = block.body[:3], block.body[3]
            map_tiles(convs, stream, tile, halo_pair, counter, out=residual)
            pooled = residual.mean(dim=(2, 3), keepdim=True, dtype=torch.float32).to(residual.dtype)
            stream.addcmul_(residual, attention.gate(pooled))
        map_tiles(closing_conv, stream, tile, halo_conv, counter, out=residual)
        stream, residual = residual.add_(group_input), stream
        del group_input
    del residual
    features = map_tiles(model.body[-1], stream, tile, halo_conv, counter).add_(shallow)
    del stream, shallow
    return map_tiles(model.upsample, features, tile, halo_pair, counter, scale=model.scale)


@dataclass(frozen=True)
class TiledForward:
    """How one architecture runs tile by tile: the forward pass and its step count."""

    forward: Callable[[nn.Module, torch.Tensor, int, StepCounter], torch.Tensor]
    steps: Callable[[nn.Module, int, int, int], int]


TILED_FORWARDS: dict[type, TiledForward] = {
    RCAN: TiledForward(rcan_forward_tiled, rcan_steps),
    SAFMN: TiledForward(safmn_forward_tiled, safmn_steps),
}


def tiled_forward_for(model: nn.Module) -> TiledForward:
    try:
        return TILED_FORWARDS[type(model)]
    except KeyError:
        raise TypeError(f"no tiled forward registered for {type(model).__name__}") from None
