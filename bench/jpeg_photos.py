"""JPEG photos the models never saw: bicubic, the clean RCAN, the JPEG-aware RCAN and the default choice.

Set5 and Set14 HR (never trained on), the paper's bicubic /3 (sr_core.protocol.evaluate.make_lr), then saved as
PNG and as 4:2:0 JPEG at each quality (Pillow), read back as a user's file would be: the default choice sees
only the file (its estimated quality, sr_core.choice). Y-PSNR, shave 3, against the HR image; means over images.

    python bench/jpeg_photos.py [--sets DIR ...] [--qualities 50 70 90] [--jpeg WEIGHTS] [--json OUT]
    python bench/jpeg_photos.py --table-from OUT.json   # the table again, the default column by today's rule
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sr_core.choice import choose  # noqa: E402
from sr_core.engine import Upscaler  # noqa: E402
from sr_core.jpeg import SUBSAMPLING_420, estimate_quality  # noqa: E402
from sr_core.protocol.evaluate import bicubic_upscale, list_images, make_lr, mod_crop, read_uint8  # noqa: E402
from sr_core.protocol.metrics import psnr_y  # noqa: E402
from sr_core.weights import load_weights  # noqa: E402

SCALE = 3
SHARED = REPO.parent / "shared" / "data" / "sr"


def saved(lr: np.ndarray, quality: int | None) -> tuple[np.ndarray, int | None]:
    """The LR image as a file would hold it (PNG when `quality` is None) and the quality read back from it."""
    buffer = io.BytesIO()
    if quality is None:
        Image.fromarray(lr).save(buffer, format="PNG")
    else:
        Image.fromarray(lr).save(buffer, format="JPEG", quality=quality, subsampling=SUBSAMPLING_420)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB")), estimate_quality(image)


def run(sets: list[Path], qualities: list[int], clean_spec: str, jpeg_spec: str, log=print) -> dict:
    engines = {name: Upscaler(load_weights(spec).model, "cpu", "fp32") for name, spec in
               (("clean", clean_spec), ("jpeg", jpeg_spec))}
    formats = [None, *qualities]
    rows: dict[str, dict[str, list[float]]] = {}
    estimates: dict[str, set] = {}
    per_set: dict[str, dict[str, dict[str, float]]] = {}
    for folder in sets:
        set_scores: dict[str, dict[str, list[float]]] = {}
        for path in list_images(folder):
            hr = mod_crop(read_uint8(path, rgb=True), SCALE)
            lr = make_lr(hr, SCALE)
            for quality in formats:
                label = "PNG" if quality is None else f"JPEG q{quality}"
                pixels, estimated = saved(lr, quality)
                scores = {"bicubic": psnr_y(bicubic_upscale(pixels, SCALE), hr, shave=SCALE)}
                for name, engine in engines.items():
                    scores[name] = psnr_y(engine.upscale_uint8(pixels), hr, shave=SCALE)
                estimates.setdefault(label, set()).add(estimated)
                chosen = choose(estimated, clean_spec=clean_spec)
                scores["default"] = scores["jpeg" if chosen.jpeg else "clean"]
                for bucket in (rows.setdefault(label, {}), set_scores.setdefault(label, {})):
                    for key, value in scores.items():
                        bucket.setdefault(key, []).append(value)
            log(f"{folder.name}/{path.name} done")
        per_set[folder.name] = {label: {k: float(np.mean(v)) for k, v in s.items()} for label, s in set_scores.items()}
    means = {label: {k: float(np.mean(v)) for k, v in s.items()} for label, s in rows.items()}
    return {"images": len(next(iter(rows.values()))["clean"]), "means": means, "per_set": per_set,
            "estimated_quality": {label: sorted(q for q in e if q is not None) for label, e in estimates.items()}}


def rechoose(result: dict) -> dict[str, dict[str, float]]:
    """The means with the default column by the current rule (sr_core.choice): every image of a row was read back
    at the same estimated quality, so the rule picks one model per row."""
    means = {}
    for label, row in result["means"].items():
        qualities = result["estimated_quality"][label]
        if len(qualities) > 1:
            raise ValueError(f"{label}: images read back at several qualities {qualities}; rerun the bench")
        chosen = choose(qualities[0] if qualities else None)
        means[label] = {**row, "default": row["jpeg" if chosen.jpeg else "clean"]}
    return means


def table(means: dict[str, dict[str, float]]) -> str:
    lines = ["| input | bicubic | clean RCAN | JPEG-aware RCAN | default choice | default - clean |",
             "|---|---|---|---|---|---|"]
    for label, s in means.items():
        lines.append(f"| {label} | {s['bicubic']:.2f} | {s['clean']:.2f} | {s['jpeg']:.2f} | {s['default']:.2f} | "
                     f"{s['default'] - s['clean']:+.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", type=Path, default=[SHARED / "Set5", SHARED / "Set14"])
    parser.add_argument("--qualities", nargs="+", type=int, default=[50, 70, 90])
    parser.add_argument("--clean", default="bundled", help="weights of the clean RCAN (default bundled)")
    parser.add_argument("--jpeg", default="bundled-jpeg", help="weights of the JPEG-aware RCAN (default bundled-jpeg)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--table-from", type=Path, default=None, metavar="JSON",
                        help="print the table of an earlier run, the default column by the current rule")
    args = parser.parse_args()
    if args.table_from:
        result = json.loads(args.table_from.read_text())
        print(f"Y-PSNR (dB, shave {SCALE}), mean over {result['images']} images of {' + '.join(result['sets'])}, "
              f"{result['seconds']:.0f} s on {result['threads']} threads (default column: today's rule)")
        print(table(rechoose(result)))
        return
    missing = [str(s) for s in args.sets if not s.is_dir()]
    if missing:
        sys.exit(f"error: not a directory: {', '.join(missing)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    result = run(args.sets, args.qualities, args.clean, args.jpeg, log=lambda m: print(m, file=sys.stderr))
    result.update(seconds=round(time.perf_counter() - started, 1), threads=torch.get_num_threads(),
                  sets=[s.name for s in args.sets], clean=args.clean, jpeg=args.jpeg)
    print(f"Y-PSNR (dB, shave {SCALE}), mean over {result['images']} images of {' + '.join(result['sets'])}, "
          f"{result['seconds']:.0f} s on {result['threads']} threads")
    print(table(result["means"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
