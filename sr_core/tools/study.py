"""The dataset-distillation study on a CPU: how much of the training set do textures need?

Every arm gets one protocol: the same recipe (`sr_core.models.training_recipes()[config]`), seed, step count and
learning-rate schedule, and the same evaluation (the RCAN paper's protocol, `sr_core.protocol.evaluate`, on the
evaluation sets, which are never trained on or used to select anything). Only the training data differ:

    full                        every training image (T91 + BSD200 + General100, as the bundled models)
    random, texture, gradient   8.88% of the candidate patches (arXiv 2502.03656's share), `sr_core.tools.distill`
    random-{keep}               optional smaller random shares (--extra-keep), for a curve

Everything lives on disk, so an interrupted study continues where it stopped when the same command runs
again: finished arms (rows in the results JSON) are skipped, the arm in training resumes from its last
saved state, and a subset is built once.

    WORK/protocol.json                          the protocol; a rerun with another one is refused
    WORK/subsets/{method}-{keep}/               the reduced training sets (HR/*.png, manifest.json)
    WORK/arms/{arm}.safetensors[.state.pt]      weights and resumable state while an arm trains
    RESULTS/distill_study/{arm}.safetensors     the finished checkpoint (fp16, small, committed)
    RESULTS/distill_study.json                  one row per finished arm (ROW_KEYS)
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from sr_core.atomic import write_text_atomic
from sr_core.tools.distill import PAPER_KEEP, MatchSettings, distill
from sr_core.engine import Upscaler
from sr_core.models import training_recipes
from sr_core.protocol.evaluate import evaluate_set
from sr_core.tools.train import train
from sr_core.weights import load_weights

ROW_KEYS = ("arm", "keep", "steps", "seconds", "config", "set5_psnr", "set5_ssim", "set14_psnr", "set14_ssim",
            "checkpoint")
RESULTS_NAME = "distill_study"  # RESULTS/distill_study.json and RESULTS/distill_study/
STUDY_METHODS = ("random", "texture", "gradient")  # the selections of sr_core.tools.distill this study compares


@dataclass(frozen=True)
class Arm:
    name: str
    method: str  # "full", or one of STUDY_METHODS
    keep: float  # share of the candidate patches (1.0: every training image, whole)


def study_arms(extra_keeps: Sequence[float] = ()) -> list[Arm]:
    """The full set, the three 8.88% subsets, then the optional random shares."""
    arms = [Arm("full", "full", 1.0)] + [Arm(method, method, PAPER_KEEP) for method in STUDY_METHODS]
    return arms + [Arm(f"random-{keep:g}", "random", keep) for keep in extra_keeps]


def results_json(results: Path) -> Path:
    return results / f"{RESULTS_NAME}.json"


def read_rows(results: Path) -> list[dict]:
    path = results_json(results)
    return json.loads(path.read_text()) if path.is_file() else []


def write_json(path: Path, value: object) -> None:
    """Whole or not at all: an interruption leaves the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(value, indent=1) + "\n")


def check_protocol(work: Path, protocol: dict) -> None:
    """Record the protocol on the first run; refuse to continue a study begun with another one."""
    path = work / "protocol.json"
    if path.is_file():
        before = json.loads(path.read_text())
        if before != protocol:
            changed = ", ".join(k for k in protocol if before.get(k) != protocol[k])
            raise ValueError(f"{work} holds a study with another protocol ({changed} differ); "
                             f"rerun it as it was or choose another --work")
    else:
        write_json(path, protocol)


def subset(arm: Arm, data: list[Path], work: Path, seed: int, patch: int, settings: MatchSettings,
           log: Callable[[str], None]) -> Path:
    """The arm's reduced training set, built on first use (into a scratch folder, then renamed)."""
    out = work / "subsets" / f"{arm.method}-{arm.keep:g}"
    if (out / "manifest.json").is_file():
        return out
    scratch = out.with_name(out.name + ".partial")
    if scratch.exists():
        shutil.rmtree(scratch)  # an interrupted build of our own; start it again
    distill(data, arm.keep, arm.method, scratch, seed=seed, patch=patch, settings=settings, log=log)
    scratch.rename(out)
    return out


def evaluate_checkpoint(checkpoint: Path, eval_dirs: list[Path], scale: int) -> dict[str, dict]:
    """Scores by set name, exactly as `python -m sr_core evaluate DIR... --weights CHECKPOINT --json`."""
    upscaler = Upscaler(load_weights(str(checkpoint)).model, "cpu")
    if upscaler.scale != scale:
        raise ValueError(f"{checkpoint} is x{upscaler.scale}, the study x{scale}")
    results = [evaluate_set(folder, upscaler.upscale_uint8, scale) for folder in eval_dirs]
    return {r["set"]: {"psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 5)} for r in results}


def run_study(
    data: list[Path],
    eval_dirs: list[Path],
    steps: int,
    work: Path,
    results: Path,
    config: str = "safmn-study",
    seed: int = 0,
    extra_keeps: Sequence[float] = (),
    patch: int = 144,
    match_settings: MatchSettings = MatchSettings(),
    threads: int = 1,
    only: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train and score every arm (or those named in `only`) not yet in the results JSON; returns all its rows."""
    recipes = training_recipes()
    if config not in recipes:
        raise ValueError(f"unknown config {config!r}; choose from {', '.join(recipes)}")
    if steps < 1:
        raise ValueError(f"--steps must be at least 1, got {steps}")
    scale = recipes[config].model.scale
    protocol = {"config": config, "steps": steps, "seed": seed, "patch": patch, "match_steps": match_settings.steps,
                "data": [p.name for p in data], "eval": [p.name for p in eval_dirs]}
    check_protocol(work, protocol)
    rows = read_rows(results)
    if any((row["config"], row["steps"]) != (config, steps) for row in rows):
        raise ValueError(f"{results_json(results)} holds arms of another protocol; choose another --results")
    arms = study_arms(extra_keeps)
    unknown = sorted(set(only) - {arm.name for arm in arms})
    if unknown:
        raise ValueError(f"no arm {', '.join(unknown)}; the arms are {', '.join(arm.name for arm in arms)}")
    torch.set_num_threads(threads)  # the same for every arm, so that their seconds compare
    for arm in (arm for arm in arms if not only or arm.name in only):
        checkpoint = results / RESULTS_NAME / f"{arm.name}.safetensors"
        if any(row["arm"] == arm.name for row in rows) and checkpoint.is_file():
            log(f"{arm.name}: done")
            continue
        # 1. The arm's training data.
        arm_data = data if arm.method == "full" else [subset(arm, data, work, seed, patch, match_settings, log)]
        # 2. Training, resumed from the arm's last saved state if an earlier run was stopped.
        log(f"{arm.name}: training {steps} steps of {config} on {', '.join(map(str, arm_data))}")
        weights = work / "arms" / f"{arm.name}.safetensors"
        trained = train(arm_data, config, weights, iters=steps, resume=True, seed=seed,
                        log=lambda m, name=arm.name: log(f"{name}: {m}"))
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights, checkpoint)
        # 3. Evaluation of the file that is committed, with the paper's protocol.
        scores = evaluate_checkpoint(checkpoint, eval_dirs, scale)
        row = {"arm": arm.name, "keep": arm.keep, "steps": trained.steps, "seconds": round(trained.seconds, 1),
               "config": config}
        for name, score in scores.items():
            row[f"{name.lower()}_psnr"], row[f"{name.lower()}_ssim"] = score["psnr"], score["ssim"]
        row["checkpoint"] = checkpoint.as_posix()
        rows = [r for r in rows if r["arm"] != arm.name] + [row]
        write_json(results_json(results), rows)
        log(f"{arm.name}: {json.dumps(row)}")
    return rows


def format_rows(rows: list[dict]) -> str:
    """The results as a Markdown table (for the terminal and the README)."""
    lines = ["| arm | share of the data | steps | training s | Set5 PSNR / SSIM | Set14 PSNR / SSIM |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['arm']} | {100 * r['keep']:.2f}% | {r['steps']:,} | {r['seconds']:,.0f} | "
                     f"{r['set5_psnr']:.2f} / {r['set5_ssim']:.4f} | {r['set14_psnr']:.2f} / {r['set14_ssim']:.4f} |")
    return "\n".join(lines)
