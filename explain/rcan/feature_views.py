"""FeatSharp-style views of RCAN's deep features enlarged x3, each scored without circularity.

FeatSharp (Ranzinger et al., arXiv 2502.16025) enlarges a vision model's feature map by fusing FeatUp's Joint
Bilateral Upsampler (JBU; FeatUp is the upsampler FeatSharp builds on) with features of tiled high-resolution
views. Here the "vision model" is RCAN's feature extractor F = head + body + long skip (C channels at input
resolution), and everything is training-free:

    nearest, bilinear   plain interpolation of F (baselines)
    jbu                 FeatUp's JBU form: F brought to the output grid (bicubic), then a 7x7 window weighted by a
                        spatial Gaussian (window coordinates in [-1, 1], sigma 1: FeatUp's initial value) times a
                        range Gaussian on the guidance colours (FeatUp learns this kernel), normalised. The guide
                        is the *input's* bicubic enlargement, never the network's output: a view guided by the
                        output would follow the output's edges by construction.
    tiled               FeatSharp's tiling: enlarge the input x3, run the extractor on 3x3 tiles, stitch
    fused               jbu and tiled mixed per pixel by their agreement (FeatSharp learns an attention mixer)
    learned             RCAN's own learned upsampling, the features after its PixelShuffle (`tail.0`), mapped onto
                        F's channels by least squares (one map per sub-pixel position) so all views share one
                        feature space
    featsharp           the one trained view: FeatSharp's recipe learned by this project (explain/rcan/featsharp.py:
                        learned-range JBU, tiled views with a learned bias, attention fusion, trained for multi-view
                        consistency on T91/BSD200/General100). Only for the extractor it was trained on, the
                        bundled RCAN's; for any other model the view is left out and says why

All views are standardised with F's per-channel statistics and shown through one PCA fitted on F, as FeatSharp's
figures do. Two scores per view, both mean per-pixel cosine similarities (-1..1, higher is better):
- hr_similarity (only with the original): against F run on the original itself, at output resolution: the
  features the view should have had;
- consistency (always): FeatUp's multi-view consistency, here with the one view we have: the view downscaled x3
  (the paper's bicubic) against F of the input. A necessary condition only: nearest enlargement passes it
  perfectly and adds no detail at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from explain.rcan.featsharp import LearnedKernels, learned_kernels, shipped_upsampler, upsample_with
from explain.region import Box
from sr_core.protocol.imresize import downscale, imresize

VIEW_NAMES = ("nearest", "bilinear", "jbu", "tiled", "fused", "learned", "featsharp")

# What each view is, in the words the figure uses: which follow FeatSharp and which are analogies.
LINEAGE = {
    "nearest": "baseline: nearest-neighbour enlargement of the features",
    "bilinear": "baseline: bilinear enlargement (FeatSharp's simplest comparison)",
    "jbu": "follows FeatSharp: FeatUp's joint bilateral upsampler, the part of FeatSharp it builds on, guided by "
    "the input's bicubic enlargement (training-free here: a fixed Gaussian range kernel instead of a learned one)",
    "tiled": "follows FeatSharp: its tiled high-resolution views (enlarge, 3x3 tiles, stitch; seams are expected)",
    "fused": "analogy of FeatSharp's fusion: FeatSharp learns an attention mixer; "
    "here jbu and tiled are mixed by their per-pixel agreement",
    "learned": "analogy, not in FeatSharp: RCAN's own learned upsampling (features after its PixelShuffle), "
    "mapped linearly onto the deep features' channels, one map per sub-pixel position",
    "featsharp": "follows FeatSharp, trained here: learned-range JBU plus tiled views with a learned bias, fused "
    "by attention; multi-view consistency on T91/BSD200/General100 (explain/rcan/featsharp_x3.json)",
}
NOT_TRAINED_FOR = ("not available: the trained upsampler knows only the bundled RCAN's features, and this "
                   "model's differ")

JBU_RADIUS = 3  # 7x7 window, as FeatUp's JBU
JBU_SIGMA_SPATIAL = 1.0  # on window coordinates spanning [-1, 1] (FeatUp's initial value)
JBU_SIGMA_RANGE = 0.1  # on RGB in [0, 1]; FeatUp learns its range kernel instead
HR_MARGIN = 4  # input pixels of context around the window when extracting features of the original

Extractor = Callable[[torch.Tensor], torch.Tensor]  # (N, 3, h, w) RGB in [0, 1] -> (N, C, h, w) features


@dataclass
class FeatureView:
    name: str
    lineage: str
    image: np.ndarray  # (sH, sW, 3) uint8: the shared PCA projection shown as colours
    consistency: float  # downscaled view against the input's features, mean cosine similarity
    hr_similarity: float | None  # against the original's features, mean cosine similarity; None without it


@dataclass
class FeatureViews:
    window: Box  # input pixels, in the working region's coordinates
    guide: np.ndarray  # (sH, sW, 3) float32: the input's bicubic enlargement over the window, the JBU guidance
    hr_image: np.ndarray | None  # (sH, sW, 3) uint8: PCA colours of F on the original, when known
    views: dict[str, FeatureView]  # every view of VIEW_NAMES that applies to this model
    pca_explained: list[float]  # share of F's variance held by each of the 3 components
    kernels: LearnedKernels | None = None  # what the featsharp view learned, when it applies
    missing: dict[str, str] = field(default_factory=dict)  # views left out, and why


class Standardizer:
    """Per-channel mean/std of F, applied to every view so that they share one scale."""

    def __init__(self, features: torch.Tensor) -> None:
        flat = features.reshape(features.shape[0], -1)
        self.mean = flat.mean(dim=1)[:, None, None]
        std = flat.std(dim=1)
        # Constant channels (dead filters) would otherwise blow up tiny differences between views.
        self.std = std.clamp_min(1e-3 * float(std.max()) + 1e-8)[:, None, None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class PCAProjection:
    """Three principal components of standardised F, and F's colour range, reused for every view."""

    def __init__(self, z_features: torch.Tensor) -> None:
        flat = z_features.reshape(z_features.shape[0], -1).double()
        self.center = flat.mean(dim=1, keepdim=True)
        values, vectors = torch.linalg.eigh(torch.cov(flat))
        order = torch.argsort(values, descending=True)[:3]
        self.components = vectors[:, order].T  # (3, C)
        total = float(values.clamp_min(0).sum())
        self.explained = [float(values[i].clamp_min(0)) / total if total > 0 else 0.0 for i in order]
        projected = self.components @ (flat - self.center)
        self.low = torch.quantile(projected, 0.01, dim=1)[:, None]
        self.high = torch.quantile(projected, 0.99, dim=1)[:, None]

    def image(self, z_view: torch.Tensor) -> np.ndarray:
        """(C, h, w) standardised features -> (h, w, 3) uint8 colours."""
        c, h, w = z_view.shape
        projected = self.components @ (z_view.reshape(c, -1).double() - self.center)
        unit = ((projected - self.low) / (self.high - self.low).clamp_min(1e-12)).clamp(0, 1)
        return (unit.T.reshape(h, w, 3).numpy() * 255 + 0.5).astype(np.uint8)


def upsample_nearest(features: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(features[None], scale_factor=scale, mode="nearest")[0]


def upsample_bilinear(features: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(features[None], scale_factor=scale, mode="bilinear", align_corners=False)[0]


def joint_bilateral_upsample(
    features: torch.Tensor,
    guide: torch.Tensor,
    radius: int = JBU_RADIUS,
    sigma_spatial: float = JBU_SIGMA_SPATIAL,
    sigma_range: float = JBU_SIGMA_RANGE,
) -> torch.Tensor:
    """(C, h, w) features, (3, H, W) guide in [0, 1] -> (C, H, W), edges following the guide's colours."""
    height, width = guide.shape[1:]
    up = F.interpolate(features[None], size=(height, width), mode="bicubic", align_corners=False)[0]
    diameter = 2 * radius + 1
    axis = torch.linspace(-1.0, 1.0, diameter)
    spatial = torch.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * sigma_spatial**2))
    up_pad = F.pad(up[None], [radius] * 4, mode="reflect")[0]
    guide_pad = F.pad(guide[None], [radius] * 4, mode="reflect")[0]
    total = torch.zeros_like(up)
    norm = torch.zeros(height, width)
    for dy in range(diameter):
        for dx in range(diameter):
            neighbour = guide_pad[:, dy : dy + height, dx : dx + width]
            weight = spatial[dy, dx] * torch.exp(-((neighbour - guide) ** 2).sum(0) / (2 * sigma_range**2))
            total += weight * up_pad[:, dy : dy + height, dx : dx + width]
            norm += weight
    return total / norm


def tiled_features(extract: Extractor, lr_rgb: np.ndarray, scale: int) -> torch.Tensor:
    """FeatSharp's tiling: enlarge the input x`scale` (bicubic), extract features of scale x scale tiles of the
    input's size in one batch, stitch them. Tiles see no context across their borders, hence the seams."""
    height, width = lr_rgb.shape[:2]
    enlarged = torch.from_numpy(np.clip(imresize(np.asarray(lr_rgb, np.float32), scale), 0, 1)).permute(2, 0, 1)
    tiles = torch.stack([
        enlarged[:, i * height : (i + 1) * height, j * width : (j + 1) * width]
        for i in range(scale) for j in range(scale)
    ])
    feats = extract(tiles)
    rows = [torch.cat(list(feats[i * scale : (i + 1) * scale]), dim=2) for i in range(scale)]
    return torch.cat(rows, dim=1)


def fuse_by_agreement(z_jbu: torch.Tensor, z_tiled: torch.Tensor) -> torch.Tensor:
    """Take the tiled detail where it agrees with jbu (cosine similarity of feature vectors), jbu elsewhere."""
    agreement = F.cosine_similarity(z_jbu, z_tiled, dim=0, eps=1e-8).clamp(0, 1)
    return z_jbu + agreement * (z_tiled - z_jbu)


def align_to_features(learned: torch.Tensor, features: torch.Tensor, scale: int) -> torch.Tensor:
    """Map the upsampler's channels onto F's: one least-squares map (plus a bias) per sub-pixel position, from the
    upsampler output at that position to F at the same input pixel.

    PixelShuffle gives each of the scale x scale positions its own conv channels, hence its own basis; without
    this the shared PCA would show that basis pattern, and the fidelity could not compare with F of shifted views.
    """
    c_in, c_out = learned.shape[0], features.shape[0]
    target = features.reshape(c_out, -1).T.double()
    aligned = torch.empty(c_out, *learned.shape[1:])
    for i in range(scale):
        for j in range(scale):
            phase = learned[:, i::scale, j::scale].reshape(c_in, -1).T.double()
            design = torch.cat([phase, torch.ones(phase.shape[0], 1, dtype=torch.float64)], dim=1)
            # Normal equations: a (C+1)-square system, far cheaper than the tall one; gelsd copes with dead channels.
            solution = torch.linalg.lstsq(design.T @ design, design.T @ target, driver="gelsd").solution
            mapped = (design @ solution).T.reshape(c_out, *features.shape[1:])
            aligned[:, i::scale, j::scale] = mapped.float()
    return aligned


def cosine_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(C, H, W) x2 -> (H, W) cosine similarity of the feature vectors at each pixel."""
    return F.cosine_similarity(a, b, dim=0, eps=1e-8)


def consistency(z_view: torch.Tensor, z_features: torch.Tensor, scale: int) -> float:
    """Mean per-pixel cosine similarity of the view downscaled x`scale` and the input's features (standardised);
    the outermost input pixel is left out, where the downscale mirrors the view's border."""
    down = downscale(z_view, scale)
    return float(cosine_map(down, z_features)[1:-1, 1:-1].mean())


def original_features(extract: Extractor, hr_region: np.ndarray, window: Box, scale: int) -> torch.Tensor:
    """F run on the original's pixels of the window, with HR_MARGIN input pixels of context: (C, sh, sw)."""
    height, width = hr_region.shape[0] // scale, hr_region.shape[1] // scale
    context = window.grown(HR_MARGIN, height, width)
    pixels = torch.from_numpy(np.ascontiguousarray(context.crop(hr_region, scale))).permute(2, 0, 1)
    feats = extract(pixels[None])[0]
    inner = window.within(context)
    return feats[:, inner.top * scale : inner.bottom * scale, inner.left * scale : inner.right * scale]


def feature_views(
    extract: Extractor,
    features: torch.Tensor,
    learned: torch.Tensor,
    bicubic_region: np.ndarray,
    lr_region: np.ndarray,
    window: Box,
    scale: int,
    hr_region: np.ndarray | None = None,
) -> FeatureViews:
    """Every view over `window` (input pixels within the working region) with their scores.

    features: (C, H, W) F of the region; learned: (C, sH, sW) upsampler output of the region; bicubic_region:
    (sH, sW, 3) the input's bicubic enlargement, the JBU guidance; lr_region: (H, W, 3) the region's input;
    hr_region: (sH, sW, 3) the original's pixels of the region, float in [0, 1], when known.
    """
    standardize = Standardizer(features)
    pca = PCAProjection(standardize(features))
    f_window = window.crop(features.permute(1, 2, 0)).permute(2, 0, 1)
    guide_hwc = np.ascontiguousarray(window.crop(np.asarray(bicubic_region, np.float32), scale))
    guide = torch.from_numpy(guide_hwc).permute(2, 0, 1).contiguous()
    aligned = align_to_features(learned, features, scale)

    tiled = tiled_features(extract, window.crop(lr_region), scale)
    z = {
        "nearest": standardize(upsample_nearest(f_window, scale)),
        "bilinear": standardize(upsample_bilinear(f_window, scale)),
        "jbu": standardize(joint_bilateral_upsample(f_window, guide)),
        "tiled": standardize(tiled),
        "learned": standardize(window.crop(aligned.permute(1, 2, 0), scale).permute(2, 0, 1)),
    }
    z["fused"] = fuse_by_agreement(z["jbu"], z["tiled"])
    upsampler, kernels, missing = shipped_upsampler(), None, {}
    if upsampler is not None and upsampler.matches(extract):
        upsampled, tiled_share = upsample_with(upsampler, f_window, guide, tiled)
        z["featsharp"] = standardize(upsampled)
        kernels = learned_kernels(upsampler, guide, tiled_share)
    else:
        missing["featsharp"] = NOT_TRAINED_FOR
    z_input = standardize(f_window)
    z_hr = None if hr_region is None else standardize(original_features(extract, hr_region, window, scale))
    views = {
        name: FeatureView(
            name=name,
            lineage=LINEAGE[name],
            image=pca.image(z[name]),
            consistency=consistency(z[name], z_input, scale),
            hr_similarity=None if z_hr is None else float(cosine_map(z[name], z_hr).mean()),
        )
        for name in VIEW_NAMES if name in z
    }
    return FeatureViews(window=window, guide=guide_hwc, hr_image=None if z_hr is None else pca.image(z_hr),
                        views=views, pca_explained=pca.explained, kernels=kernels, missing=missing)
