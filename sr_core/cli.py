"""`python -m sr_core ...`: upscale, batch, evaluate, train, bench, export, distill, study, ablation.

Contract: bad arguments, bad images and bad checkpoints exit with status 2 and a one-line
message on stderr, never a traceback. Progress goes to stderr; results to stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sr_core.errors import UserError, first_line
from sr_core.files import UsageError, enlarge_file, output_name, refuse_overwriting_inputs, stderr
from sr_core.image_io import DEFAULT_MAX_PIXELS, ImageError
from sr_core.tiling import Progress


def positive_int(text: str) -> int:
    """argparse type: a whole number above zero (a limit of 0 pixels or a negative one means nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value}")
    return value


def add_weight_options(parser: argparse.ArgumentParser, allow_bicubic: bool = False) -> None:
    from sr_core.models import ARCHITECTURES

    extra = "|bicubic" if allow_bicubic else ""
    named = [(w, arch) for arch in ARCHITECTURES for w in arch.weights]
    specs = "|".join(w.spec for w, _ in named)
    words = "; ".join(f"{w.spec} = the {arch.name} {w.origin}" + (f" ({w.hub.repo_id or '$' + w.hub.repo_env}, "
                      f"else {w.fallback})" if w.hub else "") for w, arch in named)
    hubs = [w.hub for w, _ in named if w.hub]
    parser.add_argument("--weights", default=None,
                        help=f"PATH|{specs}{extra} (default: $SR_WEIGHTS, else the Hub with the bundled fallback; "
                             "upscale and batch pick JPEG-aware weights for JPEG photos, sr_core.choice); " + words)
    parser.add_argument("--hub-repo", default=None, help="Hub repo id (default: " + ", ".join(
        f"${h.repo_env}" + (f" or {h.repo_id}" if h.repo_id else "") for h in hubs) + ", by spec)")
    parser.add_argument("--hub-file", default=None, help="file in the Hub repo (default: " + ", ".join(
        f"${h.file_env} or {h.filename}" for h in hubs) + ", by spec)")
    parser.add_argument("--hub-revision", default=None, help="branch, tag or commit (default: " + ", ".join(
        f"${h.revision_env}" for h in hubs) + ", by spec, or main)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    add_precision_option(parser)


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    from sr_core.precision import PRECISIONS

    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 on CPUs with native bf16, fp16 on CUDA, else fp32 (sr_core.precision)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sr_core", description="x3 super-resolution, the papers' protocol and offline tools")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("upscale", help="enlarge images x3 into lossless PNG")
    up.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    # A str, not a Path: Path() drops the trailing slash that says "a directory" ("out dir/").
    up.add_argument("-o", "--output", required=True, metavar="OUT",
                    help="a .png file for one input; a directory (existing, or ending in /) for one or several")
    add_weight_options(up)
    up.add_argument("--tile", type=int, default=None, help="tile size in input pixels (default 256, sr_core.engine.DEFAULT_TILE; bounds memory; same output)")
    up.add_argument("--ensemble", action="store_true", help="x8 self-ensemble (RCAN+), 8 times slower")
    up.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                    help=f"refuse larger inputs (default {DEFAULT_MAX_PIXELS:,}, or $SR_MAX_PIXELS)")

    ba = commands.add_parser("batch", help="enlarge a whole folder on Ray Data (local or a cluster), resumable")
    ba.add_argument("input_dir", metavar="INPUT_DIR")
    ba.add_argument("-o", "--output", required=True, metavar="OUTPUT_DIR",
                    help="gets <name>_x3.png for each image (the sub-folders too with --recursive) and manifest.jsonl")
    ba.add_argument("--workers", type=positive_int, default=None,
                    help="Ray actors, each loading the model once (default: one per GPU, else one per machine, "
                         "the CPUs split between them)")
    ba.add_argument("--address", default=None, metavar="ADDR",
                    help="join this Ray cluster (e.g. HEAD_IP:6379, or auto); default: start a local Ray")
    ba.add_argument("--recursive", action="store_true", help="also the images in sub-folders, structure kept")
    add_weight_options(ba)
    ba.add_argument("--tile", type=int, default=None, help="tile size in input pixels (as for upscale)")
    ba.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                    help=f"refuse larger inputs (default {DEFAULT_MAX_PIXELS:,}, or $SR_MAX_PIXELS)")

    ev = commands.add_parser("evaluate", help="PSNR/SSIM (Y channel) with the RCAN paper's protocol")
    ev.add_argument("dirs", nargs="+", type=Path, metavar="DIR")
    add_weight_options(ev, allow_bicubic=True)
    ev.add_argument("--scale", type=int, default=3)
    ev.add_argument("--ensemble", action="store_true")
    ev.add_argument("--json", action="store_true", help="last line: {set: {psnr, ssim}}")
    ev.add_argument("--split", action="store_true",
                    help="also the PSNR of each image's most and least textured quarter of 48 px tiles "
                         "(sr_core.protocol.texture_split; the ablation study's texture_psnr and flat_psnr)")

    tr = commands.add_parser("train", help="train a model from a recipe (each architecture's, sr_core.models)")
    tr.add_argument("--data", nargs="+", type=Path, required=True, metavar="DIR")
    tr.add_argument("--config", required=True)
    tr.add_argument("--out", required=True, type=Path, metavar="PATH", help="weights file (.safetensors)")
    budget = tr.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float)
    budget.add_argument("--iters", type=int)
    tr.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    tr.add_argument("--resume", action="store_true")
    tr.add_argument("--val", type=Path, default=None, help="validation set for the periodic PSNR (e.g. Set5)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--init", type=Path, default=None, metavar="CHECKPOINT",
                    help="fine-tune from this checkpoint (its network; the recipe gives the schedule)")
    tr.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: autocast forward and loss (about twice as fast on CPUs with native bf16)")
    tr.add_argument("--degradation", choices=["bicubic", "jpeg"], default="bicubic",
                    help="LR inputs: the paper's bicubic /3, or that then a 4:2:0 JPEG round trip per crop at a random "
                         "quality (sr_core.tools.train.JPEG_QUALITIES; the JPEG-aware RCAN's recipe)")
    tr.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")

    be = commands.add_parser("bench", help="engine vs plain reference: time, agreement, GFLOP/s, memory")
    be.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    be.add_argument("--size", type=int, default=64, help="input side N (NxN)")
    be.add_argument("--weights", default=None, help="PATH|bundled|hub (default: full-size RCAN x3, random weights)")
    be.add_argument("--tile", type=int, default=None)
    add_precision_option(be)
    be.add_argument("--repeats", type=int, default=3)
    be.add_argument("--json", action="store_true", help="last line: the result as JSON")

    ex = commands.add_parser("export", help="turn a checkpoint into a Hub-ready folder")
    ex.add_argument("checkpoint", type=Path)
    ex.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    ex.add_argument("--push", default=None, metavar="REPO", help="upload the folder to this Hub repo")

    di = commands.add_parser("distill", help="shrink a training set to a fraction of its patches (arXiv 2502.03656)")
    di.add_argument("--data", nargs="+", type=Path, required=True, metavar="DIR")
    di.add_argument("--keep", type=float, default=0.0888,
                    help="fraction of the candidate patches kept (default 0.0888, the paper's 8.88%%)")
    di.add_argument("--method", choices=["random", "texture", "gradient", "flat"], required=True)
    di.add_argument("--out", required=True, type=Path, metavar="DIR", help="gets HR/{index:05d}.png and manifest.json")
    di.add_argument("--seed", type=int, default=0)
    di.add_argument("--patch", type=int, default=144, help="HR patch side (144 = the recipe's 48px LR crop x3)")
    di.add_argument("--stride", type=int, default=None, help="candidate grid step (default: --patch, no overlap)")
    di.add_argument("--steps", type=int, default=200, help="gradient: matching steps")
    di.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="gradient: where to match")

    st = commands.add_parser("study", help="dataset-distillation study: full set vs 8.88%% subsets, one protocol")
    st.add_argument("--data", nargs="+", type=Path, required=True, metavar="DIR", help="training sets (the full arm)")
    st.add_argument("--eval", nargs="+", type=Path, required=True, metavar="DIR", help="evaluation sets (Set5 Set14)")
    st.add_argument("--steps", type=int, required=True, help="training steps of every arm")
    st.add_argument("--config", default="safmn-study")
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--extra-keep", type=float, nargs="*", default=[], metavar="KEEP",
                    help="more random shares after the four arms (e.g. 0.025)")
    st.add_argument("--arms", nargs="+", default=[], metavar="ARM",
                    help="run only these arms (default all: full random texture gradient, then random-KEEP)")
    st.add_argument("--work", type=Path, default=Path("runs/distill_study"),
                    help="subsets, training states, protocol (default runs/distill_study)")
    st.add_argument("--results", type=Path, default=Path("bench/results"),
                    help="gets distill_study.json and distill_study/{arm}.safetensors (default bench/results)")
    st.add_argument("--patch", type=int, default=144, help="HR patch side of the subsets")
    st.add_argument("--match-steps", type=int, default=200, help="gradient matching steps of the gradient subset")
    st.add_argument("--threads", type=int, default=1, help="CPU threads for training and evaluation (default 1)")

    ab = commands.add_parser("ablation", help="retrained ablations: RCAN without each part, and flat vs textured data")
    ab.add_argument("--data", nargs="+", type=Path, required=True, metavar="DIR", help="training sets")
    ab.add_argument("--eval", nargs="+", type=Path, required=True, metavar="DIR", help="evaluation sets (Set5 Set14)")
    ab.add_argument("--rcan-steps", type=int, required=True, help="fine-tuning steps of every RCAN arm")
    ab.add_argument("--data-steps", type=int, required=True, help="training steps of every data arm")
    ab.add_argument("--arms", nargs="+", default=[], metavar="ARM", help="run only these arms (default all)")
    ab.add_argument("--work", type=Path, default=Path("runs/ablation_study"),
                    help="initial weights, training states, subsets, protocol (default runs/ablation_study)")
    ab.add_argument("--results", type=Path, default=Path("bench/results"),
                    help="gets ablation_study.json and ablation_study/*.safetensors (default bench/results)")
    ab.add_argument("--threads", type=int, default=2, help="CPU threads for training and scoring (default 2)")
    return parser


def progress_printer(label: str):
    last = [0.0]

    def report(p: Progress) -> None:
        now = time.perf_counter()
        if now - last[0] >= 1.0 or p.done == p.total:
            last[0] = now
            stderr(f"{label}: {p.done}/{p.total} steps, {100 * p.done / p.total:.0f}%, ETA {p.eta_s:.0f}s")

    return report


def check_inputs(inputs: list[Path]) -> None:
    """Every input is an existing file; a folder or a missing name is named as such."""
    folders = [str(p) for p in inputs if p.is_dir()]
    if folders:
        raise UsageError(f"input is a directory, not an image: {', '.join(folders)} (pass its files, e.g. DIR/*.png)")
    missing = [str(p) for p in inputs if not p.is_file()]
    if missing:
        raise UsageError(f"input not found: {', '.join(missing)}")


def output_paths(inputs: list[Path], output: str, scale: int) -> list[Path]:
    """One file for one input (or a directory to hold it); a directory for several.

    Checked before any work starts: no planned output is any input (`refuse_overwriting_inputs`), and no two
    outputs collide.
    """
    out = Path(output)
    as_dir = len(inputs) > 1 or out.is_dir() or output.endswith(("/", os.sep))
    if not as_dir:
        if out.suffix.lower() != ".png":
            raise UsageError(f"output {output} must end in .png (the output is lossless PNG), or in / for a directory")
        paths = [out]
    else:
        stems = [p.stem for p in inputs]
        if len(set(stems)) != len(stems):
            raise UsageError("several inputs share a file name; upscale them into separate directories")
        paths = [out / output_name(p, scale) for p in inputs]
    refuse_overwriting_inputs(inputs, paths)
    return paths


def check_device(device: str | None) -> None:
    """--device cuda on a machine without a usable GPU is a usage error, said before any model is loaded."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA GPU is available here (use --device cpu, or leave it out)")


def run_upscale(args: argparse.Namespace) -> int:
    from sr_core.choice import choose, weights_named_by_server
    from sr_core.engine import Upscaler
    from sr_core.jpeg import file_quality
    from sr_core.weights import LoadedWeights, load_weights

    check_inputs(args.inputs)
    # No weights named: each photo gets the weights for how it was saved (sr_core.choice); the JPEG-aware ones load
    # only when a JPEG needs it.
    by_photo = args.weights is None and not weights_named_by_server()
    upscalers: dict[str | None, Upscaler] = {}

    def loaded_for(spec: str | None) -> LoadedWeights:
        loaded = load_weights(spec, args.hub_repo, args.hub_file, args.hub_revision)
        stderr(f"weights: {loaded.describe()}")
        return loaded

    def upscaler_for(spec: str | None, loaded: LoadedWeights | None = None) -> Upscaler:
        if spec not in upscalers:
            upscalers[spec] = Upscaler((loaded or loaded_for(spec)).model, args.device, args.precision)
            stderr(f"precision: {upscalers[spec].describe()}")
        return upscalers[spec]

    first = loaded_for(args.weights)
    targets = output_paths(args.inputs, args.output, first.model.scale)  # refused before the engine is built
    default = upscaler_for(args.weights, first)
    failures = 0
    for src, dst in zip(args.inputs, targets):
        try:
            upscaler = default
            if by_photo:
                choice = choose(file_quality(src))
                stderr(f"{src.name}: {choice.reason}")
                upscaler = upscaler_for(choice.spec)
            started = time.perf_counter()
            image, result = enlarge_file(upscaler, src, dst, args.max_pixels, args.tile, args.ensemble,
                                         progress_printer(src.name))
            stderr(f"{src.name}: {image.size[0]}x{image.size[1]} -> {result.size[0]}x{result.size[1]} "
                   f"in {time.perf_counter() - started:.1f}s, wrote {dst}")
            print(dst)
        except ImageError as exc:
            failures += 1
            stderr(f"error: {first_line(exc)}")
    return 2 if failures else 0


def run_batch(args: argparse.Namespace) -> int:
    from sr_core.batch import run_batch as batch

    return batch(args)


def run_evaluate(args: argparse.Namespace) -> int:
    from sr_core.protocol.evaluate import bicubic_upscale, evaluate_set, format_table, set_name as results_name

    if args.weights == "bicubic":
        upscale = lambda lr: bicubic_upscale(lr, args.scale)
        label = "bicubic"
    else:
        from sr_core.serving import ServedModel

        served = ServedModel.load(args.weights, args.precision, args.device, measure=False, hub_repo=args.hub_repo,
                                  hub_file=args.hub_file, hub_revision=args.hub_revision)
        loaded, upscaler = served.weights, served.upscaler
        if upscaler.scale != args.scale:
            raise UsageError(f"the weights are x{upscaler.scale} but --scale is {args.scale}")
        stderr(f"weights: {loaded.describe()}")
        stderr(f"precision: {upscaler.describe()}")
        label = f"{loaded.arch} ({loaded.source})" + ("+" if args.ensemble else "")
        upscale = lambda lr: upscaler.upscale_uint8(lr, ensemble=args.ensemble)

    results = {}
    for folder in args.dirs:
        if not folder.is_dir():
            raise UsageError(f"not a directory: {folder}")
        started = time.perf_counter()
        result = evaluate_set(folder, upscale, args.scale)
        results[result["set"]] = result
        stderr(f"{result['set']}: {time.perf_counter() - started:.1f}s")
    print(f"method: {label}, x{args.scale}")
    print(format_table(results))
    if args.split:
        from sr_core.protocol.texture_split import evaluate_split

        for folder in args.dirs:
            split = evaluate_split(folder, upscale, args.scale)
            print(f"{results_name(folder)}: PSNR on the most textured quarter of tiles {split['texture_psnr']:.4f} dB, "
                  f"on the flattest quarter {split['flat_psnr']:.4f} dB")
    if args.json:
        print(json.dumps({name: {"psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 5)} for name, r in results.items()}))
    return 0


def run_train(args: argparse.Namespace) -> int:
    from sr_core.models import training_recipes
    from sr_core.tools.train import train

    if args.config not in training_recipes():
        raise UsageError(f"unknown config {args.config!r}; choose from {', '.join(training_recipes())}")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    train(args.data, args.config, args.out, iters=args.iters, minutes=args.minutes, device=args.device,
          resume=args.resume, val=args.val, seed=args.seed, init=args.init, precision=args.precision,
          degradation=args.degradation, log=lambda m: print(m, flush=True))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    import torch

    from sr_core.tools.bench import random_rcan, run_bench as bench

    if args.weights is None:
        model, label = random_rcan(), "full-size RCAN x3, random weights scaled to give an image-like output"
    else:
        from sr_core.weights import load_weights

        loaded = load_weights(args.weights)
        model, label = loaded.model, loaded.describe()
    stderr(f"bench: {label}, {args.size}x{args.size} input on {args.device}, {args.repeats} timed runs each")
    result = bench(model, args.size, args.device, args.tile, args.repeats, args.precision)
    print(f"reference (fp32 NCHW, no_grad): {result.reference_s * 1000:.1f} ms "
          f"(median; best {result.reference_min_s * 1000:.1f})")
    print(f"engine ({result.precision}, {result.path}): {result.engine_s * 1000:.1f} ms "
          f"(median; best {result.engine_min_s * 1000:.1f})   speedup x{result.speedup:.2f}")
    print(f"plain forward ({result.precision}, channels_last): {result.plain_s * 1000:.1f} ms "
          f"(median; best {result.plain_min_s * 1000:.1f})   engine x{result.plain_s / result.engine_s:.2f} faster")
    probes = ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in result.probe_times.items())
    print(f"path probe: {result.probe_s * 1000:.0f} ms on the first run ({probes or 'one candidate'})")
    print(f"agreement: max |diff| {result.max_abs_diff:.4f} levels, PSNR {result.psnr:.1f} dB "
          f"(reference output std {result.output_std:.1f} levels)")
    print(f"engine {result.gflops:.0f} GFLOP/s (reference FLOPs / engine time) of a measured peak "
          f"{result.peak_gflops:.0f} GFLOP/s ({100 * result.gflops / result.peak_gflops:.0f}%; "
          f"matmul {result.matmul_gflops:.0f}, 3x3 conv {result.conv_gflops:.0f})")
    print(f"peak memory: {result.peak_mem_mb:.0f} MB; threads per round (both alike): {result.threads} "
          f"of {torch.get_num_threads()}, torch {torch.__version__}")
    if args.json:
        print(json.dumps(result.to_dict()))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from sr_core.tools.export import export_checkpoint, push_folder

    folder = export_checkpoint(args.checkpoint, args.output)
    print(folder)
    if args.push:
        print(push_folder(folder, args.push))
    return 0


def run_distill(args: argparse.Namespace) -> int:
    from sr_core.tools.distill import MatchSettings, distill

    manifest = distill(args.data, args.keep, args.method, args.out, seed=args.seed, patch=args.patch,
                       stride=args.stride, settings=MatchSettings(steps=args.steps), device=args.device, log=stderr)
    stderr(f"kept {manifest['kept']} of {manifest['candidates']} patches ({args.method})")
    print(args.out)
    return 0


def run_study(args: argparse.Namespace) -> int:
    from sr_core.tools.distill import MatchSettings
    from sr_core.tools.study import format_rows, run_study as study

    missing = [str(p) for p in args.data + args.eval if not p.is_dir()]
    if missing:
        raise UsageError(f"not a directory: {', '.join(missing)}")
    rows = study(args.data, args.eval, args.steps, args.work, args.results, config=args.config, seed=args.seed,
                 extra_keeps=args.extra_keep, patch=args.patch, match_settings=MatchSettings(steps=args.match_steps),
                 threads=args.threads, only=args.arms, log=stderr)
    print(format_rows(rows))
    return 0


def run_ablation(args: argparse.Namespace) -> int:
    from sr_core.tools.ablation import format_effects, format_rows, run_ablation as ablation

    missing = [str(p) for p in args.data + args.eval if not p.is_dir()]
    if missing:
        raise UsageError(f"not a directory: {', '.join(missing)}")
    rows = ablation(args.data, args.eval, args.rcan_steps, args.data_steps, args.work, args.results,
                    only=args.arms, threads=args.threads, log=stderr)
    print(format_rows(rows))
    print(format_effects(rows))
    return 0


COMMANDS = {
    "upscale": run_upscale,
    "batch": run_batch,
    "evaluate": run_evaluate,
    "train": run_train,
    "bench": run_bench,
    "export": run_export,
    "distill": run_distill,
    "study": run_study,
    "ablation": run_ablation,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command != "batch":  # batch's workers may have the GPUs the driver lacks (sr_core.batch)
            check_device(getattr(args, "device", None))
        return COMMANDS[args.command](args)
    except (UserError, ValueError, FileNotFoundError) as exc:  # ValueError: a bad value the tools refuse
        stderr(f"error: {first_line(exc)}")
        return 2
    except KeyboardInterrupt:
        stderr("interrupted")
        return 130
