"""Which served model keeps more texture, measured on the server that serves it, on the bundled example photos.

Why not only the record (explain/quality_vs_time.json): it was measured once, on the bundled models, on Set5, while
a server may serve other weights (the SAFMN authors' from the Hub) and serves JPEG photos with the JPEG-aware
RCAN. Each served model is measured where it runs: the example photos (CC0 crops no model trained on), each shrunk
x3 with the paper's bicubic (`sr_core.protocol.evaluate.make_lr`) and enlarged back by the served engine; Y-PSNR on
each photo's most textured quarter of 48-pixel tiles (`sr_core.protocol.texture_split`, as the ablation study
scores) and on the whole photo, and milliseconds per output megapixel.
"""
from __future__ import annotations

import datetime
import math
import time
from pathlib import Path

import numpy as np

from explain.stats import MIN_TILES
from sr_core.protocol.evaluate import bicubic_upscale, list_images, make_lr, protocol_pair, read_uint8
from sr_core.protocol.texture_split import pooled_psnr, split_scores, texture_tiles, tile_errors
from sr_core.engine import Upscaler
from sr_core.serving import ServedModel, processor_name
from sr_core.weights import weights_label

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
ROLES = ("choice", "jpeg")  # a model choice's default weights; the weights JPEG photos get under the default choice
TIMED_PASSES = 3
SAME_SPEED = 1.1  # speed ratios below this are within what other work on a shared CPU changes between passes


def where_measured(served: ServedModel) -> str:
    """The device in words, read at run time: "CPU: AMD EPYC, 2 CPUs" or "GPU: NVIDIA H100"."""
    device = served.upscaler.device
    if device.type == "cuda":
        import torch

        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU: {processor_name()}"


def measure_served(served: ServedModel, role: str, photos: Path = EXAMPLES_DIR) -> dict:
    """One chart point of a served model, named by its weights (`sr_core.weights.weights_label`).

    The scoring pass also builds the engine's kernels for each photo's shape; the timed passes that follow run
    the same inputs again, so the time is the served engine's, not its start-up's, and the fastest of them
    counts, as other work on a shared CPU only ever slows a pass. Each textured tile's own PSNR
    is kept too (`texture_tiles`), for the uncertainty of a difference between two models (`texture_difference`)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {ROLES}")
    upscaler = served.upscaler
    scale = upscaler.scale
    names, whole, textured, tiles, inputs = [], [], [], [], []
    for path in list_images(photos):
        hr, sr = protocol_pair(read_uint8(path), upscaler.upscale_uint8, scale)
        lr = make_lr(hr, scale)
        scores = split_scores(hr, sr, scale)
        chosen, _ = texture_tiles(hr, bicubic_upscale(lr, scale), scale)
        names.append(path.stem)
        whole.append(scores["psnr"])
        textured.append(scores["texture_psnr"])
        tiles.extend(pooled_psnr(error[None]) for error in tile_errors(hr, sr, scale)[chosen])
        inputs.append(lr if lr.ndim == 3 else np.repeat(lr[:, :, None], 3, axis=2))
    if not names:
        raise ValueError(f"no images found in {photos}")
    seconds = min(timed_pass(upscaler, inputs) for _ in range(TIMED_PASSES))
    output_mp = sum(lr.shape[0] * lr.shape[1] for lr in inputs) * scale**2 / 1e6
    return {
        "label": weights_label(served.weights),
        "arch": served.weights.arch,
        "kind": "served",
        "role": role,
        "weights": served.weights.file_name,
        "n_params": served.weights.n_params,
        "precision": upscaler.precision,
        "device": where_measured(served),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "images": names,
        "psnr_texture": round(float(np.mean(textured)), 3),
        "psnr_whole": round(float(np.mean(whole)), 3),
        "texture_tiles": [round(value, 3) for value in tiles],
        "ms_per_mp": round(1000 * seconds / output_mp, 1),
    }


def timed_pass(upscaler: Upscaler, inputs: list[np.ndarray]) -> float:
    started = time.perf_counter()
    for lr in inputs:
        upscaler.upscale_uint8(lr)
    return time.perf_counter() - started


def texture_difference(better: dict, other: dict) -> tuple[float, bool]:
    """(mean texture-PSNR difference, whether it exceeds its uncertainty), over the textured tiles of the photos
    paired tile by tile (the tiles are chosen by bicubic, so both models are scored on the same ones): it counts
    when the mean lies more than two standard errors from zero, over at least MIN_TILES tiles."""
    diffs = np.subtract(better["texture_tiles"], other["texture_tiles"])
    mean = float(diffs.mean())
    if diffs.size < MIN_TILES:
        return mean, False
    standard_error = float(diffs.std(ddof=1)) / math.sqrt(diffs.size)
    return mean, abs(mean) > 2 * standard_error


def served_tradeoff(points: list[dict]) -> str:
    """The trade-off between the model choices in one line, from their measurements on this server: which keeps
    more texture (or no measurable difference), and which runs faster."""
    choices = sorted((p for p in points if p["role"] == "choice"), key=lambda p: -p["psnr_texture"])
    best, runner_up = choices[0], choices[1]
    fastest = min(choices, key=lambda p: p["ms_per_mp"])
    difference, measurable = texture_difference(best, runner_up)
    if measurable:
        texture = (f"{best['arch']} keeps more texture ({difference:+.2f} dB over {runner_up['arch']} on the most "
                   "textured tiles)")
    else:
        texture = f"no measurable difference in texture between {best['arch']} and {runner_up['arch']}"
    slower = max(choices, key=lambda p: p["ms_per_mp"]) if fastest is best else best
    ratio = slower["ms_per_mp"] / fastest["ms_per_mp"]
    if ratio < SAME_SPEED:  # whichever is faster, by less than the timing noise
        speed = "they run about as fast"
    elif fastest is best:
        speed = f"{best['arch']} {'also ' if measurable else ''}runs fastest ({ratio:.1f}× faster than {slower['arch']})"
    else:
        speed = f"{fastest['arch']} runs {ratio:.1f}× faster than {slower['arch']}"
    return (f"Measured on this server's example photos: {texture}; {speed} (chart under Workflow & sources).")


def served_caption(points: list[dict], with_record: bool = True) -> str:
    """The markdown under the served chart: how to read it, where and on what it was measured."""
    first = points[0]
    jpeg = [p for p in points if p["role"] == "jpeg"]
    jpeg_note = (f" The square is the {jpeg[0]['arch']} trained on JPEG photos, which JPEG photos get; these "
                 "photos are clean PNGs." if jpeg else "")
    record_note = (" The last panel is the record on the five Set5 photos: the papers' full-size models at their "
                   "published quality and the small bundled models as measured once; its numbers do not compare "
                   "with the first two panels'." if with_record else "")
    return (
        "**How to read it:** up is more detail kept, left is faster. The first two panels are the models this "
        f"server serves, measured here ({first['device']}, {first['precision']}, {first['date'][:10]}) on the "
        f"{len(first['images'])} example photos (CC0 crops no model trained on), each shrunk ×3 with the paper's "
        "bicubic and enlarged back: PSNR (brightness, in dB; +1 dB is a clearly visible gain) on each photo's "
        "most textured quarter of 48-pixel tiles, the tiles bicubic restores worst, and on the whole photo. Time "
        f"is per megapixel of output on this server, on these small photos.{jpeg_note}"
        f"{record_note}"
    )
