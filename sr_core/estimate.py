"""Run-time estimates from measured throughput, so long runs can be announced before they start.

The engine runs every image as tiles of one size (`Upscaler.default_tile` unless the caller picks
one), and its cost per pixel depends on that size: how much of a layer's maps stay in cache, and how
the fixed per-step costs (Python, op launches) compare with the arithmetic. So the throughput is
measured on the device itself with a probe of exactly one tile, and the estimate scales it by the
pixels a run computes: the image's, plus the halos tiling adds (the architecture's `halo`), times 8 for
self-ensemble.
bench/estimate_error.py shows the error against real runs.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from sr_core.engine import ENSEMBLE_SIZE, Upscaler
from sr_core.tiling import tile_spans


@dataclass(frozen=True)
class Throughput:
    device: str
    threads: int  # CPU intra-op threads when measured
    probe_side: int  # the square probe's side, normally one tile
    seconds_per_pixel: float  # per pixel computed in one pass, halos included


def work_pixels(height: int, width: int, tile: int, halo: int) -> int:
    """Pixels a tiled pass computes: every tile with its halo, clipped at the image border."""
    def covered(length: int) -> int:
        return sum(min(end + halo, length) - max(start - halo, 0) for start, end in tile_spans(length, tile))

    return covered(height) * covered(width)


def measure_throughput(upscaler: Upscaler, side: int | None = None, repeats: int = 2) -> Throughput:
    """Seconds per pixel of an untiled square probe, by default exactly one default tile.

    Takes the median of `repeats` timed runs after one untimed run (oneDNN builds its kernels once per
    new shape): on a shared machine the estimate should predict a typical run, not the best one.
    Images smaller than the probe carry relatively more fixed per-step cost than it does, so their
    estimates run short; they are the quick ones.
    """
    side = side or upscaler.default_tile
    if not 8 <= side <= upscaler.default_tile:
        raise ValueError(f"the probe side must be between 8 and one tile ({upscaler.default_tile}), got {side}")
    rgb = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    upscaler.upscale(rgb)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        upscaler.upscale(rgb)
        if upscaler.device.type == "cuda":
            torch.cuda.synchronize(upscaler.device)
        times.append(time.perf_counter() - start)
    return Throughput(upscaler.device.type, torch.get_num_threads(), side, statistics.median(times) / side**2)


def estimate_seconds(
    throughput: Throughput,
    upscaler: Upscaler,
    height: int,
    width: int,
    tile: int | None = None,
    ensemble: bool = False,
) -> float:
    """Predicted seconds for `upscaler.upscale` of an HxW image with this tile size and ensemble choice."""
    passes = ENSEMBLE_SIZE if ensemble else 1
    return passes * work_pixels(height, width, tile or upscaler.default_tile, upscaler.arch.halo) * throughput.seconds_per_pixel


def learn_from_run(
    throughput: Throughput,
    upscaler: Upscaler,
    height: int,
    width: int,
    tile: int | None,
    ensemble: bool,
    seconds: float,
) -> Throughput:
    """The throughput a finished run showed, for the next estimates (load on a shared machine drifts)."""
    passes = ENSEMBLE_SIZE if ensemble else 1
    per_pixel = seconds / (passes * work_pixels(height, width, tile or upscaler.default_tile, upscaler.arch.halo))
    return replace(throughput, seconds_per_pixel=per_pixel)


def format_duration(seconds: float) -> str:
    """An estimate or a run time as a person says it: "4.2 s", "35 s", "3 min 05 s", "1 h 02 min"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
