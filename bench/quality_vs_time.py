"""Quality versus time for the app's two models, measured on the machine that runs it.

    python bench/quality_vs_time.py [--threads N] [--side 128] [--runs 5] [--full-rcan-side 48]
                                    [--rcan bundled] [--safmn bundled-safmn] [--set5 DIR] [--out PATH]

For each bundled model (RCAN, SAFMN): PSNR on Set5 x3 with the RCAN paper's protocol (`sr_core.protocol.evaluate`,
through the engine as the app runs it) and milliseconds per output megapixel (the engine on the CPU, float32,
one side x side input, median of --runs timed runs after a warm-up). Then the full-size published models as
separate points: their published Set5 x3 PSNR, with the speed of the same architecture at full size measured
here with random weights (speed does not depend on the weight values; RCAN's random weights keep activations
image-like, `sr_core.tools.bench.random_rcan`, so no denormal slowdown). The full SAFMN (36 channels x 8 blocks) is the
bundled configuration itself, so its published point shares the bundled model's measured speed.

Writes explain/quality_vs_time.json (the app draws it; it ships in the repo) and prints a table. The machine
(lscpu model name, torch version, threads, load average, date) and the exact command go into the JSON: on a
shared CPU other jobs slow every run, so rerun to check stability before comparing numbers across machines.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from explain.quality import QUALITY_VS_TIME, load_quality_vs_time  # noqa: E402
from sr_core.tools.bench import random_rcan  # noqa: E402
from sr_core.engine import Upscaler  # noqa: E402
from sr_core.protocol.evaluate import evaluate_set  # noqa: E402
from sr_core.serving import processor_name  # noqa: E402
from sr_core.image_io import from_uint8, to_uint8  # noqa: E402
from sr_core.models.rcan import RCANConfig  # noqa: E402
from sr_core.models.safmn import SAFMN, SAFMNConfig  # noqa: E402
from sr_core.weights import LoadedWeights, load_weights  # noqa: E402

SET5 = REPO.parent / "shared" / "data" / "sr" / "Set5"
SCALE = 3

# Published Set5 x3 PSNR (dB, Y channel) of the full-size models, from the papers' result tables.
PUBLISHED = {
    "RCAN": (34.74, "RCAN paper (Zhang et al., ECCV 2018, arXiv 1807.02758), Table 3, Set5 x3 34.74 dB"),
    "SAFMN": (34.34, "SAFMN paper (Sun et al., ICCV 2023, arXiv 2302.13800), efficient-SR table, Set5 x3 34.34 dB"),
}


def ms_per_output_mp(upscaler: Upscaler, side: int, runs: int) -> tuple[float, list[float]]:
    """(median ms per output megapixel, every run's ms per output megapixel) for one side x side input, after one
    warm-up run. The median is what the chart shows; the spread of the runs says how busy the machine was."""
    rgb = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    upscaler.upscale(rgb)  # warm-up: oneDNN builds its kernels once per shape
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        upscaler.upscale(rgb)
        times.append(1000 * (time.perf_counter() - started))
    output_mp = (side * upscaler.scale) ** 2 / 1e6
    per_mp = [t / output_mp for t in times]
    return statistics.median(per_mp), per_mp


def set5_psnr(upscaler: Upscaler, set5: Path) -> float:
    """Mean PSNR on Set5 with the paper's protocol; uint8 in and out, as the app's PNGs."""
    result = evaluate_set(set5, lambda lr: to_uint8(upscaler.upscale(from_uint8(lr))), SCALE)
    return float(result["psnr"])


def _config(model: torch.nn.Module) -> dict:
    return model.config.to_dict()


def _shape(arch: str, config: dict) -> str:
    if arch == "RCAN":
        return f"{config['n_resgroups']}x{config['n_resblocks']}x{config['n_feats']}"
    return f"{config['dim']}x{config['n_blocks']}"


def measured_point(loaded: LoadedWeights, set5: Path, side: int, runs: int) -> dict:
    upscaler = Upscaler(loaded.model, "cpu")
    started = time.perf_counter()
    psnr = set5_psnr(upscaler, set5)
    print(f"  {loaded.arch}: Set5 scored in {time.perf_counter() - started:.1f} s", flush=True)
    ms, times = ms_per_output_mp(upscaler, side, runs)
    config = _config(loaded.model)
    location = Path(loaded.location)
    return {
        "label": f"{loaded.arch} bundled ({_shape(loaded.arch, config)})",
        "arch": loaded.arch,
        "kind": "measured",
        "config": config,
        "n_params": loaded.n_params,
        "weights": str(location.relative_to(REPO)) if location.is_relative_to(REPO) else str(location),
        "psnr_set5": round(psnr, 3),
        "psnr_source": "measured here, Set5 x3, paper protocol",
        "ms_per_mp": round(ms, 1),
        "ms_per_mp_best": round(min(times), 1),
        "ms_per_mp_runs": [round(t, 1) for t in times],
        "speed_input": [side, side],
        "speed_source": f"measured here, {side}x{side} input",
    }


def published_point(arch: str, model: torch.nn.Module, ms: float, times: list[float], side: int,
                    speed_source: str) -> dict:
    psnr, source = PUBLISHED[arch]
    config = _config(model)
    return {
        "label": f"{arch} full ({_shape(arch, config)}), published",
        "arch": arch,
        "kind": "published",
        "config": config,
        "n_params": sum(p.numel() for p in model.state_dict().values()),
        "psnr_set5": psnr,
        "psnr_source": source,
        "ms_per_mp": round(ms, 1),
        "ms_per_mp_best": round(min(times), 1),
        "ms_per_mp_runs": [round(t, 1) for t in times],
        "speed_input": [side, side],
        "speed_source": speed_source,
    }


def print_table(data: dict) -> None:
    machine = data["machine"]
    print(f"\nmachine: {machine['cpu']}; torch {machine['torch']}, {machine['threads']} threads; "
          f"load average {machine['load_average']}; {machine['date']}")
    print(f"{'point':<36} {'kind':<9} {'params':>7} {'Set5 PSNR':>9} {'ms/out MP':>10} {'(best)':>8}  speed from")
    for p in data["points"]:
        print(f"{p['label']:<36} {p['kind']:<9} {p['n_params'] / 1e6:>6.2f}M {p['psnr_set5']:>9.2f} "
              f"{p['ms_per_mp']:>10,.0f} {p['ms_per_mp_best']:>8,.0f}  {p['speed_source']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch intra-op threads (default: the CPUs this process may use)")
    parser.add_argument("--side", type=int, default=128, help="input side for the bundled models' speed")
    parser.add_argument("--full-rcan-side", type=int, default=48, help="input side for the full RCAN's speed")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per model (the median counts)")
    parser.add_argument("--rcan", default="bundled", help="RCAN weights: a load_weights spec")
    parser.add_argument("--safmn", default="bundled-safmn", help="SAFMN weights: a load_weights spec")
    parser.add_argument("--set5", type=Path, default=SET5, help="Set5 folder (HR images, or with an HR/ folder)")
    parser.add_argument("--out", type=Path, default=QUALITY_VS_TIME)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = [round(x, 2) for x in os.getloadavg()]
    print(f"torch {torch.__version__}: {torch.get_num_threads()} intra-op threads (set explicitly)", flush=True)
    if load_before[0] > 0.5:
        print(f"note: load average {load_before[0]} before starting: other jobs share the CPU, so runs are slower "
              "and noisier; compare the median with the best run, and rerun", flush=True)

    points = []
    for arch, spec in (("RCAN", args.rcan), ("SAFMN", args.safmn)):
        loaded = load_weights(spec)
        if loaded.arch != arch:
            raise SystemExit(f"--{arch.lower()} {spec} holds a {loaded.arch}, not a {arch}")
        print(f"{loaded.describe()}", flush=True)
        points.append(measured_point(loaded, args.set5, args.side, args.runs))

    full_rcan = random_rcan(RCANConfig())
    ms, times = ms_per_output_mp(Upscaler(full_rcan, "cpu"), args.full_rcan_side, args.runs)
    points.append(published_point("RCAN", full_rcan, ms, times, args.full_rcan_side,
                                  f"measured here, same architecture with random weights, "
                                  f"{args.full_rcan_side}x{args.full_rcan_side} input"))
    bundled_safmn = points[1]
    full_safmn = SAFMN(SAFMNConfig()).eval()
    if bundled_safmn["config"] == _config(full_safmn):
        points.append(published_point("SAFMN", full_safmn, bundled_safmn["ms_per_mp"], bundled_safmn["ms_per_mp_runs"],
                                      args.side, "the bundled SAFMN's measurement: the same architecture and size"))
    else:
        ms, times = ms_per_output_mp(Upscaler(full_safmn, "cpu"), args.side, args.runs)
        points.append(published_point("SAFMN", full_safmn, ms, times, args.side,
                                      f"measured here, same architecture with random weights, "
                                      f"{args.side}x{args.side} input"))

    data = {
        "what": "PSNR on Set5 x3 against milliseconds per output megapixel (engine, CPU, float32)",
        "command": "python " + " ".join(shlex.quote(a) for a in [str(Path(sys.argv[0])), *sys.argv[1:]]),
        "machine": {
            "cpu": processor_name(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
        "protocol": {
            "psnr": ("PSNR: Set5 x3 as in RCAN's test code (HR mod-cropped, MATLAB-bicubic LR, Y channel, "
                     "3-pixel border shaved), enlarged by the engine as the app does."),
            "speed": (f"Speed: the engine's upscale of a random {args.side}x{args.side} input ({args.full_rcan_side}x"
                      f"{args.full_rcan_side} for the full RCAN) on the CPU in float32, default tile, median of "
                      f"{args.runs} runs after a warm-up (ms_per_mp; ms_per_mp_best is the fastest run), per "
                      "output megapixel."),
        },
        "points": points,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    load_quality_vs_time(args.out)  # what the app will read back must pass its checks
    print_table(data)
    unstable = [p["label"] for p in points if p["ms_per_mp"] > 1.5 * p["ms_per_mp_best"]]
    if unstable:
        print(f"\nunstable: the median is over 1.5x the best run for {', '.join(unstable)}; other jobs took the "
              "CPU during the runs, rerun when it is quiet")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
