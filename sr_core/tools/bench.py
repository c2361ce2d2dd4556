"""Speed and agreement of the engine against a plain reference (`python -m sr_core bench`).

The reference runs the same model as RCAN's official test code does: float32, NCHW, whole
image, `torch.no_grad`, whatever precision the engine runs in. The engine is
`sr_core.engine.Upscaler` (its own copy of the same weights, in the precision asked for).
Both run in one process on the same photo-like input, with denormals flushed and the same thread count, chosen before each round from the idle CPUs (on a shared machine a busy core
makes multi-threaded runs vary 100-fold); one untimed run warms each up, then they alternate
(ABBA order, so a drifting load hits both alike) and the medians are compared.
"""
from __future__ import annotations

import copy
import math
import resource
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from sr_core.engine import Upscaler, cpu_threads_worth_using
from sr_core.models.rcan import RCAN, RCANConfig


@dataclass
class BenchResult:
    device: str
    size: int
    reference_s: float  # median
    engine_s: float  # median
    speedup: float  # reference_s / engine_s
    max_abs_diff: float  # in 8-bit levels, outputs clipped to 0..255
    psnr: float  # engine vs reference, dB
    gflops: float  # the reference's conv FLOPs / engine time (the engine may do fewer)
    peak_gflops: float  # the best of matmul_gflops and conv_gflops, in the engine's precision
    peak_mem_mb: float  # CPU: process peak RSS once the engine has run; CUDA: peak allocated by the engine
    matmul_gflops: float  # large square matmul in the engine's dtype
    conv_gflops: float  # large 64 -> 64 3x3 conv in the engine's dtype and layout
    reference_min_s: float
    engine_min_s: float
    threads: list[int]  # torch intra-op threads in each timed round, the same for both
    output_std: float  # of the reference output in 8-bit levels: a constant output would hide differences
    precision: str  # what the engine computed in: "fp32", "bf16" or "fp16"
    psnr_db: float  # the same as `psnr` (engine vs the fp32 reference), under the name the fidelity contract uses
    path: str  # the execution path the engine chose (`sr_core.engine.choose_fastest`)
    probe_s: float  # what choosing it cost the first run (0 when the choice was already made)
    probe_times: dict[str, float]  # each candidate's best probe time, s
    plain_s: float  # median of the plain forward `model(x)` in the engine's dtype, channels_last, whole image
    plain_min_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def random_rcan(config: RCANConfig = RCANConfig(), seed: int = 0) -> RCAN:
    """RCAN with random weights whose output looks like an image, for benchmarks and agreement checks.

    PyTorch's default init shrinks the signal in every conv, so a random full RCAN outputs an almost
    constant image and any engine "agrees" with it. Here each conv keeps the signal's scale (He init
    before a ReLU, 1/fan_in elsewhere), the residual branches are damped so that the stream grows only
    a few times over the whole depth, and the channel attention gets gates spread around 0.5.
    """
    generator = torch.Generator().manual_seed(seed)
    model = RCAN(config).eval()

    def init(conv: nn.Conv2d, gain: float) -> None:
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * math.sqrt(gain / fan_in))
        conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator) * 0.01)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and module.weight.requires_grad:  # MeanShift stays fixed
                init(module, 1.0)
        init(model.tail[-1], 0.5)  # output spread ~45 levels around the mean, little clipping
        for group in list(model.body)[:-1]:
            *blocks, closing_conv = list(group.body)
            init(closing_conv, 1.0 / config.n_resgroups)
            for block in blocks:
                init(block.body[0], 2.0)
                init(block.body[2], 2.0 / (config.n_resgroups * config.n_resblocks))
                init(block.body[3].conv_du[0], 1.0)
                init(block.body[3].conv_du[2], 1.0)
    return model


def bench_image(size: int, seed: int = 0) -> torch.Tensor:
    """A deterministic photo-like test input in 0..255, (1, 3, size, size): smooth shading, hard edges,
    fine texture and a little noise, so every part of the network sees realistic statistics."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    channels = []
    for c in range(3):
        shading = 0.35 + 0.3 * x * (c + 1) / 3 + 0.2 * y * (3 - c) / 3
        disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.06).astype(np.float32) * (0.3 - 0.15 * c)
        bar = ((x > 0.15) & (x < 0.3)).astype(np.float32) * (0.25 * (c - 1))
        texture = 0.08 * np.sin(40 * x + 25 * y + c) * np.sin(30 * y)
        channels.append(shading + disc + bar + texture)
    img = np.stack(channels) + rng.normal(0, 0.01, (3, size, size)).astype(np.float32)
    return torch.from_numpy(np.clip(img, 0, 1) * 255.0)[None].float()


def conv_flops(model: nn.Module, height: int, width: int) -> float:
    """FLOPs (2 x multiply-adds) of every conv for an HxW input, counted with hooks on a small probe.

    Every conv here keeps its spatial size, so the count scales exactly with the input area.
    """
    probe = 8
    total = [0.0]

    def hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        k = module.kernel_size[0] * module.kernel_size[1]
        total[0] += 2.0 * output.numel() * (module.in_channels // module.groups) * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    param = next(model.parameters())
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, probe, probe, device=param.device, dtype=param.dtype))
    finally:
        for handle in handles:
            handle.remove()
    return total[0] * height * width / (probe * probe)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_rate(fn, flops: float, device: torch.device, runs: int = 5) -> float:
    """GFLOP/s of the fastest of a few runs (a shared machine's other jobs only ever slow a run down)."""
    fn()
    best = math.inf
    for _ in range(runs):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


@torch.no_grad()
def matmul_peak_gflops(device: torch.device, dtype: torch.dtype) -> float:
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    return best_rate(lambda: a @ b, 2.0 * n**3, device)


@torch.no_grad()
def conv_peak_gflops(device: torch.device, dtype: torch.dtype) -> float:
    """A large 64 -> 64 3x3 conv, channels_last: on CPUs where the BLAS runs a narrower code path than
    oneDNN (MKL on AMD uses AVX2, oneDNN AVX-512), this is the faster of the two "peaks"."""
    side, c = (512 if device.type == "cuda" else 128), 64
    x = torch.randn(1, c, side, side, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    conv = nn.Conv2d(c, c, 3, padding=1).to(device, dtype).to(memory_format=torch.channels_last)
    return best_rate(lambda: conv(x), 2.0 * side * side * c * c * 9, device)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def timed(fn, device: torch.device) -> tuple[float, torch.Tensor]:
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return time.perf_counter() - start, out


def run_bench(model: nn.Module, size: int, device: str, tile: int | None = None, repeats: int = 3,
              precision: str = "auto") -> BenchResult:
    dev = torch.device(device)
    threads = torch.get_num_threads()
    torch.set_flush_denormal(True)  # denormal arithmetic is slow on x86 and would be measured instead
    try:
        return _run_bench(model, size, dev, tile, repeats, precision)
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)


def _run_bench(model: nn.Module, size: int, dev: torch.device, tile: int | None, repeats: int,
               precision: str) -> BenchResult:
    x = bench_image(size)
    reference = model.float().to(dev).eval()
    reference_input = x.to(dev)

    def run_reference() -> torch.Tensor:
        with torch.no_grad():
            return reference(reference_input)

    def run_engine() -> torch.Tensor:
        return engine.upscale_tensor(x, tile=tile)

    def run_plain() -> torch.Tensor:
        with torch.no_grad():
            return plain(plain_input)

    def use_threads() -> int:
        """Both run on the same threads, as many as there are idle CPUs right now (see
        `cpu_threads_worth_using`): with a busy core, 2 threads vary 100-fold from run to run."""
        count = cpu_threads_worth_using() if dev.type == "cpu" else torch.get_num_threads()
        torch.set_num_threads(count)
        engine.threads = count
        return count

    engine = Upscaler(model, str(dev), precision)  # its own copy of the same weights, in its dtype and layout
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    use_threads()
    eng_out = run_engine()  # warm-up, and the path probe for this thread count
    probe_s, probe_times = engine.probe_s, engine.probe_times
    peak_mem = peak_memory_mb(dev)  # before the reference's own allocations can count
    ref_out = run_reference()  # warm-up
    # The yardstick the engine must not lose to: the whole model in its dtype, channels_last.
    plain = copy.deepcopy(reference).to(dev, engine.dtype).to(memory_format=torch.channels_last)
    plain_input = x.to(dev, engine.dtype).contiguous(memory_format=torch.channels_last)
    run_plain()  # warm-up
    times: dict[str, list[float]] = {"reference": [], "engine": [], "plain": []}
    runs = {"reference": run_reference, "engine": run_engine, "plain": run_plain}
    threads = []
    for round_ in range(repeats):
        threads.append(use_threads())
        order = list(runs) if round_ % 2 == 0 else list(runs)[::-1]
        for name in order:
            seconds, out = timed(runs[name], dev)
            times[name].append(seconds)
            if name == "engine":
                eng_out = out
            elif name == "reference":
                ref_out = out
    ref_s, eng_s = statistics.median(times["reference"]), statistics.median(times["engine"])
    ref_img = ref_out.float().clamp(0, 255)
    eng_img = eng_out.to(dev).float().clamp(0, 255)
    diff = (ref_img - eng_img).abs()
    mse = float((diff**2).mean())
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    matmul, conv = matmul_peak_gflops(dev, engine.dtype), conv_peak_gflops(dev, engine.dtype)
    return BenchResult(
        device=dev.type,
        size=size,
        reference_s=ref_s,
        engine_s=eng_s,
        speedup=ref_s / eng_s,
        max_abs_diff=float(diff.max()),
        psnr=psnr,
        gflops=conv_flops(reference, size, size) / eng_s / 1e9,
        peak_gflops=max(matmul, conv),
        peak_mem_mb=peak_mem,
        matmul_gflops=matmul,
        conv_gflops=conv,
        reference_min_s=min(times["reference"]),
        engine_min_s=min(times["engine"]),
        threads=threads,
        output_std=float(ref_img.std()),
        precision=engine.precision,
        psnr_db=psnr,
        path=engine.path,
        probe_s=probe_s,
        probe_times=probe_times,
        plain_s=statistics.median(times["plain"]),
        plain_min_s=min(times["plain"]),
    )
