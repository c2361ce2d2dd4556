"""Train an RCAN-layout model, top to bottom (the recipe of the bundled default).

Data: HR images from one or more folders; each HR image is mod-cropped and degraded once with
the paper's MATLAB-style bicubic (sr_core.imresize), so training sees the same LR as the
evaluation. Each step draws random aligned LR/HR crops with random flips and transposes.
Loss L1, optimiser Adam, learning rate warmed up then cosine-annealed, fixed seed.
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
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from sr_core.engine import dihedral
from sr_core.evaluate import list_images, make_lr, mod_crop
from sr_core.metrics import psnr_y
from sr_core.models.rcan import RCAN, RCANConfig
from sr_core.models.safmn import SAFMN, SAFMNConfig


# Architectures the recipe can train, by config type.
MODEL_CLASSES: dict[type, type[nn.Module]] = {RCANConfig: RCAN, SAFMNConfig: SAFMN}


@dataclass(frozen=True)
class Recipe:
    model: RCANConfig  # or another config type listed in MODEL_CLASSES
    batch: int = 32
    lr_patch: int = 48  # LR crop side; the HR crop is scale times larger
    lr: float = 4e-4
    warmup: int = 300
    save_every: int = 1000
    eval_every: int = 1000


CONFIGS: dict[str, Recipe] = {
    # The bundled default: 1.77M parameters, fp16 safetensors of about 3.5 MB.
    "bundled": Recipe(RCANConfig(n_resgroups=4, n_resblocks=6, n_feats=56, reduction=16, scale=3), batch=64),
    # A CPU-friendly model for quick experiments.
    "small": Recipe(RCANConfig(n_resgroups=3, n_resblocks=3, n_feats=32, reduction=8, scale=3), batch=16),
    # For tests: seconds on a CPU.
    "tiny": Recipe(RCANConfig(n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4, scale=3), batch=4, lr_patch=12,
                   warmup=2, save_every=2, eval_every=2),
    # SAFMN x3 as published (sunny2109/SAFMN options/train/SAFMN/train_DF2K_X3.yml: Adam lr 1e-3, cosine,
    # batch 64 of 64px LR crops); batch and crop here suit CPU training. 232,695 parameters.
    "safmn": Recipe(SAFMNConfig(dim=36, n_blocks=8, ffn_scale=2.0, scale=3), batch=16, lr_patch=48, lr=1e-3),
    # The dataset-distillation study (sr_core.study): a quarter-width SAFMN whose five arms fit one session on a
    # shared 2-core CPU (one thread: about 80 ms per step, "safmn" about 1.3 s). 56,643 parameters.
    # The 32px LR crop leaves room for random crops inside the 48px LR patches of a distilled set.
    "safmn-study": Recipe(SAFMNConfig(dim=24, n_blocks=4, ffn_scale=2.0, scale=3), batch=16, lr_patch=32, lr=1e-3,
                          save_every=250, eval_every=250),
}


@dataclass(frozen=True)
class Trained:
    """What a (possibly resumed) run reached: steps done, training-loop seconds over all sessions, last val PSNR."""

    steps: int
    seconds: float
    val_psnr: float | None


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _hr_lr_pair(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    hr = mod_crop(read_rgb(path), scale)
    return hr, make_lr(hr, scale)


class PatchSampler:
    """All HR/LR pairs held as uint8 tensors on the training device; crops drawn by a seeded generator."""

    def __init__(self, folders: list[Path], scale: int, lr_patch: int, device: torch.device, workers: int = 8) -> None:
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
            lr_crops.append(dihedral(self.lr[i][:, y : y + p, x : x + p], k))
            hr_crops.append(dihedral(self.hr[i][:, y * s : (y + p) * s, x * s : (x + p) * s], k))
        return torch.stack(lr_crops).float(), torch.stack(hr_crops).float()


def learning_rate(step: int, total: int, recipe: Recipe) -> float:
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    progress = (step - recipe.warmup) / max(1, total - recipe.warmup)
    return 1e-6 + 0.5 * (recipe.lr - 1e-6) * (1 + math.cos(math.pi * min(progress, 1.0)))


def pixel_scale(model: nn.Module) -> float:
    """Factor from 0..255 pixels to the model's range: 1 for RCAN (0..255), 1/255 for SAFMN (0..1)."""
    return getattr(model.config, "rgb_range", 1.0) / 255.0


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


def save_weights(model: nn.Module, out: Path, recipe_name: str, steps: int) -> None:
    """fp16 safetensors with the official keys (half the size; the loader casts back to float32)."""
    tensors = {k: v.detach().half().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"arch": type(model).__name__, "recipe": recipe_name, "steps": str(steps)}
    metadata.update({k: str(v) for k, v in model.config.to_dict().items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=metadata)


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
    log: Callable[[str], None] = print,
) -> Trained:
    """Run the recipe, or resume it from the state beside `out`.

    The seconds are those of the training loop up to the last saved state, summed over sessions: steps
    lost to an interruption and done again are counted once; loading the data is not counted.
    """
    if (iters is None) == (minutes is None):
        raise ValueError("give exactly one of iters or minutes")
    recipe = CONFIGS[config]
    dev = torch.device(device)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    # Data first: the worker processes that degrade the images fork before CUDA starts.
    sampler = PatchSampler(data, recipe.model.scale, recipe.lr_patch, dev)
    log(f"{len(sampler)} training images from {', '.join(str(d) for d in data)}")
    model = MODEL_CLASSES[type(recipe.model)](recipe.model).to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=recipe.lr, betas=(0.9, 0.99))
    step, total, seconds_before = 0, iters, 0.0
    if resume and state_path(out).is_file():
        state = torch.load(state_path(out), map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, total, seconds_before = state["step"], state["total"], float(state.get("seconds", 0.0))
        log(f"resumed at step {step} of {total}")
    n_params = sum(p.numel() for p in model.state_dict().values())
    log(f"model {config}: {recipe.model} - {n_params:,} parameters, device {dev}")

    saved_seconds = seconds_before

    def save_state() -> None:
        nonlocal saved_seconds
        saved_seconds = seconds_before + time.perf_counter() - started
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = state_path(out).with_name(state_path(out).name + ".partial")
        torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
             "step": step, "total": total, "config": config, "seconds": saved_seconds},
            partial,
        )
        partial.replace(state_path(out))  # an interruption while saving leaves the previous state whole

    started = time.perf_counter()
    deadline = started + minutes * 60 if minutes is not None else None
    timing_from, timing_steps = None, 50
    running, last_psnr = torch.zeros((), device=dev), None
    model.train()
    while total is None or step < total:
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
        loss = torch.nn.functional.l1_loss(model(lr_batch), hr_batch)
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
        if step % recipe.save_every == 0 or step == total:
            save_state()
            save_weights(model, out, config, step)
    return Trained(step, saved_seconds, last_psnr)
