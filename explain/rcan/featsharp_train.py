"""Train the FeatSharp-style x3 upsampler (explain/rcan/featsharp.py) on the bundled RCAN's deep features.

    python -m explain train-featsharp [--out explain/rcan/featsharp_x3.safetensors] [--stop-after N]

Read top to bottom:
1. Data: the training sets only (T91, BSD200, General100 in ../shared/data/sr; Set5 and Set14 are refused), a
   tenth of the images held out for the validation curve. From each image, seeded crops: an HR crop of
   3p + 2 pixels, its input (the paper's bicubic x1/3 of the first 3p), the guide (the input's bicubic x3,
   never a network output), and views of the same crop shifted by 1 or 2 HR pixels, i.e. by a third or two
   thirds of an input pixel (FeatUp's jittered views; sub-pixel shifts are what a x3 upsampler must get right).
2. The frozen extractor runs once per crop (one batch: input, the nine tiles, the views): training then touches
   only the small upsampler, so it fits a shared 2-core CPU.
3. Loss: FeatUp's multi-view reconstruction (arXiv 2403.10516), sum over views t of
   || f(t(x)) - down(t(F_hr)) ||^2 in standardised feature units, with down the learned downsampler and the
   uncertainty term left out (a few thousand parameters, one extractor). As FeatSharp (arXiv 2502.16025),
   input rows and columns next to a tile seam weigh extra. The view's own border (MARGIN input pixels, where
   the extractor saw the crop's edge) is left out.
4. Adam with a short warm-up and cosine decay; every random choice from one seed; the loss curve, the time and
   the data go into a card beside the weights.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from explain.rcan.featsharp import SCALE, FeatSharpX3, Extractor, save_upsampler
from explain.rcan.feature_views import tiled_features
from sr_core.atomic import write_text_atomic
from sr_core.protocol.evaluate import list_images, make_lr
from sr_core.image_io import read_image, to_uint8
from sr_core.protocol.imresize import imresize

DATA_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sr"
TRAIN_SETS = ("T91", "BSD200", "General100")
EVALUATION_SETS = ("Set5", "Set14")  # never trained on: the comparison and the benchmarks use them
SHIFTS = [(dy, dx) for dy in range(SCALE) for dx in range(SCALE) if (dy, dx) != (0, 0)]


@dataclass(frozen=True)
class Recipe:
    seed: int = 0
    lr_patch: int = 24  # input crop side; the tiles of the tiled view are this size too
    crops_per_image: int = 2
    views_per_crop: int = 4  # shifted views besides the input itself, drawn from the 8 sub-pixel shifts
    holdout_every: int = 10  # every 10th image (sorted by set and name) is validation only
    batch: int = 8
    steps: int = 1500
    lr: float = 2e-3
    warmup: int = 50
    boundary_weight: float = 4.0  # loss weight of input rows/columns next to a tile seam
    margin: int = 3  # input pixels at each view border left out of the loss
    log_every: int = 100


@dataclass
class Crops:
    """What the extractor gave for every crop, stored once (float16 for the big maps)."""

    features: torch.Tensor  # (N, C, p, p) f(x)
    guides: torch.Tensor  # (N, 3, 3p, 3p) the input's bicubic enlargement
    tiled: torch.Tensor  # (N, C, 3p, 3p) stitched features of the 3x3 tiles of the guide
    views: torch.Tensor  # (N, V, C, p, p) f of each shifted view
    shifts: torch.Tensor  # (N, V, 2) its (dy, dx) in output pixels

    def __len__(self) -> int:
        return self.features.shape[0]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.features[index].float(), self.guides[index], self.tiled[index].float(),
                self.views[index].float(), self.shifts[index])


def training_images(folders: list[Path]) -> list[Path]:
    for folder in folders:
        if any(part in EVALUATION_SETS for part in Path(folder).resolve().parts):
            raise ValueError(f"refusing to train on {folder}: Set5 and Set14 are for evaluation only")
    return [path for folder in folders for path in list_images(folder)]


def read_rgb(path: Path) -> np.ndarray:
    """HxWx3 uint8, gray files as three equal channels."""
    return to_uint8(read_image(path).rgb)


def extract_crop(extract: Extractor, hr: np.ndarray, p: int, shifts: list[tuple[int, int]]) -> tuple[torch.Tensor, ...]:
    """One HR crop (3p+2 square, uint8) -> f(x), guide, tiled features, f of the shifted views."""
    lr = make_lr(np.ascontiguousarray(hr[: SCALE * p, : SCALE * p]), SCALE).astype(np.float32) / 255
    guide = np.clip(imresize(lr, SCALE), 0, 1)  # what the app's JBU is guided by: the input's bicubic x3
    views = [make_lr(np.ascontiguousarray(hr[dy : dy + SCALE * p, dx : dx + SCALE * p]), SCALE) for dy, dx in shifts]
    batch = torch.from_numpy(np.stack([lr] + [v.astype(np.float32) / 255 for v in views])).permute(0, 3, 1, 2)
    feats = extract(batch)
    tiled = tiled_features(extract, lr, SCALE)
    return feats[0], torch.from_numpy(guide).permute(2, 0, 1), tiled, feats[1:]


def make_crops(extract: Extractor, paths: list[Path], recipe: Recipe, rng: np.random.Generator) -> Crops:
    p = recipe.lr_patch
    side = SCALE * p + SCALE - 1
    parts: list[tuple[torch.Tensor, ...]] = []
    shift_lists: list[list[tuple[int, int]]] = []
    for path in paths:
        hr = read_rgb(path)
        if min(hr.shape[:2]) < side:
            continue
        for _ in range(recipe.crops_per_image):
            y, x = int(rng.integers(0, hr.shape[0] - side + 1)), int(rng.integers(0, hr.shape[1] - side + 1))
            picks = rng.choice(len(SHIFTS), size=recipe.views_per_crop, replace=False)
            shifts = [SHIFTS[i] for i in sorted(picks)]
            parts.append(extract_crop(extract, hr[y : y + side, x : x + side], p, shifts))
            shift_lists.append(shifts)
    if not parts:
        raise ValueError(f"no training image has {side}x{side} pixels")
    stack = lambda i, dtype: torch.stack([part[i] for part in parts]).to(dtype)
    return Crops(stack(0, torch.float32), stack(1, torch.float32), stack(2, torch.float16), stack(3, torch.float16),
                 torch.tensor(shift_lists))


def seam_weights(p: int, recipe: Recipe, dy: int) -> torch.Tensor:
    """(p - 2 margin,) loss weights of a view's input rows: boundary_weight where the row's centre lies within
    one input pixel of a seam of the 3x3 tiling (output rows p and 2p), 1 elsewhere (FeatSharp weights
    tile-boundary rows and columns extra)."""
    rows = torch.arange(recipe.margin, p - recipe.margin)
    centre = dy + SCALE * rows + 1
    near = torch.zeros_like(rows, dtype=torch.bool)
    for seam in (p, 2 * p):
        near |= (centre - (seam - 0.5)).abs() <= SCALE
    return torch.where(near, recipe.boundary_weight, 1.0)


def view_loss(model: FeatSharpX3, batch: tuple[torch.Tensor, ...], recipe: Recipe) -> torch.Tensor:
    """FeatUp's multi-view reconstruction loss over the input and its shifted views, seam rows weighted."""
    features, guides, tiled, views, shifts = batch
    p, m = recipe.lr_patch, recipe.margin
    upsampled = model.standardize(model(features, guides, tiled))
    picks, targets, weights = [], [], []
    for n in range(features.shape[0]):
        for (dy, dx), target in [((0, 0), features[n])] + list(zip(shifts[n].tolist(), views[n])):
            picks.append((n, dy, dx))
            targets.append(target[:, m : p - m, m : p - m])
            w = seam_weights(p, recipe, dy)[:, None] * seam_weights(p, recipe, dx)[None, :]
            weights.append(w / w.sum())
    pred = model.downsampler.sample(upsampled, picks, m, p - 2 * m)
    error = ((pred - model.standardize(torch.stack(targets))) ** 2).mean(1)  # (views, rows, cols)
    return (torch.stack(weights) * error).sum() / len(picks)


def learning_rate(step: int, recipe: Recipe) -> float:
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    progress = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    return recipe.lr * 0.5 * (1 + math.cos(math.pi * progress))


def probe(model: FeatSharpX3, extract: Extractor, generator: torch.Generator) -> None:
    """Store a fixed image and the extractor's features of it, so the upsampler recognises its extractor."""
    side = model.probe_image.shape[-1]
    model.probe_image.copy_(torch.rand(3, side, side, generator=generator))
    model.probe_features.copy_(extract(model.probe_image[None])[0])


def train(
    extract: Extractor,
    folders: list[Path],
    recipe: Recipe = Recipe(),
    stop_after: int | None = None,
    log=print,
) -> tuple[FeatSharpX3, dict]:
    """The recipe. Returns the upsampler and its card (data, steps, loss curve, time)."""
    started = time.perf_counter()
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)

    paths = training_images(folders)
    held_out = paths[recipe.holdout_every - 1 :: recipe.holdout_every]
    train_paths = [path for path in paths if path not in held_out]
    crops, val = make_crops(extract, train_paths, recipe, rng), make_crops(extract, held_out, recipe, rng)
    prepared = time.perf_counter() - started
    log(f"data: {len(crops)} training crops from {len(train_paths)} images, {len(val)} validation crops from "
        f"{len(held_out)}, features extracted in {prepared:.0f}s")

    model = FeatSharpX3(crops.features.shape[1])
    flat = crops.features.transpose(0, 1).reshape(crops.features.shape[1], -1)
    model.feature_mean.copy_(flat.mean(1))
    model.feature_std.copy_(flat.std(1).clamp_min(1e-3 * float(flat.std(1).max()) + 1e-8))
    probe(model, extract, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    val_index = torch.arange(len(val))

    curve: list[dict] = []
    running, count = 0.0, 0
    last = min(recipe.steps, stop_after or recipe.steps)
    for step in range(last):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, recipe)
        index = torch.randint(0, len(crops), (recipe.batch,), generator=generator)
        loss = view_loss(model, crops.batch(index), recipe)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running, count = running + float(loss.detach()), count + 1
        if (step + 1) % recipe.log_every == 0 or step + 1 == last:
            with torch.no_grad():
                val_loss = float(np.mean([float(view_loss(model, val.batch(chunk), recipe))
                                          for chunk in val_index.split(recipe.batch)]))
            point = {"step": step + 1, "train_loss": running / count, "val_loss": val_loss,
                     "seconds": time.perf_counter() - started}
            curve.append(point)
            log(f"step {point['step']}: train {point['train_loss']:.4f}, val {val_loss:.4f}, {point['seconds']:.0f}s")
            running, count = 0.0, 0

    card = {
        "what": "FeatSharp-style x3 upsampler of the bundled RCAN's deep features (explain/rcan/featsharp.py)",
        "recipe": asdict(recipe),
        "data": {"sets": [Path(f).name if Path(f).name != "HR" else Path(f).parent.name for f in folders],
                 "training_images": len(train_paths), "validation_images": len(held_out),
                 "training_crops": len(crops), "validation_crops": len(val)},
        "steps": last,
        "loss_curve": curve,
        "seconds": {"features": prepared, "total": time.perf_counter() - started},
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return model.eval(), card


def write(model: FeatSharpX3, card: dict, out: Path) -> Path:
    """The weights and, beside them, the card (same name, .json)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    save_upsampler(model, out, {"steps": str(card["steps"]), "seed": str(card["recipe"]["seed"])})
    card_path = out.with_suffix(".json")
    write_text_atomic(card_path, json.dumps(card, indent=1) + "\n")
    return card_path


def compare(model: FeatSharpX3, reference: FeatSharpX3) -> float:
    """Largest absolute difference between two upsamplers' tensors: the reproduction check."""
    ours, theirs = model.state_dict(), reference.state_dict()
    return max(float((ours[k].float() - theirs[k].float()).abs().max()) for k in ours)


def check_against_shipped(model: FeatSharpX3, card: dict, log=print) -> None:
    """Print how this run compares with the shipped file: the loss curve at the steps both logged, and, for a
    run of the whole schedule, the largest difference of any tensor."""
    from explain.rcan.featsharp import SHIPPED, load_upsampler

    shipped_card = json.loads(SHIPPED.with_suffix(".json").read_text(encoding="utf-8"))
    theirs = {point["step"]: point for point in shipped_card["loss_curve"]}
    for point in card["loss_curve"]:
        if point["step"] in theirs:
            other = theirs[point["step"]]
            log(f"check step {point['step']}: val {point['val_loss']:.6f} vs shipped {other['val_loss']:.6f} "
                f"(difference {point['val_loss'] - other['val_loss']:+.2e})")
    if card["steps"] == shipped_card["steps"] and card["recipe"] == shipped_card["recipe"]:
        log(f"check: largest tensor difference from the shipped file {compare(model, load_upsampler(SHIPPED)):.2e}")


def run(data: list[Path] | None, out: Path, steps: int | None, stop_after: int | None, check: bool) -> int:
    """`python -m explain train-featsharp`: train on the bundled RCAN's features, write weights and card."""
    from dataclasses import replace

    from explain.rcan.capture import feature_extractor
    from sr_core.weights import load_weights

    folders = data or [DATA_ROOT / name for name in TRAIN_SETS]
    recipe = Recipe() if steps is None else replace(Recipe(), steps=steps)
    model = load_weights("bundled").model.eval()
    upsampler, card = train(feature_extractor(model), folders, recipe, stop_after)
    print(write(upsampler, card, out))
    if check:
        check_against_shipped(upsampler, card)
    return 0
