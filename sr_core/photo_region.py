"""Photos over a server's pixel limit: enlarge the region around a point, as large as the limit allows.

A 12 MP phone photo is over the app's limit (its memory bounds what one run may hold). Rather than refuse it, the
app and the API enlarge the region around the point the user picked (the centre by default), with the photo's
own aspect ratio and as many pixels as the limit allows; the note says which region and that the CLI, which
tiles any size, enlarges the whole photo. The byte limit and Pillow's decompression-bomb guard still apply to
the photo as sent (sr_core.image_io), so a photo is decoded only when Pillow would decode it anyway.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from sr_core.image_io import DECODE_ERRORS, DEFAULT_RAISE_HINT, ImageError, InputImage, image_size, read_image
from sr_core.jpeg import estimate_quality

# The largest photo a region is taken from: Pillow's own decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS,
# about 89 MP), which image_io treats as an error. Decoding that many pixels as uint8 takes ~270 MB.
SOURCE_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


@dataclass(frozen=True)
class Region:
    """A box of the photo as shown (EXIF rotation applied): left, top, width, height in pixels."""

    left: int
    top: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.left + self.width, self.top + self.height

    @property
    def centre(self) -> tuple[int, int]:
        return self.left + self.width // 2, self.top + self.height // 2


def parse_centre(text: str | None) -> tuple[int, int] | None:
    """"x,y" (the API's region centre, in pixels of the photo as shown) -> (x, y); empty -> None."""
    if text is None or not str(text).strip():
        return None
    parts = str(text).replace(" ", "").split(",")
    try:
        x, y = (int(float(p)) for p in parts)
    except (ValueError, OverflowError):  # not two numbers, or "inf" / "1e400"
        raise ValueError(f"region centre must be two numbers 'x,y' in pixels, got {str(text)[:40]!r}") from None
    if x < 0 or y < 0:
        raise ValueError(f"region centre must be inside the photo (x, y >= 0), got {x},{y}")
    return x, y


def region_around(width: int, height: int, max_pixels: int, centre: tuple[int, int] | None = None) -> Region:
    """The largest box with the photo's aspect ratio and at most `max_pixels` pixels, centred on `centre` (the
    photo's centre when None) and moved, never shrunk, to stay inside the photo. The whole photo when it fits."""
    if width * height <= max_pixels:
        return Region(0, 0, width, height)
    factor = math.sqrt(max_pixels / (width * height))
    w, h = max(1, min(width, int(width * factor))), max(1, min(height, int(height * factor)))
    while w * h > max_pixels:  # floating-point rounding: never one pixel over
        w, h = (w - 1, h) if w / width >= h / height else (w, h - 1)
    cx, cy = centre if centre is not None else (width // 2, height // 2)
    left = min(max(0, int(cx) - w // 2), width - w)
    top = min(max(0, int(cy) - h // 2), height - h)
    return Region(left, top, w, h)


def read_region(
    source: str | Path | bytes,
    max_pixels: int,
    centre: tuple[int, int] | None = None,
    raise_hint: str = DEFAULT_RAISE_HINT,
) -> tuple[InputImage, Region | None]:
    """The photo, or when it has more than `max_pixels` pixels, its region around `centre` (`region_around`),
    ready for `enlarge`; the Region is None when the whole photo is returned. Photos above SOURCE_MAX_PIXELS are
    refused as read_image refuses them. The region keeps the photo's name, JPEG quality and colour profile."""
    width, height = image_size(source, SOURCE_MAX_PIXELS, raise_hint=raise_hint)
    if width * height <= max_pixels:
        return read_image(source, max_pixels, raise_hint), None
    region = region_around(width, height, max_pixels, centre)
    label = Path(source).name if isinstance(source, (str, Path)) else "image"
    try:
        with Image.open(source if not isinstance(source, (bytes, bytearray)) else _bytes_io(source)) as opened:
            quality = estimate_quality(opened)
            opened.load()
            shown = ImageOps.exif_transpose(opened)
            cropped = shown.crop(region.box)
            # the profile only: the EXIF orientation is applied already and must not turn the region again
            cropped.info = {k: v for k, v in opened.info.items() if k == "icc_profile"}
    except DECODE_ERRORS as exc:
        raise ImageError(f"{label}: the image data is damaged or incomplete ({exc})") from exc
    image = read_image(cropped, max_pixels, raise_hint)
    image.name, image.jpeg_quality = Path(label).stem, quality
    return image, region


def _bytes_io(data: bytes):  # noqa: ANN202
    import io

    return io.BytesIO(data)


def region_note(region: Region, size: tuple[int, int], max_pixels: int, name: str = "photo.jpg") -> str:
    """What the info line says about an enlarged region: which, why, and how to enlarge the whole photo."""
    width, height = size
    x, y = region.centre
    return (f"The photo is {width}×{height} px, over this server's {max_pixels:,}-pixel limit, so the "
            f"{region.width}×{region.height} px region around x={x}, y={y} (left {region.left}, top {region.top}) "
            f"was enlarged; click the photo to move it. To enlarge the whole photo, run "
            f"`python -m sr_core upscale {name} -o {Path(name).stem}_x3.png` (the CLI tiles any size).")
