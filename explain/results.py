"""What an analysis found, as data: the fields every architecture shares (`BaseAnalysis`) and their JSON form.

The architectures extend it (`explain/rcan/analysis.py`, `explain/safmn/analysis.py`); figures and text read these
fields and never run anything, so they import this module and nothing imports them back.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from explain.experiments import Experiments
from explain.jpeg_view import JpegView
from explain.region import Box
from explain.retrained import Retrained
from explain.texture import TextureEvidence
from explain.workflow import Stage


@dataclass(kw_only=True)
class BaseAnalysis:
    """What the explainers find for any model: the region, its output, the texture evidence, the experiments."""

    model_info: dict
    image_size: tuple[int, int]  # (width, height) of the whole input
    image_mode: str
    region: Box  # working region, input pixels
    region_note: str  # how the region was chosen, for the report
    lr_region: np.ndarray  # (H, W, 3) float32 input of the region
    sr_region: np.ndarray  # (sH, sW, 3) float32 the whole photo's enlargement over the region
    hr_region: np.ndarray | None  # (sH, sW, 3) float32 the original over the region, when known
    texture: TextureEvidence
    experiments: Experiments
    workflow: list[Stage]
    timings: dict[str, float] = field(default_factory=dict)
    retrained: Retrained | None = None  # the ablation study's retrained arms on the region (None: no study here)
    jpeg_quality: int | None = None  # the quality the analysed photo was saved at as a JPEG (None: not a JPEG)
    jpeg: JpegView | None = None  # for a JPEG: detail on and off its block grid, both bundled RCANs' crops

    @property
    def scale(self) -> int:
        return int(self.model_info["config"]["scale"])

    @property
    def model_name(self) -> str:
        """"RCAN" or "SAFMN": labels the model's side in figures and text, and picks the explainer."""
        return str(self.model_info["arch"])

    @property
    def has_original(self) -> bool:
        return self.texture.original is not None

    def common_metrics(self, texture_extra: dict | None = None) -> dict:
        width, height = self.image_size
        return {
            "model": self.model_info,
            "input": {
                "size": [width, height],
                "mode": self.image_mode,
                "jpeg_quality": self.jpeg_quality,
                "working_region": {**self.region.to_dict(), "how": self.region_note},
            },
            "texture": {**(texture_extra or {}), **texture_metrics(self.texture, self.model_name.lower()),
                        "jpeg": None if self.jpeg is None else self.jpeg.to_dict()},
            "experiments": {**self.experiments.to_dict(),
                            "retrained": [] if self.retrained is None else self.retrained.to_dict()},
            "workflow": [stage.to_dict() for stage in self.workflow],
            "timings": dict(self.timings),
        }

    def metrics(self) -> dict:
        """Everything numeric, JSON-ready; the architectures add their own sections."""
        return json_ready(self.common_metrics())


def texture_metrics(tex: TextureEvidence, tag: str) -> dict:
    """The texture evidence as JSON keys. The model's side is `*_model`; the same numbers under the model's own tag
    (`tag`: "rcan", "safmn"; hf_energy_ratio_rcan_vs_bicubic, hf_share_rcan, psnr_rcan, ssim_rcan) are aliases
    kept for the readers of earlier metrics.json files, which named the model's side so."""
    original = tex.original
    return {
        "hf_energy_ratio_model_vs_bicubic": tex.hf_energy_ratio,
        f"hf_energy_ratio_{tag}_vs_bicubic": tex.hf_energy_ratio,
        "hf_energy_ratio_original_vs_bicubic": tex.hf_energy_ratio_original,
        "hf_share_bicubic": tex.hf_share_bicubic,
        "hf_share_model": tex.hf_share_model,
        f"hf_share_{tag}": tex.hf_share_model,
        "zoom_box": tex.zoom.to_dict(),
        "real_detail_share": tex.real_detail_share,
        "added_detail_correlation": tex.added_detail_correlation,
        "chance_detail_share": tex.chance_detail_share,
        "original": None if original is None else {
            "size": list(original.size),
            "psnr_bicubic": original.psnr_bicubic,
            "ssim_bicubic": original.ssim_bicubic,
            "psnr_model": original.psnr_model,
            "ssim_model": original.ssim_model,
            f"psnr_{tag}": original.psnr_model,
            f"ssim_{tag}": original.ssim_model,
            "shave": original.shave,
        },
    }


def json_ready(value: object) -> object:
    """Plain Python types; non-finite floats become None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    return value
