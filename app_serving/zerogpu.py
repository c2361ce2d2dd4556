"""Hugging Face ZeroGPU: a GPU is attached only while a function decorated with `spaces.GPU` runs, for as long as
it reserved; a reservation too short aborts the run and loses the visitor's work, one too long queues behind others.
"""
from __future__ import annotations

from collections.abc import Callable
from math import ceil

from PIL import Image

from app_serving.jobs import ENGINES, enlarged_size
from sr_core.engine import DEFAULT_TILE
from sr_core.weights import DEFAULT_MODEL

try:
    import spaces
except ImportError:
    spaces = None

ZEROGPU_DEFAULT_S = 60  # what spaces.GPU reserves when told nothing; used until a run has measured the speed
ZEROGPU_MARGIN = 2.0  # a shared GPU and a cold start can each slow a run; an aborted run loses the user's work
ZEROGPU_OVERHEAD_S = 10  # moving the model to the GPU and writing the PNGs, which the estimate does not count
ZEROGPU_MAX_S = 300


def on_gpu(duration: int | Callable[..., int]) -> Callable[[Callable], Callable]:
    """spaces.GPU(duration=...) on ZeroGPU (where `spaces` is importable), a no-op everywhere else. A callable
    duration gets the same arguments as the function it guards, and returns the seconds to reserve."""
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def upscale_gpu_seconds(image: str | None, tile: int = DEFAULT_TILE, ensemble: bool = False,
                        weights: str = "default", model: str = DEFAULT_MODEL, precision: str = "auto",
                        *_: object, **__: object) -> int:
    """Seconds of GPU to reserve for `upscale`: the run-time estimate for this photo and these options, doubled,
    plus a fixed overhead; ZeroGPU's default until the model's speed is known (a short reservation queues first)."""
    engine = ENGINES.peek(weights, model, precision)  # an fp32 run takes longer than a bf16 one
    try:
        with Image.open(image) as header:  # the size only: the pixels are decoded (and checked) by read_image
            width, height = enlarged_size(*header.size)
        estimate = engine.estimate_s(width, height, int(tile), bool(ensemble)) if engine else None
    except (OSError, TypeError, ValueError, AttributeError):
        estimate = None  # a bad upload: upscale itself reports it, the reservation does not matter
    if estimate is None:
        return ZEROGPU_DEFAULT_S
    return min(ZEROGPU_MAX_S, ceil(ZEROGPU_MARGIN * estimate + ZEROGPU_OVERHEAD_S))
