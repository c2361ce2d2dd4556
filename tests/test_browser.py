"""The app in a real browser: upload a photo, enlarge it with either model, see the comparison slider, the
explanations and the quality-versus-time chart.

Uses Debian's chromium through the playwright package (never `playwright install`); skipped when either is
missing. Screenshots go to tests/artifacts/ (gitignored) for people to look at.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.app_server import running_app, save_tiny_safmn

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
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
    page.locator("#plot-attention-heatmap .js-plotly-plot").wait_for()
    page.locator("#plot-texture-evidence .js-plotly-plot").wait_for()
    assert "Fine detail, RCAN vs bicubic" in page.locator("#explain-summary").inner_text()
    page.locator("#plot-depth .js-plotly-plot").wait_for()
    assert page.locator("#explain-summary abbr[title]").count() > 3  # glossary tooltips
    page.screenshot(path=str(ARTIFACTS / "2_explain.png"), full_page=True)

    page.get_by_role("tab", name="Workflow & sources").click()
    page.locator("#plot-workflow .js-plotly-plot").wait_for()
    assert "Papers and tools" in page.locator("#explainer").inner_text()
    page.screenshot(path=str(ARTIFACTS / "3_workflow.png"), full_page=True)


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


def test_safmn_runs_shows_its_modulation_maps_and_the_chart(page) -> None:
    page.get_by_role("tab", name="Upscale").click()
    page.set_input_files("#upload input[type=file]", str(PHOTO))
    page.locator("#ready").get_by_text("Ready: 192×140 px").wait_for()
    page.locator("#model").get_by_label("SAFMN — fast").check()
    page.click("#run")
    page.locator("#info").get_by_text("SAFMN ×3").wait_for()
    page.wait_for_function("Array.from(document.querySelectorAll('#slider img')).every(i => i.naturalWidth === 576)")
    assert "SAFMN (right)" in page.locator("#slider").inner_text()

    page.get_by_role("tab", name="How textures are kept").click()
    page.get_by_text("Inside SAFMN: where each block looks").wait_for()
    page.locator("#plot-attention-heatmap .js-plotly-plot").wait_for()
    page.wait_for_selector("#plot-feature-views", state="hidden")  # RCAN's sections step aside
    assert "Fine detail, SAFMN vs bicubic" in page.locator("#explain-summary").inner_text()
    page.screenshot(path=str(ARTIFACTS / "5_safmn_explain.png"), full_page=True)

    page.get_by_role("tab", name="Workflow & sources").click()
    page.locator("#plot-quality .js-plotly-plot").wait_for()
    assert "Spatially-adaptive feature modulation" in page.locator("#explainer").inner_text()
    page.screenshot(path=str(ARTIFACTS / "6_quality_vs_time.png"), full_page=True)
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
    page.screenshot(path=str(ARTIFACTS / "5_example.png"), full_page=True)
