"""A FeatSharp-style x3 upsampler for the bundled RCAN's deep features, trained by this project.

FeatSharp (Ranzinger et al., arXiv 2502.16025) sharpens a frozen model's feature map in three parts, all here:
1. FeatUp's joint bilateral upsampler (Fu et al., arXiv 2403.10516) with a *learned* range kernel;
2. features of tiled high-resolution views, with a learned per-position bias buffer that soaks up the
   fixed-position artefacts of tiling, fused with the JBU output by a small attention block;
3. training for multi-view consistency with a learned downsampler (the recipe: `featsharp_train.py`).

The design for x3, where FeatUp stacks x2 stages: one JBU stage on the output grid. The features are brought to
the x3 grid by bicubic interpolation, as FeatUp's stage does for its x2, then one 7x7 window (+-1 input pixel)
re-weights them. x3 is not a power of two, and one stage is the learned counterpart of the training-free `jbu`
view (same bicubic start, same window, same guide), so the comparison isolates what training adds.

The guide is always the input's bicubic enlargement, never the network's output. Everything works on RCAN's raw
deep features; the fusion sees them standardised with the training set's per-channel statistics (buffers).
The file also holds a probe: a fixed image and the extractor's features of it, so that the upsampler is only
applied to the extractor it was trained for (`matches`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from sr_core.atomic import atomic_path
from sr_core.checkpoint import CheckpointError

SCALE = 3
RADIUS = 3  # 7x7 window: FeatUp's JBU
KEY_DIM = 32  # FeatUp's range MLP on the guide's colours: 3 -> 32 -> 32 with GELU
ATTN_DIM = 16  # width of the fusion's queries, keys and value correction
BORDER = 4  # tile rows/columns from each tile edge with their own bias (RCAN's seams are a few pixels wide)
DOWN_KERNEL = 9  # learned downsampler: a 9x9 blur (three input pixels) applied with stride 3
PROBE_SIDE = 16
PROBE_MATCH = 0.99  # mean cosine similarity of the probe features that counts as "the same extractor"
FILE_FORMAT = "featsharp-x3-rcan"
SHIPPED = Path(__file__).resolve().parent / "featsharp_x3.safetensors"

Extractor = Callable[[torch.Tensor], torch.Tensor]  # (N, 3, h, w) RGB in [0, 1] -> (N, C, h, w) features


def window_offsets(radius: int = RADIUS) -> list[tuple[int, int]]:
    """(dy, dx) of every window position, row by row: the order of the kernels' first axis."""
    diameter = 2 * radius + 1
    return [(dy, dx) for dy in range(diameter) for dx in range(diameter)]


def shifted(padded: torch.Tensor, dy: int, dx: int, height: int, width: int) -> torch.Tensor:
    return padded[..., dy : dy + height, dx : dx + width]


class LearnedRangeJBU(nn.Module):
    """FeatUp's JBU stage (arXiv 2403.10516, its eq. for the JBU with learned range kernel):

        F_hr[p]   = 1/Z_p * sum_{q in 7x7 window of p} F_up[q] * k_spatial(p, q) * k_range(G[p], G[q])
        k_spatial = exp(-||p - q||^2 / (2 sigma^2)), p - q on window coordinates spanning [-1, 1],
                    sigma learned (1 at the start)
        k_range   = softmax over the window of t * <E(G[p]), E(G[q])>, E = MLP 3 -> 32 -> 32 (GELU),
                    t = exp(log t) learned

    F_up: the features enlarged bicubically to the guide's grid; Z_p normalises the weights to sum 1, so a constant
    map stays constant whatever was learned."""

    def __init__(self, radius: int = RADIUS, key_dim: int = KEY_DIM) -> None:
        super().__init__()
        self.radius = radius
        self.range_proj = nn.Sequential(nn.Conv2d(3, key_dim, 1), nn.GELU(), nn.Conv2d(key_dim, key_dim, 1))
        self.log_temperature = nn.Parameter(torch.zeros(()))  # FeatUp starts its range temperature at exp(0)
        self.sigma_spatial = nn.Parameter(torch.ones(()))  # FeatUp's initial spatial sigma

    def embed(self, guide: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) guide in [0, 1] -> (N, KEY_DIM, H, W) colour embedding E."""
        return self.range_proj(guide - 0.5)

    def spatial_kernel(self) -> torch.Tensor:
        axis = torch.linspace(-1.0, 1.0, 2 * self.radius + 1)
        squared = (axis[:, None] ** 2 + axis[None, :] ** 2).flatten()
        return torch.exp(-squared / (2 * self.sigma_spatial**2))

    def kernels(self, keys: torch.Tensor) -> torch.Tensor:
        """(N, KEY_DIM, H, W) embedding -> (N, 49, H, W) window weights at every pixel, each set summing to 1."""
        height, width = keys.shape[-2:]
        padded = F.pad(keys, [self.radius] * 4, mode="reflect")
        logits = torch.stack([(keys * shifted(padded, dy, dx, height, width)).sum(1)
                              for dy, dx in window_offsets(self.radius)], dim=1)
        range_kernel = torch.softmax(logits * self.log_temperature.exp(), dim=1)
        weights = range_kernel * self.spatial_kernel()[None, :, None, None]
        return weights / weights.sum(1, keepdim=True).clamp_min(1e-12)

    def weighted_sum(self, features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) features, (N, 49, H, W) weights -> (N, C, H, W)."""
        height, width = weights.shape[-2:]
        up = F.interpolate(features, size=(height, width), mode="bicubic", align_corners=False)
        padded = F.pad(up, [self.radius] * 4, mode="reflect")
        out = torch.zeros_like(up)
        for k, (dy, dx) in enumerate(window_offsets(self.radius)):
            out = out + weights[:, k : k + 1] * shifted(padded, dy, dx, height, width)
        return out

    def forward(self, features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        return self.weighted_sum(features, self.kernels(self.embed(guide)))


def tile_position_index(length: int, tile: int, border: int = BORDER) -> torch.Tensor:
    """Per coordinate along one axis, its place in its tile: 0..border-1 from the tile's first edge, `border` in
    the middle, border+1..2*border towards the last edge (2*border on it). Tiles of any size share the buffer."""
    t = torch.arange(length) % tile
    from_end = tile - 1 - t
    index = torch.full((length,), border)
    index = torch.where(from_end < border, 2 * border - from_end, index)
    return torch.where(t < border, t, index)


class TileFusion(nn.Module):
    """FeatSharp's fusion of the JBU output with the tiled views' features (arXiv 2502.16025 fuses them with a
    small attention block; this is a per-pixel one over the two candidates):

        a = softmax_s(<W_q [z_jbu; E(G)], W_k z_s> / sqrt(d)),  s in {jbu, tiled}
        out = sum_s a_s z_s + W_o sum_s a_s W_v z_s             (W_o starts at zero)

    so each pixel picks between the smooth, input-consistent JBU and the detailed but seamed tiled features, and
    adds a learned correction."""

    def __init__(self, channels: int, key_dim: int = KEY_DIM, attn_dim: int = ATTN_DIM) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels + key_dim, attn_dim, 1)
        self.key = nn.Conv2d(channels, attn_dim, 1)
        self.value = nn.Conv2d(channels, attn_dim, 1)
        self.out = nn.Conv2d(attn_dim, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def attention(self, z_jbu: torch.Tensor, z_tiled: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """(N, 2, H, W): the share of jbu and tiled at each pixel."""
        query = self.query(torch.cat([z_jbu, keys], dim=1))
        logits = torch.stack([(query * self.key(z)).sum(1) for z in (z_jbu, z_tiled)], dim=1)
        return torch.softmax(logits / math.sqrt(query.shape[1]), dim=1)

    def forward(self, z_jbu: torch.Tensor, z_tiled: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        share = self.attention(z_jbu, z_tiled, keys)
        a_jbu, a_tiled = share[:, :1], share[:, 1:]
        mixed = a_jbu * z_jbu + a_tiled * z_tiled
        return mixed + self.out(a_jbu * self.value(z_jbu) + a_tiled * self.value(z_tiled))


class LearnedDownsampler(nn.Module):
    """FeatUp's simple learned downsampler (arXiv 2403.10516): one blur kernel, non-negative and summing to 1
    (softmax of its logits), shared by all channels, applied with stride 3. Used by the training loss only."""

    def __init__(self, size: int = DOWN_KERNEL) -> None:
        super().__init__()
        axis = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        # Starts as a Gaussian of sigma 1.5 output pixels: about one input pixel's footprint.
        self.logits = nn.Parameter(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * 1.5**2))

    def kernel(self) -> torch.Tensor:
        return torch.softmax(self.logits.flatten(), 0).reshape(self.logits.shape)

    def sample(self, x: torch.Tensor, picks: list[tuple[int, int, int]], start: int, count: int) -> torch.Tensor:
        """(N, C, H, W) upsampled maps -> (len(picks), C, count, count): for each (n, dy, dx), the x3 downscale
        of map n's view shifted by (dy, dx) output pixels, at that view's input pixels start .. start+count-1
        (its input pixel i is centred on output pixel dy + 3i + 1). One strided convolution over just those."""
        size = self.logits.shape[0]
        padded = F.pad(x, [size // 2] * 4, mode="replicate")
        extent = SCALE * (count - 1) + size
        windows = torch.stack([padded[n, :, 1 + dy + SCALE * start : 1 + dy + SCALE * start + extent,
                                      1 + dx + SCALE * start : 1 + dx + SCALE * start + extent]
                               for n, dy, dx in picks])
        channels = x.shape[1]  # depthwise with one shared kernel: far faster to train than a 1-channel conv
        return F.conv2d(windows, self.kernel()[None, None].expand(channels, 1, size, size), stride=SCALE,
                        groups=channels)


class FeatSharpX3(nn.Module):
    """JBU + tile bias + fusion (+ the training's downsampler), for a C-channel feature extractor."""

    def __init__(self, channels: int, probe_side: int = PROBE_SIDE) -> None:
        super().__init__()
        self.channels = channels
        self.jbu = LearnedRangeJBU()
        # FeatSharp's learned bias buffer (arXiv 2502.16025), here per channel and per place within a tile.
        self.tile_bias = nn.Parameter(torch.zeros(channels, 2 * BORDER + 1, 2 * BORDER + 1))
        self.fusion = TileFusion(channels)
        self.downsampler = LearnedDownsampler()
        self.register_buffer("feature_mean", torch.zeros(channels))
        self.register_buffer("feature_std", torch.ones(channels))
        self.register_buffer("probe_image", torch.zeros(3, probe_side, probe_side))
        self.register_buffer("probe_features", torch.zeros(channels, probe_side, probe_side))

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.feature_mean[:, None, None]) / self.feature_std[:, None, None]

    def unstandardize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.feature_std[:, None, None] + self.feature_mean[:, None, None]

    def debiased_tiles(self, tiled: torch.Tensor) -> torch.Tensor:
        """Standardised tiled features plus the learned bias of each pixel's place in its tile (tiles are the
        input's size: a third of the output along each axis)."""
        height, width = tiled.shape[-2:]
        rows = tile_position_index(height, height // SCALE)
        cols = tile_position_index(width, width // SCALE)
        return self.standardize(tiled) + self.tile_bias[:, rows][:, :, cols]

    def forward(self, features: torch.Tensor, guide: torch.Tensor, tiled: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) features, (N, 3, 3h, 3w) guide in [0, 1], (N, C, 3h, 3w) tiled features -> (N, C, 3h, 3w)."""
        return self.with_share(features, guide, tiled)[0]

    def with_share(self, features: torch.Tensor, guide: torch.Tensor,
                   tiled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The output and, per pixel, the fusion's share of the tiled features ((N, 3h, 3w), 0..1)."""
        keys = self.jbu.embed(guide)
        z_jbu = self.standardize(self.jbu.weighted_sum(features, self.jbu.kernels(keys)))
        z_tiled = self.debiased_tiles(tiled)
        share = self.fusion.attention(z_jbu, z_tiled, keys)[:, 1]
        return self.unstandardize(self.fusion(z_jbu, z_tiled, keys)), share

    def matches(self, extract: Extractor) -> bool:
        """Whether `extract` gives the features this upsampler was trained on (its probe, cosine >= 0.99)."""
        feats = extract(self.probe_image[None])[0]
        if feats.shape != self.probe_features.shape:
            return False
        similarity = F.cosine_similarity(self.standardize(feats), self.standardize(self.probe_features), dim=0)
        return bool(similarity.mean() >= PROBE_MATCH)


def save_upsampler(model: FeatSharpX3, path: Path, metadata: dict[str, str]) -> None:
    """Written beside `path` and moved into place: an interrupted run never leaves a half-written file."""
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as staging:
        save_file(tensors, str(staging), metadata={"format": FILE_FORMAT, **metadata})


MAX_CHANNELS = 1024  # far above any RCAN's feature width: a larger feature_mean is a crafted file


def load_upsampler(path: Path) -> FeatSharpX3:
    """The upsampler in `path`, strictly: the format tag, then every key and shape from the file's header, checked
    against a model of the width its feature_mean names, before a single tensor is read; then finite values.
    Anything else is a one-line CheckpointError, and a crafted header allocates nothing."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            tag = (handle.metadata() or {}).get("format")
            shapes = {key: list(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot read the FeatSharp upsampler {path.name}: {first}") from exc
    if tag != FILE_FORMAT:
        raise CheckpointError(f"{path.name} is not a FeatSharp x3 upsampler (format {tag!r}, expected {FILE_FORMAT!r})")
    mean = shapes.get("feature_mean")
    if mean is None or len(mean) != 1 or not 0 < mean[0] <= MAX_CHANNELS:
        raise CheckpointError(f"{path.name}: no feature_mean vector of 1..{MAX_CHANNELS} channels")
    model = FeatSharpX3(mean[0])
    expected = {key: list(value.shape) for key, value in model.state_dict().items()}
    missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path.name}: keys do not match a FeatSharp x3 upsampler "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    wrong = [k for k in expected if shapes[k] != expected[k]]
    if wrong:
        raise CheckpointError(f"{path.name}: {wrong[0]} has shape {shapes[wrong[0]]}, expected {expected[wrong[0]]}")
    tensors = load_file(str(path))
    bad = [k for k, v in tensors.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path.name}: {bad[0]} holds NaN or infinite values")
    model.load_state_dict(tensors, strict=True)
    return model.eval()


@lru_cache(maxsize=1)
def shipped_upsampler() -> FeatSharpX3 | None:
    """The upsampler shipped in the repo, or None when the file is absent (a checkout without it)."""
    return load_upsampler(SHIPPED) if SHIPPED.is_file() else None


def upsample_with(model: FeatSharpX3, features: torch.Tensor, guide: torch.Tensor,
                  tiled: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(C, h, w), (3, 3h, 3w), (C, 3h, 3w) -> (C, 3h, 3w) through the trained upsampler, no gradients, and the
    fusion's mean share of the tiled features."""
    with torch.inference_mode():
        out, share = model.with_share(features[None], guide[None], tiled[None])
    return out[0], float(share.mean())


@dataclass
class LearnedKernels:
    """The learned JBU weights at an edge and in a flat area of the guide: what the range kernel learned."""

    points: dict[str, tuple[int, int]]  # "edge", "flat" -> (y, x) in the guide's (output) pixels
    weights: dict[str, np.ndarray]  # -> (7, 7) weights (range x spatial, normalised), centre = the pixel itself
    patches: dict[str, np.ndarray]  # -> (7, 7, 3) the guide's colours under the window
    temperature: float  # the learned range temperature
    sigma_spatial: float  # the learned spatial sigma (window coordinates in [-1, 1])
    tiled_share: float = float("nan")  # the fusion's mean weight on the tiled features over the window, 0..1

    def effective_neighbours(self, kind: str) -> float:
        """1 / sum(w^2): how many of the 49 window pixels the kernel effectively averages (49 if uniform)."""
        return float(1.0 / np.square(self.weights[kind]).sum())

    def to_dict(self) -> dict:
        return {
            "temperature": self.temperature,
            "sigma_spatial": self.sigma_spatial,
            "tiled_share": self.tiled_share,
            **{kind: {"y": y, "x": x, "effective_neighbours": self.effective_neighbours(kind),
                      "centre_weight": float(self.weights[kind][RADIUS, RADIUS])}
               for kind, (y, x) in self.points.items()},
        }


def edge_and_flat(guide: torch.Tensor, radius: int = RADIUS) -> dict[str, tuple[int, int]]:
    """(3, H, W) guide -> the pixel with the strongest colour gradient and the one whose 7x7 neighbourhood varies
    least, both at least a window radius from the border."""
    gy = (guide[:, 2:, 1:-1] - guide[:, :-2, 1:-1]).square().sum(0)
    gx = (guide[:, 1:-1, 2:] - guide[:, 1:-1, :-2]).square().sum(0)
    gradient = F.pad(gy + gx, [1, 1, 1, 1])
    local = F.avg_pool2d(gradient[None, None], 2 * radius + 1, stride=1, padding=radius)[0, 0]
    inner = torch.full_like(gradient, float("inf"))
    inner[radius + 1 : -radius - 1, radius + 1 : -radius - 1] = 0
    width = gradient.shape[1]
    edge = int(torch.argmax(gradient - inner))
    flat = int(torch.argmin(local + inner))
    return {"edge": divmod(edge, width), "flat": divmod(flat, width)}


def learned_kernels(model: FeatSharpX3, guide: torch.Tensor, tiled_share: float = float("nan")) -> LearnedKernels:
    """The learned JBU weights at the guide's edge and flat pixels ((3, H, W) guide in [0, 1]), with the fusion's
    share of the tiled features when known."""
    points = edge_and_flat(guide)
    r = model.jbu.radius
    with torch.inference_mode():
        weights = model.jbu.kernels(model.jbu.embed(guide[None]))[0]
        temperature, sigma = float(model.jbu.log_temperature.exp()), float(model.jbu.sigma_spatial)
    side = 2 * r + 1
    colours = guide.permute(1, 2, 0).numpy()
    return LearnedKernels(
        points=points,
        weights={k: weights[:, y, x].reshape(side, side).numpy() for k, (y, x) in points.items()},
        patches={k: colours[y - r : y + r + 1, x - r : x + r + 1] for k, (y, x) in points.items()},
        temperature=temperature,
        sigma_spatial=sigma,
        tiled_share=tiled_share,
    )
