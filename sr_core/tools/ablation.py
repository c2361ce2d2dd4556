"""The ablation study on a CPU: what does each part of RCAN, and what kind of training data, do for textures?

The RCAN paper (arXiv 1807.02758, Table 1) answers "what does a part contribute?" by training the network with
and without it. Knocking a part out of a trained network at run time only measures the damage, since the other
weights adapted to it. Here every arm is *retrained* with one recipe, the same steps, data and seed:

    control                 the bundled RCAN, fine-tuned as it is (so that fine-tuning alone is no effect)
    control-seed1           the same with seed 1: how far a second seed alone moves a score
    no_channel_attention    every CALayer removed, then fine-tuned       (RCAN.ablations, sr_core.models.rcan)
    no_skip                 the long and short skips removed, then fine-tuned
    shallow                 half the residual groups, then fine-tuned
    data_texture            a small SAFMN ("safmn-study") from scratch on the 8.88% most textured patches
    data_flat               the same on the 8.88% flattest patches (sr_core.tools.distill, "flat")
    data_texture-seed1      data_texture with seed 1

The RCAN arms start from the bundled weights with the part removed (fine-tuning, not training from scratch as the
paper does: a CPU cannot train from scratch in a session). Because an ablated arm starts from weights trained
*with* the part, every arm is also scored halfway, so that one can see whether a gap is still closing.

Scores: Set5 and Set14 with the paper's protocol (fp32, so that they do not depend on the CPU's bf16), and on
Set14's most and least textured quarter of tiles (sr_core.protocol.texture_split). Per-image Set14 scores are kept
so that effects get paired intervals (`effect`).

Everything lives on disk; the same command continues an interrupted study:

    WORK/protocol.json                         the protocol; a rerun with another one is refused
    WORK/init/{arm}.safetensors                the ablated start of each RCAN arm
    WORK/arms/{arm}.safetensors[.state.pt]     weights and resumable state while an arm trains
    WORK/rows/{arm}.json                       each finished arm's row (two processes may run disjoint arms)
    RESULTS/ablation_study/{arm}[-half].safetensors   the scored checkpoints (fp16, committed)
    RESULTS/ablation_study.json                one row per finished arm (ROW_KEYS, "half", "per_image")
"""
from __future__ import annotations

import json
import math
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from sr_core.engine import Upscaler
from sr_core.models import architecture_of
from sr_core.protocol.evaluate import set_name
from sr_core.protocol.texture_split import evaluate_split
from sr_core.tools.distill import PAPER_KEEP, MatchSettings
from sr_core.tools.study import Arm as SubsetArm, check_protocol, subset, write_json
from sr_core.tools.train import save_weights, train
from sr_core.weights import BUNDLED_RCAN, load_weights

ROW_KEYS = ("arm", "steps", "seconds", "set5_psnr", "set14_psnr", "texture_psnr", "flat_psnr", "checkpoint")
RESULTS_NAME = "ablation_study"
RCAN_CONFIG, DATA_CONFIG = "finetune", "safmn-study"  # the recipes (sr_core.models) of the two kinds of arm
PRECISION = "fp32"  # scoring precision: `python -m sr_core evaluate ... --precision fp32` gives the same numbers


@dataclass(frozen=True)
class AblationArm:
    name: str
    kind: str  # "rcan": fine-tuned from the bundled RCAN, `part` removed; "data": SAFMN from scratch on a subset
    part: str  # an RCAN ablation name, "" for the control; for "data": the sr_core.tools.distill method
    seed: int

    @property
    def recipe(self) -> str:
        """The training recipe (sr_core.models) its kind uses by default."""
        return RCAN_CONFIG if self.kind == "rcan" else DATA_CONFIG


ARMS = (
    AblationArm("control", "rcan", "", 0),
    AblationArm("no_channel_attention", "rcan", "no_channel_attention", 0),
    AblationArm("no_skip", "rcan", "no_skip", 0),
    AblationArm("shallow", "rcan", "shallow", 0),
    AblationArm("control-seed1", "rcan", "", 1),
    AblationArm("data_texture", "data", "texture", 0),
    AblationArm("data_flat", "data", "flat", 0),
    AblationArm("data_texture-seed1", "data", "texture", 1),
)


@dataclass(frozen=True)
class Mechanism:
    """One claim the study can test: `with_arm` minus `without_arm`, against the seed noise of `noise_arm`."""

    name: str  # as the explanation names it
    with_arm: str
    without_arm: str
    noise_arm: str  # the seed-1 twin of with_arm


MECHANISMS = (
    Mechanism("channel attention", "control", "no_channel_attention", "control-seed1"),
    Mechanism("skip connections", "control", "no_skip", "control-seed1"),
    Mechanism("full depth", "control", "shallow", "control-seed1"),
    Mechanism("textured training data", "data_texture", "data_flat", "data_texture-seed1"),
)


def arm_named(name: str) -> AblationArm:
    for arm in ARMS:
        if arm.name == name:
            return arm
    raise ValueError(f"no arm {name}; the arms are {', '.join(a.name for a in ARMS)}")


def results_json(results: Path) -> Path:
    return results / f"{RESULTS_NAME}.json"


def initial_weights(arm: AblationArm, work: Path, base: Path = BUNDLED_RCAN) -> Path:
    """The RCAN arm's start: the `base` network with the arm's part removed (the control: `base` itself)."""
    if not arm.part:
        return base
    path = work / "init" / f"{arm.name}.safetensors"
    if not path.is_file():
        bundled = load_weights(str(base)).model
        ablated = architecture_of(bundled).ablations[arm.part](bundled)
        save_weights(ablated, path, f"bundled without {arm.part}", 0)
    return path


def score(checkpoint: Path, eval_dirs: Sequence[Path]) -> dict:
    """Set scores as `python -m sr_core evaluate DIRS --weights CHECKPOINT --precision fp32 --split`."""
    upscaler = Upscaler(load_weights(str(checkpoint)).model, "cpu", precision=PRECISION)
    out: dict = {}
    for folder in eval_dirs:
        result = evaluate_split(folder, upscaler.upscale_uint8, upscaler.scale)
        name = set_name(folder).lower()
        out[f"{name}_psnr"] = round(result["psnr"], 4)
        if name == "set14":
            out["texture_psnr"] = round(result["texture_psnr"], 4)
            out["flat_psnr"] = round(result["flat_psnr"], 4)
            out["per_image"] = {key: [round(im[key], 4) for im in result["images"]]
                                for key in ("psnr", "texture_psnr", "flat_psnr")}
            out["images"] = [im["name"] for im in result["images"]]
    return out


def run_arm(arm: AblationArm, data: list[Path], eval_dirs: Sequence[Path], protocol: dict, work: Path,
            results: Path, base: Path, log: Callable[[str], None]) -> dict:
    """Train the arm (resuming), score it halfway and at the end; returns its row."""
    say = lambda m: log(f"{arm.name}: {m}")
    if arm.kind == "rcan":
        config, steps, init = protocol["rcan_config"], protocol["rcan_steps"], initial_weights(arm, work, base)
        precision, arm_data = protocol["rcan_precision"], data
    else:
        config, steps, init, precision = protocol["data_config"], protocol["data_steps"], None, protocol["data_precision"]
        chosen = SubsetArm(arm.part, arm.part, PAPER_KEEP)
        arm_data = [subset(chosen, data, work, protocol["subset_seed"], protocol["patch"], MatchSettings(), say)]
    weights = work / "arms" / f"{arm.name}.safetensors"
    stored = results / RESULTS_NAME
    stored.mkdir(parents=True, exist_ok=True)
    half_row = work / "rows" / f"{arm.name}.half.json"
    common = dict(iters=steps, resume=True, seed=arm.seed, init=init, precision=precision, log=say)
    if not half_row.is_file():
        trained = train(arm_data, config, weights, stop_at=steps // 2, **common)
        checkpoint = stored / f"{arm.name}-half.safetensors"
        shutil.copyfile(weights, checkpoint)
        half = {"steps": trained.steps, "seconds": round(trained.seconds, 1), **score(checkpoint, eval_dirs),
                "checkpoint": checkpoint.as_posix()}
        write_json(half_row, half)
        say(f"halfway: Set14 {half['set14_psnr']:.3f} dB, texture tiles {half['texture_psnr']:.3f} dB")
    half = json.loads(half_row.read_text())
    trained = train(arm_data, config, weights, **common)
    checkpoint = stored / f"{arm.name}.safetensors"
    shutil.copyfile(weights, checkpoint)
    row = {"arm": arm.name, "steps": trained.steps, "seconds": round(trained.seconds, 1), "config": config,
           "seed": arm.seed, "part": arm.part, "kind": arm.kind, **score(checkpoint, eval_dirs),
           "checkpoint": checkpoint.as_posix(), "half": {k: v for k, v in half.items() if k not in ("images",)}}
    say(f"done: Set14 {row['set14_psnr']:.3f} dB, texture tiles {row['texture_psnr']:.3f} dB")
    return row


def collect(work: Path, results: Path) -> list[dict]:
    """Every finished arm's row, in the study's order, written to the results JSON."""
    rows = []
    for arm in ARMS:
        path = work / "rows" / f"{arm.name}.json"
        if path.is_file():
            rows.append(json.loads(path.read_text()))
    write_json(results_json(results), rows)
    return rows


def run_ablation(
    data: list[Path],
    eval_dirs: list[Path],
    rcan_steps: int,
    data_steps: int,
    work: Path,
    results: Path,
    only: Sequence[str] = (),
    threads: int = 2,
    rcan_config: str = RCAN_CONFIG,
    data_config: str = DATA_CONFIG,
    base: Path = BUNDLED_RCAN,
    patch: int = 144,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train and score every arm (or those named in `only`) not yet finished; returns all finished rows.

    `rcan_config`, `data_config`, `base` (the RCAN the arms start from) and `patch` (HR side of the subsets'
    patches) are the study's; tests pass tiny ones."""
    if rcan_steps < 2 or data_steps < 2:
        raise ValueError("every arm needs at least 2 steps (it is scored halfway)")
    for name in only:
        arm_named(name)
    # The RCAN arms train in bf16 (about twice as fast on a CPU with native bf16); the data arms keep the
    # distillation study's recipe as it was (fp32, 144 px subset patches), so data_texture repeats its texture arm.
    protocol = {"rcan_config": rcan_config, "rcan_steps": rcan_steps, "rcan_precision": "bf16",
                "data_config": data_config, "data_steps": data_steps, "data_precision": "fp32", "patch": patch,
                "subset_seed": 0, "data": [p.name for p in data], "eval": [p.name for p in eval_dirs]}
    check_protocol(work, protocol)
    torch.set_num_threads(threads)
    for arm in ARMS:
        if only and arm.name not in only:
            continue
        row_path = work / "rows" / f"{arm.name}.json"
        if row_path.is_file():
            log(f"{arm.name}: done")
            continue
        write_json(row_path, run_arm(arm, data, eval_dirs, protocol, work, results, base, log))
        collect(work, results)
    return collect(work, results)


# ---------------------------------------------------------------------------------------------------------------
# Effects with their uncertainty
# ---------------------------------------------------------------------------------------------------------------

# Two-sided 95% quantiles of Student's t by degrees of freedom (1..30); the normal 1.96 beyond.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t95(dof: int) -> float:
    return _T95[dof - 1] if 1 <= dof <= len(_T95) else 1.96


@dataclass(frozen=True)
class Effect:
    """`with` minus `without` in dB, a 95% interval, and whether the interval excludes 0."""

    effect_db: float
    low: float
    high: float
    n: int  # paired samples (images or tiles)
    seed_db: float  # the seed noise that widened the interval (the seed-1 twin's shift)

    @property
    def supported(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return {"effect_db": round(self.effect_db, 3), "interval": [round(self.low, 3), round(self.high, 3)],
                "n": self.n, "seed_db": round(self.seed_db, 3), "supported": self.supported}


def paired_effect(with_part: Sequence[float], without_part: Sequence[float], seed_db: float) -> Effect:
    """Mean paired difference with a 95% interval that counts both the spread over the pairs (Student's t) and
    the seed noise: a second training seed moved the arm's mean by `seed_db`, and two arms trained once each
    differ by about that much for no reason, so 1.96 * |seed_db| is added in quadrature."""
    diffs = [a - b for a, b in zip(with_part, without_part, strict=True)]
    if not diffs:
        raise ValueError("no paired scores")
    mean = statistics.fmean(diffs)
    spread = t95(len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.inf
    half = math.hypot(spread, 1.96 * seed_db)
    return Effect(mean, mean - half, mean + half, len(diffs), abs(seed_db))


def study_effects(rows: list[dict], key: str = "texture_psnr") -> dict[str, Effect]:
    """Each mechanism's effect on Set14's per-image `key` (texture_psnr, flat_psnr or psnr), for the arms present."""
    by_arm = {row["arm"]: row for row in rows}
    effects = {}
    for mech in MECHANISMS:
        if not all(name in by_arm for name in (mech.with_arm, mech.without_arm, mech.noise_arm)):
            continue
        per = lambda name: by_arm[name]["per_image"][key]
        seed_db = statistics.fmean(per(mech.noise_arm)) - statistics.fmean(per(mech.with_arm))
        effects[mech.name] = paired_effect(per(mech.with_arm), per(mech.without_arm), seed_db)
    return effects


def format_rows(rows: list[dict]) -> str:
    """The results as a Markdown table (the terminal and the README)."""
    lines = ["| arm | steps | training s | Set5 | Set14 | Set14 textured tiles | Set14 flat tiles | "
             "Set14 textured, halfway |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['arm']} | {r['steps']:,} | {r['seconds']:,.0f} | {r['set5_psnr']:.3f} | "
                     f"{r['set14_psnr']:.3f} | {r['texture_psnr']:.3f} | {r['flat_psnr']:.3f} | "
                     f"{r['half']['texture_psnr']:.3f} |")
    return "\n".join(lines)


def format_effects(rows: list[dict]) -> str:
    lines = ["| part | on | effect (dB) | 95% interval | measurable? |", "|---|---|---:|---|---|"]
    for key, label in (("texture_psnr", "textured tiles"), ("flat_psnr", "flat tiles"), ("psnr", "whole images")):
        for name, e in study_effects(rows, key).items():
            lines.append(f"| {name} | Set14 {label} | {e.effect_db:+.3f} | [{e.low:+.3f}, {e.high:+.3f}] | "
                         f"{'yes' if e.supported else 'no measurable difference'} |")
    return "\n".join(lines)
