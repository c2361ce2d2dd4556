"""Cause and effect the way the RCAN paper measures it: networks *retrained* without a part, run on your photo.

Knocking a part out of a trained network at run time only shows the damage (its other weights were trained with
it). The ablation study (`python -m sr_core ablation`, sr_core/tools/ablation.py) fine-tuned the bundled RCAN as
it is (control), without channel attention, without its residual-in-residual skips and with half its residual
groups, each with one recipe; and trained a small SAFMN on the most textured and on the flattest 8.88% of the
training patches. Each arm has a seed-1 twin for the control and the textured data: what chance alone moves.

Here every arm enlarges the working region (real forward passes, fp32 as in the study), and each mechanism gets
an effect in dB with a 95% interval:
- with the original: on this region's most textured quarter of 48-pixel tiles (the study's tiles), per-tile PSNR
  paired between the arm with the part and the arm without, widened by the seed twin's shift on the same tiles
  (a region with fewer than MIN_TILES textured tiles falls back to the study);
- always: the study's effect on Set14's textured tiles (sr_core.tools.ablation.study_effects).
A claim is `supported` exactly when its interval excludes 0; the answer names only supported positive effects as
causes and says "no measurable difference" of the others.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from explain.experiments import Measure
from explain.measures import luminance
from sr_core.engine import Upscaler
from sr_core.image_io import to_uint8
from sr_core.protocol.texture_split import pooled_psnr, texture_tiles, tile_errors
from sr_core.models import recipe_architecture
from sr_core.tools.ablation import (MECHANISMS, RESULTS_NAME, Effect, Mechanism, arm_named, paired_effect,
                                    study_effects)
from sr_core.weights import load_weights

REPO = Path(__file__).resolve().parents[1]
STUDY_JSON = REPO / "bench" / "results" / f"{RESULTS_NAME}.json"
PRECISION = "fp32"  # as the study scored its arms
MIN_TILES = 3  # textured 48-pixel tiles needed for a photo's own interval (a region of about 60x60 input px)

# How each arm is shown ({model}: the architecture it trained), in the order of the figure; the seed twins measure
# chance and are shown last.
LABELS = {
    "control": "{model} fine-tuned as is (control)",
    "no_channel_attention": "retrained without channel attention",
    "no_skip": "retrained without skip connections",
    "shallow": "retrained with half the groups",
    "data_texture": "{model} on textured patches only",
    "data_flat": "{model} on flat patches only",
    "control-seed1": "control, seed 1 (chance alone)",
    "data_texture-seed1": "textured {model}, seed 1 (chance)",
}


@dataclass
class ArmRun:
    """One retrained arm on the working region."""

    arm: str
    label: str
    output: np.ndarray  # (sH, sW, 3) float32 in [0, 1]
    psnr: float | None  # against the original's region (Y, shave `scale`), when known
    detail_ratio: float  # fine-detail energy over bicubic's (the texture evidence's measure)
    texture_share: float  # share of the detail it adds over bicubic that lies on the most textured quarter
    tile_psnr: np.ndarray | None  # PSNR of each of the region's textured tiles, when the original is known

    def to_dict(self) -> dict:
        return {"arm": self.arm, "label": self.label, "psnr": self.psnr, "detail_ratio": self.detail_ratio,
                "texture_share": self.texture_share}


@dataclass
class Claim:
    """One mechanism's effect on textures: the evidence that decides, and the study's beside it."""

    mechanism: str
    effect: Effect  # on this photo when the original is known, else the study's
    evidence: str  # "this photo" or "Set14"
    study: Effect | None

    @property
    def supported(self) -> bool:
        return self.effect.supported

    @property
    def is_cause(self) -> bool:
        """Named as a cause of texture: measurable, and removing the part lost detail (not gained it)."""
        return self.supported and self.effect.effect_db > 0

    def to_dict(self) -> dict:
        e = self.effect.to_dict()
        return {"mechanism": self.mechanism, "effect_db": e["effect_db"], "interval": e["interval"],
                "supported": self.supported, "evidence": self.evidence, "n": e["n"], "seed_db": e["seed_db"],
                "study": None if self.study is None else self.study.to_dict()}


@dataclass
class Retrained:
    arms: list[ArmRun]
    claims: list[Claim]
    steps: dict[str, int]  # arm -> training steps, for the captions

    def arm(self, name: str) -> ArmRun | None:
        return next((a for a in self.arms if a.arm == name), None)

    def to_dict(self) -> list[dict]:
        return [a.to_dict() for a in self.arms]


def load_study(path: Path = STUDY_JSON) -> list[dict]:
    """The study's rows; [] when this checkout has none (the explanation then says so)."""
    if not path.is_file():
        return []
    return json.loads(path.read_text())


def arm_label(name: str) -> str:
    """How the arm `name` is shown, naming the architecture its recipe trains (sr_core.tools.ablation)."""
    if name not in LABELS:
        return name
    return LABELS[name].format(model=recipe_architecture(arm_named(name).recipe).name)


def checkpoint_path(row: dict) -> Path:
    path = Path(row["checkpoint"])
    return path if path.is_absolute() else REPO / path


@lru_cache(maxsize=16)
def arm_engine(checkpoint: Path) -> Upscaler:
    """An arm's network and engine, built once per process (the files are small: 0.1 to 3.5 MB), so that later
    explanations pay only for the passes."""
    return Upscaler(load_weights(str(checkpoint)).model, "cpu", precision=PRECISION)


def run_arm(row: dict, lr_region: np.ndarray, measure: Measure, textured: np.ndarray | None) -> ArmRun:
    output = arm_engine(checkpoint_path(row)).upscale(lr_region)
    added = np.abs(luminance(output) - measure.bicubic_luma)
    tile_psnr = None
    if textured is not None and measure.hr is not None:
        errors = tile_errors(measure.hr, to_uint8(output), measure.scale)[textured]
        tile_psnr = np.array([pooled_psnr(np.array([e])) for e in np.maximum(errors, 1e-6)])
    return ArmRun(row["arm"], arm_label(row["arm"]), output, measure.psnr(output),
                  measure.hf_ratio(output), measure.texture_share(added), tile_psnr)


def photo_effect(mech: Mechanism, runs: dict[str, ArmRun]) -> Effect | None:
    """The mechanism's effect on this region's textured tiles, or None without the original (or its arms)."""
    arms = [runs.get(name) for name in (mech.with_arm, mech.without_arm, mech.noise_arm)]
    if any(a is None or a.tile_psnr is None for a in arms):
        return None
    with_part, without_part, twin = arms
    if len(with_part.tile_psnr) < MIN_TILES:  # too few tiles for a spread: the study's evidence decides
        return None
    seed_db = statistics.fmean(twin.tile_psnr) - statistics.fmean(with_part.tile_psnr)
    return paired_effect(with_part.tile_psnr.tolist(), without_part.tile_psnr.tolist(), seed_db)


def retrained_experiments(lr_region: np.ndarray, measure: Measure, rows: list[dict] | None = None,
                          between_arms: Callable[[], None] = lambda: None) -> Retrained | None:
    """Every arm of the study on the region, and each mechanism's claim; None when the study is absent.
    `between_arms` runs before each pass (a cancelled request stops there)."""
    rows = load_study() if rows is None else rows
    if not rows or not all(checkpoint_path(row).is_file() for row in rows):
        return None  # a copy without the study's checkpoints says so rather than failing the explanation
    if arm_engine(checkpoint_path(rows[0])).scale != measure.scale:
        return None  # the arms enlarge by another factor than the model explained: no pixel to compare
    textured = None
    if measure.hr is not None:
        try:
            textured = texture_tiles(measure.hr, to_uint8(measure.bicubic), measure.scale)[0]
        except ValueError:  # a region too small for one 48-pixel tile: the study's evidence alone
            textured = None
    runs: dict[str, ArmRun] = {}
    for row in sorted(rows, key=lambda r: list(LABELS).index(r["arm"]) if r["arm"] in LABELS else len(LABELS)):
        between_arms()
        runs[row["arm"]] = run_arm(row, lr_region, measure, textured)
    studied = study_effects(rows)
    claims = []
    for mech in MECHANISMS:
        on_photo, in_study = photo_effect(mech, runs), studied.get(mech.name)
        if on_photo is not None:
            claims.append(Claim(mech.name, on_photo, "this photo", in_study))
        elif in_study is not None:
            claims.append(Claim(mech.name, in_study, "Set14", in_study))
    return Retrained(list(runs.values()), claims, {row["arm"]: row["steps"] for row in rows})

