"""The Gradio demo (and Hugging Face Space): enlarge a photo x3, compare it with bicubic, see why textures
survive, and see what each model costs in time.

The UI only: the layout, one function per tab that wires its own events, and thin handlers. Reading images,
running models and explaining them live in `sr_core` and `explain`; the serving machinery (runs that stop when
nobody waits, one-line errors, one queue, upload and request bounds, ZeroGPU, the results kept) in `app_serving`.

Run: `python app.py` (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured by Gradio itself).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import gradio as gr
import numpy as np
from torch import nn

from app_serving import jobs
from app_serving.inputs import checked_upload, shown, strict_bool, strict_choice, strict_number
from app_serving.launch import launch_options as serving_launch_options
from app_serving.jobs import Enlargement, estimate_text
from app_serving.page import (CSS, EXAMPLES, EXAMPLES_DIR, EXPLAIN_INTRO, NOT_EXPLAINED, NOT_STEPPED, intro,
                              is_example, theme)
from app_serving.views import VIEW_HANDLERS, arrange_explain_tab
from app_serving.runs import (MODEL_CONCURRENCY, QUEUE_SIZE, STOP_FLAGS, model_queue, model_run,
                              progress_reporter, queue_options, session_of, share_model_limit)
from app_serving.wording import banner_text
from app_serving.zerogpu import ZEROGPU_DEFAULT_S, on_gpu, upscale_gpu_seconds
from explain.explainers import View
from explain.captions import STUDY_CAPTION
from explain.distill_study import study_section
from explain.glossary import TOOLTIP_CSS, with_tooltips
from explain.quality import quality_section, tradeoff_line
from explain.steps import Step
from explain.lesson import MAIN_PATH
from explain.summary import (
    EXPLAIN_FIGURES, EXPLORE_FURTHER, FIGURE_CAPTIONS, FIRST_SLOT, OWN_SLOTS, SECTION_HEADINGS, first_slot,
    lesson_glossary,
)
from sr_core.engine import DEFAULT_TILE
from sr_core.errors import WeightsError
from sr_core.estimate import format_duration
from sr_core.serving import ServedModel, device_label
from sr_core.models import architecture_keyed
from sr_core.weights import DEFAULT_MODEL, weight_choices

log = logging.getLogger("sr_app")

TILE_CHOICES = [128, 256, 512, 1024]
LONG_RUN_S = 10.0  # announce the estimate before runs expected to take longer than this

# Auto: bf16 on CPUs with native bf16 (1.75-1.96x the fp32 reference on the AMD EPYC test machine, >= 57 dB from
# fp32 on the example photos; docs/performance.md), fp16 on a GPU, else fp32.
PRECISION_CHOICES = [("Auto", "auto"), ("fp32 (exact)", "fp32"), ("bf16", "bf16")]
UI_ONLY = {"queue": False, "api_visibility": "private"}  # unqueued page helpers: no model, not in the API or MCP
MODEL_RUNS = model_queue(MODEL_CONCURRENCY)  # the one queue every model run waits in


# --- Upscale tab: handlers --------------------


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
        model: which network enlarges: "rcan" (default; the JPEG-aware one for JPEG photos) or "safmn", a lighter, faster one (the quality chart compares them, measured on the server).
        precision: "auto" (default: bf16 on CPUs with native bf16, fp16 on a GPU, else fp32), "fp32" or "bf16".
        centre: For a photo over the server's pixel limit, "x,y": the centre (in pixels of the photo) of the region that is enlarged, as large as the limit allows; empty for the photo's centre.

    Returns:
        The bicubic and the network's x3 PNG as a pair (for comparison), the network's x3 PNG to download (named <photo>_x3.png), and a line saying which model, weights file, device and precision ran, how long it took and the sizes.
    """
    job = Enlargement.prepare(image, weights, model, precision, centre)
    estimate = job.estimate_s(int(tile), ensemble)
    if estimate is not None and estimate > LONG_RUN_S:
        width, height = job.photo.size
        gr.Info(f"{width}×{height} px: about {format_duration(estimate)} on this "
                f"{device_label(job.engine.upscaler.device)}. The bar on the result shows progress; Stop ends the run.")
    progress(0, desc=f"Starting: about {format_duration(estimate)}" if estimate is not None else "Starting")
    with STOP_FLAGS.running(session_of(request)) as stop:
        report = progress_reporter(progress, f"Enlarging with {job.engine.weights.arch}")
        result, seconds = job.run(int(tile), ensemble, report, stop)
    progress(1.0, desc="Writing the PNG")
    bicubic, enlarged = job.save(result)
    return (bicubic, enlarged), enlarged, job.info(seconds, ensemble)


def upscale_example(image: str, progress: gr.Progress = gr.Progress()) -> tuple[tuple[str, str], str, str]:
    """The examples' cached runs use the default options."""
    return upscale(image, progress=progress)


def stop_run(request: gr.Request) -> None:
    """Stop ends the run in the page at once (its event is cancelled) and in the engine after the current tile."""
    if STOP_FLAGS.stop(session_of(request)):
        gr.Info("Stopped. Nothing was saved.", title="Stopped")
    else:
        gr.Info("Nothing is running.", title="Stop")


def show_model_used(weights: str, model: str, precision: str = "auto") -> tuple[dict, dict, dict]:
    """After a run (the choice is loaded by then): the fallback note of the weights that served, the slider named
    after the model that made the right-hand picture, and the model choice's labels (exact once loaded)."""
    engine = jobs.ENGINES.peek(weights, model, precision)
    text = banner_text(engine) if engine else ""
    arch = engine.weights.arch if engine else "model"
    return (gr.update(value=text, visible=bool(text)), gr.update(label=f"Bicubic (left) · {arch} (right)"),
            gr.update(choices=jobs.model_choices()))


def enable_weights_choice(model: str) -> dict:
    """The weights dropdown names the weights of the models whose server does not name them (the default's)."""
    return gr.update(interactive=architecture_keyed(model).server_weights_env is None)


def example_shown() -> tuple[dict, dict, dict, dict]:
    """After an example click: the examples run with the default options, so the slider names the default model,
    and the model and weights choices go back to the defaults, so that the explanation is of the picture shown."""
    banner, slider, _ = show_model_used("default", DEFAULT_MODEL)
    return banner, slider, gr.update(value=DEFAULT_MODEL, choices=jobs.model_choices()), gr.update(value="default")


def focus_on_click(image: str | None, event: gr.SelectData) -> tuple:
    """A click on the photo chooses where the explanation looks (its region and zoomed crops); no click, no change.
    `event` must stay a required gr.SelectData: Gradio passes the click only to a parameter annotated so."""
    try:
        x, y = (int(v) for v in event.index)
    except (TypeError, ValueError, OverflowError):  # no click, or not two numbers (an API client's)
        return gr.update(), gr.update()
    return (image, x, y), (f"**The explanation will look at x={shown(x)}, y={shown(y)}** (where you clicked). "
                           "Open *How textures are kept* to see it.")


def centre_on_click(event: gr.SelectData) -> str | dict:
    """A click on the photo also centres the region enlarged from a photo over the pixel limit; no click (or not
    two numbers, from an API client), no change."""
    try:
        x, y = (int(v) for v in event.index)
    except (TypeError, ValueError, OverflowError):
        return gr.update()
    return f"{x},{y}"


# --- "How textures are kept" tab: handlers --------------------

@on_gpu(duration=ZEROGPU_DEFAULT_S)  # the analysis is bounded: at most a 128×128 region of the photo
@model_run
def explain(
    image: str | None,
    have_original: bool = False,
    weights: str = "default",
    model: str = DEFAULT_MODEL,
    focus: tuple | None = None,
    precision: str = "auto",
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
        precision: what the whole photo is enlarged in, as for upscale: "auto" (default), "fp32" or "bf16"; the experiments run the network as trained.

    Returns:
        Fourteen figures (Plotly JSON; empty where the model has none) in this order: texture evidence, error maps, depth, ablation, added detail, the model's own figure (RCAN's gates or SAFMN's modulation maps), then RCAN's boosted channels, texture map, feature views and their scores, the retrained networks and their effects, the photo and its enlargement, and the training data; a summary in Markdown (the plain answer and headline numbers); all the numbers as JSON (metrics, with answer.short); the workflow figure; and the full explanation in Markdown with glossary tooltips.
    """
    photo, focus, cut = jobs.explained_photo(image, focus)  # a missing or bad photo is refused before any lookup
    progress(0.1, desc="Looking inside the network")
    return jobs.explanation(image, photo, have_original, weights, model, precision, focus, cut)


def explain_on_open(image: str | None, have_original: bool, weights: str, model: str,
                    clicked: tuple[str, int, int] | None = None, precision: str = "auto",
                    progress: gr.Progress = gr.Progress()) -> tuple:
    """Opening an explanation tab explains the photo now (or shows its cached explanation), so that enlarging never
    waits for the explainer; with no photo the tab says how to get one. `clicked` (photo, x, y) counts only for
    the photo it was made on, so a new photo needs no event to forget the old click."""
    if not image:
        return not_explained_yet()
    return explain(image, have_original, weights, model, clicked, precision, progress=progress)


def not_explained_yet() -> tuple:
    """Empty explain outputs; a new photo clears the explanations of the previous one."""
    return (*(None for _ in EXPLAIN_FIGURES), NOT_EXPLAINED, None, None, NOT_EXPLAINED)


def original_mode_for(image: str | None) -> dict:
    """The examples are their own originals: ground-truth mode is on for them, off for other photos."""
    return gr.update(value=is_example(image))


# --- The step-through ("Explore further" in the explanation tab): handlers --------------------


@on_gpu(duration=ZEROGPU_DEFAULT_S)  # one pass over the photo, bounded by the pixel limit
@model_run
def step_through_on_open(image: str | None, weights: str, model: str, precision: str = "auto",
                         have_original: bool = False, clicked: tuple | None = None) -> tuple:
    """Opening "Explore further" runs the network (in the precision chosen) once on the image the explanation
    analyses (the whole photo, or with "I have the original" the original shrunk ×3), stage by stage (or shows the
    cached run): the steps, the first step shown, and the overview strip."""
    if not image:
        return not_stepped_yet()
    steps = jobs.steps_of(image, weights, model, bool(have_original), precision, clicked)
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


# --- Layout --------------------

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


def view_panel(view: View, served: nn.Module) -> tuple[list[gr.Slider], list]:
    """An interactive view's sliders (spanning the served model's values, and after an explanation the explained
    model's), its plot and its readout."""
    highest = view.highest(served) or tuple(control.lowest + 1 for control in view.controls)
    gr.Markdown(f"#### {view.heading}", elem_id=f"{view.key}-explorer-heading")
    with gr.Row():
        sliders = [strict_number(gr.Slider(control.lowest, max(control.lowest + 1, high), value=control.lowest,
                                           step=1, label=control.label, info=control.info, elem_id=control.elem_id),
                                 control.name)  # a slider needs two values
                   for control, high in zip(view.controls, highest)]
    return sliders, [gr.Plot(label=view.plot_label, format="png", elem_id=view.plot_id),
                     gr.Markdown(view.empty_text, elem_id=view.text_id)]


def on_new_photo(photo: gr.Image, examples: gr.Examples, fn, inputs, outputs) -> list:
    """Run `fn` once for each new photo: one the visitor uploads, pastes or clears (`input`), or an example click.

    Not `photo.change`: in Gradio 6.31 an Image fires `change` several times for one upload, and again after
    every layout update that follows it. That storm of unqueued events left the queued explanation, opened with
    its tab, pending forever in the browser. `input` fires once per action;
    "always_last": a photo chosen while the previous one's handler still runs is handled after it, never dropped."""
    return [trigger(fn, inputs, outputs, **UI_ONLY, trigger_mode="always_last")
            for trigger in (photo.input, examples.load_input_event.then)]


@dataclass
class UpscaleTab:
    """What the other tabs read from the Upscale tab: the photo, the click on it, and the model chosen."""

    photo: gr.Image
    focus: gr.State
    weights: gr.Dropdown
    model: gr.Radio
    precision: gr.Radio
    examples: gr.Examples


@dataclass
class ExplainTab:
    """The explanation's inputs and outputs, and the follow-ups every explanation gets, wherever it is opened."""

    inputs: list
    outputs: list  # EXPLAIN_FIGURES' plots, the summary, the metrics, the workflow plot and the explainer
    arranged: list  # what arrange_explain_tab shows or hides
    views: dict[str, tuple[list[gr.Slider], list]]  # view key -> (its sliders, its plot and readout)

    @property
    def metrics(self) -> gr.JSON:
        return self.outputs[-3]

    def follow(self, explained: gr.events.Dependency) -> None:
        """After an explanation: the sections of the model that ran, and each view on what the explanation chose."""
        explained.success(arrange_explain_tab, self.metrics, self.arranged, **UI_ONLY)
        for key, (sliders, outputs) in self.views.items():
            handlers = VIEW_HANDLERS[key]
            explained.success(handlers.start, self.metrics, sliders, **UI_ONLY).then(
                handlers.explore, [*self.inputs, *sliders], outputs, api_visibility="private",
                show_progress_on=outputs[:1], **MODEL_RUNS)


def upscale_tab(demo: gr.Blocks, banner: gr.Markdown, default_engine: ServedModel, quality: dict | None
                ) -> UpscaleTab:
    scale = default_engine.upscaler.scale
    with gr.Tab("Upscale", id="upscale", elem_id="tab-upscale"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                photo = checked_upload(gr.Image(  # image_mode=None keeps alpha, grey and 16-bit: read_image decides
                    type="filepath", image_mode=None, format="png", sources=["upload", "clipboard"],
                    label="Your photo", height=320, elem_id="upload"))
                ready = gr.Markdown("", elem_id="ready")
                focus = gr.State(None)
                centre = gr.Textbox("", visible=False, label="Region centre (x,y)", elem_id="region-centre")
                focus_note = gr.Markdown("*Click on the photo to choose where the explanation looks; "
                                         "otherwise it looks at the most textured part.*",
                                         elem_id="focus-note", elem_classes=["caption"])
                model = strict_choice(gr.Radio(jobs.model_choices(), value=DEFAULT_MODEL, label="Model",
                                               info=tradeoff_line(quality), elem_id="model"), "model")
                with gr.Row():
                    run = gr.Button(f"Enlarge ×{scale}", variant="primary", elem_id="run", scale=3)
                    stop = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
                with gr.Accordion("Options", open=False, elem_id="options"):
                    tile = strict_choice(gr.Dropdown(
                        TILE_CHOICES, value=DEFAULT_TILE, label="Tile size (pixels)",
                        info="Smaller tiles use less memory. Every size gives exactly the same picture.",
                        elem_id="tile"), "tile")
                    ensemble = strict_bool(gr.Checkbox(
                        False, label="Self-ensemble (×8)",
                        info="Averages 8 flipped and rotated passes: a little sharper, 8× slower.",
                        elem_id="ensemble"), "ensemble")
                    default_arch = architecture_keyed(DEFAULT_MODEL).name
                    weights = strict_choice(gr.Dropdown(
                        weight_choices(), value="default", label=f"{default_arch} weights",
                        info=f"For {default_arch}: the server's default, the Hugging Face Hub, or a model trained "
                             "here.", elem_id="weights"), "weights")
                    precision = strict_choice(gr.Radio(
                        PRECISION_CHOICES, value="auto", label="Precision",
                        info="Auto: bf16 on CPUs that compute it natively (about 2× faster here, PSNR ≥ 50 dB "
                             "against fp32), fp16 on a GPU, else fp32. The run info says which ran.",
                        elem_id="precision"), "precision")
                examples_slot = gr.Column(elem_id="examples")  # filled below, once the outputs exist
            with gr.Column(scale=2, min_width=420):
                # 640 px high shows texture without fullscreen, which shows every pixel; halfway: both methods in view
                slider = gr.ImageSlider(label="Bicubic (left) · model (right)", type="filepath", format="png",
                                        height=640, max_height=900, slider_position=50, buttons=["fullscreen"],
                                        interactive=False, elem_id="slider")
                gr.Markdown("**Zoom:** drag the bar to compare bicubic and the model; the full-screen button "
                            "(top right of the picture) shows it pixel for pixel, where fine texture is "
                            "easiest to see.", elem_id="slider-hint")
                download = gr.File(label=f"Lossless PNG (×{scale})", interactive=False, elem_id="download")
                info = gr.Markdown(default_engine.summary(), label="Run info", elem_id="info")

        outputs = [slider, download, info]
        with examples_slot:
            examples = example_gallery(photo, outputs)
        share_model_limit(demo, examples, MODEL_RUNS)
        examples.cache_event.success(example_shown, None, [banner, slider, model, weights], **UI_ONLY)
        run_event = run.click(upscale, [photo, tile, ensemble, weights, model, precision, centre], outputs,
                              api_name="upscale", show_progress_on=[slider], **MODEL_RUNS)
        run_event.success(show_model_used, [weights, model, precision], [banner, slider, model], **UI_ONLY)
        stop.click(stop_run, None, None, cancels=[run_event], **UI_ONLY)
        model.change(enable_weights_choice, model, weights, **UI_ONLY)
        estimate_inputs = [photo, tile, ensemble, weights, model, precision]
        on_new_photo(photo, examples, estimate_text, estimate_inputs, ready)
        for trigger in (tile.change, ensemble.change, weights.change, model.change, precision.change):
            trigger(estimate_text, estimate_inputs, ready, **UI_ONLY)
        photo.select(focus_on_click, photo, [focus, focus_note], **UI_ONLY)
        photo.select(centre_on_click, None, centre, **UI_ONLY)
        on_new_photo(photo, examples, lambda: "", None, centre)
    return UpscaleTab(photo, focus, weights, model, precision, examples)


def explain_tab(upscaled: UpscaleTab, default_engine: ServedModel) -> ExplainTab:
    """The lesson's main path, each figure with how to read it beside it, the glossary, then "Explore further"
    (collapsed): the evidence in numbers, the knock-outs, the views inside the network, the step-through."""
    photo, examples = upscaled.photo, upscaled.examples
    with gr.Tab("How textures are kept", id="explain", elem_id="tab-explain") as tab:
        gr.Markdown(with_tooltips(EXPLAIN_INTRO))
        with gr.Row():
            have_original = strict_bool(gr.Checkbox(
                False, label="I have the original: my upload is the sharp original; shrink it ×3 first, then "
                "compare bicubic and the model with it", elem_id="have-original", scale=3), "have_original")
            explain_button = gr.Button("Explain this photo", variant="primary", elem_id="explain-run", scale=1)
        summary = gr.Markdown(NOT_EXPLAINED, label="Summary", elem_id="explain-summary")
        plots: dict[str, gr.Plot] = {}
        columns: dict[str, gr.Column] = {}
        arch = default_engine.weights.arch  # the own section shown before any explanation: the default model's
        gr.Markdown(f"### {SECTION_HEADINGS[MAIN_PATH[0]]}", elem_id="main-path-heading")
        for key in MAIN_PATH:
            with gr.Row(equal_height=False, elem_classes=["lesson-figure"]) as columns[key]:
                with gr.Column(scale=3, min_width=320):
                    plots[key] = gr.Plot(label=FIGURE_CAPTIONS[key], format="png",
                                         elem_id=f"plot-{key.replace('_', '-')}")
                with gr.Column(scale=1, min_width=220):
                    gr.Markdown(with_tooltips(f"**How to read it.** {EXPLAIN_FIGURES[key]}"),
                                elem_classes=["caption", "how-to-read"])
        gr.Markdown("### Words used (hover or tap an underlined term to see its meaning)\n\n" + lesson_glossary(),
                    elem_id="lesson-glossary")
        views: dict[str, tuple[list[gr.Slider], list]] = {}
        with gr.Accordion("Explore further: the numbers behind the figures, knock-outs, inside the network, the "
                          "step-through", open=False, elem_id="explore-further") as explore:
            for key in EXPLORE_FURTHER:
                with gr.Column(visible=key != "original_errors") as columns[key]:
                    if key in SECTION_HEADINGS or key == FIRST_SLOT:
                        heading = gr.Markdown(f"### {SECTION_HEADINGS.get(key) or first_slot(arch)[0]}")
                    plots[key] = gr.Plot(label=FIGURE_CAPTIONS[key], format="png",
                                         elem_id=f"plot-{key.replace('_', '-')}")
                    help_text = gr.Markdown(with_tooltips(EXPLAIN_FIGURES[key]), elem_classes=["caption"])
                    for handlers in VIEW_HANDLERS.values():
                        if handlers.view.after == key:
                            views[handlers.view.key] = view_panel(handlers.view, default_engine.weights.model)
                if key == FIRST_SLOT:
                    first = [heading, plots[key], help_text]
            step_through = step_through_section()
        with gr.Accordion("All the numbers (metrics JSON)", open=False, elem_id="metrics-accordion"):
            metrics_json = gr.JSON(label="metrics", elem_id="metrics")
        # outputs of the explanation shown in the workflow tab, rendered there
        workflow_plot = gr.Plot(label=FIGURE_CAPTIONS["workflow"], format="png", elem_id="plot-workflow", render=False)
        explainer = gr.Markdown(NOT_EXPLAINED, label="Explainer", elem_id="explainer", render=False)

        inputs = [photo, have_original, upscaled.weights, upscaled.model, upscaled.focus, upscaled.precision]
        explained = ExplainTab(
            inputs, [*(plots[key] for key in EXPLAIN_FIGURES), summary, metrics_json, workflow_plot, explainer],
            [*first, *(columns[key] for key in OWN_SLOTS), columns["original_errors"]], views)
        explained.follow(explain_button.click(explain, inputs, explained.outputs, api_name="explain",
                                              show_progress_on=[summary], **MODEL_RUNS))
        explained.follow(tab.select(explain_on_open, inputs, explained.outputs, api_visibility="private",
                                    show_progress_on=[summary], **MODEL_RUNS))
        cleared = on_new_photo(photo, examples, not_explained_yet, None, explained.outputs)
        for new_photo in cleared:
            new_photo.success(arrange_explain_tab, metrics_json, explained.arranged, **UI_ONLY)
        for key, (sliders, outputs) in views.items():
            handlers = VIEW_HANDLERS[key]
            for slider in sliders:
                # `input`: the visitor's moves only; while one view is computing, only the latest move waits
                slider.input(handlers.explore, [*inputs, *sliders], outputs, api_visibility="private",
                             show_progress_on=outputs[:1], trigger_mode="always_last", **MODEL_RUNS)
            for new_photo in cleared:
                new_photo.then(lambda text=handlers.view.empty_text: (None, text), None, outputs, **UI_ONLY)
        on_new_photo(photo, examples, original_mode_for, photo, have_original)
        photo.select(not_explained_yet, None, explained.outputs, **UI_ONLY)  # a new focus
        step_through.wire([photo, upscaled.weights, upscaled.model, upscaled.precision, have_original,
                           upscaled.focus], have_original, explore, upscaled)
    return explained


@dataclass
class StepThrough:
    """The step-through's components: the run's steps, the one shown, its picture, caption and the overview."""

    steps: gr.State
    index: gr.State
    image: gr.Image
    caption: gr.Markdown
    previous: gr.Button
    next: gr.Button
    strip: gr.Gallery

    def wire(self, inputs: list, have_original: gr.Checkbox, explore: gr.Accordion, upscaled: UpscaleTab) -> None:
        """Opening "Explore further" runs the network on the very image the explanation analysed, stage by stage
        (with "I have the original", the original shrunk ×3); a new photo or a new choice clears it."""
        shown = [self.index, self.image, self.caption]
        outputs = [self.steps, *shown, self.strip]
        explore.expand(step_through_on_open, inputs, outputs, api_visibility="private",
                       show_progress_on=[self.image], **MODEL_RUNS)
        have_original.input(not_stepped_yet, None, outputs, **UI_ONLY)  # the analysed image changes with the box
        for button, delta in ((self.previous, -1), (self.next, 1)):
            button.click(lambda steps, index, delta=delta: show_step(steps, index + delta), [self.steps, self.index],
                         shown, **UI_ONLY)
        self.strip.select(jump_to_step, [self.steps], shown, **UI_ONLY)
        on_new_photo(upscaled.photo, upscaled.examples, not_stepped_yet, None, outputs)
        upscaled.photo.select(not_stepped_yet, None, outputs, **UI_ONLY)  # a click cuts another region of a big photo


def step_through_section() -> StepThrough:
    gr.Markdown("### The analysed photo through the network, step by step", elem_id="step-through-heading")
    gr.Markdown(
        "The network runs once more on the image the explanation analysed (with *I have the original*, the "
        "original shrunk ×3), one stage at a time: each stage's output as a picture, its shape as channels × "
        "height × width (C × H × W) and the time it took here. Feature maps have dozens of channels; their "
        "picture is a PCA: pixels with similar features get similar colours.", elem_classes=["caption"])
    steps, index = gr.State([]), gr.State(0)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            image = gr.Image(label="This step", format="png", interactive=False, height=360, elem_id="step-image")
        with gr.Column(scale=1, min_width=240):
            caption = gr.Markdown(NOT_STEPPED, elem_id="step-caption")
            with gr.Row():
                previous = gr.Button("◀ Previous", elem_id="step-previous")
                next_ = gr.Button("Next ▶", variant="primary", elem_id="step-next")
    strip = gr.Gallery(label="All steps (click one to jump to it)", columns=6, height="auto", allow_preview=False,
                       format="png", elem_id="step-strip")
    return StepThrough(steps, index, image, caption, previous, next_, strip)


@on_gpu(duration=ZEROGPU_DEFAULT_S)  # each served model on five small photos, once per weights and precision
@model_run
def quality_on_open(weights: str, precision: str = "auto", progress: gr.Progress = gr.Progress()) -> tuple:
    """Opening the workflow tab measures the models this server serves on the example photos (once per weights and
    precision, then kept) and redraws the quality chart, its caption and the trade-off line under the model choice."""
    progress(0, desc="Measuring the served models on the example photos")
    served = jobs.served_quality(weights, precision)
    figure, caption, record = quality_section(served)
    return figure, caption, gr.update(info=tradeoff_line(record, served))


def workflow_tab(upscaled: UpscaleTab, explained: ExplainTab, quality_figure, quality_text: str) -> None:
    study_figure, study_text = study_section()
    with gr.Tab("Workflow & sources", id="workflow", elem_id="tab-workflow") as tab:
        gr.Markdown("### Quality versus time: which model to choose")
        quality_plot = gr.Plot(quality_figure, label="Quality versus time", format="png", elem_id="plot-quality")
        quality_caption = gr.Markdown(quality_text, elem_classes=["caption"], elem_id="quality-caption")
        gr.Markdown(f"### {STUDY_CAPTION}")
        gr.Plot(study_figure, label="PSNR against the share of the training data", format="png",
                elem_id="plot-distill-study")
        gr.Markdown(study_text, elem_classes=["caption"], elem_id="distill-study-caption")
        gr.Markdown("### The analysis region, step by step: input → model → output")
        for output in explained.outputs[-2:]:  # the workflow plot and the explainer
            output.render()

        explained.follow(tab.select(explain_on_open, explained.inputs, explained.outputs, api_visibility="private",
                                    show_progress_on=explained.outputs[-1:], **MODEL_RUNS))
        tab.select(quality_on_open, [upscaled.weights, upscaled.precision], [quality_plot, quality_caption,
                   upscaled.model], api_visibility="private", show_progress_on=[quality_plot], **MODEL_RUNS)


def build_demo() -> gr.Blocks:
    """The whole UI. Loads the default model (and times it) so the first visitor does not wait for it; other
    models are loaded when first chosen."""
    default_engine = jobs.ENGINES.get("default")
    quality_figure, quality_text, quality = quality_section()
    scale = default_engine.upscaler.scale  # the page's promise: the default model's scale
    with gr.Blocks(title=f"Super-resolution ×{scale}, explained", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(intro(scale), elem_id="intro")
        banner = gr.Markdown(banner_text(default_engine), visible=bool(banner_text(default_engine)), elem_id="banner")
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap"):  # on a phone the tabs wrap instead of hiding
            upscaled = upscale_tab(demo, banner, default_engine, quality)
            explained = explain_tab(upscaled, default_engine)
            workflow_tab(upscaled, explained, quality_figure, quality_text)
    return demo


def launch_options() -> dict:
    """launch() arguments: the serving ones (app_serving.launch) and the page's look."""
    return serving_launch_options(theme=theme(), css=CSS + TOOLTIP_CSS)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    jobs.RUN_FOLDERS.use_for_gradio_cache()
    if jobs.RUN_FOLDERS.swept:
        log.info("removed %d temp folders left by dead processes", len(jobs.RUN_FOLDERS.swept))
    try:
        app = build_demo()
    except (WeightsError, FileNotFoundError) as exc:
        raise SystemExit(f"app.py: cannot load the model weights: {exc}") from None
    app.queue(**queue_options(QUEUE_SIZE)).launch(**launch_options())
