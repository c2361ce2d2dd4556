"""A step-through of the network on the user's whole photo (not the analysis region): input, each stage the
architecture names (explain/<arch>/stages.py: shallow features, each residual group or block, the learned
upsampling, the reconstruction) and the output, each with a thumbnail of its feature maps, its shape and its time.

Shapes are in one convention, C x H x W (channels x height x width, batch of one dropped), for images and
feature maps alike. Thumbnails of feature maps are a 3-component PCA of the channel vectors (the same idea as
the feature views' colours), so pixels with similar features get similar colours.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explain.explainers import explainer_for_model
from explain.hooks import owner_thread, removed_after
from explain.pipeline import model_input, threads_worth_using, value_range
from explain.workflow import StageSpec
from sr_core.protocol.imresize import imresize

# The pass is untiled (every stage's whole output is kept for its thumbnail): about 6 KB of memory per input
# pixel for the bundled RCAN, so a 4-megapixel photo would need ~24 GB. 400x300 keeps it under 1 GB.
STEP_MAX_PIXELS = 400 * 300
THUMB_SIDE = 240  # thumbnails are shrunk to at most this many pixels a side before PCA
PCA_SAMPLES = 4096  # pixels the PCA is fitted on


@dataclass
class Step:
    name: str
    detail: str
    shape: tuple[int, int, int]  # C x H x W
    seconds: float
    thumbnail: np.ndarray  # H x W x 3 uint8
    how_shown: str  # "the image" or "PCA of the C channels"

    def caption(self, index: int, count: int) -> str:
        c, h, w = self.shape
        return (f"**Step {index + 1} of {count}: {self.name}** · shape {c} × {h} × {w} (C × H × W) · "
                f"{1000 * self.seconds:.0f} ms\n\n{self.detail}\n\n*Shown: {self.how_shown}.*")


def shrunk(features: torch.Tensor, max_side: int = THUMB_SIDE) -> torch.Tensor:
    """CxHxW averaged down so that its longer side is at most max_side (the thumbnail's resolution)."""
    _, h, w = features.shape
    factor = max(h, w) / max_side
    if factor <= 1:
        return features
    return F.adaptive_avg_pool2d(features[None], (max(1, round(h / factor)), max(1, round(w / factor))))[0]


def pca_thumbnail(features: torch.Tensor) -> np.ndarray:
    """CxHxW features as an HxWx3 uint8 image: the three main directions of the channel vectors, each stretched
    to 0..255 between its 1st and 99th percentile."""
    c, h, w = features.shape
    vectors = features.reshape(c, -1).T.double()
    vectors = vectors - vectors.mean(0)
    sample = vectors[torch.linspace(0, len(vectors) - 1, min(PCA_SAMPLES, len(vectors))).long()]
    _, _, v = torch.linalg.svd(sample, full_matrices=False)
    components = v[:3].T if v.shape[0] >= 3 else torch.eye(c, 3, dtype=vectors.dtype)
    projected = (vectors @ components).numpy().reshape(h, w, -1)
    low, high = np.percentile(projected, [1, 99], axis=(0, 1))
    return (np.clip((projected - low) / np.maximum(high - low, 1e-12), 0, 1) * 255).astype(np.uint8)


def image_thumbnail(image: torch.Tensor, value_range_: float) -> np.ndarray:
    """A 3xHxW picture in the model's range as HxWx3 uint8."""
    return (image.clamp(0, value_range_) / value_range_ * 255).round().byte().permute(1, 2, 0).numpy()


def thumbnail_of(output: torch.Tensor) -> tuple[np.ndarray, str]:
    features = shrunk(output[0].float())
    if features.shape[0] == 3:  # an image inside the network (e.g. mean-shifted): its colours, stretched
        low, high = torch.quantile(features.flatten(), torch.tensor([0.01, 0.99], dtype=features.dtype))
        return image_thumbnail((features - low) / max(float(high - low), 1e-12), 1.0), "its 3 channels as colours"
    return pca_thumbnail(features), f"PCA of the {features.shape[0]} channels as colours"


def within_budget(rgb: np.ndarray, max_pixels: int) -> tuple[np.ndarray, str]:
    """The photo, shrunk with the paper's bicubic to at most max_pixels if larger, and the input step's words."""
    height, width = rgb.shape[:2]
    if height * width <= max_pixels:
        return rgb, "your photo, in the model's value range"
    small = np.clip(imresize(rgb, math.sqrt(max_pixels / (height * width))), 0, 1).astype(np.float32)
    return small, (f"your photo shrunk from {width}×{height} to {small.shape[1]}×{small.shape[0]} px: the "
                   f"step-through runs the network untiled, so it keeps to {max_pixels:,} pixels")


def step_through_photo(model: nn.Module, rgb: np.ndarray, max_pixels: int = STEP_MAX_PIXELS) -> list[Step]:
    """The step-through with the stages the model's explainer names, on the photo (shrunk if over max_pixels)."""
    rgb, input_detail = within_budget(rgb, max_pixels)
    return step_through(model, rgb, explainer_for_model(model).stages(model), input_detail)


@torch.no_grad()
def step_through(model: nn.Module, rgb: np.ndarray, stages: list[StageSpec],
                 input_detail: str = "your photo, in the model's value range") -> list[Step]:
    """Run `model` on the whole HxWx3 [0, 1] photo once, stage by stage (hooks on each stage's last module),
    and record every stage's output shape, time and thumbnail. The thumbnails are made after each stage's clock
    stops, so they do not count in its time."""
    scale = value_range(model)
    started = time.perf_counter()
    x = model_input(model, rgb)
    steps = [Step("input", input_detail, tuple(x.shape[1:]),
                  time.perf_counter() - started, image_thumbnail(shrunk(x[0].float()), scale), "the photo")]
    mine = owner_thread()
    begun: dict[int, float] = {}
    ended: list[Step] = []
    handles = []
    for index, (name, detail, modules) in enumerate(stages):
        def on_start(_module, _inputs, index=index):  # noqa: ANN001 - torch hook signature
            if mine() and index not in begun:
                begun[index] = time.perf_counter()

        def on_end(_module, _inputs, output, index=index, name=name, detail=detail):  # noqa: ANN001
            if mine():
                seconds = time.perf_counter() - begun[index]
                thumbnail, how = thumbnail_of(output)
                ended.append(Step(name, detail, tuple(output.shape[1:]), seconds, thumbnail, how))

        handles.append(modules[0].register_forward_pre_hook(on_start))
        handles.append(modules[-1].register_forward_hook(on_end))
    with threads_worth_using(), removed_after(handles):
        started = time.perf_counter()
        out = model(x)
        total = time.perf_counter() - started
    steps += ended
    clip_start = time.perf_counter()
    image = out[0].float().clamp(0, scale)
    steps.append(Step("output", f"clipped to the valid range: the enlarged photo ({total:.2f} s for the whole pass)",
                      tuple(image.shape), time.perf_counter() - clip_start,
                      image_thumbnail(shrunk(image), scale), "the enlarged photo"))
    return steps
