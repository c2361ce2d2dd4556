"""How far `sr_core.estimate` is from real runs: `python bench/estimate_error.py [--device cpu] [--weights ...]`.

Measures the throughput with the one-tile probe the app would use, then times real upscales of
other sizes, tile sizes and self-ensemble, and prints predicted against measured seconds.
Default model: full-size RCAN x3 with random (image-like) weights, as `python -m sr_core bench`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sr_core.tools.bench import random_rcan  # noqa: E402
from sr_core.engine import Upscaler  # noqa: E402
from sr_core.estimate import estimate_seconds, measure_throughput  # noqa: E402

# (height, width, tile, ensemble): sizes below, around and beyond one default tile, a smaller tile, ensemble.
CASES = [(48, 48, None, False), (96, 96, None, False), (160, 120, None, False), (256, 256, None, False),
         (256, 256, 64, False), (48, 48, None, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--weights", default=None, help="PATH|bundled|hub (default: full-size RCAN, random)")
    args = parser.parse_args()
    if args.weights is None:
        model, label = random_rcan(), "full-size RCAN x3 (random weights)"
    else:
        from sr_core.weights import load_weights

        loaded = load_weights(args.weights)
        model, label = loaded.model, loaded.describe()
    upscaler = Upscaler(model, args.device)
    throughput = measure_throughput(upscaler)
    print(f"{label} on {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads; probe "
          f"{throughput.probe_side}^2 (one tile): {throughput.seconds_per_pixel * 1e6:.1f} us per pixel")
    print(f"{'input':>9} {'tile':>5} {'ensemble':>8} {'predicted s':>11} {'measured s':>10} {'error':>7}")
    rows = []
    rng = np.random.default_rng(0)
    for height, width, tile, ensemble in CASES:
        rgb = rng.random((height, width, 3), dtype=np.float32)
        predicted = estimate_seconds(throughput, upscaler, height, width, tile, ensemble)
        start = time.perf_counter()
        upscaler.upscale(rgb, tile, ensemble)
        if upscaler.device.type == "cuda":
            torch.cuda.synchronize(upscaler.device)
        measured = time.perf_counter() - start
        error = predicted / measured - 1
        rows.append({"height": height, "width": width, "tile": tile, "ensemble": ensemble,
                     "predicted_s": predicted, "measured_s": measured, "error": error})
        print(f"{width:>4}x{height:<4} {tile or '-':>5} {'yes' if ensemble else 'no':>8} {predicted:>11.2f} "
              f"{measured:>10.2f} {100 * error:>+6.0f}%", flush=True)
    print(json.dumps({"device": args.device, "throughput": throughput.__dict__, "rows": rows}))


if __name__ == "__main__":
    main()
