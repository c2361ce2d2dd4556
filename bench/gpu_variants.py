"""Where RCAN x3's GPU time goes: one model, one input, several ways of running it.

Prints one line per variant (median ms over repeated runs, PSNR against float32) and a JSON
line at the end. Run on a CUDA machine: `python bench/gpu_variants.py --size 320`.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sr_core.tools.bench import conv_flops  # noqa: E402
from sr_core.engine import Upscaler  # noqa: E402
from sr_core.models.rcan import RCAN  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, torch.Tensor]:
    out = fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float().clamp(0, 255) - b.float().clamp(0, 255)) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = RCAN().cuda().eval()
    x = torch.rand(1, 3, args.size, args.size, device="cuda") * 255
    flops = conv_flops(model, args.size, args.size)
    results: dict[str, dict] = {}

    def record(name: str, fn, reference: torch.Tensor | None) -> torch.Tensor:
        seconds, out = timed(fn, args.repeats)
        quality = psnr(out, reference) if reference is not None else math.inf
        results[name] = {"ms": seconds * 1000, "tflops": flops / seconds / 1e12, "psnr_vs_fp32": quality}
        print(f"{name:34s} {seconds * 1000:8.2f} ms  {flops / seconds / 1e12:6.1f} TFLOP/s  PSNR {quality:6.1f} dB", flush=True)
        return out

    with torch.inference_mode():
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        ref = record("fp32 eager", lambda: model(x), None)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        record("tf32 eager", lambda: model(x), ref)
        half = RCAN().cuda().eval()
        half.load_state_dict(model.state_dict())
        half = half.half().to(memory_format=torch.channels_last)
        xh = x.half().contiguous(memory_format=torch.channels_last)
        record("fp16 channels_last eager", lambda: half(xh), ref)
        torch.backends.cudnn.benchmark = True
        record("fp16 channels_last cudnn.benchmark", lambda: half(xh), ref)
        engine = Upscaler(model, "cuda")
        record("engine (Upscaler.upscale_tensor)", lambda: engine.upscale_tensor(x), ref)
        graph = torch.cuda.CUDAGraph()
        static_in = xh.clone()
        for _ in range(3):
            half(static_in)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            static_out = half(static_in)
        record("fp16 channels_last + CUDA graph", lambda: (graph.replay(), static_out)[1], ref)
    print(json.dumps({"device": torch.cuda.get_device_name(), "size": args.size, "variants": results}))


if __name__ == "__main__":
    main()
