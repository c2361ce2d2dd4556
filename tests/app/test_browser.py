"""The app in a real browser: upload a photo, enlarge it with either model, see the comparison slider, the
explanations and the quality-versus-time chart.

Uses Debian's chromium through the playwright package (never `playwright install`); skipped when either is
missing. Screenshots go to tests/artifacts/ (gitignored) for people to look at.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.app_server import running_app
from tests.conftest import save_tiny_safmn

pytestmark = [pytest.mark.server, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # tests/artifacts
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PHOTO = EXAMPLES / "fabric_astronaut.png"
GREY_PHOTO = EXAMPLES / "brick_wall.png"
TIMEOUT_MS = 60_000

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
    pytest.skip("Debian chromium (/usr/bin/chromium) is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def page(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):
    ARTIFACTS.mkdir(exist_ok=True)
    workdir = tmp_path_factory.mktemp("browser_app")
    env = {"SR_SAFMN_WEIGHTS": str(save_tiny_safmn(workdir / "tiny_safmn.safetensors"))}
    with running_app(tiny_checkpoint, workdir, env) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 960})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            yield page
        finally:
            browser.close()


def open_explore_further(page) -> None:  # noqa: ANN001 - a playwright page
    """Open the explanation tab's "Explore further" (collapsed by default), afresh: opening it runs the
    step-through."""
    page.get_by_role("tab", name="How textures are kept").click()
    toggle = page.locator("#explore-further").get_by_text("Explore further").first
    if page.locator("#step-caption").is_visible():
        toggle.click()
        page.locator("#step-caption").wait_for(state="hidden")
    toggle.click()


def test_upload_enlarge_compare_and_explain(page) -> None:
    page.set_input_files("#upload input[type=file]", str(PHOTO))
    page.locator("#ready").get_by_text("Ready: 192×140 px").wait_for()
    page.click("#run")

    page.wait_for_function("document.querySelectorAll('#slider img').length === 2")
    page.wait_for_function("Array.from(document.querySelectorAll('#slider img')).every(i => i.naturalWidth === 576)")
    page.locator('#download a[download="fabric_astronaut_x3.png"]').wait_for()
    assert "192×140 → 576×420 px" in page.locator("#info").inner_text()
    page.screenshot(path=str(ARTIFACTS / "1_upscale.png"), full_page=True)

    page.get_by_role("tab", name="How textures are kept").click()
    page.locator("#plot-texture-evidence .js-plotly-plot").wait_for()
    open_explore_further(page)
    page.locator("#plot-attention-heatmap .js-plotly-plot").wait_for()
    assert "Fine detail, RCAN vs bicubic" in page.locator("#explain-summary").inner_text()
    page.locator("#plot-depth .js-plotly-plot").wait_for()
    assert page.locator("#explain-summary abbr[title]").count() > 3  # glossary tooltips
    page.screenshot(path=str(ARTIFACTS / "2_explain.png"), full_page=True)

    page.get_by_role("tab", name="Workflow & sources").click()
    page.locator("#plot-workflow .js-plotly-plot").wait_for()
    assert "Papers and tools" in page.locator("#explainer").inner_text()
    page.screenshot(path=str(ARTIFACTS / "3_workflow.png"), full_page=True)


def test_the_channel_sliders_choose_the_channel_its_map_and_gate_follow(page) -> None:
    page.get_by_role("tab", name="How textures are kept").click()  # the photo of the test above, explained
    if not page.locator("#channel-readout").is_visible():
        open_explore_further(page)
    readout = page.locator("#channel-readout")
    readout.get_by_text("rank").wait_for()  # the explanation's own choice, shown without a move
    page.locator("#plot-channel-view .js-plotly-plot").wait_for()
    assert page.locator("#channel-index input[type=range]").get_attribute("max") == "7"  # the tiny RCAN's 8
    from playwright.sync_api import TimeoutError as NotShown

    # Opening the tab re-delivers the photo's cached explanation, which sets the sliders to its own choice; when
    # it lands after the moves below, it undoes them (as it should: the view follows the newest explanation). So
    # the moves are made again, at most twice more, until the readout follows them.
    for attempt in range(3):
        for selector, value in (("#channel-group", 2), ("#channel-block", 1), ("#channel-index", 6)):
            page.locator(f"{selector} input[type=range]").evaluate(
                "(range, value) => { range.value = value; range.dispatchEvent(new Event('input', {bubbles: true})); }",
                value)
        try:
            readout.get_by_text("Group 2, block 1, channel 6").wait_for(timeout=30_000)
            break
        except NotShown:
            if attempt == 2:
                raise
    assert "of 8 in this block" in readout.inner_text()
    page.locator("#channel-explorer-heading").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "12_channel_view.png"))  # the README's (docs/screenshots/)


def test_a_non_image_shows_an_error_and_the_app_keeps_working(page) -> None:
    page.get_by_role("tab", name="Upscale").click()
    page.set_input_files("#upload input[type=file]", {"name": "notes.txt", "mimeType": "image/png",
                                                      "buffer": b"this is not a photo"})
    page.click("#run")
    page.locator('[data-testid="toast-body"]', has_text="notes.txt is not an image").wait_for()
    assert "not an image" in page.locator("#ready").inner_text()  # said before the run, too
    page.screenshot(path=str(ARTIFACTS / "4_error.png"))  # the viewport, where the error toast is

    page.set_input_files("#upload input[type=file]", str(GREY_PHOTO))
    page.locator("#ready").get_by_text("Ready: 160×160 px").wait_for()
    page.click("#run")
    page.wait_for_function("Array.from(document.querySelectorAll('#slider img')).every(i => i.naturalWidth === 480)")


def test_each_new_photo_runs_its_handlers_once_and_removing_it_clears_them(page) -> None:
    """Gradio 6.31's Image fires `change` several times per upload, more with each layout update after it: that
    storm of requests left the tab-opened explanation pending forever. The app listens to `input` instead."""
    import collections
    import re
    import time

    calls: collections.Counter = collections.Counter()

    def count(request) -> None:
        found = re.search(r'"fn_index":(\d+)', request.post_data or "") if "run/predict" in request.url else None
        if found:
            calls[found.group(1)] += 1

    page.get_by_role("tab", name="Upscale").click()
    page.on("request", count)
    try:
        uploads = ((PHOTO, "192×140"), (GREY_PHOTO, "160×160"), (PHOTO, "192×140"))
        for photo, size in uploads:
            page.set_input_files("#upload input[type=file]", str(photo))
            page.locator("#ready").get_by_text(f"Ready: {size} px").wait_for()
        time.sleep(3)  # room for late answers, and for a storm to show
        # At most once per upload each (a handler still running when the next photo comes runs once more after it,
        # for the latest photo); the storm made 4 or 5 requests per handler per upload.
        assert len(calls) >= 5 and max(calls.values()) <= len(uploads), dict(calls)
        page.locator('#upload button[aria-label="Remove Image"]').click()
        page.wait_for_function("document.querySelector('#ready').innerText.trim() === ''")
    finally:
        page.remove_listener("request", count)


def test_safmn_runs_shows_its_modulation_maps_and_the_chart(page) -> None:
    page.get_by_role("tab", name="Upscale").click()
    page.set_input_files("#upload input[type=file]", str(PHOTO))
    page.locator("#ready").get_by_text("Ready: 192×140 px").wait_for()
    page.locator("#model label").filter(has_text="SAFMN").click()
    page.click("#run")
    page.locator("#info").get_by_text("SAFMN ×3").wait_for()
    page.wait_for_function("Array.from(document.querySelectorAll('#slider img')).every(i => i.naturalWidth === 576)")
    assert "SAFMN (right)" in page.locator("#slider").inner_text()

    page.get_by_role("tab", name="How textures are kept").click()
    page.locator("#plot-texture-evidence .js-plotly-plot").wait_for()
    if not page.locator("#plot-retrained-effects").is_visible():
        open_explore_further(page)
    page.get_by_text("Inside SAFMN: where each block looks").wait_for()
    page.locator("#plot-attention-heatmap .js-plotly-plot").wait_for()
    page.wait_for_selector("#plot-feature-views", state="hidden")  # RCAN's sections step aside
    numbers = [h.inner_text().split(" · ")[0] for h in page.locator("#tab-explain h3").all()
               if h.is_visible() and " · " in h.inner_text()]
    assert numbers == ["1", "2", "3", "4"]  # SAFMN's sections, numbered without gaps
    assert "Fine detail, SAFMN vs bicubic" in page.locator("#explain-summary").inner_text()
    page.screenshot(path=str(ARTIFACTS / "5_safmn_explain.png"), full_page=True)
    page.locator("#plot-attention-heatmap").screenshot(path=str(ARTIFACTS / "5_safmn_maps.png"))

    page.get_by_role("tab", name="Workflow & sources").click()
    page.locator("#plot-quality .js-plotly-plot").wait_for()
    assert "Spatially-adaptive feature modulation" in page.locator("#explainer").inner_text()
    page.screenshot(path=str(ARTIFACTS / "6_quality_vs_time.png"), full_page=True)
    page.locator("#plot-quality").screenshot(path=str(ARTIFACTS / "6_quality_chart.png"))
    page.locator("#plot-distill-study .js-plotly-plot").wait_for()
    page.locator("#plot-distill-study").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "7_distill_study.png"))


def test_an_example_thumbnail_runs_once_and_fills_the_slider(page) -> None:
    page.get_by_role("tab", name="Upscale").click()
    thumbnails = page.locator("#examples img")
    assert thumbnails.count() == 5  # pictures, not text labels
    thumbnails.nth(2).click()  # wood_coffee.png, 216×144
    page.wait_for_function("Array.from(document.querySelectorAll('#slider img')).length === 2 && "
                           "Array.from(document.querySelectorAll('#slider img')).every(i => i.naturalWidth === 648)")
    page.locator('#download a[download="wood_coffee_x3.png"]').wait_for()
    # The examples run with the default model: the label says so even after a SAFMN run (the test above).
    page.locator("#slider").get_by_text("RCAN (right)").wait_for()
    page.screenshot(path=str(ARTIFACTS / "5_example.png"), full_page=True)


def test_an_example_click_then_the_explanation_tab_shows_its_figures(page) -> None:
    page.get_by_role("tab", name="Upscale").click()
    page.locator("#examples img").nth(3).click()  # brick_wall.png, its own original
    page.wait_for_function("Array.from(document.querySelectorAll('#slider img')).length === 2 && "
                           "Array.from(document.querySelectorAll('#slider img')).every(i => i.naturalWidth === 480)")
    page.get_by_role("tab", name="How textures are kept").click()  # opening the tab is what explains
    page.locator("#plot-texture-evidence .js-plotly-plot").wait_for()
    page.locator("#plot-original-errors .js-plotly-plot").wait_for()  # ground-truth mode is on for examples
    summary = page.locator("#explain-summary").inner_text()
    assert "against the original" in summary and "Fine detail, RCAN vs bicubic" in summary  # the model shown
    assert page.locator("#explain-summary .progress-text, #explain-summary .eta-bar").count() == 0
    page.screenshot(path=str(ARTIFACTS / "7_example_explained.png"), full_page=True)


def test_on_a_phone_the_tabs_are_reachable_and_lists_keep_their_numbers(page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.get_by_role("tab", name="Upscale").click()
        for name in ("Upscale", "How textures are kept", "Workflow & sources"):  # none behind an overflow menu
            assert page.get_by_role("tab", name=name).is_visible()
        page.screenshot(path=str(ARTIFACTS / "8_phone.png"))
        page.get_by_role("tab", name="Workflow & sources").click()
        items = page.locator("#explainer ol").last.locator("li")
        items.first.wait_for()
        assert items.count() >= 5  # the bundled RCAN's has 11 items; a clipped marker shows "10." as ".0."
        padding = page.locator("#explainer ol").last.evaluate("ol => parseFloat(getComputedStyle(ol).paddingLeft)")
        font = page.locator("#explainer ol").last.evaluate("ol => parseFloat(getComputedStyle(ol).fontSize)")
        assert padding >= 2 * font  # room for "10." left of the text
        page.locator("#explainer ol").last.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "9_phone_list.png"))
    finally:
        page.set_viewport_size({"width": 1360, "height": 960})


def test_stepping_through_the_run_of_the_whole_photo(page) -> None:
    page.get_by_role("tab", name="Upscale").click()
    page.set_input_files("#upload input[type=file]", str(PHOTO))  # 192x140, the tiny RCAN: 2 groups
    page.locator("#ready").get_by_text("Ready: 192×140 px").wait_for()
    page.get_by_role("tab", name="How textures are kept").click()
    if page.locator("#have-original input").is_checked():  # an example: the analysis would use it shrunk ×3
        page.locator("#have-original input").uncheck()
    open_explore_further(page)  # opening "Explore further" runs it, on the image the analysis uses
    caption = page.locator("#step-caption")
    caption.get_by_text("Step 1 of 9: input").wait_for()
    assert "3 × 140 × 192 (C × H × W)" in caption.inner_text()  # the whole photo, not the analysis region
    assert page.locator("#step-strip img").count() == 9
    page.click("#step-next")
    page.click("#step-next")
    caption.get_by_text("Step 3 of 9: head").wait_for()
    assert "8 × 140 × 192" in caption.inner_text() and " ms" in caption.inner_text()
    page.locator("#step-image img").wait_for()
    page.evaluate("document.querySelector('#step-image').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / "10_step_through.png"))  # the README's (docs/screenshots/)
    page.click("#step-previous")
    caption.get_by_text("Step 2 of 9: preprocessing").wait_for()
    page.locator("#step-strip img").nth(6).click()  # the overview jumps: the upsampler, at x3
    caption.get_by_text("Step 7 of 9: upsampler").wait_for()
    assert "8 × 420 × 576" in caption.inner_text()
    for _ in range(3):
        page.click("#step-next")
    caption.get_by_text("Step 9 of 9: output").wait_for()  # the last step stays the last
    assert "3 × 420 × 576" in caption.inner_text()


def test_a_click_on_the_photo_moves_the_crop(page, tmp_path) -> None:
    from PIL import Image

    wide = tmp_path / "wide.png"  # not an example, larger than the 128x128 analysis region
    Image.open(PHOTO).convert("RGB").resize((300, 220)).save(wide)
    page.get_by_role("tab", name="Upscale").click()
    page.set_input_files("#upload input[type=file]", str(wide))
    page.locator("#ready").get_by_text("Ready: 300×220 px").wait_for()
    picture = page.locator("#upload img").first
    picture.wait_for()

    def click_at(x: int, y: int) -> None:
        """Click the photo's pixel (x, y), placed as Gradio's click-to-coordinates assumes (never enlarged)."""
        box = picture.bounding_box()
        ratio = min(box["width"] / 300, box["height"] / 220, 1)
        picture.click(position={"x": (box["width"] - 300 * ratio) / 2 + (x + 0.5) * ratio,
                                "y": (box["height"] - 220 * ratio) / 2 + (y + 0.5) * ratio})

    click_at(290, 210)  # the bottom right corner
    page.locator("#focus-note").get_by_text("will look at x=").wait_for()
    page.get_by_role("tab", name="How textures are kept").click()
    summary = page.locator("#explain-summary")
    summary.get_by_text("the 128x128 crop you chose, at x=172, y=92").wait_for()  # clamped to the photo
    page.locator("#plot-texture-evidence .js-plotly-plot").wait_for()
    page.screenshot(path=str(ARTIFACTS / "11_linked_crop.png"), full_page=True)

    page.get_by_role("tab", name="Upscale").click()
    click_at(5, 5)  # the top left corner: the crop follows
    page.get_by_role("tab", name="How textures are kept").click()
    summary.get_by_text("the 128x128 crop you chose, at x=0, y=0").wait_for()
