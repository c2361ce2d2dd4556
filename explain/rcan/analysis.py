"""RCAN's analysis: the gates of the whole photo's enlargement, where they would boost or suppress per tile, the
deep features enlarged FeatSharp-style, and the experiments, beside the evidence every model gets.

One engine pass over the whole photo gives the output and the gates that made it (`recording_gates`); one hooked
pass over the working region gives the per-pixel views (tile statistics, boosted-channel maps, features, upsampler
output, stage timings); the experiments are further passes over the same region.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from explain.pipeline import MAX_SIDE, engine_for, finish, start, threads_worth_using, timed
from explain.rcan.attention import TextureAttention, texture_attention, tile_attention
from explain.rcan.capture import capture_forward, feature_extractor, recording_gates
from explain.rcan.experiments import rcan_experiments
from explain.rcan.feature_views import FeatureViews, feature_views
from explain.rcan.stages import rcan_stages
from explain.region import most_textured_box
from explain.results import BaseAnalysis, json_ready
from explain.tiles import tile_average, tile_grid
from explain.workflow import timed_modules
from sr_core.engine import Upscaler
from sr_core.models.rcan import RCAN

VIEW_SIDE = 64  # feature-view window, input pixels (tiling runs the extractor on 3x this side)
TILE = 16  # side of the local windows for tile-wise attention, input pixels
TOP_K = 4  # most boosted channels kept per block for the overlay figure
EXTREMES = 3  # boosted and suppressed channels quoted, each


@dataclass(kw_only=True)
class RCANAnalysis(BaseAnalysis):
    """RCAN: channel attention and feature views besides the common evidence."""

    attention: np.ndarray  # (G, B, C) the gates of the engine's enlargement of the whole photo
    computed_on: tuple[int, int]  # (width, height) of the photo those gates were computed on
    region_attention: np.ndarray  # (G, B, C) the gates of the region's own pass (per-pixel views use it)
    tile_attention: np.ndarray  # (G, B, C, ny, nx) the gates re-applied to local windows of the region
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

    def extremes(self) -> dict[str, list[dict]]:
        return self.texture_attention.extremes(EXTREMES, self.tile_attention)

    def metrics(self) -> dict:
        """Everything numeric, JSON-ready (NaN and infinities become null): the content of metrics.json.
        Groups and blocks count from 1; channels are 0-based tensor indices."""
        ta = self.texture_attention
        g, b = self.chosen_block()
        result = self.common_metrics({
            "attention_texture_correlation": ta.correlation,
            "attention_textured_tiles": ta.textured_mean,
            "attention_flat_tiles": ta.flat_mean,
            "attention_difference_textured_minus_flat": ta.textured_mean - ta.flat_mean,
            "attention_texture_effect": ta.effect.to_dict(),
            "attention_basis": ta.basis,
            "texture_channels_per_block": int(ta.texture_channels.sum(axis=2).max()),
        })
        result.update({
            "attention": {
                "shape": list(self.attention.shape),
                "computed_on": list(self.computed_on),
                "mean": float(self.attention.mean()),
                "min": float(self.attention.min()),
                "max": float(self.attention.max()),
                "region_vs_whole_max_abs_difference": float(np.abs(self.region_attention - self.attention).max()),
                "tile_size": self.tile_size,
                "tile_grid": list(self.tile_attention.shape[3:]),
                "chosen_block": {"group": g + 1, "block": b + 1,
                                 "most_boosted_channels": self.top_channels[g, b].tolist()},
                **self.extremes(),
            },
            "feature_views": {
                **{name: {"hr_similarity": v.hr_similarity, "consistency": v.consistency, "lineage": v.lineage}
                   for name, v in self.views.views.items()},
                **{name: {"hr_similarity": None, "consistency": None, "lineage": why}
                   for name, why in self.views.missing.items()},
            },
            "feature_view_window": {**self.views.window.to_dict(), "pca_explained": self.views.pca_explained},
            "featsharp_kernels": None if self.views.kernels is None else self.views.kernels.to_dict(),
        })
        return json_ready(result)


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
    upscaler: Upscaler | None = None,
    recorded: dict | None = None,
    focus: tuple[int, int] | None = None,
) -> RCANAnalysis:
    """Explain how `model` (an RCAN) enlarges `rgb` (float32 HxWx3 in [0, 1]).

    sr: the output the user sees (float (sH)x(sW)x3 in [0, 1]); the texture evidence uses it when given, else the
    engine's enlargement. original: the ground truth (uint8 or float in [0, 1]), exactly x3 of `rgb` after
    mod-crop; with it, every output is scored against it. upscaler: the engine to enlarge the whole photo with
    (the app's own), else a new one. recorded: {"gates": (G, B, C)} recorded (`recording_gates`) during the
    engine's enlargement that produced `sr`; with both, the whole photo is not enlarged again. image_mode: the
    file's mode, for the workflow record. focus: (x, y) in `rgb`'s pixels where the region should be (a click),
    else the most textured region.
    """
    if not isinstance(model, RCAN):
        raise ValueError(f"the explainers need an RCAN model (channel attention), not {type(model).__name__}")
    if not model.config.channel_attention:
        raise ValueError("this RCAN was trained without channel attention (an ablation arm), so there are no gates "
                         "to explain; the explanation runs it beside the bundled model instead")
    run = start(model, rgb, sr, original, image_mode, max_side, focus)
    region, region_energy, lr_region, timings = run.region, run.region_energy, run.lr_region, run.timings

    if sr is not None and recorded and "gates" in recorded:
        sr_whole, gates = sr, recorded["gates"]
    else:
        engine = engine_for(model, upscaler)
        fresh: dict[str, np.ndarray] = {}
        sr_whole = run.enlarge_whole(engine, recording_gates(engine.model, fresh))
        gates = fresh["gates"]

    stages = rcan_stages(model)
    with threads_worth_using(), timed(timings, "forward"):
        x, conversion_seconds = run.model_input()
        grid = tile_grid(region.height, region.width, tile)
        capture = capture_forward(model, x, grid, timed_modules(stages), TOP_K)
        normal = run.image_of(capture.output)

    with timed(timings, "attention"):
        tile_att = tile_attention(model, capture.tile_means)
        texture_att = texture_attention(tile_att, capture.tile_activity, tile_average(region_energy, grid))

    with threads_worth_using(), timed(timings, "experiments"):
        measure = run.measure()
        experiments = rcan_experiments(model, x, normal, measure, run.image_of)

    with threads_worth_using(), timed(timings, "feature_views"):
        window = most_textured_box(region_energy, view_side, view_side)
        views = feature_views(feature_extractor(model), capture.features, capture.learned, measure.bicubic,
                              lr_region, window, model.scale, run.hr_region)

    return RCANAnalysis(
        **finish(run, sr if sr is not None else sr_whole, conversion_seconds, capture.stage_seconds,
                 capture.stage_shapes, stages),
        experiments=experiments,
        attention=gates,
        computed_on=run.image_size,
        region_attention=capture.attention,
        tile_attention=tile_att,
        tile_size=tile,
        texture_attention=texture_att,
        top_channels=capture.top_channels,
        top_maps=capture.top_maps,
        views=views,
    )
