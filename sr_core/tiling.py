"""Tiled inference that gives the same answer as whole-image inference.

RCAN's channel attention pools each residual over the *whole* image, so cutting the image into
overlapping tiles and running the network on each (Real-ESRGAN, RCAN's own `forward_chop`)
changes every attention vector and hence the output. Here only the local operators are tiled:
each conv stack runs tile by tile with a halo equal to its receptive-field radius, the result is
written into a full-size buffer, and the attention gate is computed from the mean of that whole
buffer. Transient memory is bounded by the tile size; the residual stream itself is kept whole.
Each tile's result equals the whole-image one up to float rounding (convs may group their sums
differently at other offsets, e.g. the engine's row-Winograd convs).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

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


class CancelFlag(Protocol):
    """What the engine polls between two steps: a threading.Event, or anything that can tell when to stop."""

    def is_set(self) -> bool: ...


class StepCounter:
    """Counts tile steps, reports progress with an ETA, and honours a cancel flag between steps."""

    def __init__(
        self,
        total: int,
        progress: Callable[[Progress], None] | None = None,
        cancel: CancelFlag | None = None,
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
    The result goes into `out` when given, else into a new buffer in the layout `fn` produces;
    a single tile without `out` returns `fn`'s own result, saving a copy.
    """
    _, _, height, width = x.shape
    rows, cols = tile_spans(height, tile), tile_spans(width, tile)
    if out is None and len(rows) == len(cols) == 1:
        result = fn(x)
        counter.step()
        return result
    for y0, y1 in rows:
        for x0, x1 in cols:
            ya, yb = max(y0 - halo, 0), min(y1 + halo, height)
            xa, xb = max(x0 - halo, 0), min(x1 + halo, width)
            result = fn(x[:, :, ya:yb, xa:xb])
            if out is None:
                out = empty_like_layout(result, (x.shape[0], result.shape[1], height * scale, width * scale))
            top, left = (y0 - ya) * scale, (x0 - xa) * scale
            out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = result[
                :, :, top : top + (y1 - y0) * scale, left : left + (x1 - x0) * scale
            ]
            counter.step()
    assert out is not None
    return out


def empty_like_layout(like: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """An empty NCHW tensor of `shape`, channels_last when `like` is (copies between layouts are slow)."""
    layout = torch.channels_last if like.dim() == 4 and like.stride(1) == 1 and like.shape[1] > 1 else None
    return torch.empty(shape, dtype=like.dtype, device=like.device,
                       memory_format=layout or torch.contiguous_format)


def upsampler_tile(model: nn.Module, tile: int) -> int:
    """The upsampler widens the features scale^2-fold before the pixel shuffle: tile it smaller,
    so its temporaries stay as small as those of the body's tiles."""
    return max(8, tile // model.scale)


def rcan_steps(model: nn.Module, height: int, width: int, tile: int) -> int:
    """How many tile steps `rcan_forward_tiled` takes, for progress totals."""
    cfg = model.config

    def per_map(side: int) -> int:
        return len(tile_spans(height, side)) * len(tile_spans(width, side))

    body_maps = 1 + cfg.n_resgroups * (cfg.n_resblocks + 1) + 1 + 1  # head, blocks and closing convs, end, head again
    return per_map(tile) * body_maps + per_map(upsampler_tile(model, tile))


def rcan_forward_tiled(model: nn.Module, x: torch.Tensor, tile: int, counter: StepCounter) -> torch.Tensor:
    """RCAN's forward pass with its local parts tiled and its global pools exact.

    Whole-image buffers: at most three feature maps live at once (the stream, the group input for the
    short skip, and a scratch map for each block's residual), plus the output. The shallow features
    for the long skip are not kept: the head (a 3 -> C conv, 0.01% of the work) runs again at the end.
    """
    halo_conv, halo_pair = 1, 2  # one 3x3 conv; conv-ReLU-conv (and the upsampler's conv, shuffle, conv)
    tiled = len(tile_spans(x.shape[2], tile)) * len(tile_spans(x.shape[3], tile)) > 1

    def shallow_features(t: torch.Tensor) -> torch.Tensor:
        return model.head(model.sub_mean(t))

    stream = map_tiles(shallow_features, x, tile, halo_conv, counter)
    scratch: torch.Tensor | None = None  # a spare whole map, reused when tiled (one tile's result needs no copy)
    for group in list(model.body)[:-1]:
        group_input = stream.clone()
        *blocks, closing_conv = list(group.body)
        for block in blocks:
            convs, attention = block.body[:3], block.body[3]
            residual = map_tiles(convs, stream, tile, halo_pair, counter, out=scratch)
            pooled = residual.mean(dim=(2, 3), keepdim=True, dtype=torch.float32).to(residual.dtype)
            stream.addcmul_(residual, attention.gate(pooled))
            scratch = residual if tiled else None
            del residual  # untiled, the next block's fresh result must not meet this one in memory
        closed = map_tiles(closing_conv, stream, tile, halo_conv, counter, out=scratch).add_(group_input)
        del group_input
        stream, scratch = closed, (stream if tiled else None)
    features = map_tiles(model.body[-1], stream, tile, halo_conv, counter, out=scratch)
    del scratch
    features.add_(map_tiles(shallow_features, x, tile, halo_conv, counter, out=stream if tiled else None))
    del stream
    return map_tiles(model.upsample, features, upsampler_tile(model, tile), halo_pair, counter, scale=model.scale)


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
