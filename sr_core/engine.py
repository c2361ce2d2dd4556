"""The inference engine, `Upscaler`: device placement, the fastest CPU path, exact tiling, self-ensemble,
progress and cancel. What it knows of a model comes from the model's descriptor (`sr_core.models`)."""
from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from sr_core.models import architecture_of
from sr_core.precision import DTYPE_NAMES, describe_dtype, resolve_dtype, use_reduced_precision
from sr_core.tiling import Cancelled, CancelFlag, Progress, StepCounter
from sr_core.winograd import RowWinogradConv, use_row_winograd

ENSEMBLE_SIZE = 8
# Tile side used when the caller gives none (bench/README.md, 2-core EPYC, float32): for a 2000x1500
# input the full RCAN peaks at ~2.8 GB RSS (tile 512: ~3.0 GB, 1024: ~3.5, whole image: ~4.3), its halos
# add 2.8% of work, and tiles keep each layer's maps nearer the cache: at 512x512 on one thread, tiles of
# 128 and 256 both took 32 s, the whole image 39-40 s.
DEFAULT_TILE = 256
# On CUDA (fp16, no Winograd temporaries) bigger tiles cost little memory and save launches; unmeasured.
DEFAULT_TILE_CUDA = 1024

# The path probe (`choose_fastest`): one untimed and PROBE_ROUNDS timed runs of each candidate over the
# first PROBE_STEPS layer steps of the tiled forward on a PROBE_SIDE x PROBE_SIDE input, once per
# (device, model, precision, threads) in this process. Stopping after a few steps bounds the probe
# whatever the depth (the full RCAN has 213 steps; its blocks are alike), at a size where per-op overheads
# weigh no more than in a real tile. Full RCAN, one thread, setup included: 0.2 s in bf16, 0.5 s in fp32 (the whole model
# on a 32x32 probe: 1.3 s).
PROBE_SIDE = 48
PROBE_STEPS = 8
PROBE_ROUNDS = 4
# Another path replaces the first candidate (plain channels_last) only when its probe is this much faster:
# on the shared test machine repeated probes disagreed by a few percent, and a wrong switch costs more there.
PROBE_MARGIN = 0.05


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def idle_cpus(interval_s: float = 0.05) -> float | None:
    """How many of our CPUs other processes left idle over the last `interval_s` (Linux /proc/stat), else
    None. A container's CPU quota is not seen: there it is the host's idle share of our CPUs."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]  # user .. steal; guest is inside user
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(interval_s)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cpus * (idle1 - idle0) / max(total1 - total0, 1)


def cpu_threads_worth_using() -> int:
    """Intra-op threads for the next CPU run: one per idle CPU, at least 1, at most torch's setting.

    Why: torch's OpenMP threads spin-wait at the end of every op, so when another process holds one
    of the cores, every op waits for its preempted thread. On the shared 2-core test machine, with
    the other core busy, the full RCAN at 96x96 took 1.0 s on 1 thread and 3-66 s on 2 (bench/README.md).
    """
    idle = idle_cpus()
    limit = torch.get_num_threads()
    return limit if idle is None else max(1, min(limit, round(idle)))


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/transposes used by self-ensemble ("RCAN+")."""
    if k & 1:
        x = x.flip(-1)
    if k & 2:
        x = x.flip(-2)
    if k & 4:
        x = x.transpose(-1, -2)
    return x


def dihedral_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    if k & 4:
        x = x.transpose(-1, -2)
    if k & 2:
        x = x.flip(-2)
    if k & 1:
        x = x.flip(-1)
    return x


# Execution paths the CPU engine chooses between by timing them (`choose_fastest`):
# direct convs in channels_last, direct convs in NCHW, and channels_last with row-Winograd 3x3 convs
# (float32 only: its transforms would round to bf16's 8 bits in bf16).
CHANNELS_LAST, NCHW, ROW_WINOGRAD = "channels_last", "nchw", "row_winograd"
# The choice for each (device, model, precision, threads), measured once per process. Not kept on disk:
# a choice timed while another job held a core would outlive that job, and a probe costs a fraction of a second.
PATH_CHOICES: dict[tuple, str] = {}


def choose_fastest(names: list[str], time_one: Callable[[str], float], rounds: int = PROBE_ROUNDS,
                   margin: float = PROBE_MARGIN) -> tuple[str, dict[str, float]]:
    """The fastest candidate, and each one's best time.

    Each runs once untimed (first-call setup: oneDNN primitives, layout conversions), then `rounds`
    interleaved rounds, in alternating order, so a load that comes and goes hits all alike; a shared
    machine's other jobs only ever slow a run down, hence the minimum. The first name is the default:
    another wins only when it is faster by more than `margin` (a fraction); among those, the fastest.
    """
    for name in names:
        time_one(name)
    best = {name: float("inf") for name in names}
    for round_ in range(rounds):
        for name in (names if round_ % 2 == 0 else names[::-1]):
            best[name] = min(best[name], time_one(name))
    fastest = min(names, key=lambda name: best[name])
    return (fastest if best[fastest] < best[names[0]] * (1 - margin) else names[0]), best


class NonFiniteOutput(ValueError):
    """The model produced NaN or infinite values: its weights are broken (or fp16 overflowed); nothing is written."""


def image_tensor(rgb: np.ndarray, value_range: float = 1.0) -> torch.Tensor:
    """An HxWx3 image in [0, 1] as the 1x3xHxW float32 tensor a model takes, in its value range (its descriptor's
    `value_range`: 255 for RCAN's, 1 for SAFMN's). The one conversion every model run uses."""
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None] * value_range


def tensor_image(output: torch.Tensor, value_range: float = 1.0) -> np.ndarray:
    """A model's output (1x3xHxW or 3xHxW, in its value range) as an HxWx3 float32 image in [0, 1], clipped."""
    out = output[0] if output.dim() == 4 else output
    return (out.float() / value_range).clamp_(0.0, 1.0).permute(1, 2, 0).cpu().numpy()


class Upscaler:
    """Runs a super-resolution model on float images in [0, 1].

    The engine works on its own copy of the model, in the `precision` asked for (`sr_core.precision`:
    `auto` is bf16 on CPUs with native bf16, fp16 on CUDA, else fp32). CUDA runs the whole model in
    its dtype with channels_last and cuDNN's autotuner. On the CPU, bf16 computes the wide convs in bf16
    and keeps everything between them (the residual stream, attention, norms) in float32
    (`ReducedPrecisionConv`); it runs on as many threads as there are idle CPUs (`cpu_threads_worth_using`),
    and in fp32 the first run for each thread count times the candidate paths on a small probe and keeps
    the fastest (`choose_fastest`; rules tuned on one CPU lost on the next); bf16 has one path. Every pass goes through
    the layer-wise tiled forward, so progress, cancel and bounded memory work the same whatever the tile
    size, and tiling is exact within each precision.
    """

    def __init__(self, model: nn.Module, device: str | None = None, precision: str = "auto") -> None:
        self.device = torch.device(device or default_device())
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but torch sees no CUDA device")
        self.arch = architecture_of(model)
        # What the heavy convs compute in, among the precisions the architecture runs in on this device.
        self.dtype = resolve_dtype(precision, self.device, self.arch.precisions.get(self.device.type))
        self.not_reduced = ""  # the reduced precision asked for when the model had no conv to run in it
        model = copy.deepcopy(model).eval()  # the caller's model stays as it was
        self.candidates = [CHANNELS_LAST]
        if self.device.type == "cuda":
            # Measured on an H200 for the plain fp16 forward: 42.9 -> 40.8 ms (bench/gpu_variants.py);
            # unmeasured in the engine. The autotuner reruns once per new tile shape.
            torch.backends.cudnn.benchmark = True
            model = model.to(self.device, self.dtype)
            self.io_dtype = self.dtype
        else:
            model = model.float()
            if self.dtype != torch.float32 and use_reduced_precision(model, self.dtype) == 0:
                # Nothing wide enough to reduce (a tiny model): everything runs fp32, and the info line says so.
                self.not_reduced = DTYPE_NAMES[self.dtype]
                self.dtype = torch.float32
            if self.dtype == torch.float32:
                # fp32 paths agree to ~1e-4 of a level, so a timed choice cannot change the picture. In bf16,
                # NCHW and channels_last round differently (up to 3 levels apart on a random SAFMN, across two
                # processes that chose differently), so bf16 keeps one path: channels_last, which the probe
                # preferred in every bf16 run measured here (bench/README.md).
                self.candidates.append(NCHW)
                if use_row_winograd(model) > 0:
                    self.candidates.append(ROW_WINOGRAD)
            self.io_dtype = torch.float32
        self.model = model
        self.path = ""
        self._use_path(CHANNELS_LAST)
        self.scale: int = model.scale
        self.value_range = float(self.arch.value_range)  # the model's pixels: 0..255 for RCAN, 0..1 for SAFMN
        self.default_tile = DEFAULT_TILE_CUDA if self.device.type == "cuda" else DEFAULT_TILE
        # CPU intra-op threads per run; None: `cpu_threads_worth_using()` when each run starts.
        self.threads: int | None = None
        # The last path probe run by this engine: its wall time and each candidate's best time (s).
        self.probe_s = 0.0
        self.probe_times: dict[str, float] = {}

    @property
    def precision(self) -> str:
        """Which precision runs: "fp32", "bf16" or "fp16"."""
        return DTYPE_NAMES[self.dtype]

    def describe(self) -> str:
        """For info lines: precision and path, e.g. "bf16 (native: avx512_bf16), channels_last"."""
        asked = f" ({self.not_reduced} asked: no conv is wide enough)" if self.not_reduced else ""
        return f"{describe_dtype(self.dtype, self.device)}{asked}, {self.path}"

    def _use_path(self, name: str) -> None:
        if name == self.path:
            return
        self.model.to(memory_format=torch.contiguous_format if name == NCHW else torch.channels_last)
        for conv in self.model.modules():
            if isinstance(conv, RowWinogradConv):
                conv.active = name == ROW_WINOGRAD
        self.path = name

    def _path_key(self, threads: int) -> tuple:
        return (self.device.type, type(self.model).__name__, repr(self.model.config), self.precision, threads)

    def _choose_path(self, threads: int) -> None:
        """Use the fastest candidate for this thread count, timing them all on the probe the first time."""
        key = self._path_key(threads)
        if len(self.candidates) == 1:
            PATH_CHOICES[key] = self.candidates[0]
        if key not in PATH_CHOICES:
            started = time.perf_counter()
            probe = torch.rand(1, 3, PROBE_SIDE, PROBE_SIDE, generator=torch.Generator().manual_seed(0))
            probe = probe.mul_(self.value_range).to(self.device, self.io_dtype)
            PATH_CHOICES[key], self.probe_times = choose_fastest(
                self.candidates, lambda name: time_candidate(self, name, probe))
            self.probe_s = time.perf_counter() - started
        self._use_path(PATH_CHOICES[key])

    def forward_once(self, x: torch.Tensor, tile: int, counter: StepCounter) -> torch.Tensor:
        """One tiled pass over NCHW `x` (in the model's range) on the current path."""
        x = x.to(self.device, self.io_dtype)
        if self.path != NCHW:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.arch.tiled_forward(self.model, x, tile, counter)

    def steps(self, height: int, width: int, tile: int | None, ensemble: bool) -> int:
        tile = tile or self.default_tile
        return self.arch.tiled_steps(self.model, height, width, tile) * (ENSEMBLE_SIZE if ensemble else 1)

    @torch.inference_mode()
    def upscale_tensor(
        self,
        x: torch.Tensor,
        tile: int | None = None,
        ensemble: bool = False,
        progress: Callable[[Progress], None] | None = None,
        cancel: CancelFlag | None = None,
    ) -> torch.Tensor:
        """NCHW in the model's range (0..255) -> enlarged NCHW float32 in the same range, unclipped.

        `tile` None means the device's default tile; every tile size gives the same result up to float rounding.
        """
        _, _, height, width = x.shape
        if tile is not None and tile < 8:
            raise ValueError(f"tile size must be at least 8 pixels, got {tile}")
        if min(height, width) < self.arch.min_side:
            raise ValueError(f"{self.arch.name} needs at least {self.arch.min_side} pixels per side, "
                             f"got {width}x{height}")
        tile = tile or self.default_tile
        views = range(ENSEMBLE_SIZE) if ensemble else range(1)
        total: torch.Tensor | None = None
        with self._cpu_threads():
            counter = StepCounter(self.steps(height, width, tile, ensemble), progress, cancel)  # after the probe
            for k in views:
                out = dihedral_inverse(self.forward_once(dihedral(x, k), tile, counter), k).float()
                total = out if total is None else total.add_(out)
        assert total is not None
        if not torch.isfinite(total).all():  # an all-black PNG with exit 0 would hide a broken checkpoint
            raise NonFiniteOutput("the model produced NaN or infinite values; its weights are broken, nothing was written")
        return total.div_(len(views))

    @contextlib.contextmanager
    def _cpu_threads(self) -> Iterator[None]:
        if self.device.type != "cpu":
            yield
            return
        previous = torch.get_num_threads()
        threads = self.threads or cpu_threads_worth_using()
        torch.set_num_threads(threads)
        try:
            self._choose_path(threads)
            yield
        finally:
            torch.set_num_threads(previous)

    @torch.inference_mode()
    def upscale(
        self,
        rgb: np.ndarray,
        tile: int | None = None,
        ensemble: bool = False,
        progress: Callable[[Progress], None] | None = None,
        cancel: CancelFlag | None = None,
    ) -> np.ndarray:
        """HxWx3 float32 in [0, 1] -> (sH)x(sW)x3 float32 in [0, 1]."""
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
        out = self.upscale_tensor(image_tensor(rgb, self.value_range), tile, ensemble, progress, cancel)
        return tensor_image(out, self.value_range)

    def upscale_uint8(self, lr: np.ndarray, ensemble: bool = False) -> np.ndarray:
        """uint8 RGB -> uint8 RGB rounded half up: what the paper's protocol scores (sr_core.protocol.evaluate)."""
        out = self.upscale(lr.astype(np.float32) / 255.0, ensemble=ensemble)
        return np.floor(out * 255.0 + 0.5).astype(np.uint8)


def time_candidate(upscaler: Upscaler, name: str, probe: torch.Tensor) -> float:
    """Seconds for the first PROBE_STEPS steps of a probe pass on path `name` (tests replace this to inject
    timings). The pass is stopped through the tiled forward's own cancel check between two steps; a stop of the
    run it belongs to (`sr_core.tiling.stops_on`) ends the probe, and the run, at once."""
    upscaler._use_path(name)
    stop = threading.Event()

    def stop_after_enough(done: Progress) -> None:
        if done.done >= PROBE_STEPS:
            stop.set()

    counter = StepCounter(upscaler.steps(probe.shape[2], probe.shape[3], PROBE_SIDE, False), stop_after_enough, stop)
    started = time.perf_counter()
    try:
        upscaler.forward_once(probe, PROBE_SIDE, counter)
    except Cancelled:
        if not stop.is_set():  # the run was stopped (nobody waits), not the probe: the run ends here
            raise
    return time.perf_counter() - started
