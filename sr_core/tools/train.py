"""Train a registered architecture (RCAN, SAFMN), top to bottom: the recipe of the bundled models.

The recipes (`--config NAME`) are the architectures' own (`Architecture.training`, in `sr_core.models`).

Data: HR images from one or more folders; each HR image is mod-cropped and degraded once with
the paper's MATLAB-style bicubic (sr_core.protocol.imresize), so training sees the same LR as the
evaluation. Each step draws random aligned LR/HR crops with random flips and transposes.
Loss L1, optimiser Adam, learning rate warmed up then cosine-annealed, fixed seed.
`degradation="jpeg"` (the JPEG-aware RCAN's recipe) also saves each sampled LR crop as a 4:2:0 JPEG at a quality
drawn from JPEG_QUALITIES by the same seeded generator, and decodes it again: photos arrive that way. The SAFMN
authors' real-world recipe (their `train_real_SAFMN` options) likewise compresses LR inputs with JPEG at random
qualities; the code here is this project's own (sr_core.jpeg).
A resumable state is written beside the output every `save_every` steps.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from sr_core.atomic import atomic_path
from sr_core.engine import dihedral
from sr_core.jpeg import jpeg_roundtrip
from sr_core.models import ARCHITECTURES, Recipe, architecture_of, count_parameters, training_recipes
from sr_core.protocol.evaluate import list_images, make_lr, mod_crop, read_uint8
from sr_core.protocol.metrics import psnr_y
from sr_core.weights import load_weights


# How the LR crops are made from the HR images: "bicubic" is the paper's (and the bundled models'); "jpeg" adds a
# JPEG round trip per crop at a uniformly drawn quality in JPEG_QUALITIES (inclusive). The range stops at 90:
# near-lossless JPEGs are served by the clean model (sr_core.choice), so training on them would spend steps on
# inputs this model never sees by default.
DEGRADATIONS = ("bicubic", "jpeg")
JPEG_QUALITIES = (30, 90)


@dataclass(frozen=True)
class Trained:
    """What a (possibly resumed) run reached: steps done, training-loop seconds over all sessions, last val PSNR."""

    steps: int
    seconds: float
    val_psnr: float | None


def _hr_lr_pair(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    hr = mod_crop(read_uint8(path, rgb=True), scale)
    return hr, make_lr(hr, scale)


class PatchSampler:
    """All HR/LR pairs held as uint8 tensors on the training device; crops drawn by a seeded generator."""

    def __init__(self, folders: list[Path], scale: int, lr_patch: int, device: torch.device, workers: int = 8,
                 degradation: str = "bicubic") -> None:
        if degradation not in DEGRADATIONS:
            raise ValueError(f"degradation must be one of {', '.join(DEGRADATIONS)}, got {degradation!r}")
        self.degradation = degradation
        paths = [p for folder in folders for p in list_images(folder)]
        if not paths:
            raise ValueError(f"no training images in {', '.join(map(str, folders))}")
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pairs = list(pool.map(_hr_lr_pair, paths, [scale] * len(paths), chunksize=4))
        pairs = [(hr, lr) for hr, lr in pairs if min(lr.shape[:2]) >= lr_patch]
        if not pairs:
            raise ValueError(f"every training image is smaller than {lr_patch * scale}px")
        to_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).to(device)
        self.hr = [to_tensor(hr) for hr, _ in pairs]
        self.lr = [to_tensor(lr) for _, lr in pairs]
        areas = torch.tensor([float(lr.shape[1] * lr.shape[2]) for lr in self.lr])
        self.weights = areas / areas.sum()  # big images give proportionally more crops
        self.scale, self.lr_patch = scale, lr_patch

    def __len__(self) -> int:
        return len(self.hr)

    def batch(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """LR and HR crops as float tensors in 0..255, (N, 3, p, p) and (N, 3, s*p, s*p)."""
        picks = torch.multinomial(self.weights, size, replacement=True, generator=generator).tolist()
        lr_crops, hr_crops = [], []
        p, s = self.lr_patch, self.scale
        for i in picks:
            _, h, w = self.lr[i].shape
            y = int(torch.randint(0, h - p + 1, (1,), generator=generator))
            x = int(torch.randint(0, w - p + 1, (1,), generator=generator))
            k = int(torch.randint(0, 8, (1,), generator=generator))
            lr_crop = dihedral(self.lr[i][:, y : y + p, x : x + p], k)
            if self.degradation == "jpeg":
                quality = int(torch.randint(JPEG_QUALITIES[0], JPEG_QUALITIES[1] + 1, (1,), generator=generator))
                lr_crop = self.jpeg(lr_crop, quality)
            lr_crops.append(lr_crop)
            hr_crops.append(dihedral(self.hr[i][:, y * s : (y + p) * s, x * s : (x + p) * s], k))
        return torch.stack(lr_crops).float(), torch.stack(hr_crops).float()

    @staticmethod
    def jpeg(crop: torch.Tensor, quality: int) -> torch.Tensor:
        """A (3, p, p) uint8 crop through a JPEG round trip (on the CPU: Pillow), back on its device."""
        rgb = crop.permute(1, 2, 0).cpu().numpy()
        return torch.from_numpy(jpeg_roundtrip(rgb, quality).copy()).permute(2, 0, 1).to(crop.device)


def recipe_model(recipe: Recipe) -> nn.Module:
    """A fresh model of the recipe's config, built by the architecture that config belongs to."""
    return next(arch for arch in ARCHITECTURES if isinstance(recipe.model, arch.config)).build(recipe.model)


def learning_rate(step: int, total: int, recipe: Recipe) -> float:
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    progress = (step - recipe.warmup) / max(1, total - recipe.warmup)
    return 1e-6 + 0.5 * (recipe.lr - 1e-6) * (1 + math.cos(math.pi * min(progress, 1.0)))


def pixel_scale(model: nn.Module) -> float:
    """Factor from 0..255 pixels to the model's range: 1 for RCAN (0..255), 1/255 for SAFMN (0..1)."""
    return architecture_of(model).value_range / 255.0


@torch.no_grad()
def quick_psnr(model: nn.Module, folder: Path, device: torch.device) -> float:
    """Mean Y-PSNR on a validation set with the paper's protocol (whole images, no ensemble)."""
    model.eval()
    scores = []
    for path in list_images(folder):
        hr, lr = _hr_lr_pair(path, model.scale)
        x = torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1)[None].float().to(device)
        sr = model(x * pixel_scale(model)) / pixel_scale(model)
        sr = sr.round().clamp(0, 255)[0].permute(1, 2, 0).byte().cpu().numpy()
        scores.append(psnr_y(sr, hr, shave=model.scale))
    model.train()
    return float(np.mean(scores))


def state_path(out: Path) -> Path:
    return out.with_name(out.name + ".state.pt")


def save_weights(model: nn.Module, out: Path, recipe_name: str, steps: int, degradation: str = "bicubic") -> None:
    """fp16 safetensors with the official keys (half the size; the loader casts back to float32)."""
    tensors = {k: v.detach().half().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"arch": architecture_of(model).name, "recipe": recipe_name, "steps": str(steps),
                "degradation": degradation}
    if degradation == "jpeg":
        metadata["jpeg_qualities"] = f"{JPEG_QUALITIES[0]}-{JPEG_QUALITIES[1]}"
    metadata.update({k: str(v) for k, v in model.config.to_dict().items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as staging:  # a full disk never leaves half a checkpoint under the final name
        save_file(tensors, str(staging), metadata=metadata)


def train(
    data: list[Path],
    config: str,
    out: Path,
    iters: int | None = None,
    minutes: float | None = None,
    device: str = "cpu",
    resume: bool = False,
    val: Path | None = None,
    seed: int = 0,
    init: Path | None = None,
    precision: str = "fp32",
    stop_at: int | None = None,
    degradation: str = "bicubic",
    log: Callable[[str], None] = print,
) -> Trained:
    """Run the recipe, or resume it from the state beside `out`.

    `init`: fine-tune from this checkpoint (its network, as detected from the file, replaces the recipe's;
    the recipe gives the schedule). `precision` "bf16" runs forward and loss under bf16 autocast (the
    weights and the optimiser stay float32). `stop_at`: save and return at that step, the schedule still
    planned for `iters` (a halfway checkpoint; resume to go on). `degradation`: one of DEGRADATIONS; a resumed
    run must keep the one it started with.

    The seconds are those of the training loop up to the last saved state, summed over sessions: steps
    lost to an interruption and done again are counted once; loading the data is not counted.
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    if (iters is None) == (minutes is None):
        raise ValueError("give exactly one of iters or minutes")
    recipe = training_recipes()[config]
    dev = torch.device(device)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    # Data first: the worker processes that degrade the images fork before CUDA starts.
    sampler = PatchSampler(data, recipe.model.scale, recipe.lr_patch, dev, degradation=degradation)
    log(f"{len(sampler)} training images from {', '.join(str(d) for d in data)}")
    model = (load_weights(str(init)).model.train() if init is not None else recipe_model(recipe)).to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=recipe.lr, betas=(0.9, 0.99))
    step, total, seconds_before = 0, iters, 0.0
    if resume and state_path(out).is_file():
        state = torch.load(state_path(out), map_location=dev, weights_only=True)
        if state.get("degradation", "bicubic") != degradation:
            raise ValueError(f"{state_path(out)} was trained with --degradation {state.get('degradation', 'bicubic')}, "
                             f"not {degradation}; resume with the same one or start a new --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, total, seconds_before = state["step"], state["total"], float(state.get("seconds", 0.0))
        log(f"resumed at step {step} of {total}")
    log(f"model {config}: {model.config}, LR inputs {degradation} - {count_parameters(model):,} parameters, device {dev}")

    saved_seconds = seconds_before

    def save_state() -> None:
        nonlocal saved_seconds
        saved_seconds = seconds_before + time.perf_counter() - started
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(state_path(out)) as staging:  # an interruption while saving leaves the previous state
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "generator": generator.get_state(), "step": step, "total": total, "config": config,
                        "seconds": saved_seconds, "degradation": degradation}, staging)

    started = time.perf_counter()
    deadline = started + minutes * 60 if minutes is not None else None
    timing_from, timing_steps = None, 50
    running, last_psnr = torch.zeros((), device=dev), None
    model.train()
    while (total is None or step < total) and (stop_at is None or step < stop_at):
        if total is None and timing_from is None and step >= 5:
            timing_from = (time.perf_counter(), step)
        if total is None and timing_from is not None and step - timing_from[1] == timing_steps:
            per_step = (time.perf_counter() - timing_from[0]) / timing_steps * 1.05  # margin for eval and saving
            total = step + max(1, int((deadline - time.perf_counter()) / per_step))
            log(f"{per_step * 1000:.1f} ms per step: training for {total} steps in total")
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, total or 10**9, recipe)
        lr_batch, hr_batch = (t * pixel_scale(model) for t in sampler.batch(recipe.batch, generator))
        if dev.type == "cuda":
            lr_batch = lr_batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = torch.nn.functional.l1_loss(model(lr_batch).float(), hr_batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=100.0)  # guards against rare spikes
        optimizer.step()
        step += 1
        running += loss.detach()  # no host sync per step: the GPU stays busy
        if step % recipe.eval_every == 0 or step == total:
            mean_loss = float(running) / (step % recipe.eval_every or recipe.eval_every) / pixel_scale(model)
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"training diverged at step {step}; resume from the last state")
            message = f"step {step}/{total or '?'}  loss {mean_loss:.3f}  " \
                      f"lr {optimizer.param_groups[0]['lr']:.2e}  {time.perf_counter() - started:.0f}s"
            running.zero_()
            if val is not None:
                last_psnr = quick_psnr(model, val, dev)
                message += f"  {val.name} PSNR {last_psnr:.2f} dB"
            log(message)
        if step % recipe.save_every == 0 or step in (total, stop_at):
            save_state()
            save_weights(model, out, config, step, degradation)
    if step == stop_at == 0:  # nothing trained: the start itself is the checkpoint (a control at 0 steps)
        save_state()
        save_weights(model, out, config, step, degradation)
    return Trained(step, saved_seconds, last_psnr)
