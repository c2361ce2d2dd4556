"""The inference engine: device placement, fast CPU convolutions, exact tiling, self-ensemble, progress and cancel."""
from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sr_core.precision import DTYPE_NAMES, describe_dtype, resolve_dtype
from sr_core.tiling import Cancelled, CancelFlag, Progress, StepCounter, tiled_forward_for

ENSEMBLE_SIZE = 8
# Tile side used when the caller gives none (bench/README.md, 2-core EPYC, float32): for a 2000x1500
# input the full RCAN peaks at ~2.8 GB RSS (tile 512: ~3.0 GB, 1024: ~3.5, whole image: ~4.3), its halos
# add 2.8% of work, and tiles keep each layer's maps nearer the cache: at 512x512 on one thread, tiles of
# 128 and 256 both took 32 s, the whole image 39-40 s.
DEFAULT_TILE = 256
# On CUDA (fp16, no Winograd temporaries) bigger tiles cost little memory and save launches; unmeasured.
DEFAULT_TILE_CUDA = 1024

# Winograd F(4,3), Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016,
# arXiv 1509.09308), interpolation points 0, +-1, +-2, infinity: 4 outputs of a 3-tap filter from 6 inputs.
WINOGRAD_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
               (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
WINOGRAD_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
              (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
WINOGRAD_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
WINOGRAD_MIN_CHANNELS = 32  # below this the grouped conv is too thin to pay for the transforms
# Rows are transformed and convolved in strips of about this much input, so the transformed rows (1.5x)
# stay in cache: at 160x160, 1 MiB strips ran the full model in 2.9 s, whole maps in 5.2 s (direct: 3.7 s).
WINOGRAD_STRIP_BYTES = 1 << 20
# A conv computes in bf16 when each output sums at least this many input channels and it has at least
# this many outputs: the thin ones (the 3 -> C head, the C -> 3 output conv, SAFMN's depthwise convs,
# the attention's bottleneck) are a sliver of the work, and the output conv in bf16 would round the
# image itself to 8 significant bits (up to half a level).
REDUCED_MIN_CHANNELS = 32
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


class RowWinogradConv(nn.Module):
    """A 3x3 conv (stride 1, zero padding 1): Winograd F(4,3) vertically, 4 output rows at a time, and
    3 direct taps horizontally; or the original conv while `active` is False.

    Why: on this CPU oneDNN's direct 3x3 conv already runs near the FMA peak, and torch's fp32 GEMMs
    (MKL) run at half its speed, so a 2-D Winograd built on batched matmuls loses. In one direction,
    F(4,3) turns the conv into one grouped conv (6 groups, 1x3 kernels) that oneDNN runs about as fast
    as the 3x3 one, with 6 * 3 / 4 = 4.5 instead of 9 multiply-adds per output and input channel; both
    transforms are single large GEMMs over whole rows (6x6 and 4x6 matrices) plus one transpose each.
    The transforms are memory-bound and scale worse with threads than the conv: on one thread the
    full model ran 1.36x faster than the plain forward, on two only 1.15x, where channels_last direct
    convs reach 1.27x; hence the switch (the engine times both, `choose_fastest`). The float32 error is a few times
    that of the direct conv (tests/test_engine.py, bench/README.md).
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not is_winograd_candidate(conv):
            raise ValueError(f"not a dense 3x3 stride-1 padding-1 conv: {conv}")
        k, c = conv.out_channels, conv.in_channels
        g = torch.tensor(WINOGRAD_G, dtype=torch.float64)
        # U[a] = G w down the kernel's rows: point a, output k, input c, kernel column j.
        u = torch.einsum("ai,kcij->akcj", g, conv.weight.detach().cpu().double())
        weight = u.reshape(6 * k, c, 1, 3).float().contiguous(memory_format=torch.channels_last)
        bias = torch.zeros(6, k)
        if conv.bias is not None:
            bias[1] = conv.bias.detach().cpu()  # column 1 of A^T is all ones: the bias reaches every output once
        device = conv.weight.device
        self.register_buffer("weight", weight.to(device))
        self.register_buffer("bias", bias.reshape(-1).to(device))
        self.register_buffer("bt", torch.tensor(WINOGRAD_BT, dtype=torch.float32, device=device))
        self.register_buffer("at", torch.tensor(WINOGRAD_AT, dtype=torch.float32, device=device))
        self.out_channels = k
        self.conv = conv
        self.active = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return self.conv(x)
        n, c, h, w = x.shape
        tiles = -(-h // 4)
        padded = x.new_empty(n, 4 * tiles + 2, w, c)  # NHWC, one zero row on top, the rest below
        padded[:, :1].zero_()
        padded[:, h + 1 :].zero_()
        padded[:, 1 : h + 1].copy_(x.permute(0, 2, 3, 1))
        y = x.new_empty(n, tiles, 4, w * self.out_channels)  # tile t's output rows 4t .. 4t+3
        per_strip = max(1, WINOGRAD_STRIP_BYTES // (4 * w * c * x.element_size()))
        for i in range(n):
            for t0 in range(0, tiles, per_strip):
                t1 = min(t0 + per_strip, tiles)
                self._strip(padded[i, 4 * t0 :], t1 - t0, out=y[i, t0:t1])
        return y.view(n, 4 * tiles, w, self.out_channels)[:, :h].permute(0, 3, 1, 2)  # channels_last

    def _strip(self, padded: torch.Tensor, tiles: int, out: torch.Tensor) -> None:
        """`tiles` Winograd tiles of 4 output rows each from `padded` (rows, w, c), independent of
        the others: the transforms carry the vertical taps, the grouped conv only looks sideways."""
        _, w, c = padded.shape
        k = self.out_channels
        rows = padded.as_strided((tiles, 6, w * c), (4 * w * c, w * c, 1))  # tile t reads rows 4t .. 4t+5
        v = torch.matmul(self.bt, rows).view(tiles, 6, w, c).transpose(1, 2).contiguous()
        m = F.conv2d(v.view(1, tiles, w, 6 * c).permute(0, 3, 1, 2), self.weight, self.bias,
                     padding=(0, 1), groups=6)  # channels_last: (tiles, w, 6 * k) in memory
        m = m.permute(0, 2, 3, 1).reshape(tiles, w, 6, k).transpose(1, 2).contiguous()
        torch.matmul(self.at, m.view(tiles, 6, w * k), out=out)


def is_winograd_candidate(module: nn.Module) -> bool:
    return (
        isinstance(module, nn.Conv2d)
        and module.kernel_size == (3, 3) and module.stride == (1, 1) and module.padding == (1, 1)
        and module.dilation == (1, 1) and module.groups == 1 and module.padding_mode == "zeros"
        and min(module.in_channels, module.out_channels) >= WINOGRAD_MIN_CHANNELS
        and module.in_channels == module.out_channels  # a wide conv (the upsampler's) would need huge temporaries
    )


def use_row_winograd(model: nn.Module) -> int:
    """Swap every wide 3x3 conv of `model` (in place) for its `RowWinogradConv`; returns how many."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if is_winograd_candidate(child):
                setattr(parent, name, RowWinogradConv(child))
                swapped += 1
    return swapped



class ReducedPrecisionConv(nn.Module):
    """A conv that computes in a reduced dtype (bf16) while its input and output stay float32.

    Why: the residual stream of RCAN (and SAFMN) is summed over hundreds of blocks; kept in bf16 it
    collects a rounding per block. Against the fp32 engine on the example photos
    (bench/precision_fidelity.py): full RCAN (random weights, 96x96 crops) all-bf16 50.3-56.5 dB, this
    design 57.0-64.2 dB; bundled RCAN 59-62 -> 72-78 dB; for about 2.5% (full) and 10% (bundled) more
    time (bench/README.md). The casts are elementwise passes over maps a conv has just written.
    """

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype) -> None:
        super().__init__()
        self.conv = conv.to(dtype)
        self.dtype = dtype
        # True when a ReLU and another reduced conv follow: the map between them stays reduced, which gives
        # the same numbers (ReLU is exact, bf16 -> fp32 -> bf16 too) without two casts (`keep_reduced_between`).
        self.reduced_output = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x.to(self.dtype))
        return y if self.reduced_output else y.float()


def is_reducible(module: nn.Module) -> bool:
    """A conv wide enough to compute in bf16 (see REDUCED_MIN_CHANNELS)."""
    return isinstance(module, nn.Conv2d) and min(module.in_channels // module.groups,
                                                 module.out_channels) >= REDUCED_MIN_CHANNELS


def precision_that_runs(model: nn.Module, precision: str, device: torch.device) -> str:
    """What `Upscaler(model, device, precision)` computes in: a reduced CPU precision falls back to fp32 when no
    conv of `model` is wide enough for it."""
    dtype = resolve_dtype(precision, device)
    if device.type == "cpu" and dtype != torch.float32 and not any(is_reducible(m) for m in model.modules()):
        return "fp32"
    return DTYPE_NAMES[dtype]


def use_reduced_precision(model: nn.Module, dtype: torch.dtype) -> int:
    """Swap every wide conv of `model` (`is_reducible`) for a `ReducedPrecisionConv`."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if is_reducible(child):
                setattr(parent, name, ReducedPrecisionConv(child, dtype))
                swapped += 1
    keep_reduced_between(model)
    return swapped


def keep_reduced_between(model: nn.Module) -> None:
    """In every conv-ReLU-conv run of reduced convs (RCAN's blocks), let the first one output bf16."""
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            layers = list(seq)
            for first, relu, second in zip(layers, layers[1:], layers[2:]):
                if (isinstance(first, ReducedPrecisionConv) and isinstance(relu, nn.ReLU)
                        and isinstance(second, ReducedPrecisionConv)):
                    first.reduced_output = True


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


class Upscaler:
    """Runs a super-resolution model on float images in [0, 1].

    The engine works on its own copy of the model, in the `precision` asked for (`sr_core.precision`:
    `auto` is bf16 on CPUs with native bf16, fp16 on CUDA, else fp32). CUDA runs the whole model in
    its dtype with channels_last and cuDNN's autotuner. On the CPU, bf16 computes the wide convs in bf16
    and keeps everything between them (the residual stream, attention, norms) in float32
    (`ReducedPrecisionConv`); it runs on as many threads as there are idle CPUs (`cpu_threads_worth_using`),
    and in fp32 the first run for each thread count times the candidate paths on a small probe and keeps
    the fastest (`choose_fastest`; rules tuned on one CPU lost on the next, issue 15); bf16 has one path. Every pass goes through
    the layer-wise tiled forward, so progress, cancel and bounded memory work the same whatever the tile
    size, and tiling is exact within each precision.
    """

    def __init__(self, model: nn.Module, device: str | None = None, precision: str = "auto") -> None:
        self.device = torch.device(device or default_device())
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but torch sees no CUDA device")
        self.dtype = resolve_dtype(precision, self.device)  # what the heavy convs compute in
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
        self.tiled = tiled_forward_for(model)
        self.scale: int = model.scale
        # The model's pixel range: 255 for RCAN (as the official code), 1 for models without rgb_range.
        self.value_range = float(getattr(model.config, "rgb_range", 1.0))
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
        return self.tiled.forward(self.model, x, tile, counter)

    def steps(self, height: int, width: int, tile: int | None, ensemble: bool) -> int:
        tile = tile or self.default_tile
        return self.tiled.steps(self.model, height, width, tile) * (ENSEMBLE_SIZE if ensemble else 1)

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
        x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
        out = self.upscale_tensor(x * self.value_range, tile, ensemble, progress, cancel)
        out = out.div_(self.value_range).clamp_(0.0, 1.0)  # in place: the output is the largest array here
        return out[0].permute(1, 2, 0).cpu().numpy()

    def upscale_uint8(self, lr: np.ndarray, ensemble: bool = False) -> np.ndarray:
        """uint8 RGB -> uint8 RGB rounded half up: what the paper's protocol scores (sr_core.evaluate)."""
        out = self.upscale(lr.astype(np.float32) / 255.0, ensemble=ensemble)
        return np.floor(out * 255.0 + 0.5).astype(np.uint8)


def time_candidate(upscaler: Upscaler, name: str, probe: torch.Tensor) -> float:
    """Seconds for the first PROBE_STEPS steps of a probe pass on path `name` (tests replace this to inject
    timings). The pass is stopped through the tiled forward's own cancel check between two steps."""
    upscaler._use_path(name)
    stop = threading.Event()

    def stop_after_enough(done: Progress) -> None:
        if done.done >= PROBE_STEPS:
            stop.set()

    counter = StepCounter(upscaler.steps(probe.shape[2], probe.shape[3], PROBE_SIDE, False), stop_after_enough, stop)
    started = time.perf_counter()
    with contextlib.suppress(Cancelled):
        upscaler.forward_once(probe, PROBE_SIDE, counter)
    return time.perf_counter() - started
