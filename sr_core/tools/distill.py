"""Shrink an SR training set to a fraction of its patches: which 9% keeps the textures?

Facts from Dietz, Moser, Nauen, Raue, Frolov, Dengel, "A Study in Dataset Distillation for Image
Super-Resolution", arXiv 2502.03656 (read in its abstract and summaries; code written here):
a distilled set "occupying only 8.88% of the original size" (v1: "a 91.12% dataset size
reduction") trains SR models to nearly the fidelity of the full set. Its pixel-space method adapts
gradient matching from Dataset Condensation (Zhao, Mopuri, Bilen, ICLR 2021, arXiv 2006.05929) by
replacing the classification loss with the SR reconstruction loss; it also studies initialisation
(real samples vs noise), pseudo-label grouping and latent-space (StyleGAN-XL) distillation, which
it found better than pixel space. Grouping and latent space are not done here.

Candidate pool: every image of the folders (RGB uint8, gray copied to 3 channels) is tiled with
`patch`-pixel HR patches on a grid anchored at the top-left, `stride` apart (default: `patch`, no
overlap; the bottom/right remainder that does not fill a patch is not a candidate). Without
overlap the kept patches hold `keep` of the pool's pixels too, so 8.88% of the candidates is 8.88%
of the data in bytes; a stride of patch // 2 would let the kept set cover up to 4x as many pixels.
"Size" is the candidate count N; exactly max(1, round(keep * N)) patches are kept.

Each kept patch becomes one training image `OUT/HR/{index:05d}.png`: the trainer degrades it on its
own, so a 144 px patch is exactly one 48 px LR crop of the bundled recipe (the score below is
computed on the patch alone for the same reason). `OUT/manifest.json` records where each came from.

Methods:
- random: a seeded uniform sample, the baseline.
- texture: the patches bicubic reconstructs worst, i.e. the lowest Y-PSNR(HR, up(down(HR))) with
  the paper-protocol degradation (the same informativeness score picks patches in Cho et al.,
  arXiv 2509.14777). Spread: an image may give at most twice its proportional share
  (cap = max(1, ceil(2 * k * n_image / N)), what a random sample gives it on average) in a first
  round; later rounds of the same cap fill up only when the first round has fewer than k patches.
- flat: the opposite of texture, the patches bicubic reconstructs best (highest score first, the same spread),
  for the ablation study's flat-data arm (sr_core.tools.ablation).
- gradient: synthetic patches initialised from the texture selection and optimised so that the
  L1-loss weight gradients of a small RCAN, drawn afresh at each step, match those of real batches
  (Dataset Condensation's layer-wise distance: sum over output channels of 1 - cosine; biases
  skipped). The synthetic LR is a differentiable torch form of make_lr: MATLAB imresize is linear
  along each axis, so it is two matrix products built from `sr_core.protocol.imresize.contributions`
  (`sr_core.protocol.imresize.downscale`: exact but for make_lr's uint8 rounding). The network is not trained between steps (DC's inner
  loop), so this matches gradients at initialisation only. Deterministic on CPU for a given seed.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

from sr_core.protocol.evaluate import bicubic_upscale, list_images, make_lr, read_uint8
from sr_core.protocol.imresize import downscale
from sr_core.protocol.metrics import psnr_y
from sr_core.models.rcan import RCAN, RCANConfig

METHODS = ("random", "texture", "gradient", "flat")
PAPER_KEEP = 0.0888  # arXiv 2502.03656: 8.88% of the original size
CAP_FACTOR = 2  # texture: an image gives at most twice its proportional share per round
MAX_SCORE = 100.0  # dB; a patch bicubic reconstructs losslessly (flat) would score inf


@dataclass(frozen=True)
class MatchSettings:
    """Gradient matching at a CPU-friendly scale."""

    steps: int = 200
    syn_batch: int = 8  # synthetic patches updated per step
    real_batch: int = 16  # real patches whose gradients they match
    lr: float = 1.0  # Adam step, in grey levels
    model: RCANConfig = RCANConfig(n_resgroups=1, n_resblocks=2, n_feats=16, reduction=4, scale=3)


@dataclass
class PatchPool:
    """All candidate patches with their LR (make_lr) and texture score."""

    folders: list[Path]
    origins: list[tuple[int, str, int, int]]  # (folder index, image path relative to it, x, y)
    image_ids: np.ndarray  # (N,) which image each patch comes from
    hr: np.ndarray  # (N, P, P, 3) uint8
    lr: np.ndarray  # (N, P/scale, P/scale, 3) uint8
    scores: np.ndarray  # (N,) bicubic Y-PSNR in dB

    def __len__(self) -> int:
        return len(self.hr)


def grid_positions(height: int, width: int, patch: int, stride: int) -> list[tuple[int, int]]:
    """Top-left (x, y) of every whole patch on the grid, row by row."""
    return [(x, y) for y in range(0, height - patch + 1, stride) for x in range(0, width - patch + 1, stride)]


def bicubic_psnr(hr: np.ndarray, scale: int = 3) -> float:
    """Texture score: Y-PSNR of HR against up(down(HR)), border `scale` shaved; lower = more texture."""
    return min(psnr_y(hr, bicubic_upscale(make_lr(hr, scale), scale), shave=scale), MAX_SCORE)


def build_pool(folders: list[Path], patch: int, stride: int, scale: int = 3) -> PatchPool:
    origins, image_ids, hrs = [], [], []
    image_count = 0
    for f, folder in enumerate(folders):
        for path in list_images(folder):
            rgb = read_uint8(path, rgb=True)
            name = path.relative_to(folder).as_posix()
            positions = grid_positions(rgb.shape[0], rgb.shape[1], patch, stride)
            for x, y in positions:
                origins.append((f, name, x, y))
                image_ids.append(image_count)
                hrs.append(rgb[y : y + patch, x : x + patch])
            image_count += bool(positions)
    if not hrs:
        raise ValueError(f"no image in {', '.join(map(str, folders))} holds a {patch}px patch")
    return PatchPool(
        folders=list(folders),
        origins=origins,
        image_ids=np.array(image_ids),
        hr=np.stack(hrs),
        lr=np.stack([make_lr(hr, scale) for hr in hrs]),
        scores=np.array([bicubic_psnr(hr, scale) for hr in hrs]),
    )


def select_random(candidates: int, k: int, seed: int) -> list[int]:
    return sorted(np.random.default_rng(seed).choice(candidates, size=k, replace=False).tolist())


def select_texture(scores: np.ndarray, image_ids: np.ndarray, k: int) -> list[int]:
    """Lowest scores first, in rounds that let each image give at most its cap (see module doc)."""
    n = len(scores)
    index = np.arange(n)
    counts = np.bincount(image_ids)
    caps = np.maximum(1, np.ceil(CAP_FACTOR * k * counts / n)).astype(np.int64)
    rank = np.empty(n, dtype=np.int64)  # rank of each patch within its image, best first
    seen = np.zeros_like(counts)
    for i in np.lexsort((index, scores)):
        rank[i] = seen[image_ids[i]]
        seen[image_ids[i]] += 1
    rounds = rank // caps[image_ids]
    return np.lexsort((index, scores, rounds))[:k].tolist()


def gradient_distance(real: list[torch.Tensor], synthetic: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers and output channels of 1 - cosine between the two gradients (DC's distance)."""
    total = synthetic[0].new_zeros(())
    for g_real, g_syn in zip(real, synthetic):
        a, b = g_real.flatten(1), g_syn.flatten(1)
        total = total + (1 - (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-6)).sum()
    return total


def matching_loss(model: nn.Module, real_lr: torch.Tensor, real_hr: torch.Tensor, syn_hr: torch.Tensor,
                  scale: int = 3) -> torch.Tensor:
    """Distance between the L1 training gradients on a real batch and on synthetic HR (0..255 NCHW)."""
    weights = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    l1 = nn.functional.l1_loss
    g_real = torch.autograd.grad(l1(model(real_lr), real_hr), weights)
    g_syn = torch.autograd.grad(l1(model(downscale(syn_hr, scale)), syn_hr), weights, create_graph=True)
    return gradient_distance([g.detach() for g in g_real], list(g_syn))


def matching_step(model: nn.Module, real_lr: torch.Tensor, real_hr: torch.Tensor, synthetic: list[nn.Parameter],
                  optimizer: torch.optim.Optimizer, scale: int = 3) -> float:
    """One update of the synthetic patches; returns the matching loss before it."""
    optimizer.zero_grad(set_to_none=True)  # patches outside this batch keep grad None: Adam skips them
    loss = matching_loss(model, real_lr, real_hr, torch.stack(synthetic), scale)
    loss.backward(inputs=synthetic)
    optimizer.step()
    with torch.no_grad():
        for p in synthetic:
            p.clamp_(0.0, 255.0)
    return float(loss.detach())


def _fresh_model(config: RCANConfig, seed: int, step: int, device: torch.device) -> RCAN:
    """A new random init per step, seeded by (seed, step), leaving the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(np.random.SeedSequence([seed, step]).generate_state(1)[0]))
        return RCAN(config).to(device)


def _nchw(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().to(device)


def distill_gradient(pool: PatchPool, init: list[int], settings: MatchSettings, seed: int, scale: int = 3,
                     device: str = "cpu", log: Callable[[str], None] = print) -> tuple[np.ndarray, list[float]]:
    """Synthetic HR patches (uint8, like pool.hr) started from pool.hr[init]; also the per-step losses."""
    if settings.model.scale != scale:
        raise ValueError(f"the matching model is x{settings.model.scale}, the data x{scale}")
    if settings.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {settings.steps}")
    dev = torch.device(device)
    synthetic = [nn.Parameter(t.clone()) for t in _nchw(pool.hr[init], dev)]  # one tensor per patch
    optimizer = torch.optim.Adam(synthetic, lr=settings.lr)
    rng = np.random.default_rng(seed)
    losses = []
    for step in range(settings.steps):
        model = _fresh_model(settings.model, seed, step, dev)
        real = np.sort(rng.choice(len(pool), size=min(settings.real_batch, len(pool)), replace=False))
        batch = np.sort(rng.choice(len(synthetic), size=min(settings.syn_batch, len(synthetic)), replace=False))
        losses.append(matching_step(model, _nchw(pool.lr[real], dev), _nchw(pool.hr[real], dev),
                                    [synthetic[i] for i in batch], optimizer, scale))
        if (step + 1) % 50 == 0 or step + 1 == settings.steps:
            log(f"gradient matching step {step + 1}/{settings.steps}  loss {np.mean(losses[-50:]):.3f}")
    with torch.no_grad():
        out = torch.stack(synthetic).round().clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()
    return out, losses


def distill(
    folders: list[Path],
    keep: float,
    method: str,
    out: Path,
    seed: int = 0,
    patch: int = 144,
    stride: int | None = None,
    scale: int = 3,
    settings: MatchSettings = MatchSettings(),
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> dict:
    """Write the reduced set to `out` (HR/{index:05d}.png and manifest.json); returns the manifest."""
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"--keep must be in (0, 1], got {keep}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if patch <= 0 or patch % scale:
        raise ValueError(f"--patch must be a positive multiple of {scale}, got {patch}")
    stride = patch if stride is None else stride
    if stride <= 0:
        raise ValueError(f"--stride must be positive, got {stride}")
    out_hr = Path(out) / "HR"
    if out_hr.is_dir() and list_images(out_hr):
        raise ValueError(f"{out_hr} already holds images; choose an empty output folder")
    folders = [Path(f) for f in folders]
    pool = build_pool(folders, patch, stride, scale)
    k = max(1, round(keep * len(pool)))
    log(f"{len(pool)} candidate patches of {patch}px (stride {stride}); keeping {k} by {method}")
    if method == "random":
        chosen = select_random(len(pool), k, seed)
    else:  # "flat" ranks by the negated score: the same spread, best reconstructed first
        chosen = select_texture(-pool.scores if method == "flat" else pool.scores, pool.image_ids, k)
    extra: dict = {}
    if method == "gradient":
        patches, losses = distill_gradient(pool, chosen, settings, seed, scale, device, log)
        extra["gradient"] = {**asdict(settings), "loss_first": losses[0], "loss_last": losses[-1]}
    else:
        patches = pool.hr[chosen]
    out_hr.mkdir(parents=True, exist_ok=True)
    records = []
    for index, (i, hr) in enumerate(zip(chosen, patches)):
        name = f"{index:05d}.png"
        Image.fromarray(hr).save(out_hr / name)
        folder, image, x, y = pool.origins[i]
        score = pool.scores[i] if method != "gradient" else bicubic_psnr(hr, scale)
        records.append({"file": f"HR/{name}", "folder": folder, "image": image, "x": x, "y": y,
                        "score": round(float(score), 4)})
    manifest = {
        "method": method, "keep": keep, "seed": seed, "patch": patch, "stride": stride, "scale": scale,
        "sources": [str(f) for f in folders], "candidates": len(pool), "kept": k,
        "score": "bicubic Y-PSNR (dB) of the written patch: PSNR_Y(HR, up(down(HR))), shave scale; "
                 "lower = more texture",
        **extra,
        "patches": records,
    }
    (Path(out) / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
