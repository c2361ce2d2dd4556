"""The model runs behind the app's tabs and the results they keep: each served model loaded once per choice, the
enlargements and explanations of recent photos, so that a tab opened again (or a photo chosen again) answers at once.

Results are kept by the photo's content hash where Gradio serves one photo under several paths (an upload, the
examples' cache), and by every option that changes them.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app_serving.limits import VISITOR_RAISE_HINT, max_pixels, max_upload_bytes, read_photo
from app_serving.wording import run_info
from explain.analysis import (analyze_any, build_figures, explainer_markdown, explore_view, metrics, note_jpeg,
                              recording_for)
from explain.glossary import with_tooltips
from explain.pipeline import explained_input
from explain.served_quality import measure_served
from explain.results import BaseAnalysis
from explain.steps import Step, step_through_photo
from explain.summary import slot_figures, summary_markdown
from sr_core.choice import NEAR_LOSSLESS_FROM, app_weights_choice
from sr_core.estimate import format_duration
from sr_core.image_io import ImageError, InputImage, enlarge, from_uint8, image_size, save_png, to_uint8
from sr_core.photo_region import SOURCE_MAX_PIXELS, parse_centre, read_region, region_around, region_note
from sr_core.protocol.imresize import imresize
from sr_core.run_folders import RunFolders
from sr_core.serving import RecentResults, ServedModel, ServedModels
from sr_core.models import ARCHITECTURES
from sr_core.tiling import CancelFlag, Progress
from sr_core.weights import DEFAULT_MODEL, choice_label

ENGINES = ServedModels()  # each (weights, model, precision) loaded once, with its measured speed
RUN_FOLDERS = RunFolders()

# Enlargements (uint8) with what the engine recorded while making them (RCAN's gates), by (upload path, weights
# choice, model choice, precision), so that "How textures are kept" explains exactly the picture the user got without
# enlarging it again (Gradio names uploads by content hash, so the path is a stable key).
RECENT: RecentResults[tuple[str, str, str, str], tuple[np.ndarray, dict]] = RecentResults()
# Explanations by (photo's content hash, ground-truth mode, weights, model, precision, click): reopening the tab, or coming
# back to a photo (an example clicked again), shows its figures at once.
EXPLAINED: RecentResults[tuple, tuple] = RecentResults(size=6)
# Interactive views by (view, photo's content hash, ground-truth mode, weights, model, precision, click, values).
EXPLORED: RecentResults[tuple, tuple] = RecentResults(size=12)
# Step-throughs by (photo's content hash, weights, model, ground-truth mode, precision): each is a whole pass.
STEPPED: RecentResults[tuple[str, str, str, bool, str], list[Step]] = RecentResults()
# The quality chart's points of the served models, by (weights that served, precision that ran, device): measured
# once, when the chart is first shown.
MEASURED: RecentResults[tuple[str, str, str], dict] = RecentResults(size=16)


def model_choices() -> list[tuple[str, str]]:
    """(label, value) of every registered model for the app's choice: what it is, its size and where its weights
    came from (sr_core.weights.choice_label), exact for the models loaded."""
    labels = []
    for arch in ARCHITECTURES:
        engine = ENGINES.peek("default", arch.key)
        labels.append((choice_label(arch, engine.weights if engine else None), arch.key))
    return labels


def file_digest(path: str) -> str:
    """The photo's content hash: Gradio serves the same photo under several paths (upload, example cache)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return path


def clicked_point(image: str, clicked: tuple | None) -> tuple[int, int] | None:
    """(x, y) on the photo where the user clicked; a click (photo, x, y) counts only for the photo it was made on."""
    if clicked and len(clicked) == 3:
        clicked = clicked[1:] if clicked[0] == image else None
    return None if not clicked else (int(clicked[0]), int(clicked[1]))


def explained_photo(image: str | None, clicked: tuple | None
                    ) -> tuple[InputImage, tuple[int, int] | None, tuple[int, int, int, int] | None]:
    """(the photo the explanation looks at, the click in its pixels, the box it was cut from or None): the whole
    photo, or over the pixel limit the region `upscale` enlarges around the same click (the photo's centre without
    one), so that a phone photo is explained, not refused, and the explanation, its views and its step-through
    look at what was enlarged. The box belongs in every cache key: two clicks cut two regions."""
    focus = clicked_point(image, clicked)
    if not image:
        read_photo(image)  # says how to give one
    photo, region = read_region(image, max_pixels(), focus, VISITOR_RAISE_HINT)
    if region is None:
        return photo, focus, None
    inside = None if focus is None else (focus[0] - region.left, focus[1] - region.top)
    return photo, inside, region.box


def explained_weights(weights: str, model: str, photo: InputImage, have_original: bool) -> str:
    """The weights that enlarge this photo, as `upscale` chooses them (a JPEG with the default choice gets the
    JPEG-aware RCAN), so that the explanation, its views and its step-through describe the model that made the
    picture; with "I have the original" the input is the original shrunk, not a JPEG."""
    return weights if have_original else app_weights_choice(weights, model, photo.jpeg_quality)[0]


def enlarged_size(width: int, height: int) -> tuple[int, int]:
    """What `upscale` enlarges of a width x height photo: all of it, or over the pixel limit the largest region
    the limit allows (sr_core.photo_region)."""
    if width * height <= max_pixels():
        return width, height
    region = region_around(width, height, max_pixels())
    return region.width, region.height


def ready_text(width: int, height: int, tile: int, ensemble: bool, weights: str, model: str, precision: str) -> str:
    """The line shown as soon as a photo is chosen: the size enlarged (by the chosen model's scale once it is
    loaded, the default model's until then) and the expected time, when known."""
    part = enlarged_size(width, height)
    over = ""
    if part != (width, height):
        over = (f"{width}×{height} px is over the {max_pixels():,}-pixel limit: the {part[0]}×{part[1]} px region "
                "around the centre (or where you click) is enlarged. ")
    engine = ENGINES.peek(weights, model, precision)
    estimate = engine.estimate_s(*part, tile, ensemble) if engine else None
    scale = (engine or ENGINES.get("default")).upscaler.scale
    timing = f" · expected time: about {format_duration(estimate)}" if estimate is not None else ""
    return f"{over}Ready: {part[0]}×{part[1]} px → {part[0] * scale}×{part[1] * scale} px{timing}"


def estimate_text(image: str | None, tile: int, ensemble: bool, weights: str, model: str,
                  precision: str = "auto") -> str:
    """Shown as soon as a photo is chosen: its size and the expected run time, before anyone presses Enlarge."""
    if not image:
        return ""
    try:  # the header alone: this event is unqueued, so it must not decode (see checked_upload)
        width, height = image_size(image, SOURCE_MAX_PIXELS, max_upload_bytes(), VISITOR_RAISE_HINT)
    except ImageError as exc:
        return f"⚠️ {exc}"
    return ready_text(width, height, int(tile), ensemble, weights, model, precision)


@dataclass
class Enlargement:
    """One enlargement: the photo (or, over the pixel limit, its region) read and checked, the model that serves
    it, and the reasons the info line gives for both."""

    image: str
    weights: str
    model: str
    precision: str
    photo: InputImage
    engine: ServedModel
    why: tuple[str, ...]
    whole_photo: bool  # what an explanation of (photo, served weights, model) would enlarge

    @classmethod
    def prepare(cls, image: str | None, weights: str, model: str, precision: str, centre: str) -> Enlargement:
        if not image:
            read_photo(image)  # says how to give one
        photo, region = read_region(image, max_pixels(), parse_centre(centre), VISITOR_RAISE_HINT)
        served, chosen = app_weights_choice(weights, model, photo.jpeg_quality)  # a JPEG gets the JPEG-aware RCAN
        why = (f"Model: {chosen.reason[:1].upper()}{chosen.reason[1:]}.",) if chosen else ()
        if region is not None:
            full = image_size(image, SOURCE_MAX_PIXELS)
            why += (f"Region: {region_note(region, full, max_pixels(), Path(image).name)}",)
        return cls(image, served, model, precision, photo, ENGINES.get(served, model, precision), why,
                   region is None)

    @property
    def scale(self) -> int:
        return self.engine.upscaler.scale  # the served model's, which the bicubic baseline matches

    def estimate_s(self, tile: int, ensemble: bool) -> float | None:
        return self.engine.estimate_s(*self.photo.size, tile, ensemble)

    def run(self, tile: int, ensemble: bool, report: Callable[[Progress], None],
            cancel: CancelFlag) -> tuple[InputImage, float]:
        """The enlarged photo and the seconds it took; the engine learns its speed from them."""
        outputs: list[np.ndarray] = []
        recorded: dict = {}
        upscaler = self.engine.upscaler

        def network(rgb: np.ndarray) -> np.ndarray:
            # What the explainer needs from this very enlargement (RCAN's gates of the whole photo); an ensemble
            # run averages eight passes, so it has no single set to record.
            with nullcontext() if ensemble else recording_for(upscaler, recorded):
                outputs.append(upscaler.upscale(rgb, tile, ensemble, progress=report, cancel=cancel))
            return outputs[-1]

        started = time.perf_counter()
        result = enlarge(self.photo, network, self.scale)
        seconds = time.perf_counter() - started
        self.engine.learn_speed(*self.photo.size, tile, ensemble, seconds)
        if self.whole_photo:
            RECENT.put((self.image, self.weights, self.model, self.precision), (to_uint8(outputs[0]), recorded))
        return result, seconds

    def save(self, result: InputImage) -> tuple[str, str]:
        """(bicubic PNG, enlarged PNG) in a fresh run folder, named after the photo. The baseline is MATLAB-style
        bicubic, the one the RCAN paper compares against."""
        folder = RUN_FOLDERS.new()
        name = self.photo.name or "image"
        bicubic, enlarged = folder / f"{name}_bicubic_x{self.scale}.png", folder / f"{name}_x{self.scale}.png"
        save_png(enlarge(self.photo, lambda rgb: imresize(rgb, self.scale), self.scale), bicubic)
        save_png(result, enlarged)
        return str(bicubic), str(enlarged)

    def info(self, seconds: float, ensemble: bool) -> str:
        return run_info(self.engine, self.photo, seconds, ensemble, self.why)


def explanation(image: str, photo: InputImage, have_original: bool, weights: str, model: str, precision: str,
                focus: tuple[int, int] | None, cut: tuple[int, int, int, int] | None = None) -> tuple:
    """The /explain outputs for the photo with the chosen model (kept): EXPLAIN_FIGURES' figures, the summary, the
    numbers, the workflow figure and the explanation with tooltips."""
    key = (file_digest(image), bool(have_original), weights, model, precision, focus, cut)
    cached = EXPLAINED.get(key)
    if cached is None:
        analysis = analyze_photo(image, photo, have_original, weights, model, precision, focus, cut)
        figures = build_figures(analysis)
        numbers = metrics(analysis)
        cached = (*slot_figures(figures), summary_markdown(numbers), numbers, figures["workflow"],
                  with_tooltips(explainer_markdown(analysis)))
        EXPLAINED.put(key, cached)
    return cached


def analyze_photo(image: str, photo: InputImage, have_original: bool, weights: str, model: str, precision: str,
                  focus: tuple[int, int] | None, cut: tuple[int, int, int, int] | None = None) -> BaseAnalysis:
    """The analysis of the photo with the chosen model: of the enlargement the visitor got when it is at hand (and
    its recorded gates), or, with the original, of the photo shrunk x3 and scored against it. The whole photo is
    enlarged in `precision` (the engine's); the explainers' region experiments run the model as trained (fp32),
    as the report's do."""
    weights = explained_weights(weights, model, photo, have_original)
    engine = ENGINES.get(weights, model, precision)
    if have_original:
        low_res, original, low_res_focus = explained_input(photo.rgb, True, focus, engine.upscaler.scale)
        analysis = analyze_any(engine.weights.model, low_res, original=original, image_mode=photo.original_mode,
                               upscaler=engine.upscaler, focus=low_res_focus)
    else:
        sr, recorded = RECENT.get((image, weights, model, precision)) or (None, None)
        analysis = analyze_any(engine.weights.model, photo.rgb, sr=None if sr is None else from_uint8(sr),
                               image_mode=photo.original_mode, upscaler=engine.upscaler, recorded=recorded,
                               focus=focus)
    analysis.model_info["weights"] = engine.weights.file_name  # metrics.json: the file that served
    analysis.model_info["precision"] = engine.upscaler.precision  # what enlarged the photo, as the report says
    note_jpeg(analysis, None if have_original else photo.jpeg_quality, cut[:2] if cut else (0, 0))
    return analysis


def view_result(key: str, image: str, have_original: bool, weights: str, model: str, precision: str,
                clicked: tuple | None, values: tuple) -> tuple[object | None, str]:
    """(figure, readout without tooltips) of the interactive view `key` with its controls at `values`, over the
    explanation's region, run by the engine's model in `precision`, or (None, "⚠️ why") for a model or a choice
    it cannot show. Kept."""
    cache_key = (key, file_digest(image), bool(have_original), weights, model, precision,
                 clicked_point(image, clicked), *values)
    cached = EXPLORED.get(cache_key)
    if cached is not None:
        return cached
    photo, focus, _ = explained_photo(image, clicked)
    engine = ENGINES.get(explained_weights(weights, model, photo, have_original), model, precision)
    rgb, _, focus = explained_input(photo.rgb, have_original, focus, engine.upscaler.scale)
    try:
        figure, text, _ = explore_view(key, engine.upscaler.model, rgb, values, focus)
    except ValueError as exc:  # a model the view cannot look inside, or a choice it does not have
        return None, f"⚠️ {exc}"
    EXPLORED.put(cache_key, (figure, text))
    return EXPLORED.get(cache_key)


def steps_of(image: str, weights: str, model: str, have_original: bool, precision: str,
             clicked: tuple | None = None) -> list[Step]:
    """The network (the engine's model, in `precision`) run once, stage by stage, on the image the explanation
    analyses: the whole photo, or with "I have the original" the original shrunk as the explanation shrinks it;
    kept."""
    photo, _, cut = explained_photo(image, clicked)
    key = (file_digest(image), weights, model, have_original, precision, cut)
    steps = STEPPED.get(key)
    if steps is None:
        engine = ENGINES.get(explained_weights(weights, model, photo, have_original), model, precision)
        rgb = explained_input(photo.rgb, have_original, None, engine.upscaler.scale)[0]
        steps = step_through_photo(engine.upscaler.model, rgb)
        STEPPED.put(key, steps)
    return steps


def served_quality(weights: str, precision: str) -> list[dict]:
    """The quality chart's points of the models this server serves, in `precision`: each model choice (the
    default model with the `weights` chosen) and, where JPEG photos get other weights, those; each measured on the
    example photos once per (weights, precision that ran, device) (explain.served_quality.measure_served)."""
    served = [(ENGINES.get(weights, arch.key, precision), "choice") for arch in ARCHITECTURES]
    jpeg, chosen = app_weights_choice(weights, DEFAULT_MODEL, NEAR_LOSSLESS_FROM - 1)  # what a JPEG photo gets
    if chosen is not None and chosen.jpeg:
        served.append((ENGINES.get(jpeg, DEFAULT_MODEL, precision), "jpeg"))
    points = []
    for engine, role in served:
        key = (engine.weights.location, engine.upscaler.precision, engine.upscaler.device.type)
        point = MEASURED.get(key)
        if point is None:
            point = measure_served(engine, role)
            MEASURED.put(key, point)
        points.append({**point, "role": role})  # the same weights may serve another role for another choice
    return points
