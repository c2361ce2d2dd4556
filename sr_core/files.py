"""Enlarging files for the command line (`upscale`, `batch`): what an output is called, the check that no output
is an input, one file read, enlarged and written, and one-line messages on stderr.

Why a module of its own: `sr_core.cli` dispatches to `sr_core.batch`, and both need these; here neither imports
the other.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from sr_core.errors import UserError, first_line
from sr_core.image_io import ImageError


class UsageError(UserError, ValueError):
    """A problem with the command line that argparse cannot see."""


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def output_name(src: Path, scale: int) -> str:
    """`<name>_x3.png`: what `upscale` and `batch` call the enlargement of `src`."""
    return f"{src.stem}_x{scale}.png"


def refuse_overwriting_inputs(inputs: list[Path], targets: list[Path]) -> None:
    """UsageError when a planned output that exists is one of the inputs, compared by identity (device and
    inode, as os.path.samefile does), so hard links, symlinks and other spellings of a path count.

    One stat per path (a set of the inputs' identities), so an archive of 100,000 files is checked in seconds.
    """
    identities: dict[tuple[int, int], Path] = {}
    for src in inputs:
        with contextlib.suppress(OSError):
            info = os.stat(src)
            identities.setdefault((info.st_dev, info.st_ino), src)
    for dst in targets:
        try:
            info = os.stat(dst)
        except OSError:  # dst does not exist (yet), so it cannot be an input
            continue
        clash = identities.get((info.st_dev, info.st_ino))
        if clash is not None:
            raise UsageError(f"refusing to overwrite the input {clash} (the output {dst} is the same file)")


def enlarge_file(upscaler, src: Path, dst: Path, max_pixels: int, tile: int | None = None, ensemble: bool = False,
                 progress=None, note=stderr):
    """Read `src`, enlarge it with `upscaler` (an `sr_core.engine.Upscaler`) and write `dst` atomically as PNG;
    returns (input image, result). Raises ImageError (one line) for a bad image or a failed write; each remark
    on the image (first frame only, profile dropped, ...) goes to `note`."""
    from sr_core.image_io import enlarge, read_image, save_png

    image = read_image(src, max_pixels=max_pixels, raise_hint="raise it with --max-pixels")
    for remark in image.notes:
        note(f"{src.name}: {remark}")
    result = enlarge(image, lambda rgb: upscaler.upscale(rgb, tile, ensemble, progress), upscaler.scale)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"cannot write {dst.name}: {first_line(exc)}") from exc
    save_png(result, dst, image.icc_profile)
    return image, result
