"""Serving rules for inputs: every image is size-checked before any pixel is decoded, and API values are strictly
typed, so that a careless or hostile client gets a one-line refusal instead of a decoded bomb or a TypeError."""
from __future__ import annotations

import base64
import binascii
from pathlib import Path

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache

from app_serving.guards import trim_folder
from app_serving.limits import VISITOR_RAISE_HINT, max_upload_bytes, upload_cache_bytes
from sr_core.image_io import ImageError, ImageTooLarge, check_byte_count, image_size
from sr_core.photo_region import SOURCE_MAX_PIXELS


def checked_upload(image: gr.Image) -> gr.Image:
    """Make a `type="filepath"` gr.Image hand over a file that passed the app's size checks, undecoded.

    An image reaches the server as an upload (a path in Gradio's cache, already bounded by max_file_size) or
    inline as `{"path": null, "url": "data:image/png;base64,..."}`, which skips /upload and its limit; stock
    gr.Image then decodes it in full (gradio/image_utils.py, preprocess_image) before any handler could look.
    Here both take the same route: the byte count is checked first (for a data URL, from the length of its
    base64 text, before decoding it), then the header's width x height, and only then is a data URL's payload
    stored, as it came, in Gradio's cache. No pixel is decoded here, so this is safe in the unqueued events that
    share the input. A size refusal stops the event here; any other problem (a text file, damage) is left to
    `read_image`, which decodes later, inside the model queue's concurrency limit, and explains it.
    (An instance override rather than a subclass: subclassing a component makes Gradio write an app.pyi stub.)
    """

    def preprocess(payload):  # noqa: ANN001, ANN202 - Gradio's ImageData
        if payload is None:
            return None
        try:
            if payload.path is None and payload.url and payload.url.startswith("data:"):
                return store_data_url(image, payload.url, payload.orig_name)
            if payload.path is None:
                raise gr.Error("No image was sent (neither an uploaded file nor a data: URL).", print_exception=False)
            refuse_if_too_large(payload.path, payload.orig_name or Path(payload.path).name)
        except ImageTooLarge as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        return str(payload.path)

    image.preprocess = preprocess
    return image


# The photo types a data: URL may carry, with the extension it is stored under (no SVG: it can hold scripts).
INLINE_IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/tiff": ".tif",
                      "image/bmp": ".bmp", "image/gif": ".gif"}


def store_data_url(image: gr.Image, url: str, orig_name: str | None) -> str:
    """Check a data: URL's size (bytes, then header), then write its bytes, undecoded, into Gradio's cache."""
    header, _, encoded = url.partition(",")
    mime = header[len("data:"):].split(";")[0].lower()
    label = orig_name or "image"
    if not header.endswith(";base64"):
        raise gr.Error(f"{label}: only base64 data: URLs are accepted", print_exception=False)
    if mime not in INLINE_IMAGE_TYPES:  # the bytes are stored where the server serves files from
        raise gr.Error(f"{label}: a data: URL must hold a photo ({', '.join(sorted(INLINE_IMAGE_TYPES))}), "
                       f"not {mime[:40] or 'no type'}", print_exception=False)
    check_byte_count(label, len(encoded) * 3 // 4, max_upload_bytes())
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise gr.Error(f"{label}: the data: URL is not valid base64", print_exception=False) from exc
    refuse_if_too_large(data, label)
    suffix = INLINE_IMAGE_TYPES[mime]  # the type's own extension, never the client's (no "photo.html")
    name = stored_name(Path(stored_name(orig_name, suffix)).stem + suffix, suffix)
    path = save_bytes_to_cache(data, name, image.GRADIO_CACHE)
    image.temp_files.add(path)  # deleted by delete_cache like any upload
    trim_folder(Path(image.GRADIO_CACHE), upload_cache_bytes(), keep=Path(path))  # inline images count against the bound too
    return path


MAX_NAME_CHARS = 100  # a stored photo's name; the result adds "_x3.png". File systems allow 255 bytes.


def stored_name(orig_name: str | None, default_suffix: str) -> str:
    """A client's file name made safe to store: its last component, without control characters, cut to
    MAX_NAME_CHARS characters (and 200 bytes of UTF-8) with its extension kept; "image<suffix>" when nothing is
    left. A 236-character name failed with "[Errno 36] File name too long" and showed the server's temp path."""
    name = "".join(c for c in Path(orig_name or "").name if c.isprintable() and c not in "\\/:")
    stem, suffix = (name.rsplit(".", 1)[0], "." + name.rsplit(".", 1)[1][:10]) if "." in name[1:] else (name, "")
    stem = stem[:MAX_NAME_CHARS - len(suffix)]
    while len((stem + suffix).encode()) > 200:
        stem = stem[:-1]
    return stem + suffix if stem.strip(" .") else f"image{default_suffix}"


def refuse_if_too_large(source: str | bytes, label: str) -> None:
    """Raise ImageTooLarge for too many bytes or header pixels; other problems are read_image's to explain."""
    try:
        # photos over max_pixels() are taken (a region of them is enlarged); Pillow's bomb limit still refuses
        image_size(source, SOURCE_MAX_PIXELS, max_upload_bytes(), VISITOR_RAISE_HINT, label=label)
    except ImageTooLarge:
        raise
    except ImageError:
        pass


def strict_bool(checkbox: gr.Checkbox, name: str) -> gr.Checkbox:
    """Accept only JSON true/false from the API: stock gr.Checkbox passes "false", "0" or 1 on as truthy."""

    def preprocess(payload):  # noqa: ANN001, ANN202
        if not isinstance(payload, bool):
            raise gr.Error(f"{name} must be true or false (a JSON boolean), not {shown(payload)}",
                           print_exception=False)
        return payload

    checkbox.preprocess = preprocess
    return checkbox


def strict_number(slider: gr.Slider, name: str) -> gr.Slider:
    """Accept only a JSON number from the API: stock gr.Slider compares a string or null with its bounds and
    fails with a TypeError, which reaches the client as `error: null`. The range is the handler's to check."""
    stock = slider.preprocess

    def preprocess(payload):  # noqa: ANN001, ANN202
        if isinstance(payload, bool) or not isinstance(payload, (int, float)):
            raise gr.Error(f"{name} must be a number, not {shown(payload)}", print_exception=False)
        return stock(payload)

    slider.preprocess = preprocess
    return slider


def strict_choice(component: gr.Dropdown | gr.Radio, name: str) -> gr.Dropdown | gr.Radio:
    """Accept only one of the listed values, of the listed type: stock gr.Dropdown passes None on, and 256.0 or
    True compare equal to listed numbers."""
    stock = component.preprocess
    values = [value for _, value in component.choices]

    def preprocess(payload):  # noqa: ANN001, ANN202
        if not any(type(payload) is type(value) and payload == value for value in values):
            listed = ", ".join(shown(value) for value in values)
            raise gr.Error(f"{name} must be one of {listed}, not {shown(payload)}", print_exception=False)
        return stock(payload)

    component.preprocess = preprocess
    return component


def shown(value: object, limit: int = 40) -> str:
    """A client's value for a message, cut short: an attacker's megabyte string is not echoed back."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"
