"""Forward hooks on a model that others may be running at the same time: they record (or change) only the pass
of the thread that registered them, and they are always removed afterwards.

Every architecture's capture and experiments use these, so that an experiment ("gates set to 1", "modulation set
to 1") is a real forward pass of the same model with one output replaced, never a re-implementation of it.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn


@contextmanager
def removed_after(handles: list[torch.utils.hooks.RemovableHandle]) -> Iterator[None]:
    """Hooks stay on the shared model only for the duration of the block."""
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def owner_thread() -> Callable[[], bool]:
    """A check that is true only in the calling thread: hooks record the forward pass of the thread that
    registered them, never another request's pass through the same model."""
    owner = threading.get_ident()
    return lambda: threading.get_ident() == owner


@contextmanager
def outputs_replaced(
    modules: list[nn.Module], replace: Callable[[int, torch.Tensor], torch.Tensor]
) -> Iterator[None]:
    """While inside, module i's output becomes replace(i, output), in this thread only."""
    mine = owner_thread()

    def hook(index: int):
        def on_output(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
            return replace(index, output) if mine() else None

        return on_output

    with removed_after([module.register_forward_hook(hook(i)) for i, module in enumerate(modules)]):
        yield


def stage_timing_hooks(
    timed: list[tuple[str, nn.Module]], mine: Callable[[], bool],
    seconds: dict[str, float], shapes: dict[str, tuple[int, ...]],
) -> list[torch.utils.hooks.RemovableHandle]:
    """Hooks that fill seconds[name] and shapes[name] (output shape) for every (name, module) in `timed`."""
    started: dict[str, float] = {}

    def on_start(name: str):
        def hook(_module: nn.Module, _inputs: tuple) -> None:
            if mine():
                started[name] = time.perf_counter()

        return hook

    def on_end(name: str):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            if mine():
                seconds[name] = time.perf_counter() - started[name]
                shapes[name] = tuple(output.shape)

        return hook

    handles = []
    for name, module in timed:
        handles.append(module.register_forward_pre_hook(on_start(name)))
        handles.append(module.register_forward_hook(on_end(name)))
    return handles
