"""Model-agnostic machinery of exact tiled inference: progress, cancel, tile spans and `map_tiles`.

Each architecture's tiled forward (next to its network, `sr_core.models`) runs only its *local* operators tile
by tile, with a halo equal to their receptive-field radius, writes the results into whole-image buffers, and
computes its global operators (RCAN's attention pools, SAFMN's pooled levels) on those whole buffers. Transient
memory is bounded by the tile size; each tile's result equals the whole-image one up to float rounding (convs
may group their sums differently at other offsets, e.g. the engine's row-Winograd convs).
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import torch
from torch import nn


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


# The cancel flag of the run this context belongs to (`stops_on`): contextvars follow a request into the worker
# thread that serves it (Gradio's, via anyio) and into nothing else, so one run's flag never stops another's pass.
_RUN_CANCEL: ContextVar[CancelFlag | None] = ContextVar("sr_core_run_cancel", default=None)
_hooks_lock = threading.Lock()
_hooks_users = 0
_hooks_handle: torch.utils.hooks.RemovableHandle | None = None


def check_cancelled() -> None:
    """Raise Cancelled when the run this code belongs to (`stops_on`) has been told to stop; else nothing."""
    flag = _RUN_CANCEL.get()
    if flag is not None and flag.is_set():
        raise Cancelled("cancelled")


def _before_each_module(_module: nn.Module, _inputs: tuple) -> None:
    check_cancelled()


@contextmanager
def stops_on(flag: CancelFlag) -> Iterator[None]:
    """Every model pass run in this context stops between two steps once `flag` is set: the engine's tiled
    forward (its StepCounter reads the flag) and any other pass, between two modules (a global forward pre-hook,
    registered while at least one run is inside, that reads only its own context's flag). So an explanation's
    whole-photo pass, region passes, experiments, feature views and step-through all obey the one flag without
    each being handed it. Raises Cancelled out of the pass."""
    global _hooks_users, _hooks_handle
    token = _RUN_CANCEL.set(flag)
    with _hooks_lock:
        if _hooks_users == 0:
            _hooks_handle = nn.modules.module.register_module_forward_pre_hook(_before_each_module)
        _hooks_users += 1
    try:
        yield
    finally:
        with _hooks_lock:
            _hooks_users -= 1
            if _hooks_users == 0 and _hooks_handle is not None:
                _hooks_handle.remove()
                _hooks_handle = None
        _RUN_CANCEL.reset(token)


class StepCounter:
    """Counts tile steps, reports progress with an ETA, and honours a cancel flag between steps (the caller's,
    else the run's own, `stops_on`)."""

    def __init__(
        self,
        total: int,
        progress: Callable[[Progress], None] | None = None,
        cancel: CancelFlag | None = None,
    ) -> None:
        self.total, self.done = total, 0
        self.progress, self.cancel = progress, cancel
        self.run_cancel = _RUN_CANCEL.get()
        self.started = time.perf_counter()

    def step(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled")
        if self.run_cancel is not None and self.run_cancel.is_set():
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
