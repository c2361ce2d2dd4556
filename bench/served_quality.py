"""What the app's quality chart costs when the workflow tab is first opened: the served models measured on the
example photos, as `app_serving.jobs.served_quality` does it, cold (models loaded first, then measured).

    python bench/served_quality.py [--weights default] [--precision auto]

Prints the seconds to load the served models (the app loads them once, for enlarging too), the seconds to
measure them, each point (texture and whole-photo PSNR, ms per output megapixel) and the trade-off line.
On a shared CPU other jobs slow every run: the load average is printed before and after.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app_serving import jobs  # noqa: E402
from explain.quality import load_quality_vs_time, tradeoff_line  # noqa: E402
from sr_core.choice import JPEG_SPEC  # noqa: E402
from sr_core.models import ARCHITECTURES  # noqa: E402
from sr_core.weights import DEFAULT_MODEL  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default", help="the app's weights choice for the default model")
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    started = time.perf_counter()
    for arch in ARCHITECTURES:
        jobs.ENGINES.get(args.weights, arch.key, args.precision)
    jobs.ENGINES.get(JPEG_SPEC, DEFAULT_MODEL, args.precision)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    points = jobs.served_quality(args.weights, args.precision)
    measured = time.perf_counter() - started
    print(f"loading the served models: {loaded:.1f} s; measuring them on the example photos: {measured:.1f} s")
    print(f"{'point':<70} {'role':<7} {'texture dB':>10} {'whole dB':>9} {'ms/out MP':>10}")
    for p in points:
        print(f"{p['label']:<70} {p['role']:<7} {p['psnr_texture']:>10.2f} {p['psnr_whole']:>9.2f} "
              f"{p['ms_per_mp']:>10,.0f}")
    print(f"measured on {points[0]['device']}, {points[0]['precision']}")
    print(tradeoff_line(load_quality_vs_time(), points))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
