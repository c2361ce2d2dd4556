"""Where the engine's time goes, per op (torch.profiler), for the full RCAN x3 with random weights.

    OMP_NUM_THREADS=1 python bench/profile_engine.py [--precision bf16] [--size 64]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sr_core.tools.bench import bench_image, random_rcan  # noqa: E402
from sr_core.engine import Upscaler  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--precision", default="bf16", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    upscaler = Upscaler(random_rcan(), "cpu", args.precision)
    upscaler.threads = torch.get_num_threads()
    x = bench_image(args.size)
    for _ in range(2):  # the path probe and oneDNN's first-call setup stay out of the profile
        upscaler.upscale_tensor(x)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        upscaler.upscale_tensor(x)
    print(f"{upscaler.describe()}, {args.size}x{args.size}, {upscaler.threads} threads")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
