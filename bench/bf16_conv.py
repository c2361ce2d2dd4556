"""One 64 -> 64 3x3 conv in fp32 and bf16 (channels_last), and the variants tried for bf16.

    OMP_NUM_THREADS=1 python bench/bf16_conv.py

Per map side: GFLOP/s of torch's conv2d in fp32 and bf16, of oneDNN's pointwise conv op with the weights
reordered once ahead of time ("prepacked", as inductor's freezing does) and with the ReLU fused as a
post-op; then large square matmuls. Best of 30 runs after 3 warm-ups (other jobs only slow a run down).
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F


def best_seconds(fn, runs: int = 30) -> float:
    for _ in range(3):
        fn()
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def conv_row(side: int, channels: int = 64) -> str:
    flops = 2.0 * side * side * channels * channels * 9
    x32 = torch.randn(1, channels, side, side).contiguous(memory_format=torch.channels_last)
    w32 = torch.randn(channels, channels, 3, 3).contiguous(memory_format=torch.channels_last) * 0.05
    b32 = torch.randn(channels)
    x, w, b = x32.bfloat16(), w32.bfloat16(), b32.bfloat16()
    packed = torch._C._nn.mkldnn_reorder_conv2d_weight(w.to_mkldnn(), [1, 1], [1, 1], [1, 1], 1, list(x.shape))

    def pointwise(attr: str) -> torch.Tensor:
        return torch.ops.mkldnn._convolution_pointwise(x, packed, b, [1, 1], [1, 1], [1, 1], 1, attr, [], "")

    times = {
        "fp32": best_seconds(lambda: F.conv2d(x32, w32, b32, padding=1)),
        "bf16": best_seconds(lambda: F.conv2d(x, w, b, padding=1)),
        "bf16 + ReLU": best_seconds(lambda: F.relu_(F.conv2d(x, w, b, padding=1))),
        "bf16 prepacked": best_seconds(lambda: pointwise("none")),
        "bf16 prepacked, fused ReLU": best_seconds(lambda: pointwise("relu")),
    }
    return f"{side}x{side}: " + ", ".join(f"{name} {t * 1e3:.3f} ms ({flops / t / 1e9:.0f} GFLOP/s)"
                                          for name, t in times.items())


def main() -> None:
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for side in (48, 64, 128):
        print(conv_row(side), flush=True)
    n = 2048
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        print(f"matmul {n}x{n} {dtype}: {2.0 * n**3 / best_seconds(lambda: a @ b, 5) / 1e9:.0f} GFLOP/s", flush=True)


if __name__ == "__main__":
    main()
