"""FeatSharp-style views of RCAN's deep features enlarged x3, each scored with three numbers.

FeatSharp (Ranzinger et al., arXiv 2502.16025) enlarges a vision model's feature map by fusing FeatUp's Joint
Bilateral Upsampler (JBU) with features of tiled high-resolution views, trained for multi-view consistency.
Here the "vision model" is RCAN's feature extractor F = head + body + long skip (C channels at input resolution),
and everything is training-free:

    nearest, bilinear   plain interpolation of F (baselines)
    jbu                 FeatUp's JBU form: F brought to the output grid (bicubic), then a 7x7 window weighted by a
                        spatial Gaussian (window coordinates in [-1, 1], sigma 1: FeatUp's initial value) times a
                        range Gaussian on the guidance colours (FeatUp learns this kernel), normalised
    tiled               FeatSharp's tiling: enlarge the input x3, run the extractor on 3x3 tiles, stitch
    fused               jbu and tiled mixed per pixel by their agreement (FeatSharp learns an attention mixer)
    learned             RCAN's own learned upsampling, the features after its PixelShuffle (`tail.0`), mapped onto
                        F's channels by least squares (one map per sub-pixel position) so all six views share one
                        feature space

All views are standardised with F's per-channel statistics and shown through one PCA fitted on F, as FeatSharp's
figures do. Numbers per view: edge alignment (Pearson r of feature and output-luminance gradient magnitudes),
the share of spectral energy beyond the input's Nyquist frequency, and FeatSharp's multi-view fidelity computed
without training: variance of the features of shifted, downsampled views of the output over the MSE between them
and the view shifted and downsampled the same way (the paper's bicubic downscale, for images and features alike).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from explain.measures import gradient_magnitude, luminance, pearson, share_beyond_nyquist
from explain.region import Box
from sr_core.imresize import contributions, imresize, output_size

VIEW_NAMES = ("nearest", "bilinear", "jbu", "tiled", "fused", "learned")

# What each view is, in the words the figure uses: which follow FeatSharp and which are analogies.
LINEAGE = {
    "nearest": "baseline: nearest-neighbour enlargement of the features",
    "bilinear": "baseline: bilinear enlargement (FeatSharp's simplest comparison)",
    "jbu": "follows FeatSharp: FeatUp's joint bilateral upsampler, which FeatSharp builds on "
    "(training-free here: a fixed Gaussian range kernel instead of a learned one)",
    "tiled": "follows FeatSharp: its tiled high-resolution views (enlarge, 3x3 tiles, stitch; seams are expected)",
    "fused": "analogy of FeatSharp's fusion: FeatSharp learns an attention mixer; "
    "here jbu and tiled are mixed by their per-pixel agreement",
    "learned": "analogy, not in FeatSharp: RCAN's own learned upsampling (features after its PixelShuffle), "
    "mapped linearly onto the deep features' channels, one map per sub-pixel position",
}

JBU_RADIUS = 3  # 7x7 window, as FeatUp's JBU
JBU_SIGMA_SPATIAL = 1.0  # on window coordinates spanning [-1, 1] (FeatUp's initial value)
JBU_SIGMA_RANGE = 0.1  # on RGB in [0, 1]; FeatUp learns its range kernel instead
# Shifts in output pixels for the multi-view fidelity; none is a multiple of 3, so each moves the input grid
# by a fraction of a pixel, like FeatUp's small jitters.
FIDELITY_SHIFTS = ((1, 1), (1, 2), (2, 1))
FIDELITY_MARGIN = 8  # input pixels of context around the window when extracting features of a shifted view

Extractor = Callable[[torch.Tensor], torch.Tensor]  # (N, 3, h, w) RGB in [0, 1] -> (N, C, h, w) features


@dataclass
class FeatureView:
    name: str
    lineage: str
    image: np.ndarray  # (sH, sW, 3) uint8: the shared PCA projection shown as colours
    edge_alignment: float
    hf_energy: float
    fidelity: float


@dataclass
class FeatureViews:
    window: Box  # input pixels, in the working region's coordinates
    guide: np.ndarray  # (sH, sW, 3) float32: the output image over the window, the JBU guidance
    views: dict[str, FeatureView]
    pca_explained: list[float]  # share of F's variance held by each of the 3 components


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


def edge_alignment(z_view: torch.Tensor, guide_luma: np.ndarray, border: int) -> float:
    """Pearson r between the view's gradient magnitude (all channels) and the output's luminance gradients."""
    inner = (slice(border, -border), slice(border, -border)) if border else (slice(None), slice(None))
    return pearson(gradient_magnitude(z_view.numpy())[inner], gradient_magnitude(guide_luma)[inner])


@lru_cache(maxsize=16)
def _downscale_matrix(length: int, scale: int) -> torch.Tensor:
    """(length/scale, length) matrix of MATLAB's antialiased bicubic downscale along one axis (sr_core's weights)."""
    out_len = output_size(length, 1.0 / scale)
    weights, indices = contributions(length, out_len, 1.0 / scale)
    matrix = np.zeros((out_len, length))
    np.add.at(matrix, (np.repeat(np.arange(out_len), weights.shape[1]), indices.ravel()), weights.ravel())
    return torch.from_numpy(matrix).float()


def downscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    """(..., H, W) -> (..., H/scale, W/scale), as `imresize(x, 1/scale)` on floats, for any number of channels."""
    return _downscale_matrix(x.shape[-2], scale) @ x @ _downscale_matrix(x.shape[-1], scale).T


def shifted_view_features(
    extract: Extractor, guide_region: torch.Tensor, window: Box, scale: int
) -> torch.Tensor:
    """Features of the output image shifted by FIDELITY_SHIFTS and downscaled x`scale`, extracted with some
    context and cropped to the window: (S, C, h - 1, w - 1), in F's raw units."""
    height, width = guide_region.shape[1] // scale, guide_region.shape[2] // scale
    context = window.grown(FIDELITY_MARGIN, height, width)
    rows, cols = scale * (context.height - 1), scale * (context.width - 1)
    views = []
    for dy, dx in FIDELITY_SHIFTS:
        top, left = context.top * scale + dy, context.left * scale + dx
        views.append(downscale(guide_region[:, top : top + rows, left : left + cols], scale).clamp(0, 1))
    feats = extract(torch.stack(views))
    inner = window.within(context)
    return feats[:, :, inner.top : inner.top + window.height - 1, inner.left : inner.left + window.width - 1]


def multiview_fidelity(z_view: torch.Tensor, z_targets: torch.Tensor, scale: int) -> float:
    """Variance of the shifted views' features over the MSE of the view shifted and downscaled the same way.

    The outermost pixel is left out: there the downscale of the view mirrors its border, while the targets
    were extracted with real context.
    """
    rows, cols = z_targets.shape[2] * scale, z_targets.shape[3] * scale
    inner = (slice(None), slice(1, -1), slice(1, -1))
    variance = mse = 0.0
    for (dy, dx), target in zip(FIDELITY_SHIFTS, z_targets):
        predicted = downscale(z_view[:, dy : dy + rows, dx : dx + cols], scale)[inner]
        target = target[inner]
        variance += float(((target - target.mean(dim=(1, 2), keepdim=True)) ** 2).mean())
        mse += float(((predicted - target) ** 2).mean())
    return variance / mse if mse > 0 else float("inf")


def feature_views(
    extract: Extractor,
    features: torch.Tensor,
    learned: torch.Tensor,
    guide_region: torch.Tensor,
    lr_region: np.ndarray,
    window: Box,
    scale: int,
) -> FeatureViews:
    """All six views over `window` (input pixels within the working region) with their numbers.

    features: (C, H, W) F of the region; learned: (C, sH, sW) upsampler output of the region;
    guide_region: (3, sH, sW) the region's output in [0, 1]; lr_region: (H, W, 3) the region's input.
    """
    standardize = Standardizer(features)
    pca = PCAProjection(standardize(features))
    f_window = window.crop(features.permute(1, 2, 0)).permute(2, 0, 1)
    guide = window.crop(guide_region.permute(1, 2, 0), scale).permute(2, 0, 1).contiguous()
    aligned = align_to_features(learned, features, scale)

    z = {
        "nearest": standardize(upsample_nearest(f_window, scale)),
        "bilinear": standardize(upsample_bilinear(f_window, scale)),
        "jbu": standardize(joint_bilateral_upsample(f_window, guide)),
        "tiled": standardize(tiled_features(extract, window.crop(lr_region), scale)),
        "learned": standardize(window.crop(aligned.permute(1, 2, 0), scale).permute(2, 0, 1)),
    }
    z["fused"] = fuse_by_agreement(z["jbu"], z["tiled"])
    z_targets = standardize(shifted_view_features(extract, guide_region, window, scale))
    guide_hwc = guide.permute(1, 2, 0).numpy()
    guide_luma = luminance(guide_hwc)
    views = {
        name: FeatureView(
            name=name,
            lineage=LINEAGE[name],
            image=pca.image(z[name]),
            edge_alignment=edge_alignment(z[name], guide_luma, border=scale),
            hf_energy=share_beyond_nyquist(z[name].numpy(), scale),
            fidelity=multiview_fidelity(z[name], z_targets, scale),
        )
        for name in VIEW_NAMES
    }
    return FeatureViews(window=window, guide=guide_hwc, views=views, pca_explained=pca.explained)
