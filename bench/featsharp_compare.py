"""How close each x3 feature view comes to the original's features: the trained upsampler against the rest.

    OMP_NUM_THREADS=1 python bench/featsharp_compare.py [--side 48] [--sets Set5 Set14]

For every image of Set5 and Set14 (../shared/data/sr, never trained on) and of the app's examples: the HR image is
mod-cropped and shrunk x3 with the paper's bicubic; the bundled RCAN's deep features of that input are enlarged
by every view of explain/rcan/feature_views.py, over non-overlapping --side x --side windows of the input, and
each view is scored by hr_similarity (mean per-pixel cosine similarity to the same extractor's features of the
original, both standardised as in the app) and consistency. Prints mean and spread (standard deviation over
windows) per view, per source and over all windows, as a markdown table, the trained view's gain over the
training-free JBU with a bootstrap interval over windows, and its fusion's mean weight on the tiled features.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from explain.rcan.capture import feature_extractor  # noqa: E402
from explain.rcan.feature_views import VIEW_NAMES, feature_views  # noqa: E402
from explain.region import Box  # noqa: E402
from explain.rcan.featsharp_train import DATA_ROOT, read_rgb  # noqa: E402
from sr_core.protocol.evaluate import list_images, make_lr, mod_crop  # noqa: E402
from sr_core.protocol.imresize import imresize  # noqa: E402
from sr_core.weights import load_weights  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def windows(height: int, width: int, side: int) -> list[Box]:
    """Non-overlapping side x side windows on a grid centred in the image (at least one, shrunk to fit)."""
    side = min(side, height, width)
    rows, cols = height // side, width // side
    top0, left0 = (height - rows * side) // 2, (width - cols * side) // 2
    return [Box(top0 + i * side, left0 + j * side, side, side) for i in range(rows) for j in range(cols)]


def score_image(model: torch.nn.Module, hr: np.ndarray, side: int) -> list[dict[str, tuple[float, float]]]:
    """Per window: view -> (hr_similarity, consistency)."""
    hr = mod_crop(hr, model.scale)
    lr = make_lr(hr, model.scale).astype(np.float32) / 255
    extract = feature_extractor(model)
    x = torch.from_numpy(lr).permute(2, 0, 1)[None]
    with torch.inference_mode():
        features = model.features(x * model.config.rgb_range)
        learned = model.tail[0](features)[0].float()  # RCAN's own upsampler output, as capture_forward records it
    bicubic = np.clip(imresize(lr, model.scale), 0, 1)
    results = []
    for window in windows(*lr.shape[:2], side):
        views = feature_views(extract, features[0].float(), learned, bicubic, lr, window, model.scale,
                              hr.astype(np.float32) / 255)
        scores = {name: (v.hr_similarity, v.consistency) for name, v in views.views.items()}
        scores["tiled_share"] = views.kernels.tiled_share  # the fusion's weight on the tiled features
        results.append(scores)
    return results


def bootstrap(values: np.ndarray, rng: np.random.Generator, n: int = 2000) -> tuple[float, float]:
    means = rng.choice(values, size=(n, len(values)), replace=True).mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=48, help="window side, input pixels")
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_weights("bundled").model.eval()
    sources = {name: list_images(DATA_ROOT / name) for name in args.sets}
    sources["examples"] = sorted(EXAMPLES.glob("*.png"))
    started = time.perf_counter()
    scores: dict[str, list[dict]] = {}
    for source, paths in sources.items():
        scores[source] = [w for path in paths for w in score_image(model, read_rgb(path), args.side)]
    seconds = time.perf_counter() - started
    every = [w for ws in scores.values() for w in ws]
    names = [n for n in VIEW_NAMES if n in every[0]]  # featsharp included: the bundled RCAN is its extractor

    def cell(ws: list[dict], name: str, k: int) -> str:
        values = np.array([w[name][k] for w in ws])
        return f"{values.mean():.3f} ± {values.std():.3f}"

    header = " | ".join(f"{s} ({len(ws)} windows)" for s, ws in scores.items())
    print(f"hr_similarity, mean ± standard deviation over {args.side}x{args.side} input windows; consistency "
          f"over all {len(every)}; {seconds:.0f}s, {torch.get_num_threads()} thread(s)\n")
    print(f"| view | {header} | all | consistency (all) |")
    print("|---" * (len(scores) + 3) + "|")
    for name in names:
        cells = " | ".join(cell(ws, name, 0) for ws in scores.values())
        print(f"| {name} | {cells} | {cell(every, name, 0)} | {cell(every, name, 1)} |")
    gain = np.array([w["featsharp"][0] - w["jbu"][0] for w in every])
    low, high = bootstrap(gain, np.random.default_rng(0))
    print(f"\nfeatsharp minus jbu (hr_similarity): {gain.mean():+.4f}, 95% bootstrap interval over windows "
          f"[{low:+.4f}, {high:+.4f}]; featsharp higher in {int((gain > 0).sum())} of {len(gain)} windows")
    shares = np.array([w["tiled_share"] for w in every])
    print(f"featsharp's fusion: weight on the tiled features {shares.mean():.3f} ± {shares.std():.3f} per window")
    best = max(names, key=lambda n: np.mean([w[n][0] for w in every]))
    print(f"closest to the original's features over all windows: {best}")


if __name__ == "__main__":
    main()
