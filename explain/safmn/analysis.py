"""SAFMN's analysis: every block's modulation map on the working region, and the experiments (fewer blocks,
modulation set to 1), beside the evidence every model gets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from explain.pipeline import MAX_SIDE, engine_for, finish, start, threads_worth_using, timed
from explain.results import BaseAnalysis, json_ready
from explain.safmn.capture import ModulationTexture, capture_modulation, modulation_texture
from explain.safmn.experiments import safmn_experiments
from explain.safmn.stages import safmn_stages
from explain.tiles import tile_grid
from explain.workflow import timed_modules
from sr_core.engine import Upscaler
from sr_core.models.safmn import SAFMN

TILE = 16  # side of the windows over which the maps are compared with local texture, input pixels


@dataclass(kw_only=True)
class SAFMNAnalysis(BaseAnalysis):
    """SAFMN: every block's modulation map (mean |m| over channels) besides the common evidence."""

    modulation: np.ndarray  # (n_blocks, H, W) on the working region
    modulation_texture: ModulationTexture
    tile_size: int

    def metrics(self) -> dict:
        """Everything numeric, JSON-ready. Blocks count from 1; texture keys name the model's side "safmn"."""
        mt = self.modulation_texture
        result = self.common_metrics()
        result["modulation"] = {
            "what": "mean over channels of |GELU(aggr(.))|, the factor SAFM multiplies the normalised features by",
            "shape": list(self.modulation.shape),
            "tile_size": self.tile_size,
            "tile_grid": list(mt.tile_hf.shape),
            "blocks": [
                {"block": i + 1, "mean": float(block_map.mean()), "min": float(block_map.min()),
                 "max": float(block_map.max()), "texture_correlation": float(mt.correlation[i]),
                 "textured_tiles": float(mt.textured_mean[i]), "flat_tiles": float(mt.flat_mean[i]),
                 "texture_effect": mt.effects[i].to_dict()}
                for i, block_map in enumerate(self.modulation)
            ],
        }
        return json_ready(result)


def analyze(
    model: nn.Module,
    rgb: np.ndarray,
    sr: np.ndarray | None = None,
    original: np.ndarray | None = None,
    *,
    image_mode: str = "RGB",
    max_side: int = MAX_SIDE,
    tile: int = TILE,
    upscaler: Upscaler | None = None,
    recorded: dict | None = None,
    focus: tuple[int, int] | None = None,
) -> SAFMNAnalysis:
    """Explain how `model` (a SAFMN) enlarges `rgb`: its modulation maps and experiments on the working region,
    plus the texture evidence and workflow every model gets. Arguments as for RCAN's `analyze` (SAFMN records
    nothing during the enlargement, so `recorded` is not used)."""
    if not isinstance(model, SAFMN):
        raise ValueError(f"the modulation view needs a SAFMN model, not {type(model).__name__}")
    run = start(model, rgb, sr, original, image_mode, max_side, focus)
    region, timings = run.region, run.timings
    sr_whole = sr if sr is not None else run.enlarge_whole(engine_for(model, upscaler))

    stages = safmn_stages(model)
    with threads_worth_using(), timed(timings, "forward"):
        x, conversion_seconds = run.model_input()
        capture = capture_modulation(model, x, timed_modules(stages))
        normal = run.image_of(capture.output)

    with timed(timings, "modulation"):
        relation = modulation_texture(capture.maps, run.region_energy, tile_grid(region.height, region.width, tile))

    with threads_worth_using(), timed(timings, "experiments"):
        experiments = safmn_experiments(model, x, normal, run.measure(), run.image_of)

    return SAFMNAnalysis(
        **finish(run, sr_whole, conversion_seconds, capture.stage_seconds, capture.stage_shapes, stages),
        experiments=experiments,
        modulation=capture.maps,
        modulation_texture=relation,
        tile_size=tile,
    )
