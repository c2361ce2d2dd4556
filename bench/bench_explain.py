"""Seconds per explainer stage for a photo (default a 256x256 crop; `--size 400x266` for a small phone-photo region).

    python bench/bench_explain.py [--runs N] [--image PATH] [--size WxH] [--original] [--threads T]

With --original the crop is taken as the original: the input is its x3 shrink with the paper's bicubic, and every
experiment is scored against it (as "I have the original" in the app).

Uses the bundled weights when present, else a random RCAN of the bundled configuration (4 groups x 6 blocks x 56
channels, the same cost). The image is a 256x256 centre crop of Set14's baboon when the shared data is there,
else seeded noise. Whole-image RCAN inference of the same input is timed too, for scale.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explain.analysis import build_figures, explainer_markdown, recording_for  # noqa: E402
from explain.rcan.analysis import analyze  # noqa: E402
from sr_core.protocol.evaluate import make_lr  # noqa: E402
from sr_core.image_io import from_uint8, to_uint8  # noqa: E402
from explain.report import render_html  # noqa: E402
from sr_core.engine import Upscaler  # noqa: E402
from sr_core.image_io import read_image  # noqa: E402
from sr_core.models.rcan import RCAN, RCANConfig  # noqa: E402
from sr_core.weights import BUNDLED_RCAN, load_weights  # noqa: E402

SIDE = 256
DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sr" / "Set14" / "HR" / "baboon.png"


def bench_model() -> tuple[RCAN, str]:
    if BUNDLED_RCAN.is_file():
        return load_weights("bundled").model, "bundled weights"
    torch.manual_seed(0)
    return RCAN(RCANConfig(n_resgroups=4, n_resblocks=6, n_feats=56, reduction=16, scale=3)).eval(), \
        "random RCAN 4x6x56 (bundled weights absent)"


def bench_image(path: Path | None, width: int = SIDE, height: int = SIDE) -> tuple[np.ndarray, str]:
    path = path or DEFAULT_IMAGE
    if path.is_file():
        rgb = read_image(path).rgb
        top, left = max(0, (rgb.shape[0] - height) // 2), max(0, (rgb.shape[1] - width) // 2)
        crop = rgb[top : top + height, left : left + width]
        return crop, f"{path.name}, centre {crop.shape[1]}x{crop.shape[0]}"
    return np.random.default_rng(0).random((height, width, 3), dtype=np.float32), f"seeded noise {width}x{height}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--image", type=Path, default=None)
    parser.add_argument("--size", default=f"{SIDE}x{SIDE}", help="WxH of the centre crop (default %(default)s)")
    parser.add_argument("--original", action="store_true", help="take the crop as the original; input = its x3 shrink")
    parser.add_argument("--after-enlarge", action="store_true",
                        help="as the app after Enlarge: the gates recorded during that enlargement are reused, so "
                        "the explainer does not enlarge the whole photo again")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.lower().split("x"))
    if args.threads:
        torch.set_num_threads(args.threads)
    model, model_note = bench_model()
    rgb, image_note = bench_image(args.image, width, height)
    original = None
    if args.original:
        original = to_uint8(rgb)
        rgb = from_uint8(make_lr(original, 3))
        image_note += f" as the original, input its x3 shrink {rgb.shape[1]}x{rgb.shape[0]}"
    print(f"model: {model_note}; image: {image_note}; torch threads: {torch.get_num_threads()}")

    runs: dict[str, list[float]] = {}
    sr, recorded = None, None
    if args.after_enlarge:
        recorded = {}
        upscaler = Upscaler(model, "cpu")
        with recording_for(upscaler, recorded):
            sr = upscaler.upscale(rgb)
    for _ in range(args.runs):
        started = time.perf_counter()
        analysis = analyze(model, rgb, sr, original, recorded=recorded)
        analysis.timings["analyze_call"] = time.perf_counter() - started
        started = time.perf_counter()
        figures = build_figures(analysis)
        analysis.timings["build_figures"] = time.perf_counter() - started
        started = time.perf_counter()
        explainer_markdown(analysis)
        analysis.timings["explainer_markdown"] = time.perf_counter() - started
        started = time.perf_counter()
        render_html(analysis, figures, "bench")
        analysis.timings["render_html"] = time.perf_counter() - started
        analysis.timings["explainers_total"] = sum(
            analysis.timings[k] for k in ("analyze_call", "build_figures", "explainer_markdown"))
        for key, seconds in analysis.timings.items():
            runs.setdefault(key, []).append(seconds)

    upscaler = Upscaler(model, "cpu")
    started = time.perf_counter()
    upscaler.upscale(rgb)
    runs["reference: whole-image RCAN upscale"] = [time.perf_counter() - started]

    print(f"{'stage':<38} {'median s':>9} {'all runs'}")
    for key, values in runs.items():
        print(f"{key:<38} {statistics.median(values):>9.3f} {' '.join(f'{v:.3f}' for v in values)}")


if __name__ == "__main__":
    main()
