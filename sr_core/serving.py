"""A served model: weights resolved once per choice, the engine that runs them, and their measured speed.

Why in sr_core: the app serves several choices (model x weights x precision) and announces long runs before they
start; the CLI resolves weights and builds an engine the same way. Both go through `ServedModel.load`, so the
weights note, the engine and the estimate mean the same everywhere.
"""
from __future__ import annotations

import logging
import platform
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch

from sr_core.engine import Upscaler
from sr_core.estimate import Throughput, estimate_seconds, learn_from_run, measure_throughput
from sr_core.precision import PRECISIONS
from sr_core.tiling import Cancelled
from sr_core.weights import DEFAULT_MODEL, LoadedWeights, load_weights, model_spec

log = logging.getLogger("sr_core.serving")

K = TypeVar("K")
V = TypeVar("V")

PROBE_SIDE = 96  # side of the square input timed once per model to estimate run times


def measure_speed(upscaler: Upscaler) -> Throughput | None:
    """Time a small run once per model, so long runs can be announced with an estimate."""
    try:
        return measure_throughput(upscaler, side=PROBE_SIDE)
    except Cancelled:  # the run that loaded the model was stopped: its stop is the caller's to report
        raise
    except RuntimeError as exc:  # e.g. ZeroGPU, where CUDA exists only inside spaces.GPU functions
        log.warning("speed probe failed, no time estimates: %s", exc)
        return None


def processor_name() -> str:
    """lscpu's model name and CPU count (the machine as its owner would name it, read when asked: a server's
    measurements name the processor they ran on), else what Python knows."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return platform.processor() or platform.machine()
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name:")]
    cores = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("CPU(s):")]
    name = names[0] if names else platform.machine()
    return f"{name}, {cores[0]} CPUs" if cores else name


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)})"
    return f"CPU ({torch.get_num_threads()} threads)"


@dataclass
class ServedModel:
    weights: LoadedWeights
    upscaler: Upscaler
    throughput: Throughput | None

    @classmethod
    def load(cls, spec: str | None, precision: str = "auto", device: str | None = None, measure: bool = True,
             hub_repo: str | None = None, hub_file: str | None = None, hub_revision: str | None = None) -> ServedModel:
        """Resolve `spec` (`sr_core.weights.load_weights`), build its engine and, when `measure`, time it once."""
        weights = load_weights(spec, hub_repo, hub_file, hub_revision)
        upscaler = Upscaler(weights.model, device, precision)
        return cls(weights, upscaler, measure_speed(upscaler) if measure else None)

    def estimate_s(self, width: int, height: int, tile: int, ensemble: bool) -> float | None:
        if self.throughput is None:
            return None
        return estimate_seconds(self.throughput, self.upscaler, height, width, tile, ensemble)

    def learn_speed(self, width: int, height: int, tile: int, ensemble: bool, seconds: float) -> None:
        """Replace the probe's figure by a real run's, once a run is at least as large as the probe. Without a
        probe (on ZeroGPU the GPU exists only inside a run) the first such run gives the first figure."""
        if width * height >= PROBE_SIDE**2:
            measured = self.throughput or Throughput(self.upscaler.device.type, torch.get_num_threads(), PROBE_SIDE, 0.0)
            self.throughput = learn_from_run(measured, self.upscaler, height, width, tile, ensemble, seconds)

    def summary(self) -> str:
        """One markdown line: the model, its size, where the weights came from, the device and the precision."""
        w = self.weights
        return (f"**{w.arch} ×{self.upscaler.scale}** · {w.n_params / 1e6:.2f} M parameters · weights: {w.source} · "
                f"{device_label(self.upscaler.device)} · precision: {self.upscaler.describe()}")


class ServedModels:
    """Each weights file (its `load_weights` spec) is loaded at most once per precision, when first used, whatever
    choice names it (SAFMN ignores the RCAN weights choice); loading is serialised so two requests never load
    twice."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str | None, str], ServedModel] = {}
        self._lock = threading.Lock()

    def get(self, weights: str, model: str = DEFAULT_MODEL, precision: str = "auto") -> ServedModel:
        spec = model_spec(model, weights)
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        with self._lock:
            if (spec, precision) not in self._loaded:
                served = ServedModel.load(spec, precision)
                if served.weights.note:  # the operator's details, for the log; visitors get plainer words
                    log.warning("weights: %s", served.weights.describe())
                self._loaded[spec, precision] = served
            return self._loaded[spec, precision]

    def peek(self, weights: str, model: str = DEFAULT_MODEL, precision: str = "auto") -> ServedModel | None:
        return self._loaded.get((model_spec(model, weights), precision))


class RecentResults(Generic[K, V]):
    """The last few results of a served model (enlargements, explanations), least recently stored dropped first;
    safe to share between request threads."""

    def __init__(self, size: int = 3) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, key: K, result: V) -> None:
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def keys(self) -> list[K]:
        """The keys kept, oldest first."""
        with self._lock:
            return list(self._items)

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._items.get(key)
