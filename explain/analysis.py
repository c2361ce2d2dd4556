"""The one entry point of the explainers: `analyze_any` a photo with a model (`analyze` for RCAN, `analyze_safmn`
for SAFMN), then `build_figures` and `explainer_markdown` from the result. Pure functions over arrays; no UI here.

What every model gets (`BaseAnalysis`): the working region, the texture evidence (crops, spectra, and PSNR/SSIM
against an original) and the workflow record. RCAN adds channel attention and feature views (`Analysis`), SAFMN
its per-block modulation maps (`SAFMNAnalysis`).

Speed: RCAN on a 2-core CPU costs seconds per 256x256 image and FeatSharp-style tiling runs the extractor on 9x
the pixels, so the analysis runs on a working region (the whole image up to `max_side`, else its most textured
`max_side` square), does one hooked forward pass for attention, features, upsampler output and stage timings,
and computes the feature views on a smaller window (`view_side`) inside it.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from explain.attention import TextureAttention, texture_attention, tile_attention, tile_average, tile_grid
from explain.capture import capture_forward, feature_extractor
from explain.feature_views import FeatureViews, feature_views
from explain.figures import build_figures
from explain.measures import high_frequency_energy
from explain.region import Box, most_textured_box
from explain.safm import ModulationTexture, capture_modulation, modulation_texture
from explain.text import explainer_markdown
from explain.texture import TextureEvidence, compare_with_original, texture_evidence
from explain.workflow import Stage, timed_modules, workflow_record
from sr_core.engine import Upscaler, precision_that_runs
from sr_core.image_io import from_uint8, to_uint8
from sr_core.models.rcan import RCAN
from sr_core.models.safmn import SAFMN

__all__ = ["Analysis", "BaseAnalysis", "SAFMNAnalysis", "analyze", "analyze_any", "analyze_safmn", "build_figures",
           "explainer_markdown"]

MAX_SIDE = 128  # working region, input pixels
VIEW_SIDE = 64  # feature-view window, input pixels (tiling runs the extractor on 3x this side)
TILE = 16  # side of the local windows for tile-wise attention, input pixels
TOP_K = 4  # most boosted channels kept per block for the overlay figure
MIN_SIDE = 8  # smaller inputs leave no room for tiles, windows and shifted views


@dataclass
class BaseAnalysis:
    """What the explainers find for any model: the region, its output, the texture evidence, the workflow."""

    model_info: dict
    image_size: tuple[int, int]  # (width, height) of the whole input
    image_mode: str
    region: Box  # working region, input pixels
    region_note: str  # how the region was chosen, for the report
    lr_region: np.ndarray  # (H, W, 3) float32 input of the region
    sr_region: np.ndarray  # (sH, sW, 3) float32 output of the region (the given output when there is one)
    texture: TextureEvidence
    workflow: list[Stage]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def scale(self) -> int:
        return int(self.model_info["config"]["scale"])

    @property
    def model_name(self) -> str:
        """"RCAN" or "SAFMN": labels the model's side in figures and text."""
        return str(self.model_info["arch"])

    def _common_metrics(self, texture_extra: dict | None = None) -> dict:
        width, height = self.image_size
        return {
            "model": self.model_info,
            "input": {
                "size": [width, height],
                "mode": self.image_mode,
                "working_region": {**self.region.to_dict(), "how": self.region_note},
            },
            "texture": {**(texture_extra or {}), **texture_metrics(self.texture, self.model_name.lower())},
            "workflow": [stage.to_dict() for stage in self.workflow],
            "timings": dict(self.timings),
        }


def texture_metrics(tex: TextureEvidence, tag: str) -> dict:
    """The texture evidence as JSON keys; `tag` names the model's side ("rcan", "safmn") as in the RCAN contract
    keys hf_energy_ratio_rcan_vs_bicubic, psnr_rcan, ..."""
    return {
        f"hf_energy_ratio_{tag}_vs_bicubic": tex.hf_energy_ratio,
        "hf_share_bicubic": tex.hf_share_bicubic,
        f"hf_share_{tag}": tex.hf_share_rcan,
        "zoom_box": tex.zoom.to_dict(),
        "original": None if tex.original is None else {
            "size": list(tex.original.size),
            "psnr_bicubic": tex.original.psnr_bicubic,
            "ssim_bicubic": tex.original.ssim_bicubic,
            f"psnr_{tag}": tex.original.psnr_rcan,
            f"ssim_{tag}": tex.original.ssim_rcan,
        },
    }


@dataclass(kw_only=True)
class Analysis(BaseAnalysis):
    """RCAN: channel attention and feature views besides the common evidence."""

    attention: np.ndarray  # (G, B, C) channel attention on the whole working region
    tile_attention: np.ndarray  # (G, B, C, ny, nx) the same gates on local windows
    tile_size: int
    texture_attention: TextureAttention
    top_channels: np.ndarray  # (G, B, k) most boosted channels of each block
    top_maps: np.ndarray  # (G, B, k, H, W) their |residual| maps
    views: FeatureViews

    def chosen_block(self) -> tuple[int, int]:
        """(group, block), 0-based: the block holding the channel most boosted on textured tiles."""
        boosts = np.nan_to_num(self.texture_attention.boosts, nan=-np.inf)
        g, b, _ = np.unravel_index(int(np.argmax(boosts)), boosts.shape)
        return int(g), int(b)

    def texture_boosted(self, n: int = 5) -> list[dict]:
        """The n (group, block, channel) most boosted on textured tiles relative to flat ones."""
        boosts = np.nan_to_num(self.texture_attention.boosts, nan=-np.inf)
        order = np.argsort(-boosts, axis=None, kind="stable")[:n]
        return [
            {"group": int(g) + 1, "block": int(b) + 1, "channel": int(c), "boost": float(boosts[g, b, c])}
            for g, b, c in zip(*np.unravel_index(order, boosts.shape))
        ]

    def metrics(self) -> dict:
        """Everything numeric, JSON-ready (NaN and infinities become null): the content of metrics.json.
        Groups and blocks count from 1; channels are 0-based tensor indices."""
        ta = self.texture_attention
        g, b = self.chosen_block()
        result = self._common_metrics({
            "attention_texture_correlation": ta.correlation,
            "attention_textured_tiles": ta.textured_mean,
            "attention_flat_tiles": ta.flat_mean,
            "attention_difference_textured_minus_flat": ta.textured_mean - ta.flat_mean,
            "attention_basis": ta.basis,
            "texture_channels_per_block": int(ta.texture_channels.sum(axis=2).max()),
        })
        result.update({
            "attention": {
                "shape": list(self.attention.shape),
                "mean": float(self.attention.mean()),
                "min": float(self.attention.min()),
                "max": float(self.attention.max()),
                "tile_size": self.tile_size,
                "tile_grid": list(self.tile_attention.shape[3:]),
                "chosen_block": {"group": g + 1, "block": b + 1,
                                 "most_boosted_channels": self.top_channels[g, b].tolist()},
                "texture_boosted": self.texture_boosted(),
            },
            "feature_views": {
                name: {"edge_alignment": v.edge_alignment, "hf_energy": v.hf_energy, "fidelity": v.fidelity,
                       "lineage": v.lineage}
                for name, v in self.views.views.items()
            },
            "feature_view_window": {**self.views.window.to_dict(), "pca_explained": self.views.pca_explained},
        })
        return _json_ready(result)


@dataclass(kw_only=True)
class SAFMNAnalysis(BaseAnalysis):
    """SAFMN: every block's modulation map (mean |m| over channels) besides the common evidence."""

    modulation: np.ndarray  # (n_blocks, H, W) on the working region
    modulation_texture: ModulationTexture
    tile_size: int

    def metrics(self) -> dict:
        """Everything numeric, JSON-ready. Blocks count from 1; texture keys name the model's side "safmn"."""
        mt = self.modulation_texture
        result = self._common_metrics()
        result["modulation"] = {
            "what": "mean over channels of |GELU(aggr(.))|, the factor SAFM multiplies the normalised features by",
            "shape": list(self.modulation.shape),
            "tile_size": self.tile_size,
            "tile_grid": list(mt.tile_hf.shape),
            "blocks": [
                {"block": i + 1, "mean": float(block_map.mean()), "min": float(block_map.min()),
                 "max": float(block_map.max()), "texture_correlation": float(mt.correlation[i]),
                 "textured_tiles": float(mt.textured_mean[i]), "flat_tiles": float(mt.flat_mean[i])}
                for i, block_map in enumerate(self.modulation)
            ],
        }
        return _json_ready(result)


def _json_ready(value: object) -> object:
    """Plain Python types; non-finite floats become None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started


def _check_rgb(name: str, image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"{name} must be an HxWx3 RGB array, got {shape}")


def _model_info(model: nn.Module) -> dict:
    return {"arch": type(model).__name__, "config": model.config.to_dict(),
            "n_params": sum(p.numel() for p in model.parameters())}


def _upscale_uint8(model: nn.Module, precision: str = "auto") -> Callable[[np.ndarray], np.ndarray]:
    """uint8 RGB -> uint8 RGB through the engine (exact tiling, clipping, rounding as the app)."""
    upscaler = Upscaler(model, str(next(model.parameters()).device), precision)
    return lambda lr: to_uint8(upscaler.upscale(from_uint8(lr)))


def _checked_input(rgb: np.ndarray, sr: np.ndarray | None, scale: int) -> np.ndarray:
    """The image as float32 in [0, 1]; refuses what the explainers cannot work on."""
    _check_rgb("the image", rgb)
    rgb = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"the image is {width}x{height}; the explainers need at least {MIN_SIDE}x{MIN_SIDE} pixels")
    if sr is not None:
        _check_rgb("the output", sr)
        if sr.shape[:2] != (height * scale, width * scale):
            raise ValueError(f"the output is {sr.shape[1]}x{sr.shape[0]}, expected x{scale} of {width}x{height}")
    return rgb


def _working_region(rgb: np.ndarray, max_side: int) -> tuple[Box, str, np.ndarray]:
    """(region, how it was chosen, its high-frequency energy): the whole image up to max_side, else its most
    textured max_side square."""
    height, width = rgb.shape[:2]
    energy = high_frequency_energy(rgb)
    if max(height, width) <= max_side:
        region, note = Box(0, 0, height, width), f"the whole image ({width}x{height})"
    else:
        region = most_textured_box(energy, max_side, max_side)
        note = (f"its most textured {region.width}x{region.height} crop, at x={region.left}, y={region.top} "
                "(local high-frequency energy)")
    return region, note, region.crop(energy)


def _value_range(model: nn.Module) -> float:
    """The model's pixel range: 255 for RCAN (rgb_range), 1 for SAFMN, as the engine has it."""
    return float(getattr(model.config, "rgb_range", 1.0))


def _model_input(model: nn.Module, lr_region: np.ndarray) -> tuple[torch.Tensor, float]:
    """(1x3xHxW tensor in the model's range, device and dtype; seconds the conversion took, for the workflow)."""
    param = next(model.parameters())
    started = time.perf_counter()
    x = torch.from_numpy(np.ascontiguousarray(lr_region)).permute(2, 0, 1)[None]
    x = (x * _value_range(model)).to(param.device, param.dtype)
    return x, time.perf_counter() - started


def _texture_evidence(
    model: nn.Module, lr_region: np.ndarray, sr_region: np.ndarray, original: np.ndarray | None,
    timings: dict[str, float], precision: str = "auto",
) -> TextureEvidence:
    """Texture evidence of the region's output and, given the original, the paper-protocol scores of the model."""
    scale = model.scale
    with _timed(timings, "texture"):
        texture = texture_evidence(lr_region, sr_region, scale)
    if original is not None:
        with _timed(timings, "original"):
            _check_rgb("the original", original)
            hr = original if original.dtype == np.uint8 else to_uint8(np.asarray(original, np.float32))
            texture.original = compare_with_original(hr, _upscale_uint8(model, precision), scale)
    return texture


def _sr_region(sr: np.ndarray | None, region: Box, output_region: torch.Tensor, scale: int) -> np.ndarray:
    """The region of the output the user sees when given, else the analysis pass's own output."""
    if sr is not None:
        return region.crop(np.asarray(sr, np.float32), scale)
    return output_region.permute(1, 2, 0).numpy()


@dataclass
class _Run:
    """The part of an analysis every model shares: checked input, working region, clock."""

    model: nn.Module
    image_size: tuple[int, int]
    image_mode: str
    region: Box
    region_note: str
    region_energy: np.ndarray
    lr_region: np.ndarray
    timings: dict[str, float]
    started: float
    precision: str = "auto"  # the engine's, for its runs (the explainers' own pass runs in the model's dtype)


def _start(model: nn.Module, rgb: np.ndarray, sr: np.ndarray | None, image_mode: str, max_side: int,
           precision: str = "auto") -> _Run:
    started = time.perf_counter()
    rgb = _checked_input(rgb, sr, model.scale)
    timings: dict[str, float] = {}
    with _timed(timings, "region"):
        region, region_note, region_energy = _working_region(rgb, max_side)
        lr_region = region.crop(rgb)
    height, width = rgb.shape[:2]
    return _Run(model, (width, height), image_mode, region, region_note, region_energy, lr_region, timings, started,
                precision)


def _finish(run: _Run, sr: np.ndarray | None, original: np.ndarray | None, output_region: torch.Tensor,
            conversion_seconds: float, capture: object) -> dict:
    """The fields of BaseAnalysis: texture evidence, workflow record and timings, after the model's own pass."""
    sr_region = _sr_region(sr, run.region, output_region, run.model.scale)
    texture = _texture_evidence(run.model, run.lr_region, sr_region, original, run.timings, run.precision)
    with _timed(run.timings, "workflow"):
        workflow = workflow_record(run.model, run.image_size, run.image_mode, run.region_note,
                                   (run.region.height, run.region.width), conversion_seconds,
                                   capture.stage_seconds, capture.stage_shapes)
    run.timings["analyze_total"] = time.perf_counter() - run.started
    engine_precision = precision_that_runs(run.model, run.precision, next(run.model.parameters()).device)
    return dict(model_info=_model_info(run.model) | {"precision": engine_precision}, image_size=run.image_size, image_mode=run.image_mode,
                region=run.region, region_note=run.region_note, lr_region=run.lr_region, sr_region=sr_region,
                texture=texture, workflow=workflow, timings=run.timings)


def analyze(
    model: nn.Module,
    rgb: np.ndarray,
    sr: np.ndarray | None = None,
    original: np.ndarray | None = None,
    *,
    image_mode: str = "RGB",
    max_side: int = MAX_SIDE,
    view_side: int = VIEW_SIDE,
    tile: int = TILE,
    precision: str = "auto",
) -> Analysis:
    """Explain how `model` (an RCAN) enlarges `rgb` (float32 HxWx3 in [0, 1]).

    sr: the output the user sees (float (sH)x(sW)x3 in [0, 1]); the texture evidence uses it when given, else the
    analysis pass's own output. original: the photo's ground-truth HR version (uint8 or float in [0, 1]); when
    given, bicubic and RCAN are scored against it with the RCAN paper's protocol. image_mode: the file's mode, for
    the workflow record. precision: the engine's for that scoring (`sr_core.precision`); the explainers' own pass
    runs in the model's dtype, so their numbers do not depend on it.
    """
    if not isinstance(model, RCAN):
        raise ValueError(f"the explainers need an RCAN model (channel attention), not {type(model).__name__}")
    run = _start(model, rgb, sr, image_mode, max_side, precision)
    region, region_energy, lr_region, timings = run.region, run.region_energy, run.lr_region, run.timings

    with _timed(timings, "forward"):
        x, conversion_seconds = _model_input(model, lr_region)
        grid = tile_grid(region.height, region.width, tile)
        capture = capture_forward(model, x, grid, timed_modules(model), TOP_K)
        output_region = (capture.output / model.config.rgb_range).clamp(0, 1)

    with _timed(timings, "attention"):
        tile_att = tile_attention(model, capture.tile_means)
        texture_att = texture_attention(tile_att, capture.tile_activity, tile_average(region_energy, grid))

    with _timed(timings, "feature_views"):
        window = most_textured_box(region_energy, view_side, view_side)
        views = feature_views(feature_extractor(model), capture.features, capture.learned, output_region,
                              lr_region, window, model.scale)

    return Analysis(
        **_finish(run, sr, original, output_region, conversion_seconds, capture),
        attention=capture.attention,
        tile_attention=tile_att,
        tile_size=tile,
        texture_attention=texture_att,
        top_channels=capture.top_channels,
        top_maps=capture.top_maps,
        views=views,
    )


def analyze_safmn(
    model: nn.Module,
    rgb: np.ndarray,
    sr: np.ndarray | None = None,
    original: np.ndarray | None = None,
    *,
    image_mode: str = "RGB",
    max_side: int = MAX_SIDE,
    tile: int = TILE,
    precision: str = "auto",
) -> SAFMNAnalysis:
    """Explain how `model` (a SAFMN) enlarges `rgb`: its modulation maps on the working region, plus the texture
    evidence and workflow every model gets. Arguments as for `analyze`; `tile` is the side of the windows over
    which the maps are compared with local texture."""
    if not isinstance(model, SAFMN):
        raise ValueError(f"the modulation view needs a SAFMN model, not {type(model).__name__}")
    run = _start(model, rgb, sr, image_mode, max_side, precision)
    region, timings = run.region, run.timings

    with _timed(timings, "forward"):
        x, conversion_seconds = _model_input(model, run.lr_region)
        capture = capture_modulation(model, x, timed_modules(model))
        output_region = (capture.output / _value_range(model)).clamp(0, 1)

    with _timed(timings, "modulation"):
        relation = modulation_texture(capture.maps, run.region_energy, tile_grid(region.height, region.width, tile))

    return SAFMNAnalysis(
        **_finish(run, sr, original, output_region, conversion_seconds, capture),
        modulation=capture.maps,
        modulation_texture=relation,
        tile_size=tile,
    )


def analyze_any(
    model: nn.Module,
    rgb: np.ndarray,
    sr: np.ndarray | None = None,
    original: np.ndarray | None = None,
    *,
    image_mode: str = "RGB",
    precision: str = "auto",
) -> BaseAnalysis:
    """The analysis that fits the model: RCAN's (channel attention, feature views) or SAFMN's (modulation maps),
    each with the texture evidence and workflow."""
    if isinstance(model, SAFMN):
        return analyze_safmn(model, rgb, sr, original, image_mode=image_mode, precision=precision)
    if isinstance(model, RCAN):
        return analyze(model, rgb, sr, original, image_mode=image_mode, precision=precision)
    raise ValueError(f"no explainer for {type(model).__name__}: they look inside RCAN or SAFMN")
