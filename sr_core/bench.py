"""Speed and agreement of the engine against a plain reference (`python -m sr_core bench`).

The reference runs the same model as RCAN's official test code does: float32, NCHW, whole
image, `torch.no_grad`. The engine is `sr_core.engine.Upscaler`. They run in alternation,
several times each, and the medians are compared.
"""
from __future__ import annotations

import math
import resource
import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from sr_core.engine import Upscaler


@dataclass
class BenchResult:
    device: str
    size: int
    reference_s: float
    engine_s: float
    speedup: float
    max_abs_diff: float  # in 8-bit levels
    psnr: float  # engine vs reference, dB
    gflops: float  # achieved by the engine
    peak_gflops: float  # large matmul in the engine's dtype
    peak_mem_mb: float

    def to_dict(self) -> dict:
        return asdict(self)


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
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, probe, probe, device=next(model.parameters()).device,
                              dtype=next(model.parameters()).dtype))
    finally:
        for handle in handles:
            handle.remove()
    return total[0] * height * width / (probe * probe)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype) -> float:
    """The machine's measured peak: the best of a few large square matmuls."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = math.inf
    for _ in range(5):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_bench(model: nn.Module, size: int, device: str, tile: int | None = None, repeats: int = 3) -> BenchResult:
    dev = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, size, size, generator=generator) * 255.0
    reference = model.float().to(dev).eval()
    reference_input = x.to(dev)

    def run_reference() -> torch.Tensor:
        with torch.no_grad():
            return reference(reference_input)

    engine = Upscaler(model, device)  # makes its own copy of the weights in its dtype and layout
    ref_times, eng_times = [], []
    ref_out = eng_out = None
    for _ in range(repeats + 1):  # the first round warms up
        synchronize(dev)
        start = time.perf_counter()
        ref_out = run_reference()
        synchronize(dev)
        ref_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        eng_out = engine.upscale_tensor(x, tile=tile)
        synchronize(dev)
        eng_times.append(time.perf_counter() - start)
    ref_s, eng_s = statistics.median(ref_times[1:]), statistics.median(eng_times[1:])
    ref_img = ref_out.float().clamp(0, 255)
    eng_img = eng_out.to(dev).float().clamp(0, 255)
    diff = (ref_img - eng_img).abs()
    mse = float((diff**2).mean())
    flops = conv_flops(engine.model, size, size)
    return BenchResult(
        device=dev.type,
        size=size,
        reference_s=ref_s,
        engine_s=eng_s,
        speedup=ref_s / eng_s,
        max_abs_diff=float(diff.max()),
        psnr=float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse),
        gflops=flops / eng_s / 1e9,
        peak_gflops=matmul_peak_gflops(dev, engine.dtype),
        peak_mem_mb=peak_memory_mb(dev),
    )
