"""The serving limits that keep a shared CPU Space usable: pixels per photo, bytes per upload and per request,
and what the upload folder may hold; each read from the environment, with the app's defaults."""
from __future__ import annotations

import os
import re
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from sr_core.image_io import MAX_PIXELS_ENV, InputImage, max_pixels_from_env, read_image

# A 4 MP photo needs about 0.9 KB per input pixel in the engine (three full-size 64-channel float maps plus the x3
# output; bench/memory_vs_tile.py), i.e. ~3.8 GB, which fits a 16 GB CPU Space; SR_MAX_PIXELS overrides it.
APP_MAX_PIXELS = 4_000_000
MAX_UPLOAD_ENV = "SR_MAX_UPLOAD"  # Gradio size syntax: "20mb", "500kb"
DEFAULT_MAX_UPLOAD = "20mb"
UPLOAD_CACHE_ENV = "SR_UPLOAD_CACHE"  # the most Gradio's upload folder may hold; the oldest files go first
DEFAULT_UPLOAD_CACHE = "1gb"
# Shown to a visitor whose photo is over the pixel limit: visitors cannot raise a server's limit.
VISITOR_RAISE_HINT = "crop or shrink the photo"


def max_pixels() -> int:
    """SR_MAX_PIXELS when set, else the app's own memory-safe limit (the CLI's 16 MP would not fit a Space)."""
    return max_pixels_from_env() if os.environ.get(MAX_PIXELS_ENV, "").strip() else APP_MAX_PIXELS


def max_upload_bytes() -> int:
    """SR_MAX_UPLOAD in Gradio's size syntax ("20mb", "500kb", "1048576"): the upload limit Gradio enforces on
    /upload, and the one the app enforces itself on images sent inline as data: URLs, which bypass /upload."""
    return size_from_env(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD)


def upload_cache_bytes() -> int:
    """SR_UPLOAD_CACHE ("1gb" by default): uploads and inline images past this total are removed, oldest first,
    so a flood of uploads cannot fill the disk before Gradio's hourly clean-up; never less than 4 uploads."""
    return max(size_from_env(UPLOAD_CACHE_ENV, DEFAULT_UPLOAD_CACHE), 4 * max_upload_bytes())


def size_from_env(name: str, default: str) -> int:
    """A size in Gradio's syntax ("20mb", "500kb", "1048576") from the environment variable `name`."""
    raw = (os.environ.get(name) or default).replace(" ", "").upper()
    match = re.fullmatch(r"(\d+)(B|KB|MB|GB|TB)?", raw)
    if not match:
        raise ValueError(f"{name}={raw!r} is not a size such as {default}")
    return int(match[1]) * getattr(gr.FileSize, match[2] or "B")


def upload_folder() -> Path:
    return Path(get_upload_folder())


def request_body_limit() -> int:
    return max_upload_bytes() * 4 // 3 + (1 << 20)


def read_photo(path: str | None) -> InputImage:
    if not path:
        raise gr.Error("Upload a photo first (PNG, JPEG, WebP, TIFF, BMP...).", print_exception=False)
    return read_image(path, max_pixels(), VISITOR_RAISE_HINT)
