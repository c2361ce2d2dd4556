"""`python -m explain report IMAGE -o DIR`: the offline explainer report.

Contract (outside checks rely on it): writes DIR/index.html and DIR/metrics.json; bad input (unreadable image,
a file that is not a supported checkpoint) exits with status 2 and a one-line message on stderr, never a
traceback. An RCAN gets the full explainers; a SAFMN its modulation maps plus the texture evidence and workflow.

With `--original HR`, IMAGE is taken as HR's low-resolution version when it is exactly 1/3 of HR (after mod-crop);
otherwise (for instance IMAGE is HR itself, as for the bundled examples) the input becomes HR shrunk x3 with the
paper's bicubic, so that every output pixel has its ground truth; stderr says which.

`--focus X,Y` is the app's click on the photo: where the working region and the zoomed crops look, in the pixels of
the photo the app would be given (IMAGE, or with `--original` the original, which the app shrinks itself). The
same photo and options give the app's numbers (tests/explain/test_report.py checks it); the page says which.

`--handout` writes the handout for class as DIR/index.html instead of the full report (explain/classroom.py): four A4
pages for students and a fifth with the answers for the teacher; metrics.json is the same.

`python -m explain train-featsharp` trains the FeatSharp-style upsampler of the `featsharp` feature view
(explain/rcan/featsharp_train.py) and writes its weights and card; `--check` compares them with the shipped file.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from sr_core.cli import add_weight_options, stderr
from sr_core.errors import UserError, first_line
from sr_core.image_io import DEFAULT_MAX_PIXELS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explain", description="Explain how a super-resolution network keeps textures")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="write an offline HTML report and metrics.json")
    report.add_argument("image", type=Path, metavar="IMAGE")
    report.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    add_weight_options(report)
    report.add_argument("--original", type=Path, default=None, metavar="HR_IMAGE",
                        help="the photo's original high-resolution version: ground-truth crops and spectra, "
                        "PSNR/SSIM, error maps, PSNR of every experiment")
    report.add_argument("--focus", type=focus_point, default=None, metavar="X,Y",
                        help="where the explanation looks, as a click on the photo in the app (pixels of IMAGE, or "
                        "with --original of HR_IMAGE); default: the most textured region")
    report.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger inputs")
    report.add_argument("--handout", action="store_true",
                        help="write the handout for class instead of the full report: four A4 pages (the question, "
                        "the photo, the lesson's figures, questions) and a fifth with the answers for the teacher")
    featsharp = commands.add_parser("train-featsharp", help="train the featsharp view's upsampler (recipe)")
    featsharp.add_argument("--data", type=Path, nargs="+", default=None, metavar="DIR",
                           help="training sets (default: T91, BSD200, General100 in ../shared/data/sr)")
    featsharp.add_argument("--out", type=Path, required=True, metavar="FILE.safetensors",
                           help="where to write the weights (the card goes beside them, .json)")
    featsharp.add_argument("--steps", type=int, default=None, help="total steps (default: the recipe's)")
    featsharp.add_argument("--stop-after", type=int, default=None, metavar="N",
                           help="stop after N steps of the full schedule (a shortened reproduction check)")
    featsharp.add_argument("--check", action="store_true",
                           help="compare the result with the shipped upsampler and its card")
    return parser


def focus_point(text: str) -> tuple[int, int]:
    """"X,Y" as two pixel coordinates, refused (exit 2, one line) otherwise."""
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected X,Y in pixels, e.g. 120,80; got {text!r}")
    return int(parts[0]), int(parts[1])


def check_report_paths(args: argparse.Namespace) -> None:
    """The upscale CLI's rules, applied to the report: every input is a file (a folder is named as one), -o is a
    folder or a new name (not an existing file), and no file the report writes (REPORT_FILES in -o) is any input
    (the image, the original, a weights file), compared by file identity. UsageError (exit 2) otherwise."""
    from explain.report import REPORT_FILES
    from sr_core.cli import UsageError, check_inputs
    from sr_core.files import refuse_overwriting_inputs

    inputs = [args.image] + ([args.original] if args.original else [])
    check_inputs(inputs)
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output} is an existing file; the report writes "
                         f"{' and '.join(REPORT_FILES)} into a folder: give a folder")
    weights = Path(args.weights) if args.weights else None
    refuse_overwriting_inputs(inputs + ([weights] if weights is not None and weights.is_file() else []),
                              [args.output / name for name in REPORT_FILES])


def run_report(args: argparse.Namespace) -> int:
    from explain.analysis import analyze_any, note_jpeg
    from explain.report import Options, write_report
    from sr_core.engine import Upscaler, default_device
    from sr_core.protocol.evaluate import make_lr, mod_crop
    from sr_core.image_io import from_uint8, read_image, to_uint8
    from sr_core.choice import choose, weights_named_by_server
    from sr_core.weights import load_weights

    started = time.perf_counter()
    check_report_paths(args)  # before the seconds of work, not after
    image = read_image(args.image, max_pixels=args.max_pixels)
    original = read_image(args.original, max_pixels=args.max_pixels) if args.original else None
    spec = args.weights
    if spec is None and original is None and not weights_named_by_server():  # the photo's RCAN (sr_core.choice)
        chosen = choose(image.jpeg_quality)
        spec = chosen.spec
        stderr(f"{args.image.name}: {chosen.reason}")
    loaded = load_weights(spec, args.hub_repo, args.hub_file, args.hub_revision)
    stderr(f"weights: {loaded.describe()}")
    model = loaded.model.to(args.device or default_device())
    rgb, hr, focus = image.rgb, None, args.focus
    clicked_on = original or image  # --focus is in the pixels of the photo the app would show
    if focus is not None and not (focus[0] < clicked_on.rgb.shape[1] and focus[1] < clicked_on.rgb.shape[0]):
        raise ValueError(f"--focus {focus[0]},{focus[1]} is outside the {clicked_on.rgb.shape[1]}x"
                         f"{clicked_on.rgb.shape[0]} photo")
    if original is not None:
        hr = to_uint8(original.rgb)
        scale = model.scale
        if mod_crop(hr, scale).shape[:2] != (rgb.shape[0] * scale, rgb.shape[1] * scale):
            rgb = from_uint8(make_lr(hr, scale))
            stderr(f"input: {args.original.name} shrunk x{scale} with the paper's bicubic "
                   f"({rgb.shape[1]}x{rgb.shape[0]}), since {args.image.name} is not exactly 1/{scale} of it")
        focus = None if focus is None else (focus[0] // scale, focus[1] // scale)  # as the app maps its click
    engine = Upscaler(model, args.device or default_device(), args.precision)  # enlarges the whole photo
    analysis = analyze_any(model, rgb, original=hr, image_mode=image.original_mode, upscaler=engine, focus=focus)
    stderr(f"precision: {engine.describe()} for the engine's enlargement; the explainers' own passes in "
           f"{str(next(model.parameters()).dtype).removeprefix('torch.')}")
    analysis.model_info["precision"] = engine.precision  # what enlarged the photo, into metrics.json's "model"
    analysis.model_info["weights"] = loaded.file_name
    note_jpeg(analysis, image.jpeg_quality if rgb is image.rgb else None)  # None: the shrunk original ran
    title = f"How {analysis.model_name} enlarges {args.image.name} x{analysis.scale} ({engine.precision})"
    options = Options(photo=(args.original or args.image).name, original=original is not None, focus=args.focus,
                      precision=engine.precision)
    if args.handout:
        from explain.classroom import write_handout

        photo = rgb if original is None else original.rgb  # the photo the user has
        index, metrics = write_handout(analysis, args.output, loaded.provenance(), photo,
                                       (args.original or args.image).name)
    else:
        index, metrics = write_report(analysis, args.output, title, loaded.provenance(), rgb, options)
    stderr(f"{args.image.name}: report in {time.perf_counter() - started:.1f}s")
    print(index)
    print(metrics)
    return 0


def run_train_featsharp(args: argparse.Namespace) -> int:
    from explain.rcan.featsharp_train import run

    return run(args.data, args.out, args.steps, args.stop_after, args.check)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_train_featsharp(args) if args.command == "train-featsharp" else run_report(args)
    except (UserError, ValueError, OSError) as exc:
        stderr(f"error: {first_line(exc)}")
        return 2
    except KeyboardInterrupt:
        stderr("interrupted")
        return 130
