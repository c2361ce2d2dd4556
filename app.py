"""The Gradio demo (and Hugging Face Space): enlarge a photo x3 with RCAN (best textures) or SAFMN (fast), compare
it with bicubic, see why textures survive, and see what each model costs in time.

UI only: reading images, running models and explaining them live in `sr_core` and `explain`; the serving
machinery (runs that stop when nobody waits, one-line errors, the queue's options, request and upload-folder
bounds) in `app_serving`. What is here is wiring, wording, and the serving rules that keep a shared CPU Space
usable: one model run at a time, a bounded queue, bounded uploads and pixel counts, a progress bar with an ETA,
a Stop button, and every failure shown to the user as a one-line message instead of a dead server.

Run: `python app.py` (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured by Gradio itself).
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import importlib.util
import logging
import mimetypes
import os
import re
import time
from collections.abc import Callable
from contextlib import nullcontext
from math import ceil
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from gradio.processing_utils import save_bytes_to_cache
from gradio.utils import get_upload_folder
from PIL import Image
from starlette.middleware import Middleware

from app_serving import (STOP_FLAGS, RequestBodyLimit, UploadCacheBound, model_queue, model_run, queue_options,
                         session_of, trim_folder)

from explain.analysis import (analyze_any, build_figures, channel_counts, explainer_markdown, explore_channel,
                              recording_for)
from explain.analysis import metrics as explain_metrics
from explain.distill_study import study_section
from explain.figures import quality_vs_time_figure
from explain.captions import CAPTIONS, STUDY_CAPTION
from explain.glossary import with_tooltips
from explain.pipeline import explained_input
from explain.quality import load_quality_vs_time, quality_caption, tradeoff_line
from explain.steps import Step, step_through_photo
from explain.summary import (
    EXPLAIN_FIGURES, LAYOUT_ORDER, RCAN_ONLY, SECTION_HEADINGS, first_slot, slot_figures, summary_markdown,
)
from sr_core.engine import DEFAULT_TILE
from sr_core.errors import UserError, WeightsError
from sr_core.image_io import (
    MAX_PIXELS_ENV,
    ImageError,
    ImageTooLarge,
    InputImage,
    check_byte_count,
    enlarge,
    from_uint8,
    image_size,
    max_pixels_from_env,
    read_image,
    save_png,
    to_uint8,
)
from sr_core.choice import app_weights_choice
from sr_core.photo_region import SOURCE_MAX_PIXELS, parse_centre, read_region, region_around, region_note
from sr_core.protocol.imresize import imresize
from sr_core.estimate import format_duration
from sr_core.run_folders import RunFolders
from sr_core.serving import RecentResults, ServedModel, ServedModels, device_label
from sr_core.tiling import Progress
from sr_core.weights import DEFAULT_MODEL, MODELS, LoadedWeights, weight_choices

try:  # Hugging Face ZeroGPU: a GPU is attached only while a function decorated with spaces.GPU runs.
    import spaces
except ImportError:
    spaces = None


log = logging.getLogger("sr_app")

SCALE = 3  # what the page promises (its title, the labels); each run enlarges by its served model's own scale
ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "examples"

# Serving limits. A 4 MP photo needs about 0.9 KB per input pixel in the engine (three full-size 64-channel float
# maps plus the x3 output; bench/memory_vs_tile.py), i.e. ~3.8 GB, which fits a 16 GB CPU Space; SR_MAX_PIXELS
# overrides it.
APP_MAX_PIXELS = 4_000_000
MAX_UPLOAD_ENV = "SR_MAX_UPLOAD"  # Gradio size syntax: "20mb", "500kb"
DEFAULT_MAX_UPLOAD = "20mb"
UPLOAD_CACHE_ENV = "SR_UPLOAD_CACHE"  # the most Gradio's upload folder may hold; the oldest files go first
DEFAULT_UPLOAD_CACHE = "1gb"
QUEUE_SIZE = 16  # waiting requests beyond this get Gradio's "This application is currently busy" message
MODEL_CONCURRENCY = 1  # model runs share the CPU/GPU; two at once would each take twice as long
TILE_CHOICES = [128, 256, 512, 1024]
LONG_RUN_S = 10.0  # announce the estimate before runs expected to take longer than this

# The model choice, (label, value) for each of sr_core.weights.MODELS: RCAN runs the weights chosen under Options,
# SAFMN the server's (sr_core.weights.model_spec).
MODEL_CHOICES = list(zip(("RCAN — best textures", "SAFMN — fast"), MODELS))
# Auto: bf16 on CPUs with native bf16 (1.75-1.96x the fp32 reference on the AMD EPYC test machine, >= 57 dB from
# fp32 on the example photos; README "Performance"), fp16 on a GPU, else fp32.
PRECISION_CHOICES = [("Auto", "auto"), ("fp32 (exact)", "fp32"), ("bf16", "bf16")]



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


# Shown to a visitor whose photo is over the pixel limit: visitors cannot raise a server's limit.
VISITOR_RAISE_HINT = "crop or shrink the photo"


# ---------------------------------------------------------------------------------------------------------------
# Models: loaded once per choice, each with its measured speed (sr_core.serving).
# ---------------------------------------------------------------------------------------------------------------


ENGINES = ServedModels()


# ---------------------------------------------------------------------------------------------------------------
# ZeroGPU: how long to hold a GPU for one run.
# ---------------------------------------------------------------------------------------------------------------

ZEROGPU_DEFAULT_S = 60  # what spaces.GPU reserves when told nothing; used until a run has measured the speed
ZEROGPU_MARGIN = 2.0  # a shared GPU and a cold start can each slow a run; an aborted run loses the user's work
ZEROGPU_OVERHEAD_S = 10  # moving the model to the GPU and writing the PNGs, which the estimate does not count
ZEROGPU_MAX_S = 300


def on_gpu(duration: int | Callable[..., int]) -> Callable[[Callable], Callable]:
    """spaces.GPU(duration=...) on ZeroGPU (where `spaces` is importable), a no-op everywhere else. A callable
    duration gets the same arguments as the function it guards, and returns the seconds to reserve."""
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def upscale_gpu_seconds(image: str | None, tile: int = DEFAULT_TILE, ensemble: bool = False,
                        weights: str = "default", model: str = DEFAULT_MODEL, *_: object, **__: object) -> int:
    """Seconds of GPU to reserve for `upscale`: the run-time estimate for this photo and these options, doubled,
    plus a fixed overhead; ZeroGPU's default until the model's speed is known (a short reservation queues first)."""
    engine = ENGINES.peek(weights, model)
    try:
        with Image.open(image) as header:  # the size only: the pixels are decoded (and checked) by read_image
            width, height = header.size
        if width * height > max_pixels():  # only a region of it is enlarged (sr_core.photo_region)
            region = region_around(width, height, max_pixels())
            width, height = region.width, region.height
        estimate = engine.estimate_s(width, height, int(tile), bool(ensemble)) if engine else None
    except (OSError, TypeError, ValueError, AttributeError):
        estimate = None  # a bad upload: upscale itself reports it, the reservation does not matter
    if estimate is None:
        return ZEROGPU_DEFAULT_S
    return min(ZEROGPU_MAX_S, ceil(ZEROGPU_MARGIN * estimate + ZEROGPU_OVERHEAD_S))


# ---------------------------------------------------------------------------------------------------------------
# Per-run plumbing: output folders and progress (Stop flags, cancels and errors: app_serving).
# ---------------------------------------------------------------------------------------------------------------


RUN_FOLDERS = RunFolders()


def progress_reporter(progress: gr.Progress, label: str) -> Callable[[Progress], None]:
    """Engine steps -> Gradio progress bar with the engine's ETA, at most ~5 updates a second."""
    last_sent = [0.0]

    def report(p: Progress) -> None:
        now = time.monotonic()
        if p.done < p.total and now - last_sent[0] < 0.2:
            return
        last_sent[0] = now
        progress((p.done, p.total), desc=f"{label}: about {format_duration(p.eta_s)} left", unit="steps")

    return report


# ---------------------------------------------------------------------------------------------------------------
# Serving rules for inputs: every image is size-checked before any pixel is decoded; API values are strictly typed.
# ---------------------------------------------------------------------------------------------------------------


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
                return _store_data_url(image, payload.url, payload.orig_name)
            if payload.path is None:
                raise gr.Error("No image was sent (neither an uploaded file nor a data: URL).", print_exception=False)
            _refuse_if_too_large(payload.path, payload.orig_name or Path(payload.path).name)
        except ImageTooLarge as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        return str(payload.path)

    image.preprocess = preprocess
    return image


def _store_data_url(image: gr.Image, url: str, orig_name: str | None) -> str:
    """Check a data: URL's size (bytes, then header), then write its bytes, undecoded, into Gradio's cache."""
    header, _, encoded = url.partition(",")
    mime = header[len("data:"):].split(";")[0] or "application/octet-stream"
    label = orig_name or "image"
    if not header.endswith(";base64"):
        raise gr.Error(f"{label}: only base64 data: URLs are accepted", print_exception=False)
    check_byte_count(label, len(encoded) * 3 // 4, max_upload_bytes())
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise gr.Error(f"{label}: the data: URL is not valid base64", print_exception=False) from exc
    _refuse_if_too_large(data, label)
    name = stored_name(orig_name, mimetypes.guess_extension(mime) or "")
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


def _refuse_if_too_large(source: str | bytes, label: str) -> None:
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
            raise gr.Error(f"{name} must be true or false (a JSON boolean), not {_shown(payload)}",
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
            raise gr.Error(f"{name} must be a number, not {_shown(payload)}", print_exception=False)
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
            listed = ", ".join(_shown(value) for value in values)
            raise gr.Error(f"{name} must be one of {listed}, not {_shown(payload)}", print_exception=False)
        return stock(payload)

    component.preprocess = preprocess
    return component


def _shown(value: object, limit: int = 40) -> str:
    """A client's value for a message, cut short: an attacker's megabyte string is not echoed back."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def request_body_limit() -> int:
    return max_upload_bytes() * 4 // 3 + (1 << 20)


def share_model_limit(demo: gr.Blocks, examples: gr.Examples, queue: dict) -> gr.Examples:
    """Run the examples' (lazily cached) model runs in the same queue group as every other model run.

    gr.Examples runs its function in its own event (the `.then` after loading the example) with its own
    concurrency id, so an example click would run beside a visitor's job despite MODEL_CONCURRENCY.
    """
    event = demo.fns[examples.cache_event["id"]]
    event.concurrency_id = queue["concurrency_id"]
    event.concurrency_limit = queue["concurrency_limit"]
    return examples


def read_photo(path: str | None) -> InputImage:
    if not path:
        raise gr.Error("Upload a photo first (PNG, JPEG, WebP, TIFF, BMP...).", print_exception=False)
    return read_image(path, max_pixels(), VISITOR_RAISE_HINT)


# Enlargements (uint8) with what the engine recorded while making them (RCAN's gates), by (upload path, weights
# choice, model choice), so that "How textures are kept" explains exactly the picture the user got without
# enlarging it again (Gradio names uploads by content hash, so the path is a stable key).
RECENT: RecentResults[tuple[str, str, str], tuple[np.ndarray, dict]] = RecentResults()
# Explanations by (photo's content hash, ground-truth mode, weights, model): reopening the tab, or coming back to a
# photo (an example clicked again), shows its figures at once.
EXPLAINED: RecentResults[tuple[str, bool, str, str, tuple[int, int] | None], tuple] = RecentResults(size=6)


# ---------------------------------------------------------------------------------------------------------------
# Upscale tab
# ---------------------------------------------------------------------------------------------------------------


def run_info(engine: ServedModel, image: InputImage, seconds: float, ensemble: bool,
             why: tuple[str, ...] = ()) -> str:
    width, height = image.size
    parts = [
        engine.summary(),
        f"{format_duration(seconds)}{' with ×8 self-ensemble' if ensemble else ''}",
        f"{width}×{height} → {width * engine.upscaler.scale}×{height * engine.upscaler.scale} px",
    ]
    lines = [" · ".join(parts), f"Weights: {weights_for_visitors(engine.weights)}", *why]
    lines += [f"Note: {note}" for note in image.notes]
    return "\n\n".join(lines)


@on_gpu(duration=upscale_gpu_seconds)
@model_run
def upscale(
    image: str | None,
    tile: int = DEFAULT_TILE,
    ensemble: bool = False,
    weights: str = "default",
    model: str = DEFAULT_MODEL,
    precision: str = "auto",
    centre: str = "",
    request: gr.Request | None = None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[tuple[str, str], str, str]:
    """Enlarge a photo 3 times with a super-resolution network (RCAN or SAFMN), losslessly, next to plain bicubic.

    Args:
        image: The photo, as a URL of an image file (PNG, JPEG, WebP, TIFF or BMP; alpha, 16-bit and EXIF rotation are kept).
        tile: Tile size in input pixels: 128, 256, 512 or 1024. Smaller uses less memory; the result is identical.
        ensemble: True averages 8 flipped and rotated passes (RCAN+): slightly sharper, 8 times slower.
        weights: RCAN's weights: "default" (the server's choice: its file, else its Hub repo, else the bundled model; without a server file a JPEG photo gets the JPEG-aware RCAN, and the info line says why), "bundled" (trained on clean images), "bundled-jpeg" (the JPEG-aware RCAN), or "hub" where the server lists it.
        model: "rcan" for the best textures (default) or "safmn" for a much faster, lighter network.
        precision: "auto" (default: bf16 on CPUs with native bf16, fp16 on a GPU, else fp32), "fp32" or "bf16".
        centre: For a photo over the server's pixel limit, "x,y": the centre (in pixels of the photo) of the region that is enlarged, as large as the limit allows; empty for the photo's centre.

    Returns:
        The bicubic and the network's x3 PNG as a pair (for comparison), the network's x3 PNG to download (named <photo>_x3.png), and a line saying which model, weights file, device and precision ran, how long it took and the sizes.
    """
    if not image:
        read_photo(image)  # says how to give one
    try:
        photo, region = read_region(image, max_pixels(), parse_centre(centre), VISITOR_RAISE_HINT)
    except ValueError as exc:
        raise gr.Error(str(exc), print_exception=False) from exc
    served, chosen = app_weights_choice(weights, model, photo.jpeg_quality)  # a JPEG gets the JPEG-aware RCAN
    engine = ENGINES.get(served, model, precision)
    why = (f"Model: {chosen.reason[:1].upper()}{chosen.reason[1:]}.",) if chosen else ()
    if region is not None:
        full = image_size(image, SOURCE_MAX_PIXELS)
        why += (f"Region: {region_note(region, full, max_pixels(), Path(image).name)}",)
    width, height = photo.size
    estimate = engine.estimate_s(width, height, int(tile), ensemble)
    if estimate is not None and estimate > LONG_RUN_S:
        gr.Info(f"{width}×{height} px: about {format_duration(estimate)} on this "
                f"{device_label(engine.upscaler.device)}. The bar on the result shows progress; Stop ends the run.")
    progress(0, desc=f"Starting: about {format_duration(estimate)}" if estimate is not None else "Starting")
    folder = RUN_FOLDERS.new()
    name = photo.name or "image"
    scale = engine.upscaler.scale  # the served model's, which the bicubic baseline matches
    bicubic_path = folder / f"{name}_bicubic_x{scale}.png"
    result_path = folder / f"{name}_x{scale}.png"
    # The baseline in the slider: MATLAB-style bicubic, the same one the RCAN paper compares against.
    save_png(enlarge(photo, lambda rgb: imresize(rgb, scale), scale), bicubic_path)

    outputs: list[np.ndarray] = []
    recorded: dict = {}
    started = time.perf_counter()
    with STOP_FLAGS.running(session_of(request)) as stop:
        report = progress_reporter(progress, f"Enlarging with {engine.weights.arch}")

        def network(rgb: np.ndarray) -> np.ndarray:
            # What the explainer needs from this very enlargement (RCAN's gates of the whole photo); an ensemble
            # run averages eight passes, so it has no single set to record.
            with nullcontext() if ensemble else recording_for(engine.upscaler, recorded):
                outputs.append(engine.upscaler.upscale(rgb, int(tile), ensemble, progress=report, cancel=stop))
            return outputs[-1]

        result = enlarge(photo, network, scale)
    seconds = time.perf_counter() - started
    engine.learn_speed(width, height, int(tile), ensemble, seconds)
    if region is None and served == weights:  # what the explanation of (photo, weights, model) would enlarge
        RECENT.put((image, weights, model), (to_uint8(outputs[0]), recorded))
    progress(1.0, desc="Writing the PNG")
    save_png(result, result_path)
    return (str(bicubic_path), str(result_path)), str(result_path), run_info(engine, photo, seconds, ensemble, why)


def upscale_example(image: str, progress: gr.Progress = gr.Progress()) -> tuple[tuple[str, str], str, str]:
    """The examples' cached runs use the default options."""
    return upscale(image, progress=progress)


def stop_run(request: gr.Request) -> None:
    """Stop ends the run in the page at once (its event is cancelled) and in the engine after the current tile."""
    if STOP_FLAGS.stop(session_of(request)):
        gr.Info("Stopped. Nothing was saved.", title="Stopped")
    else:
        gr.Info("Nothing is running.", title="Stop")


def estimate_text(image: str | None, tile: int, ensemble: bool, weights: str, model: str,
                  precision: str = "auto") -> str:
    """Shown as soon as a photo is chosen: its size and the expected run time, before anyone presses Enlarge."""
    if not image:
        return ""
    try:  # the header alone: this event is unqueued, so it must not decode (see checked_upload)
        width, height = image_size(image, SOURCE_MAX_PIXELS, max_upload_bytes(), VISITOR_RAISE_HINT)
    except ImageError as exc:
        return f"⚠️ {exc}"
    over = ""
    if width * height > max_pixels():  # a region of it is enlarged (sr_core.photo_region)
        region = region_around(width, height, max_pixels())
        over = (f"{width}×{height} px is over the {max_pixels():,}-pixel limit: the {region.width}×{region.height} "
                f"px region around the centre (or where you click) is enlarged. ")
        width, height = region.width, region.height
    engine = ENGINES.peek(weights, model, precision)
    estimate = engine.estimate_s(width, height, int(tile), ensemble) if engine else None
    timing = f" · expected time: about {format_duration(estimate)}" if estimate is not None else ""
    return f"{over}Ready: {width}×{height} px → {width * SCALE}×{height * SCALE} px{timing}"


# ---------------------------------------------------------------------------------------------------------------
# What visitors see of the server's set-up: plain words, no server paths, no environment variables (those go to
# the log, see sr_core.serving and app_serving.shown_to_user).
# ---------------------------------------------------------------------------------------------------------------

FALLBACK_REASONS = {
    "no-hub-repo": "no Hub weights are set up on this server",
    "hub-unavailable": "the Hugging Face Hub could not be reached",
}


def banner_text(engine: ServedModel) -> str:
    if not engine.weights.fallback_reason:
        return ""
    reason = FALLBACK_REASONS[engine.weights.fallback_reason]
    return (f"ℹ️ **A small built-in model is serving** ({reason}), so results are a little less sharp than the "
            f"full {engine.weights.arch}'s.")


def weights_for_visitors(weights: LoadedWeights) -> str:
    """Where the weights came from, for the info line (also the API's): says when the Hub fell back."""
    if weights.source == "hub":
        return f"Hugging Face Hub, `{weights.location}`"
    if weights.source == "file":
        return f"`{Path(weights.location).name}`"
    text = f"the small built-in {weights.arch}"
    if weights.fallback_reason:
        text += f" (fallback: {FALLBACK_REASONS[weights.fallback_reason]})"
    return text


def show_model_used(weights: str, model: str, precision: str = "auto") -> tuple[dict, dict]:
    """After a run (the choice is loaded by then): the fallback note of the weights that served, and the slider
    named after the model that made the right-hand picture."""
    engine = ENGINES.peek(weights, model, precision)
    text = banner_text(engine) if engine else ""
    arch = engine.weights.arch if engine else "model"
    return gr.update(value=text, visible=bool(text)), gr.update(label=f"Bicubic (left) · {arch} (right)")


def enable_weights_choice(model: str) -> dict:
    """The weights dropdown picks RCAN's weights; it has no say over SAFMN."""
    return gr.update(interactive=model == "rcan")


# ---------------------------------------------------------------------------------------------------------------
# "How textures are kept" and "Workflow & sources" tabs
# ---------------------------------------------------------------------------------------------------------------

@on_gpu(duration=ZEROGPU_DEFAULT_S)  # the analysis is bounded: at most a 128×128 region of the photo
@model_run
def explain(
    image: str | None,
    have_original: bool = False,
    weights: str = "default",
    model: str = DEFAULT_MODEL,
    focus: tuple | None = None,
    progress: gr.Progress = gr.Progress(),
) -> tuple:
    """Answer, with this photo's own numbers, what technology keeps its fine textures that bicubic loses.

    First a plain answer (at most 120 words), then the evidence: the network's result against bicubic and, with
    the original, against the original (crops, spectra, PSNR, SSIM, error maps); experiments that change the
    network and show the effect (fewer residual groups or blocks, attention or modulation switched off, what the
    network adds over bicubic); for RCAN its channel-attention gates of the whole photo with bootstrap intervals
    and its deep features enlarged FeatSharp-style; for SAFMN its modulation maps. Takes seconds: the per-pixel
    views and experiments run on the photo's most textured 128x128 region or less.

    Args:
        image: The photo, as a URL of an image file (PNG, JPEG, WebP, TIFF or BMP).
        have_original: True if the photo is a sharp original: it is shrunk 3 times first with the paper's bicubic, then everything is compared with it (crops, spectra, PSNR, SSIM, error maps, every experiment's PSNR).
        weights: RCAN's weights: "default" (the server's choice) or "bundled".
        model: "rcan" (default) or "safmn".

    Returns:
        Ten figures (Plotly JSON; empty where the model has none) in this order: texture evidence, error maps, depth, ablation, added detail, the model's own figure (RCAN's gates or SAFMN's modulation maps), then RCAN's boosted channels, texture map, feature views and their scores; a summary in Markdown (the plain answer and headline numbers); all the numbers as JSON (metrics, with answer.short); the workflow figure; and the full explanation in Markdown with glossary tooltips.
    """
    photo = read_photo(image)
    focus = clicked_point(image, focus)
    key = (file_digest(image), bool(have_original), weights, model, focus)
    cached = EXPLAINED.get(key)
    if cached is not None:
        return cached
    engine = ENGINES.get(weights, model)
    progress(0.1, desc="Looking inside the network")
    if have_original:
        low_res, original, low_res_focus = explained_input(photo.rgb, True, focus, engine.upscaler.scale)
        analysis = analyze_any(engine.weights.model, low_res, original=original, image_mode=photo.original_mode,
                               upscaler=engine.upscaler, focus=low_res_focus)
    else:
        sr, recorded = RECENT.get((image, weights, model)) or (None, None)
        analysis = analyze_any(engine.weights.model, photo.rgb, sr=None if sr is None else from_uint8(sr),
                               image_mode=photo.original_mode, upscaler=engine.upscaler, recorded=recorded,
                               focus=focus)
    analysis.model_info["weights"] = engine.weights.file_name  # metrics.json: the file that served
    analysis.jpeg_quality = None if have_original else photo.jpeg_quality
    progress(0.9, desc="Drawing")
    figures = build_figures(analysis)
    numbers = explain_metrics(analysis)
    result = (
        *slot_figures(figures),
        summary_markdown(numbers),
        numbers,
        figures["workflow"],
        with_tooltips(explainer_markdown(analysis)),
    )
    EXPLAINED.put(key, result)
    return result


def clicked_point(image: str, clicked: tuple | None) -> tuple[int, int] | None:
    """(x, y) on the photo where the user clicked; a click (photo, x, y) counts only for the photo it was made on."""
    if clicked and len(clicked) == 3:
        clicked = clicked[1:] if clicked[0] == image else None
    return None if not clicked else (int(clicked[0]), int(clicked[1]))


NOT_EXPLORED = "*Explain a photo (RCAN) to look at any channel of any block here.*"


# Channel views by (photo's content hash, ground-truth mode, weights, model, click, group, block, channel): an
# explanation tab opened again shows its view without running the network twice more.
EXPLORED: RecentResults[tuple, tuple] = RecentResults(size=12)


@on_gpu(duration=ZEROGPU_DEFAULT_S)  # two passes over at most a 128×128 region
@model_run
def explore_channel_of(image: str | None, have_original: bool, weights: str, model: str,
                       clicked: tuple | None, group: float, block: float, channel: float) -> tuple:
    """The linked channel view: the sliders' (group, block, channel) over the explanation's region, its gate, its
    share of what the block adds, and the output with that one gate set to 0. Two forward passes, cached."""
    if not image:
        return None, NOT_EXPLORED
    focus = clicked_point(image, clicked)
    key = (file_digest(image), bool(have_original), weights, model, focus, group, block, channel)
    cached = EXPLORED.get(key)
    if cached is not None:
        return cached
    engine = ENGINES.get(weights, model)
    rgb, _, focus = explained_input(read_photo(image).rgb, have_original, focus, engine.upscaler.scale)
    try:
        figure, text, _ = explore_channel(engine.weights.model, rgb, group, block, channel, focus)
    except ValueError as exc:  # not an RCAN, or a choice it does not have: said where the view would be
        return None, f"⚠️ {exc}"
    EXPLORED.put(key, (figure, with_tooltips(text)))
    return EXPLORED.get(key)


def channel_sliders_for(metrics: dict | None) -> tuple:
    """After an RCAN explanation: the sliders span its groups, blocks and channels and start on the channel it
    boosts most in the block the explanation chose; otherwise they stay."""
    config = (metrics or {}).get("model", {}).get("config", {})
    chosen = (metrics or {}).get("attention", {}).get("chosen_block")
    if "n_resgroups" not in config or not chosen:
        return gr.update(), gr.update(), gr.update()
    return (gr.update(maximum=config["n_resgroups"], value=chosen["group"]),
            gr.update(maximum=config["n_resblocks"], value=chosen["block"]),
            gr.update(maximum=config["n_feats"] - 1, value=chosen["most_boosted_channels"][0]))


def explain_on_open(image: str | None, have_original: bool, weights: str, model: str,
                    clicked: tuple[str, int, int] | None = None, progress: gr.Progress = gr.Progress()) -> tuple:
    """Opening an explanation tab explains the photo now (or shows its cached explanation), so that enlarging never
    waits for the explainer; with no photo the tab says how to get one. `clicked` (photo, x, y) counts only for
    the photo it was made on, so a new photo needs no event to forget the old click."""
    if not image:
        return not_explained_yet()
    return explain(image, have_original, weights, model, clicked, progress=progress)


def focus_on_click(image: str | None, event: gr.SelectData) -> tuple:
    """A click on the photo chooses where the explanation looks (its region and zoomed crops); no click, no change.
    `event` must stay a required gr.SelectData: Gradio passes the click only to a parameter annotated so."""
    try:
        x, y = (int(v) for v in event.index)
    except (TypeError, ValueError, OverflowError):  # no click, or not two numbers (an API client's)
        return gr.update(), gr.update()
    return (image, x, y), (f"**The explanation will look at x={_shown(x)}, y={_shown(y)}** (where you clicked). "
                           "Open *How textures are kept* to see it.")


def centre_on_click(event: gr.SelectData) -> str:
    """A click on the photo also centres the region enlarged from a photo over the pixel limit."""
    return f"{int(event.index[0])},{int(event.index[1])}" if event.index else ""


def example_shown() -> tuple[dict, dict, dict, dict]:
    """After an example click: the examples run with the default options, so the slider names the default model,
    and the model and weights choices go back to the defaults, so that the explanation is of the picture shown."""
    return (*show_model_used("default", DEFAULT_MODEL), gr.update(value=DEFAULT_MODEL), gr.update(value="default"))


def file_digest(path: str) -> str:
    """The photo's content hash: Gradio serves the same photo under several paths (upload, example cache)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return path


# Step-throughs by (photo's content hash, weights, model): each is a whole forward pass, so it is kept.
STEPPED: RecentResults[tuple[str, str, str], list[Step]] = RecentResults()
NOT_STEPPED = "*Choose a photo in the **Upscale** tab: its run through the network appears here, step by step.*"


@on_gpu(duration=ZEROGPU_DEFAULT_S)  # one pass over the photo, bounded by the pixel limit
@model_run
def step_through_on_open(image: str | None, weights: str, model: str) -> tuple:
    """Opening the workflow tab runs the network once on the whole photo, stage by stage (or shows the cached
    run): the steps, the first step shown, and the overview strip."""
    if not image:
        return not_stepped_yet()
    key = (file_digest(image), weights, model)
    steps = STEPPED.get(key)
    if steps is None:
        steps = step_through_photo(ENGINES.get(weights, model).weights.model, read_photo(image).rgb)
        STEPPED.put(key, steps)
    strip = [(step.thumbnail, f"{i + 1}. {step.name}") for i, step in enumerate(steps)]
    return (steps, *show_step(steps, 0), strip)


def not_stepped_yet() -> tuple:
    """A new photo clears the previous photo's step-through."""
    return [], 0, None, NOT_STEPPED, []


def jump_to_step(steps: list[Step], event: gr.SelectData) -> tuple[int, np.ndarray | None, str]:
    return show_step(steps, event.index)


def show_step(steps: list[Step], index: int) -> tuple[int, np.ndarray | None, str]:
    """(index, thumbnail, caption) of step `index`, kept within the run."""
    if not steps:
        return 0, None, NOT_STEPPED
    index = min(max(int(index), 0), len(steps) - 1)
    return index, steps[index].thumbnail, steps[index].caption(index, len(steps))


def is_example(image: str | None) -> bool:
    """Whether the photo is one of the bundled examples (by content: Gradio serves copies under other paths)."""
    return bool(image) and file_digest(image) in example_digests()


@functools.lru_cache(maxsize=1)
def example_digests() -> frozenset[str]:
    return frozenset(hashlib.sha256((EXAMPLES_DIR / file).read_bytes()).hexdigest() for file, _ in EXAMPLES)


def original_mode_for(image: str | None) -> dict:
    """The examples are their own originals: ground-truth mode is on for them, off for other photos."""
    return gr.update(value=is_example(image))


def not_explained_yet() -> tuple:
    """Empty explain outputs; a new photo clears the explanations of the previous one."""
    return (*(None for _ in EXPLAIN_FIGURES), NOT_EXPLAINED, None, None, NOT_EXPLAINED)


def arrange_explain_tab(metrics: dict | None) -> tuple:
    """After an explanation: the sections of the model that ran, and the error maps only with an original.

    Outputs, in order: the first slot's heading, plot (label) and help text; the columns of RCAN_ONLY; the error
    maps' column. A new photo (no metrics) keeps the layout and hides the error maps."""
    if metrics is None:
        return (*(gr.update() for _ in range(3 + len(RCAN_ONLY))), gr.update(visible=False))
    first, help_text = first_slot(metrics["model"]["arch"])
    return (
        gr.update(value=f"### {SECTION_HEADINGS[first]}"),
        gr.update(label=CAPTIONS[first]),
        gr.update(value=help_text),
        *(gr.update(visible=first == "attention_heatmap") for _ in RCAN_ONLY),
        gr.update(visible=bool(metrics["texture"]["original"])),
    )


def quality_section() -> tuple[object | None, str, dict | None]:
    """(quality-versus-time figure, its caption, the record) from explain/quality_vs_time.json, shipped in the repo;
    without the file the section says how to make it."""
    try:
        data = load_quality_vs_time()
    except (FileNotFoundError, ValueError) as exc:
        log.warning("no quality-versus-time chart: %s", exc)
        return None, f"*No quality-versus-time record ({exc}); `python bench/quality_vs_time.py` writes it.*", None
    return quality_vs_time_figure(data), quality_caption(data), data


# ---------------------------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------------------------

INTRO = """\
# Super-resolution ×3 with RCAN or SAFMN, explained
Upload a photo: **RCAN** (Residual Channel Attention Network, Zhang et al., ECCV 2018; best textures) or **SAFMN**
(Spatially-Adaptive Feature Modulation Network, Sun et al., ICCV 2023; fast) enlarges it three times, next to
ordinary **bicubic** enlargement; drag the slider to compare. The download is a lossless PNG that keeps
transparency, 16-bit grey and the colour profile. The other tabs show *why* fine textures survive, and what each
model costs in time.
"""

EXPLAIN_INTRO = """\
### What technology keeps fine textures so clean?
The answer comes first, written from this photo's own numbers; below it, each claim with its figure. Hover an
underlined term for its definition. Everything is computed for the photo in the **Upscale** tab with the model chosen
there, when you open this tab (or press *Explain*), so enlarging never waits for it: the experiments change the network and show what happens to *your*
photo. **I have the original** treats your upload as the sharp original: it is shrunk ×3 the way the RCAN paper
does (bicubic), enlarged back, and everything is compared with the original, the only way to tell real detail from
invented detail. It is on for the examples, which are their own originals.
"""

NOT_EXPLAINED = ("*Nothing explained yet: choose a photo in the **Upscale** tab (or an example), then open this tab "
                 "or press **Explain this photo**.*")

EXAMPLES = [
    ("fabric_astronaut.png", "Fabric"),
    ("fur_cat.png", "Fur"),
    ("wood_coffee.png", "Wood grain"),
    ("brick_wall.png", "Brick (grey)"),
    ("foliage_grass.png", "Foliage (grey)"),
]

CSS = """
#banner { border: 1px solid var(--color-accent); border-radius: 8px; padding: 4px 12px;
          background: var(--color-accent-soft); }
.caption { color: var(--body-text-color-subdued); font-size: 0.95em; margin: 0 0 18px 4px; }
abbr[title] { text-decoration: underline dotted; cursor: help; }
/* Numbered lists of 10 or more items: room for two-digit markers ("10.", not ".0."). */
.prose ol, .md ol { padding-left: 2.6em; list-style-position: outside; }
#slider-hint { color: var(--body-text-color-subdued); margin-top: -6px; }
"""


def theme() -> gr.themes.Base:
    # System fonts only: the Space must render the same offline, without fetching Google Fonts.
    return gr.themes.Soft(
        primary_hue="indigo",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def example_gallery(photo: gr.Image, outputs: list) -> gr.Examples:
    """The example photos as thumbnails (no `example_labels`: labels would replace the pictures; the textures are
    named in the heading). Each runs once, when first clicked, and is then served from the cache to everyone."""
    examples = gr.Examples(
        [[str(EXAMPLES_DIR / file)] for file, _ in EXAMPLES],
        inputs=[photo],
        outputs=outputs,
        fn=upscale_example,
        cache_examples=True,
        cache_mode="lazy",  # no start-up cost
        examples_per_page=len(EXAMPLES),
        api_visibility="private",  # a UI helper: neither in the API nor an MCP tool
        label="Examples (CC0 / public domain): " + ", ".join(label.lower() for _, label in EXAMPLES),
    )
    # Gradio makes the click that copies an example into the upload "undocumented" (callable by API clients);
    # it is a UI helper like the others.
    for event in gr.context.Context.root_block.fns.values():
        if examples.dataset in event.inputs:
            event.api_visibility = "private"
    return examples


def channel_explorer(counts: tuple[int, int, int] | None) -> tuple[list[gr.Slider], gr.Plot, gr.Markdown]:
    """Sliders for any (group, block, channel), its view and its readout: the heatmap's rows and columns, one at a
    time. They span `counts` (the served RCAN's) and, after an explanation, the explained model's."""
    groups, blocks, channels = (max(2, n) for n in counts or (2, 2, 2))  # a slider needs two values
    gr.Markdown("#### Any channel, any block: choose one", elem_id="channel-explorer-heading")
    with gr.Row():
        sliders = [
            strict_number(gr.Slider(1, groups, value=1, step=1, label="Residual group", elem_id="channel-group",
                                    info="the heatmap's G number"), "group"),
            strict_number(gr.Slider(1, blocks, value=1, step=1, label="Block in the group", elem_id="channel-block",
                                    info="the heatmap's B number"), "block"),
            strict_number(gr.Slider(0, channels - 1, value=0, step=1, label="Channel", elem_id="channel-index",
                                    info="the heatmap's column"), "channel"),
        ]
    plot = gr.Plot(label="The chosen channel over the photo, and its gate among the block's", format="png",
                   elem_id="plot-channel-view")
    text = gr.Markdown(NOT_EXPLORED, elem_id="channel-readout")
    return sliders, plot, text


def on_new_photo(photo: gr.Image, examples: gr.Examples, fn, inputs, outputs) -> list:
    """Run `fn` once for each new photo: one the visitor uploads, pastes or clears (`input`), or an example click.

    Not `photo.change`: in Gradio 6.31 an Image fires `change` several times for one upload, and again after
    every layout update that follows it. That storm of unqueued events left the queued explanation, opened with
    its tab, pending forever in the browser. `input` fires once per action;
    "always_last": a photo chosen while the previous one's handler still runs is handled after it, never dropped."""
    return [trigger(fn, inputs, outputs, queue=False, api_visibility="private", trigger_mode="always_last")
            for trigger in (photo.input, examples.load_input_event.then)]


def build_demo() -> gr.Blocks:
    """The whole UI. Loads the default model (and times it) so the first visitor does not wait for it; SAFMN is
    loaded when first chosen."""
    default_engine = ENGINES.get("default")
    quality_figure, quality_text, quality = quality_section()
    study_figure, study_text = study_section()
    with gr.Blocks(title="RCAN or SAFMN ×3 super-resolution, explained", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO, elem_id="intro")
        banner = gr.Markdown(banner_text(default_engine), visible=bool(banner_text(default_engine)), elem_id="banner")
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap"):  # on a phone the tabs wrap instead of hiding
            with gr.Tab("Upscale", id="upscale", elem_id="tab-upscale"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=300):
                        photo = checked_upload(gr.Image(
                            type="filepath",
                            image_mode=None,  # keep alpha, grey and 16-bit: read_image decides
                            format="png",
                            sources=["upload", "clipboard"],
                            label="Your photo",
                            height=320,
                            elem_id="upload",
                        ))
                        ready = gr.Markdown("", elem_id="ready")
                        focus = gr.State(None)
                        centre = gr.Textbox("", visible=False, label="Region centre (x,y)", elem_id="region-centre")
                        focus_note = gr.Markdown("*Click on the photo to choose where the explanation looks; "
                                                 "otherwise it looks at the most textured part.*",
                                                 elem_id="focus-note", elem_classes=["caption"])
                        model = strict_choice(gr.Radio(
                            MODEL_CHOICES,
                            value=DEFAULT_MODEL,
                            label="Model",
                            info=tradeoff_line(quality),
                            elem_id="model",
                        ), "model")
                        with gr.Row():
                            run = gr.Button("Enlarge ×3", variant="primary", elem_id="run", scale=3)
                            stop = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
                        with gr.Accordion("Options", open=False, elem_id="options"):
                            tile = strict_choice(gr.Dropdown(
                                TILE_CHOICES,
                                value=DEFAULT_TILE,
                                label="Tile size (pixels)",
                                info="Smaller tiles use less memory. Every size gives exactly the same picture.",
                                elem_id="tile",
                            ), "tile")
                            ensemble = strict_bool(gr.Checkbox(
                                False,
                                label="Self-ensemble (RCAN+)",
                                info="Averages 8 flipped and rotated passes: a little sharper, 8× slower.",
                                elem_id="ensemble",
                            ), "ensemble")
                            weights = strict_choice(gr.Dropdown(
                                weight_choices(),
                                value="default",
                                label="RCAN weights",
                                info="For RCAN: the server's default, the Hugging Face Hub, or the small built-in model.",
                                elem_id="weights",
                            ), "weights")
                            precision = strict_choice(gr.Radio(
                                PRECISION_CHOICES,
                                value="auto",
                                label="Precision",
                                info="Auto: bf16 on CPUs that compute it natively (about 2× faster here, PSNR ≥ 50 dB "
                                     "against fp32), fp16 on a GPU, else fp32. The run info says which ran.",
                                elem_id="precision",
                            ), "precision")
                        examples_slot = gr.Column(elem_id="examples")  # filled below, once the outputs exist
                    with gr.Column(scale=2, min_width=420):
                        slider = gr.ImageSlider(
                            label="Bicubic (left) · model (right)",
                            type="filepath",
                            format="png",
                            height=640,  # big enough to see texture without opening fullscreen
                            max_height=900,  # fullscreen shows every pixel
                            slider_position=50,  # halfway: both methods in view on the first look
                            buttons=["fullscreen"],
                            interactive=False,
                            elem_id="slider",
                        )
                        gr.Markdown("**Zoom:** drag the bar to compare bicubic and the model; the full-screen button "
                                    "(top right of the picture) shows it pixel for pixel, where fine texture is "
                                    "easiest to see.",
                                    elem_id="slider-hint")
                        download = gr.File(label=f"Lossless PNG (×{SCALE})", interactive=False, elem_id="download")
                        info = gr.Markdown(default_engine.summary(), label="Run info", elem_id="info")

            with gr.Tab("How textures are kept", id="explain", elem_id="tab-explain") as explain_tab:
                gr.Markdown(with_tooltips(EXPLAIN_INTRO))
                with gr.Row():
                    have_original = strict_bool(gr.Checkbox(
                        False,
                        label="I have the original: my upload is the sharp original; shrink it ×3 first, then compare "
                        "bicubic and the model with it",
                        elem_id="have-original",
                        scale=3,
                    ), "have_original")
                    explain_button = gr.Button("Explain this photo", variant="primary", elem_id="explain-run", scale=1)
                summary = gr.Markdown(NOT_EXPLAINED, label="Summary", elem_id="explain-summary")
                plots: dict[str, gr.Plot] = {}
                columns: dict[str, gr.Column] = {}
                for key in LAYOUT_ORDER:
                    caption = EXPLAIN_FIGURES[key]
                    with gr.Column(visible=key != "original_errors") as columns[key]:
                        if key in SECTION_HEADINGS:
                            heading = gr.Markdown(f"### {SECTION_HEADINGS[key]}")
                        plot_id = f"plot-{key.replace('_', '-')}"
                        plots[key] = gr.Plot(label=CAPTIONS[key], format="png", elem_id=plot_id)
                        help_text = gr.Markdown(with_tooltips(caption), elem_classes=["caption"])
                        if key == "boosted_channels":
                            channel_controls, channel_plot, channel_text = channel_explorer(
                                channel_counts(default_engine.weights.model))
                    if key == "attention_heatmap":
                        first_slot = [heading, plots[key], help_text]
                with gr.Accordion("All the numbers (metrics JSON)", open=False, elem_id="metrics-accordion"):
                    metrics_json = gr.JSON(label="metrics", elem_id="metrics")

            with gr.Tab("Workflow & sources", id="workflow", elem_id="tab-workflow") as workflow_tab:
                gr.Markdown("### Quality versus time: which model to choose")
                gr.Plot(quality_figure, label="Quality versus time", format="png", elem_id="plot-quality")
                gr.Markdown(quality_text, elem_classes=["caption"], elem_id="quality-caption")
                gr.Markdown(f"### {STUDY_CAPTION}")
                gr.Plot(study_figure, label="PSNR against the share of the training data", format="png",
                        elem_id="plot-distill-study")
                gr.Markdown(study_text, elem_classes=["caption"], elem_id="distill-study-caption")
                gr.Markdown("### Your photo through the network, step by step")
                gr.Markdown(
                    "The network runs once more on your whole photo, one stage at a time: each stage's output as "
                    "a picture, its shape as channels × height × width (C × H × W) and the time it took here. "
                    "Feature maps have dozens of channels; their picture is a PCA: pixels with similar features "
                    "get similar colours.", elem_classes=["caption"])
                steps_state = gr.State([])
                step_index = gr.State(0)
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=300):
                        step_image = gr.Image(label="This step", format="png", interactive=False, height=360,
                                              elem_id="step-image")
                    with gr.Column(scale=1, min_width=240):
                        step_caption = gr.Markdown(NOT_STEPPED, elem_id="step-caption")
                        with gr.Row():
                            step_previous = gr.Button("◀ Previous", elem_id="step-previous")
                            step_next = gr.Button("Next ▶", variant="primary", elem_id="step-next")
                step_strip = gr.Gallery(label="All steps (click one to jump to it)", columns=6, height="auto",
                                        allow_preview=False, format="png", elem_id="step-strip")
                gr.Markdown("### The analysis region, step by step: input → model → output")
                workflow_plot = gr.Plot(label=CAPTIONS["workflow"], format="png", elem_id="plot-workflow")
                explainer = gr.Markdown(NOT_EXPLAINED, label="Explainer", elem_id="explainer")

        upscale_outputs = [slider, download, info]
        explain_inputs = [photo, have_original, weights, model, focus]
        explain_outputs = [*(plots[key] for key in EXPLAIN_FIGURES), summary, metrics_json, workflow_plot, explainer]
        model_runs = model_queue(MODEL_CONCURRENCY)

        with examples_slot:
            examples = example_gallery(photo, upscale_outputs)
        share_model_limit(demo, examples, model_runs)

        run_event = run.click(upscale, [photo, tile, ensemble, weights, model, precision, centre], upscale_outputs,
                              api_name="upscale", show_progress_on=[slider], **model_runs)
        run_event.success(show_model_used, [weights, model, precision], [banner, slider], queue=False,
                          api_visibility="private")
        by_button = explain_button.click(explain, explain_inputs, explain_outputs, api_name="explain",
                                         show_progress_on=[summary], **model_runs)
        examples.cache_event.success(example_shown, None, [banner, slider, model, weights], queue=False, api_visibility="private")
        step_outputs = [step_index, step_image, step_caption]
        workflow_tab.select(step_through_on_open, [photo, weights, model], [steps_state, *step_outputs, step_strip],
                            api_visibility="private", show_progress_on=[step_image], **model_runs)
        for button, delta in ((step_previous, -1), (step_next, 1)):
            button.click(lambda steps, index, delta=delta: show_step(steps, index + delta), [steps_state, step_index],
                         step_outputs, queue=False, api_visibility="private")
        step_strip.select(jump_to_step, [steps_state], step_outputs, queue=False, api_visibility="private")
        on_new_photo(photo, examples, not_stepped_yet, None, [steps_state, *step_outputs, step_strip])
        opened = [tab.select(explain_on_open, explain_inputs, explain_outputs, api_visibility="private",
                             show_progress_on=[summary if tab is explain_tab else explainer], **model_runs)
                  for tab in (explain_tab, workflow_tab)]
        stop.click(stop_run, None, None, cancels=[run_event], queue=False, api_visibility="private")
        model.change(enable_weights_choice, model, weights, queue=False, api_visibility="private")
        estimate_inputs = [photo, tile, ensemble, weights, model, precision]
        on_new_photo(photo, examples, estimate_text, estimate_inputs, ready)
        for trigger in (tile.change, ensemble.change, weights.change, model.change, precision.change):
            trigger(estimate_text, estimate_inputs, ready, queue=False, api_visibility="private")
        cleared = on_new_photo(photo, examples, not_explained_yet, None, explain_outputs)
        on_new_photo(photo, examples, original_mode_for, photo, have_original)
        clicked = photo.select(focus_on_click, photo, [focus, focus_note], queue=False, api_visibility="private")
        clicked.then(not_explained_yet, None, explain_outputs, queue=False, api_visibility="private")
        photo.select(centre_on_click, None, centre, queue=False, api_visibility="private")
        on_new_photo(photo, examples, lambda: "", None, centre)
        arranged = [*first_slot, *(columns[key] for key in RCAN_ONLY), columns["original_errors"]]
        for explained in (by_button, *opened, *cleared):
            explained.success(arrange_explain_tab, metrics_json, arranged, queue=False, api_visibility="private")
        channel_inputs = [photo, have_original, weights, model, focus, *channel_controls]
        for explained in (by_button, *opened):
            explained.success(channel_sliders_for, metrics_json, channel_controls, queue=False,
                              api_visibility="private"
                              ).then(explore_channel_of, channel_inputs, [channel_plot, channel_text],
                                     api_visibility="private", show_progress_on=[channel_plot], **model_runs)
        for slider in channel_controls:
            # `input`: the visitor's moves only; while one view is computing, only the latest move waits
            slider.input(explore_channel_of, channel_inputs, [channel_plot, channel_text], api_visibility="private",
                         show_progress_on=[channel_plot], trigger_mode="always_last", **model_runs)
        for new_photo in cleared:
            new_photo.then(lambda: (None, NOT_EXPLORED), None, [channel_plot, channel_text], queue=False,
                           api_visibility="private")
    return demo


MCP_ENV = "GRADIO_MCP_SERVER"  # Gradio's own switch, read here so that the default can be "on"
# The footer: the API page (which also shows the MCP tools), Gradio, settings. No "runs" history: it would list
# results whose files the server deletes after OUTPUT_KEEP_S.
FOOTER_LINKS = ["api", "gradio", "settings"]


def mcp_server_on() -> bool:
    """The MCP server (upscale and explain as tools) is on when gradio[mcp] is installed, as requirements.txt does;
    GRADIO_MCP_SERVER=False turns it off. GRADIO_MCP_SERVER=True without the `mcp` package stops the start-up
    with a one-line error, where Gradio alone would only print an error and serve without MCP."""
    setting = os.environ.get(MCP_ENV, "").strip().lower()
    installed = importlib.util.find_spec("mcp") is not None
    if setting == "true" and not installed:
        raise SystemExit(f'app.py: {MCP_ENV}=True needs the mcp package: pip install "gradio[mcp]"')
    return installed if not setting else setting == "true"


def launch_options() -> dict:
    """launch() arguments; server name and port are left to Gradio, which reads GRADIO_SERVER_NAME/PORT."""
    return {
        "max_file_size": max_upload_bytes(),
        "app_kwargs": {"middleware": [Middleware(RequestBodyLimit, max_bytes=request_body_limit()),
                                      Middleware(UploadCacheBound, folder=upload_folder,
                                                 max_bytes=upload_cache_bytes())]},
        "theme": theme(),
        "css": CSS,
        "mcp_server": mcp_server_on(),
        "footer_links": FOOTER_LINKS,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    RUN_FOLDERS.use_for_gradio_cache()
    if RUN_FOLDERS.swept:
        log.info("removed %d temp folders left by dead processes", len(RUN_FOLDERS.swept))
    try:
        app = build_demo()
    except (WeightsError, FileNotFoundError) as exc:
        raise SystemExit(f"app.py: cannot load the model weights: {exc}") from None
    app.queue(**queue_options(QUEUE_SIZE)).launch(**launch_options())
