"""Cause and effect on the user's photo: the machinery every architecture's experiments share.

An experiment is a real forward pass of the same model on the working region with one thing changed (fewer
residual groups, attention gates set to 1, ...). Each architecture says *what* it changes (`explain/rcan/
experiments.py`, `explain/safmn/experiments.py`); this module says *how it is measured*, identically for all:

- fine-detail energy: the output's spectral energy beyond the input's Nyquist frequency over bicubic's, the same
  ratio as the texture evidence (`texture.hf_energy_ratio_*_vs_bicubic`);
- PSNR against the original's crop of the region (Y channel, `scale`-pixel border shaved: the RCAN protocol),
  when the original is known;
- for an ablation, the |change| of the output's brightness and the share of it that falls on the most textured
  quarter of the region (a change spread evenly would put 25% there).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from explain.measures import energy_beyond_nyquist, gaussian_blur, high_frequency_energy, luminance
from explain.tiles import TEXTURE_QUANTILE
from sr_core.image_io import to_uint8
from sr_core.protocol.metrics import psnr_y

TEXTURE_SMOOTHING = 2.0  # input pixels: the texture mask follows regions of texture, not single pixels


@dataclass
class Step:
    """One depth of the network: its output on the region and how much fine detail it carries."""

    depth: int  # residual groups (RCAN) or blocks (SAFMN) kept
    output: np.ndarray  # (sH, sW, 3) float32 in [0, 1]
    hf_energy_ratio: float
    psnr: float | None

    def to_dict(self, unit: str) -> dict:
        return {unit: self.depth, "hf_energy_ratio": self.hf_energy_ratio, "psnr": self.psnr}


@dataclass
class Ablation:
    """The network with one mechanism switched off, against the normal network on the same region."""

    name: str
    what: str  # one sentence: what was set to what
    output: np.ndarray  # (sH, sW, 3) float32 in [0, 1]
    change: np.ndarray  # (sH, sW) |brightness change| against the normal output, 0..255 levels
    mean_abs_change: float  # 0..255 levels
    texture_share_of_change: float  # share of the total |change| on the most textured quarter of the region
    psnr: float | None  # the ablated network against the original
    psnr_full: float | None  # the normal (full) network on the same region against the original

    def to_dict(self) -> dict:
        return {"what": self.what, "psnr": self.psnr, "psnr_full": self.psnr_full,
                "mean_abs_change": self.mean_abs_change, "texture_share_of_change": self.texture_share_of_change,
                "texture_share_if_uniform": TEXTURE_QUANTILE}


@dataclass
class Experiments:
    unit: str  # "groups" or "blocks": what the depth counts (the metrics key of each depth step)
    depth: list[Step]  # depth 0 .. all
    ablations: dict[str, Ablation]
    added: np.ndarray  # (sH, sW) signed brightness the network adds over bicubic, 0..255 levels
    added_texture_share: float  # share of |added| on the most textured quarter

    def depth_needed(self, fraction: float = 0.9) -> int:
        """The smallest depth whose fine-detail gain over depth 0 reaches `fraction` of the full network's."""
        ratios = [s.hf_energy_ratio for s in self.depth]
        gain = ratios[-1] - ratios[0]
        if not np.isfinite(gain) or gain <= 0:
            return self.depth[-1].depth
        return next(s.depth for s in self.depth if s.hf_energy_ratio - ratios[0] >= fraction * gain)

    def to_dict(self) -> dict:
        return {
            "depth": [s.to_dict(self.unit) for s in self.depth],
            "depth_unit": self.unit,
            "depth_for_90_percent_of_detail": self.depth_needed(),
            **{name: a.to_dict() for name, a in self.ablations.items()},
            "added_detail": {"mean_abs": float(np.abs(self.added).mean()),
                             "min": float(self.added.min()), "max": float(self.added.max()),
                             "texture_share": self.added_texture_share, "units": "Y levels 0..255"},
        }


class Measure:
    """The yardsticks of one region: bicubic's fine-detail energy, the texture mask, the original's crop."""

    def __init__(self, lr_region: np.ndarray, bicubic: np.ndarray, hr_region: np.ndarray | None, scale: int) -> None:
        self.scale = scale
        self.bicubic = bicubic
        self.bicubic_luma = luminance(bicubic)
        self.bicubic_beyond = energy_beyond_nyquist(self.bicubic_luma, scale)[0]
        self.hr = None if hr_region is None else to_uint8(hr_region)
        energy = gaussian_blur(high_frequency_energy(lr_region), TEXTURE_SMOOTHING)
        textured = energy >= np.quantile(energy, 1 - TEXTURE_QUANTILE)
        self.textured = np.repeat(np.repeat(textured, scale, axis=0), scale, axis=1)

    def hf_ratio(self, output: np.ndarray) -> float:
        beyond = energy_beyond_nyquist(luminance(output), self.scale)[0]
        return beyond / self.bicubic_beyond if self.bicubic_beyond > 0 else float("nan")

    def psnr(self, output: np.ndarray) -> float | None:
        return None if self.hr is None else psnr_y(self.hr, to_uint8(output), shave=self.scale)

    def texture_share(self, magnitude: np.ndarray) -> float:
        total = float(magnitude.sum())
        return float(magnitude[self.textured].sum()) / total if total > 0 else float("nan")

    def step(self, depth: int, output: np.ndarray) -> Step:
        return Step(depth, output, self.hf_ratio(output), self.psnr(output))

    def ablation(self, name: str, what: str, output: np.ndarray, normal: np.ndarray) -> Ablation:
        change = np.abs(luminance(output) - luminance(normal)) * 255
        return Ablation(name, what, output, change, float(change.mean()), self.texture_share(change),
                        self.psnr(output), self.psnr(normal))


def run_experiments(
    measure: Measure,
    unit: str,
    n_depth: int,
    at_depth: Callable[[int], np.ndarray],
    ablations: dict[str, tuple[str, Callable[[], np.ndarray]]],
    normal: np.ndarray,
) -> Experiments:
    """Depth 0..n_depth (`at_depth(n_depth)` is the normal network), each ablation against `normal`, and the
    detail the network adds over bicubic. Outputs are (sH, sW, 3) float32 in [0, 1]."""
    depth = [measure.step(k, normal if k == n_depth else at_depth(k)) for k in range(n_depth + 1)]
    done = {name: measure.ablation(name, what, run(), normal) for name, (what, run) in ablations.items()}
    added = (luminance(normal) - measure.bicubic_luma) * 255
    return Experiments(unit, depth, done, added, measure.texture_share(np.abs(added)))
