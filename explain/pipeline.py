"""The part of every analysis that does not depend on the architecture: check the input, align the original,
choose the working region, enlarge the whole photo with the engine, and turn a region pass into the texture
evidence, the experiments' yardsticks and the workflow record.

Speed: RCAN on a 2-core CPU costs seconds per 256x256 image and FeatSharp-style tiling runs the extractor on 9x
the pixels, so the per-pixel views and experiments run on a working region (the whole image up to `max_side`, else
its most textured `max_side` square). What the user's enlargement did as a whole (RCAN's gates, PSNR/SSIM against
the original) comes from one engine pass over the whole photo, exactly as the app and the CLI enlarge it.
"""
from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import ContextManager, Iterator

import numpy as np
import torch
from torch import nn

from explain.experiments import Measure
from explain.measures import high_frequency_energy
from explain.region import Box, box_around, most_textured_box
from explain.retrained import retrained_experiments
from explain.texture import TextureEvidence, compare_with_original, texture_evidence
from explain.workflow import Stage, workflow_record
from sr_core.engine import Upscaler, cpu_threads_worth_using, image_tensor, tensor_image
from sr_core.models import architecture_of, count_parameters
from sr_core.image_io import from_uint8, to_uint8
from sr_core.protocol.evaluate import make_lr, mod_crop
from sr_core.protocol.imresize import imresize

MAX_SIDE = 128  # working region, input pixels
MIN_SIDE = 8  # smaller inputs leave no room for tiles, windows and shifted views
MIN_ORIGINAL_INPUT_SIDE = 12  # an original is shrunk to at least this much a side before it is explained


@contextmanager
def threads_worth_using() -> Iterator[None]:
    """The region passes use as many CPU threads as are idle, as the engine does (on a shared CPU, a busy
    thread makes every op of a many-threaded pass wait: bench/README.md)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(cpu_threads_worth_using())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started


def check_rgb(name: str, image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"{name} must be an HxWx3 RGB array, got {shape}")


def model_info(model: nn.Module) -> dict:
    return {"arch": architecture_of(model).name, "config": model.config.to_dict(), "n_params": count_parameters(model)}


def value_range(model: nn.Module) -> float:
    """The model's pixel range (its descriptor's): 255 for RCAN, 1 for SAFMN, as the engine has it."""
    return float(architecture_of(model).value_range)


def model_input(model: nn.Module, rgb: np.ndarray) -> torch.Tensor:
    """An HxWx3 image in [0, 1] as `model`'s 1x3xHxW input (sr_core.engine.image_tensor), on its device and in
    its dtype."""
    param = next(model.parameters())
    return image_tensor(rgb, value_range(model)).to(param.device, param.dtype)


def aligned_original(original: np.ndarray, rgb: np.ndarray, scale: int) -> np.ndarray:
    """The original as uint8, mod-cropped, checked to be exactly `scale` times the input (so that every output
    pixel has its ground truth)."""
    check_rgb("the original", original)
    hr = mod_crop(original if original.dtype == np.uint8 else to_uint8(np.asarray(original, np.float32)), scale)
    height, width = rgb.shape[:2]
    if hr.shape[:2] != (height * scale, width * scale):
        raise ValueError(f"the original is {hr.shape[1]}x{hr.shape[0]} after mod-crop, expected x{scale} of the "
                         f"{width}x{height} input; shrink it with the paper's bicubic (sr_core.protocol.evaluate.make_lr)")
    return hr


def explained_input(photo: np.ndarray, have_original: bool, focus: tuple[int, int] | None, scale: int
                    ) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int] | None]:
    """(the model's input, the original or None, the click on that input). With "I have the original" the photo is
    the sharp original (uint8): the input is made from it with the paper's degradation (`make_lr`, float in
    [0, 1]), and the click is shrunk with it, so that every output pixel has its ground truth."""
    if not have_original:
        return photo, None, focus
    original = to_uint8(photo)
    if min(original.shape[:2]) < MIN_ORIGINAL_INPUT_SIDE * scale:
        side = MIN_ORIGINAL_INPUT_SIDE * scale
        raise ValueError(f"The original must be at least {side} px a side to be shrunk ×{scale} and scored.")
    low_res_focus = None if focus is None else (focus[0] // scale, focus[1] // scale)
    return from_uint8(make_lr(original, scale)), original, low_res_focus


def checked_input(rgb: np.ndarray, sr: np.ndarray | None, scale: int) -> np.ndarray:
    """The image as float32 in [0, 1]; refuses what the explainers cannot work on."""
    check_rgb("the image", rgb)
    rgb = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"the image is {width}x{height}; the explainers need at least {MIN_SIDE}x{MIN_SIDE} pixels")
    if sr is not None:
        check_rgb("the output", sr)
        if sr.shape[:2] != (height * scale, width * scale):
            raise ValueError(f"the output is {sr.shape[1]}x{sr.shape[0]}, expected x{scale} of {width}x{height}")
    return rgb


def working_region(rgb: np.ndarray, max_side: int, focus: tuple[int, int] | None = None
                   ) -> tuple[Box, str, np.ndarray]:
    """(region, how it was chosen, its high-frequency energy): the whole image up to max_side, else the max_side
    square around `focus` (x, y in input pixels: where the user clicked), else the most textured one."""
    height, width = rgb.shape[:2]
    energy = high_frequency_energy(rgb)
    if max(height, width) <= max_side:
        region, note = Box(0, 0, height, width), f"the whole image ({width}x{height})"
    elif focus is not None:
        region = box_around(*focus, max_side, max_side, height, width)
        note = f"the {region.width}x{region.height} crop you chose, at x={region.left}, y={region.top}"
    else:
        region = most_textured_box(energy, max_side, max_side)
        note = (f"its most textured {region.width}x{region.height} crop, at x={region.left}, y={region.top} "
                "(local high-frequency energy)")
    return region, note, region.crop(energy)


@dataclass
class Run:
    """One analysis in progress: the checked input, its original, the region, the clock."""

    model: nn.Module
    rgb: np.ndarray  # the whole input, float32 [0, 1]
    hr: np.ndarray | None  # the whole original, uint8, mod-cropped, exactly x scale of rgb
    image_mode: str
    region: Box
    region_note: str
    region_energy: np.ndarray
    lr_region: np.ndarray
    timings: dict[str, float]
    started: float
    focus_in_region: tuple[int, int] | None = None  # where the user clicked, in the region's pixels

    @property
    def scale(self) -> int:
        return int(self.model.scale)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def hr_region(self) -> np.ndarray | None:
        return None if self.hr is None else self.region.crop(self.hr, self.scale).astype(np.float32) / 255

    def model_input(self) -> tuple[torch.Tensor, float]:
        """(1x3xHxW region in the model's range, device and dtype; seconds the conversion took)."""
        started = time.perf_counter()
        x = model_input(self.model, self.lr_region)
        return x, time.perf_counter() - started

    def image_of(self, output: torch.Tensor) -> np.ndarray:
        """A region pass's output (1x3xHxW or 3xHxW, model range) as (H, W, 3) float32 in [0, 1], clipped."""
        return tensor_image(output, value_range(self.model))

    def enlarge_whole(self, upscaler: Upscaler | None, recording: ContextManager | None = None) -> np.ndarray:
        """The whole photo through the engine (as the app and the CLI enlarge it), with `recording` (e.g. hooks
        on the engine's model, `upscaler.model`) active around the pass."""
        with timed(self.timings, "whole_photo"), recording or nullcontext():
            return upscaler.upscale(self.rgb)

    def measure(self) -> Measure:
        bicubic = np.clip(imresize(self.lr_region, self.scale), 0, 1)
        return Measure(self.lr_region, bicubic, self.hr_region, self.scale)


def engine_for(model: nn.Module, upscaler: Upscaler | None) -> Upscaler:
    """The caller's engine when it runs this model (the app's), else a new one on the model's device."""
    return upscaler if upscaler is not None else Upscaler(model, str(next(model.parameters()).device))


def start(model: nn.Module, rgb: np.ndarray, sr: np.ndarray | None, original: np.ndarray | None,
          image_mode: str, max_side: int, focus: tuple[int, int] | None = None) -> Run:
    started = time.perf_counter()
    rgb = checked_input(rgb, sr, model.scale)
    hr = None if original is None else aligned_original(original, rgb, model.scale)
    timings: dict[str, float] = {}
    with timed(timings, "region"):
        region, region_note, region_energy = working_region(rgb, max_side, focus)
        lr_region = region.crop(rgb)
    inside = None if focus is None else (int(focus[0]) - region.left, int(focus[1]) - region.top)
    return Run(model, rgb, hr, image_mode, region, region_note, region_energy, lr_region, timings, started, inside)


def finish(run: Run, sr_whole: np.ndarray, conversion_seconds: float, stage_seconds: dict[str, float],
           stage_shapes: dict[str, tuple[int, ...]], stages: list) -> dict:
    """The fields of BaseAnalysis: texture evidence (of the whole photo's enlargement, over the region), the
    comparison with the original, the retrained arms on the region, the workflow record and the timings."""
    sr_region = run.region.crop(np.asarray(sr_whole, np.float32), run.scale)
    with timed(run.timings, "texture"):
        texture: TextureEvidence = texture_evidence(run.lr_region, sr_region, run.scale, run.hr_region,
                                                    run.focus_in_region)
    if run.hr is not None:
        with timed(run.timings, "original"):
            texture.original = compare_with_original(run.hr, to_uint8(run.rgb), to_uint8(sr_whole), run.scale)
    with threads_worth_using(), timed(run.timings, "retrained"):
        retrained = retrained_experiments(run.lr_region, run.measure())
    with timed(run.timings, "workflow"):
        workflow: list[Stage] = workflow_record(stages, run.scale, run.image_size, run.image_mode, run.region_note,
                                                (run.region.height, run.region.width), conversion_seconds,
                                                stage_seconds, stage_shapes)
    run.timings["analyze_total"] = time.perf_counter() - run.started
    return dict(model_info=model_info(run.model), image_size=run.image_size, image_mode=run.image_mode,
                region=run.region, region_note=run.region_note, lr_region=run.lr_region, sr_region=sr_region,
                hr_region=run.hr_region, texture=texture, workflow=workflow, timings=run.timings, retrained=retrained)
