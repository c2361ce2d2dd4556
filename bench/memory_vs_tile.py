"""Peak memory of one CPU upscale against the tile size: `python bench/memory_vs_tile.py`.

Each tile size runs in a fresh subprocess, which reports its peak RSS (`ru_maxrss`) and time.
A full RCAN on 2000x1500 takes ~20 min on a 2-core CPU, so this uses a model of the same width
(64 features) but 1 group of 1 block: memory is set by the feature maps, not the depth. The engine
keeps at most three whole-image maps (stream, group input, scratch) and the output, whatever the
number of blocks; the tile bounds the temporaries; depth only adds weights, which are added back
from the full model's parameter count in the last column.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sr_core.tools.bench import random_rcan  # noqa: E402
from sr_core.engine import Upscaler  # noqa: E402
from sr_core.estimate import work_pixels  # noqa: E402
from sr_core.models.rcan import RCAN, RCAN_ARCHITECTURE, RCANConfig  # noqa: E402
from sr_core.winograd import is_winograd_candidate  # noqa: E402

SHALLOW = RCANConfig(n_resgroups=1, n_resblocks=1)


def weight_mb(config: RCANConfig) -> float:
    """Both copies of the weights a run holds: the caller's float32 model and the engine's, whose
    Winograd convs keep 6 x 3 taps and 6 biases beside the original 3 x 3 conv."""
    with torch.device("meta"):
        model = RCAN(config)
    caller = sum(p.numel() for p in model.parameters())
    extra = sum(2 * m.weight.numel() + 6 * m.bias.numel() for m in model.modules() if is_winograd_candidate(m))
    return 4 * (2 * caller + extra) / 2**20


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child(height: int, width: int, tile: int) -> None:
    upscaler = Upscaler(random_rcan(SHALLOW), "cpu")
    rgb = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    upscaler.upscale(rgb[:32, :32])  # load the kernels, so the baseline holds everything but the run itself
    baseline = rss_mb()
    start = time.perf_counter()
    out = upscaler.upscale(rgb, tile=tile)
    seconds = time.perf_counter() - start
    assert out.shape == (3 * height, 3 * width, 3)
    print(json.dumps({"tile": tile, "baseline_mb": baseline, "peak_mb": rss_mb(), "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2000x1500", help="WIDTHxHEIGHT of the input")
    parser.add_argument("--tiles", type=int, nargs="+", default=[128, 256, 512, 1024, 2000])
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.child is not None:
        child(height, width, args.child)
        return
    feature_map_mb = 64 * height * width * 4 / 2**20
    output_mb = 3 * 9 * height * width * 4 / 2**20
    full_extra = weight_mb(RCANConfig()) - weight_mb(SHALLOW)
    print(f"input {width}x{height}, CPU float32, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"one 64-channel map = {feature_map_mb:.0f} MB, the x3 output = {output_mb:.0f} MB; "
          f"full RCAN x3 adds {full_extra:.0f} MB of weights (caller's copy + engine's)")
    print(f"{'tile':>6} {'extra work':>10} {'baseline MB':>12} {'peak RSS MB':>12} {'run MB':>8} {'time s':>7} "
          f"{'full RCAN peak MB (est.)':>25}")
    rows = []
    for tile in args.tiles:
        done = subprocess.run([sys.executable, __file__, "--size", args.size, "--child", str(tile)],
                              capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        extra = work_pixels(height, width, tile, RCAN_ARCHITECTURE.halo) / (height * width) - 1
        run_mb = row["peak_mb"] - row["baseline_mb"]
        print(f"{tile:>6} {100 * extra:>9.1f}% {row['baseline_mb']:>12.0f} {row['peak_mb']:>12.0f} {run_mb:>8.0f} "
              f"{row['seconds']:>7.1f} {row['peak_mb'] + full_extra:>25.0f}", flush=True)
    print(json.dumps({"size": args.size, "feature_map_mb": feature_map_mb, "full_model_extra_mb": full_extra,
                      "rows": rows}))


if __name__ == "__main__":
    main()
