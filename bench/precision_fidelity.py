"""bf16 against fp32 on real photos: the engine (bf16 convs, fp32 residual stream) and an all-bf16 plain forward.

    python bench/precision_fidelity.py [--side 160] [--full-side 96]

For each example photo (examples/*.png, cropped to --side) and each model, prints the PSNR of the
bf16 output against the fp32 engine's, the largest difference in 8-bit levels and the share of pixels
that differ after rounding. The fidelity contract is >= 50 dB. "all-bf16" is the whole
model cast to bf16 (weights and activations, channels_last, the plain forward): it shows what the fp32
residual stream buys. The full RCAN has random weights (`random_rcan`), run on --full-side crops.
"""
from __future__ import annotations

import argparse
import copy
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sr_core.tools.bench import random_rcan  # noqa: E402
from sr_core.engine import Upscaler  # noqa: E402
from sr_core.image_io import read_image  # noqa: E402
from sr_core.models import architecture_of  # noqa: E402
from sr_core.weights import load_weights  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def to_levels(rgb: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(rgb, 0, 1) * 255.0 + 0.5)


def agreement(a: np.ndarray, b: np.ndarray) -> str:
    mse = float(((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2).mean()) * 255.0**2
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    levels = np.abs(to_levels(a) - to_levels(b))
    return f"{psnr:6.2f} dB, max {levels.max():.0f} levels, {100 * (levels > 0).mean():5.2f}% of values differ"


@torch.no_grad()
def all_bf16(model: torch.nn.Module, rgb: np.ndarray) -> np.ndarray:
    value_range = float(architecture_of(model).value_range)
    plain = copy.deepcopy(model).to(torch.bfloat16).to(memory_format=torch.channels_last)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None] * value_range
    out = plain(x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)).float() / value_range
    return out[0].permute(1, 2, 0).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=160, help="crop side for the bundled models")
    parser.add_argument("--full-side", type=int, default=96, help="crop side for the full RCAN")
    args = parser.parse_args()
    models = {"RCAN bundled": (load_weights("bundled").model, args.side),
              "SAFMN bundled": (load_weights("bundled-safmn").model, args.side),
              "RCAN full (random)": (random_rcan(), args.full_side)}
    for label, (model, side) in models.items():
        fp32, bf16 = Upscaler(model, "cpu", "fp32"), Upscaler(model, "cpu", "bf16")
        for path in sorted(EXAMPLES.glob("*.png")):
            rgb = read_image(path).rgb[:side, :side]
            reference = fp32.upscale(rgb)
            print(f"{label:18s} {path.stem:16s} {rgb.shape[1]}x{rgb.shape[0]}  engine bf16: "
                  f"{agreement(bf16.upscale(rgb), reference)} | all-bf16: {agreement(all_bf16(model, rgb), reference)}",
                  flush=True)


if __name__ == "__main__":
    main()
