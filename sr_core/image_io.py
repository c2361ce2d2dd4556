"""Read users' photos into float RGB (+ alpha) for the network, and write the x3 result back as lossless PNG.

Photos arrive rotated by EXIF, transparent, grayscale, 16-bit, palette, CMYK, animated or huge; every one of them is
normalised here so the engine only ever sees float32 HxWx3 RGB in [0, 1], and the output keeps the input's kind
(gray stays gray, 16-bit stays 16-bit, transparency stays) and its ICC profile.

Pillow limitation: 16-bit-per-channel RGB(A) PNGs are opened by Pillow as 8-bit RGB(A), so their extra precision is
lost on reading; only 16-bit *grayscale* (`I;16`) is read and written at full precision.
"""
from __future__ import annotations

import io
import os
import re
import struct
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from sr_core.atomic import atomic_path
from sr_core.errors import UserError, first_line
from sr_core.jpeg import estimate_quality

BUILTIN_MAX_PIXELS = 16_000_000
MAX_PIXELS_ENV = "SR_MAX_PIXELS"
# How a refused size can be raised, for messages; callers with another knob (the CLI's flag, a web page whose
# visitors cannot change it) pass their own words.
DEFAULT_RAISE_HINT = f"raise it with {MAX_PIXELS_ENV}"
EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height

# What Pillow raises on damaged or truncated data (SyntaxError: "broken PNG file"; OSError: "image file is truncated").
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)

# ICC header bytes 16..20 name the colour space the profile describes (ICC.1 spec, "data colour space" field).
_ICC_SPACE_FOR_OUTPUT = {"RGB": b"RGB ", "RGBA": b"RGB ", "L": b"GRAY", "LA": b"GRAY", "I;16": b"GRAY"}
_GRAY_OUTPUTS = ("L", "LA", "I;16")
_ALPHA_OUTPUTS = ("RGBA", "LA")

# zlib level 1 vs Pillow's default 6, measured on a 1443x963 BSD200 photo enlarged x3: 5x faster to encode, 15% larger.
# A 12 MP photo becomes 108 MP, where level 6 would add most of a minute on a 2-core machine.
PNG_COMPRESS_LEVEL = 1

# Quantising a 100+ megapixel x3 output in one go would need several float copies of it; strips bound that.
_STRIP_ROWS = 256


class ImageError(UserError, ValueError):
    """The image cannot be used; the message names the file (when known) and the problem, for showing to users."""


class ImageTooLarge(ImageError):
    """More bytes or pixels than allowed: the refusal that protects memory, raised before any pixel is decoded."""


def max_pixels_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """The pixel limit from `SR_MAX_PIXELS`, or 16 M; a bad value warns instead of breaking every import."""
    raw = environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return BUILTIN_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        warnings.warn(f"{MAX_PIXELS_ENV}={raw!r} is not a positive integer; using {BUILTIN_MAX_PIXELS:,}", stacklevel=2)
        return BUILTIN_MAX_PIXELS
    return value


DEFAULT_MAX_PIXELS = max_pixels_from_env()


@dataclass
class InputImage:
    """A decoded photo ready for the network, plus what is needed to write the result in the same kind."""

    rgb: np.ndarray  # float32 HxWx3 in [0, 1]; gray inputs are replicated to three channels
    alpha: np.ndarray | None  # float32 HxW in [0, 1], or None when opaque
    output_mode: str  # PIL mode of the written result: "RGB", "RGBA", "L", "LA" or "I;16"
    icc_profile: bytes | None  # kept only when it describes the output's colour space
    original_mode: str  # PIL mode as opened, before any conversion
    size: tuple[int, int]  # (width, height) after EXIF orientation
    name: str  # file stem, for naming `<name>_x3.png`
    notes: list[str] = field(default_factory=list)  # user-facing remarks (first frame only, profile dropped, ...)
    jpeg_quality: int | None = None  # the quality a JPEG file was saved at (sr_core.jpeg), None for any other format


def read_image(
    source: str | Path | bytes | Image.Image,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    raise_hint: str = DEFAULT_RAISE_HINT,
) -> InputImage:
    """Open a file path, encoded bytes or a PIL image and normalise it for `enlarge`.

    The size is checked against `max_pixels` before any pixel is decoded. Pillow's own decompression-bomb limit
    (`PIL.Image.MAX_IMAGE_PIXELS`) still applies on top, its warning treated as an error. `raise_hint` tells the
    reader of a refusal how the limit can be raised (or what to do instead).
    Raises ImageError with a one-line reason for anything unusable.
    """
    label = _label(source)
    if isinstance(source, Image.Image):
        return _to_input_image(source, label, max_pixels, raise_hint)
    with _open(source, label, max_pixels, raise_hint) as opened:
        return _to_input_image(opened, label, max_pixels, raise_hint)


def check_byte_count(label: str, n_bytes: int, max_bytes: int) -> None:
    """Refuse encoded data larger than `max_bytes`, before anything is parsed or decoded."""
    if n_bytes > max_bytes:
        raise ImageTooLarge(f"{label} is too large: {n_bytes:,} bytes; the limit is {max_bytes:,} bytes")


def image_size(
    source: str | Path | bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
    raise_hint: str = DEFAULT_RAISE_HINT,
    label: str | None = None,
) -> tuple[int, int]:
    """(width, height) as the photo is shown (EXIF rotation applied), from its header alone: no pixel is decoded.

    The checks a server needs before it lets anything decode an untrusted image, in order of cost: the number of
    bytes (`max_bytes`), then the header's width x height (`max_pixels`). Raises ImageError like `read_image`.
    """
    label = label or _label(source)
    if max_bytes is not None:
        n_bytes = len(source) if isinstance(source, (bytes, bytearray)) else _file_size(Path(source), label)
        check_byte_count(label, n_bytes, max_bytes)
    with _open(source, label, max_pixels, raise_hint) as opened:
        width, height = opened.size
        _check_pixel_count(label, width, height, max_pixels, raise_hint)
        if _header_orientation(opened) in _TRANSPOSING_ORIENTATIONS:
            width, height = height, width
    return width, height


def enlarge(
    image: InputImage, upscale_rgb: Callable[[np.ndarray], np.ndarray], scale: int = 3
) -> Image.Image:
    """Enlarge colour with `upscale_rgb` (called once) and alpha with Pillow's bicubic; return a PIL image in
    `image.output_mode`, carrying the ICC profile in `.info` so `save_png` writes it.

    Alpha does not go through the network: masks are usually smooth or binary, so bicubic loses nothing visible,
    while a second network pass would double the CPU time.
    """
    if image.output_mode not in _ICC_SPACE_FOR_OUTPUT:
        raise ValueError(f"unsupported output mode {image.output_mode!r}")
    height, width = image.rgb.shape[:2]
    out_h, out_w = height * scale, width * scale
    rgb = upscale_rgb(image.rgb)
    if not isinstance(rgb, np.ndarray) or rgb.shape != (out_h, out_w, 3) or rgb.dtype.kind != "f":
        found = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"upscale_rgb returned {found}; expected a float array of shape {(out_h, out_w, 3)}")

    gray = image.output_mode in _GRAY_OUTPUTS
    colour_channels = 1 if gray else 3
    has_alpha = image.output_mode in _ALPHA_OUTPUTS
    if has_alpha and image.alpha is None:
        raise ValueError(f"output mode {image.output_mode} needs an alpha channel, but the image has none")
    full_scale = 65535 if image.output_mode == "I;16" else 255
    pixels = np.empty((out_h, out_w, colour_channels + has_alpha), np.uint16 if full_scale == 65535 else np.uint8)
    _quantise_into(pixels[..., :colour_channels], rgb, full_scale, to_gray=gray)
    if has_alpha:
        _quantise_into(pixels[..., colour_channels:], _enlarge_alpha(image.alpha, (out_w, out_h))[..., None], 255)

    result = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    if image.icc_profile:
        result.info["icc_profile"] = image.icc_profile
    return result


def save_png(pil: Image.Image, path: str | Path, icc_profile: bytes | None = None) -> None:
    """Write lossless PNG; the ICC profile is `icc_profile` or else the one in `pil.info`.

    Atomic: a full disk or a kill leaves the previous file (or none), never a truncated PNG. An existing file
    is replaced. The message names the file, not its folder, since it may be shown to a web visitor.
    """
    path = Path(path)
    try:
        with atomic_path(path) as staging:
            pil.save(staging, format="PNG", **_png_options(pil, icc_profile))
    except OSError as exc:
        raise ImageError(f"cannot write {path.name}: {first_line(exc)}") from exc


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float in [0, 1] -> uint8, rounded to nearest (x * 255 + 0.5), values outside [0, 1] clipped."""
    out = np.empty(rgb.shape, np.uint8)
    _quantise_into(out, rgb, 255)
    return out


def from_uint8(pixels: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1]; exact inverse of `to_uint8` on its outputs."""
    return np.divide(pixels, 255, dtype=np.float32)


def _label(source: object) -> str:
    """The file name for messages, or a generic word when the image has none."""
    if isinstance(source, (str, Path)):
        return Path(source).name
    if isinstance(source, Image.Image) and getattr(source, "filename", ""):
        return Path(source.filename).name
    return "image"


def _file_size(path: Path, label: str) -> int:
    if not path.is_file():
        raise ImageError(f"{label}: file not found")
    return path.stat().st_size


def _header_orientation(im: Image.Image) -> int:
    """The EXIF orientation known from the header. Pillow's PNG plugin decodes the whole image to look for an
    eXIf chunk after the pixels, so PNGs are only asked when the header already carried EXIF."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        return int(im.getexif().get(EXIF_ORIENTATION, 1))
    except DECODE_ERRORS:
        return 1


def _check_pixel_count(label: str, width: int, height: int, max_pixels: int, raise_hint: str) -> None:
    if width * height == 0:
        raise ImageError(f"{label} has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(_too_large(label, f"{width}x{height} = {width * height:,} pixels", max_pixels, raise_hint))


def _open(source: str | Path | bytes, label: str, max_pixels: int, raise_hint: str) -> Image.Image:
    """Image.open with every failure turned into ImageError; reads the header only, no pixels."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("image data is empty (0 bytes)")
        target: io.BytesIO | Path = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        target = Path(source)
        if not target.is_file():
            raise ImageError(f"{label}: file not found")
        if target.stat().st_size == 0:
            raise ImageError(f"{label} is empty (0 bytes)")
    else:
        raise TypeError(f"read_image takes a path, bytes or a PIL image, not {type(source).__name__}")
    try:
        # A local filter, not a change to Pillow's global limit; warning filters are process-wide, so a
        # concurrent thread may briefly see it too, which only makes that thread stricter.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(target)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(_bomb_message(label, exc, max_pixels, raise_hint)) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{label} is not an image Pillow can read (unknown format or not an image file)") from exc
    except DECODE_ERRORS as exc:
        raise ImageError(f"cannot open {label}: {first_line(exc)}") from exc


def _to_input_image(im: Image.Image, label: str, max_pixels: int, raise_hint: str) -> InputImage:
    width, height = im.size
    _check_pixel_count(label, width, height, max_pixels, raise_hint)
    notes: list[str] = []
    original_mode = im.mode
    icc_profile = im.info.get("icc_profile")
    jpeg_quality = estimate_quality(im)  # from the header's tables, before any conversion drops the format
    try:
        frames = getattr(im, "n_frames", 1)
        im.load()
    except DECODE_ERRORS as exc:
        raise ImageError(f"{label}: the image data is damaged or incomplete ({first_line(exc)})") from exc
    if frames > 1:
        note = f"{label} has {frames} frames; only frame {im.tell() + 1} is enlarged"
        warnings.warn(note, stacklevel=3)
        notes.append(note)
    im = _apply_orientation(im, notes)
    rgb, alpha, output_mode = _to_arrays(im, label, notes)
    return InputImage(
        rgb=rgb,
        alpha=alpha,
        output_mode=output_mode,
        icc_profile=_matching_profile(icc_profile, output_mode, notes),
        original_mode=original_mode,
        size=im.size,
        name=Path(label).stem,
        notes=notes,
        jpeg_quality=jpeg_quality,
    )


def _apply_orientation(im: Image.Image, notes: list[str]) -> Image.Image:
    """Rotate/flip as the EXIF Orientation tag says; a broken EXIF block should not cost the user the photo."""
    try:
        return ImageOps.exif_transpose(im)
    except DECODE_ERRORS as exc:
        notes.append(f"EXIF orientation could not be read ({first_line(exc)}); image kept as stored")
        return im


def _to_arrays(im: Image.Image, label: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(rgb, alpha, output_mode) for any PIL mode: gray stays gray, 16-bit/32-bit gray becomes I;16, rest RGB(A)."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _gray_to_rgb(_high_precision_gray(im, label, notes)), None, "I;16"
    gray_family = mode in ("1", "L", "LA", "La")
    try:
        if gray_family:
            im = im.convert("LA" if im.has_transparency_data else "L")
        else:
            im = im.convert("RGBA" if im.has_transparency_data else "RGB")
    except ValueError as exc:
        raise ImageError(f"{label}: unsupported image mode {mode!r} ({first_line(exc)})") from exc
    if mode == "CMYK":
        notes.append("CMYK converted to RGB with Pillow's simple formula (no colour management)")
    pixels = np.asarray(im)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    rgb = _gray_to_rgb(from_uint8(pixels[..., 0])) if gray_family else from_uint8(pixels[..., :3])
    alpha = from_uint8(pixels[..., -1]) if im.mode in _ALPHA_OUTPUTS else None
    return rgb, alpha, im.mode


def _high_precision_gray(im: Image.Image, label: str, notes: list[str]) -> np.ndarray:
    """16-bit gray as value / 65535; 32-bit int or float kept if already in range, else min-max rescaled."""
    values = np.asarray(im)
    if values.dtype.kind == "u":  # I;16, I;16L, I;16B
        return np.divide(values, 65535, dtype=np.float32)
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ImageError(f"{label}: the {im.mode} image holds NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    full = 1.0 if im.mode == "F" else 65535.0
    if low >= 0 and high <= full:
        return (values / full).astype(np.float32)
    notes.append(f"{im.mode} values span [{low:g}, {high:g}], outside [0, {full:g}]; rescaled to the 16-bit range")
    span = high - low
    return ((values - low) / span).astype(np.float32) if span > 0 else np.zeros(values.shape, np.float32)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """The network is trained on RGB, so gray is fed as three equal channels (averaged back in `enlarge`)."""
    return np.repeat(gray[..., None], 3, axis=2)


def _matching_profile(icc_profile: bytes | None, output_mode: str, notes: list[str]) -> bytes | None:
    """Keep the ICC profile only when it describes the output's colour space (a CMYK profile on RGB would lie)."""
    if not icc_profile:
        return None
    space = icc_profile[16:20]
    if space == _ICC_SPACE_FOR_OUTPUT[output_mode]:
        return icc_profile
    described = space.decode("latin-1").strip() or "an unknown"
    notes.append(f"colour profile dropped: it describes {described} data but the output is {output_mode}")
    return None


def _enlarge_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic on a float 'F' image, no 8-bit rounding before the final quantisation (which clips overshoot)."""
    plane = Image.fromarray(np.ascontiguousarray(alpha, dtype=np.float32))
    return np.asarray(plane.resize(size, Image.Resampling.BICUBIC))


def _quantise_into(dst: np.ndarray, src: np.ndarray, full_scale: int, to_gray: bool = False) -> None:
    """dst = floor(clip(src, 0, 1) * full_scale + 0.5), i.e. rounded; strip by strip to bound memory."""
    for top in range(0, src.shape[0], _STRIP_ROWS):
        strip = src[top : top + _STRIP_ROWS]
        if to_gray:
            strip = strip.mean(axis=2, keepdims=True)
        dst[top : top + _STRIP_ROWS] = np.clip(strip, 0.0, 1.0) * full_scale + 0.5


def _png_options(pil: Image.Image, icc_profile: bytes | None) -> dict[str, object]:
    profile = icc_profile if icc_profile is not None else pil.info.get("icc_profile")
    options: dict[str, object] = {"compress_level": PNG_COMPRESS_LEVEL}
    if profile:
        options["icc_profile"] = profile
    return options


def _too_large(label: str, size_text: str, limit: int, hint: str) -> str:
    return f"{label} is too large: {size_text}; the limit is {limit:,} pixels ({hint})"


def _bomb_message(label: str, exc: Exception, max_pixels: int, raise_hint: str) -> str:
    """Pillow's decompression-bomb refusal, in the same words as our own size check."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    size_text = f"{int(match[1]):,} pixels" if match else "more pixels than Pillow allows"
    pillow_limit = Image.MAX_IMAGE_PIXELS or max_pixels
    if max_pixels <= pillow_limit:
        return _too_large(label, size_text, max_pixels, raise_hint)
    return _too_large(label, size_text, pillow_limit, "Pillow's decompression-bomb limit, PIL.Image.MAX_IMAGE_PIXELS")
