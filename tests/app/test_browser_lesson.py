"""The explanation tab as a lesson, in a real browser, served by the bundled RCAN (the README's screenshots come
from here, not from the tests' random weights): at most six main-path figures in lesson order, each titled with its
number and one claim and read beside it; the rest collapsed under "Explore further"; compared panels on one colour
scale; a glossary that is a visible section and opens on a tap; the step-through on the very image the analysis
used.

Uses Debian's chromium through the playwright package (never `playwright install`); skipped when either is
missing. Screenshots go to tests/artifacts/ (gitignored) for people to look at.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from explain.lesson import MAIN_PATH
from tests.app_server import running_app

pytestmark = [pytest.mark.server, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # tests/artifacts
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fabric_astronaut.png"  # 192x140, its own original
TIMEOUT_MS = 120_000

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
    pytest.skip("Debian chromium (/usr/bin/chromium) is not installed", allow_module_level=True)

# Per plot of the page: its title, and for every colour scale its (zmin, zmax, colorbar title) per trace.
PLOTS = """
() => [...document.querySelectorAll('[id^="plot-"] .js-plotly-plot')].map((plot) => ({
  id: plot.closest('[id^="plot-"]').id,
  title: plot.layout && plot.layout.title ? plot.layout.title.text : "",
  scales: plot.data.filter((t) => t.type === "heatmap").map((t) => [t.zmin, t.zmax, (t.colorbar && t.colorbar.title
    && t.colorbar.title.text) || ""]),
  yaxes: Object.keys(plot.layout).filter((k) => k.startsWith("yaxis") && plot.layout[k].overlaying).length,
}))
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app("bundled", tmp_path_factory.mktemp("lesson_app")) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 960})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.set_input_files("#upload input[type=file]", str(EXAMPLE))  # an example: "I have the original" on
            page.locator("#ready").get_by_text("Ready: 192×140 px").wait_for()
            page.get_by_role("tab", name="How textures are kept").click()
            page.locator("#plot-training-data .js-plotly-plot").wait_for()
            yield page
        finally:
            browser.close()


def test_the_main_path_is_six_numbered_claims_each_read_beside_it(page) -> None:
    assert page.locator("#have-original input").is_checked()
    plots = {p["id"]: p for p in page.evaluate(PLOTS)}
    shown = [f"plot-{key.replace('_', '-')}" for key in MAIN_PATH]
    assert len(shown) <= 6 and all(key in plots for key in shown)
    titles = [plots[key]["title"] for key in shown]
    assert [re.match(r"Figure (\d) · ", t)[1] for t in titles] == [str(n) for n in range(1, len(shown) + 1)], titles
    assert all(len(t) < 220 and not re.search(r"[a-z]\. [A-Z]", t) for t in titles)  # one claim, one sentence
    assert "dB closer to the original than bicubic" in titles[1]  # the claim carries this run's number
    for key in shown:  # how to read it: beside the figure, in its row, not under the page
        figure = page.locator(f"#{key}").bounding_box()
        help_box = page.locator(f"#{key}").locator("xpath=ancestor::div[contains(@class, 'lesson-figure')]") \
            .locator(".how-to-read").first.bounding_box()
        assert help_box["x"] > figure["x"] + figure["width"] - 5 and help_box["y"] < figure["y"] + figure["height"]
    assert not page.locator("#plot-attention-heatmap").is_visible()  # "Explore further" is collapsed
    top = page.evaluate("document.querySelector('#main-path-heading').getBoundingClientRect().top + scrollY")
    bottom = page.evaluate("document.querySelector('#lesson-glossary').getBoundingClientRect().bottom + scrollY")
    page.screenshot(path=str(ARTIFACTS / "lesson_main_path.png"), full_page=True,  # README: docs/screenshots/
                    clip={"x": 0, "y": top - 8, "width": 1360, "height": bottom - top + 16})
    page.locator("#plot-photo").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "lesson_main_path_top.png"))


def test_compared_panels_share_one_colour_scale_and_each_figure_one_y_axis(page) -> None:
    assert_honest_scales(page)


def assert_honest_scales(page) -> None:  # noqa: ANN001 - a playwright page
    """Every drawn figure: no second y-axis laid over the first, and the maps of one quantity (one colourbar
    title) on one scale."""
    for plot in page.evaluate(PLOTS):
        assert plot["yaxes"] == 0, plot["id"]  # no second y-axis laid over the first
        by_unit: dict[str, set] = {}
        for zmin, zmax, unit in plot["scales"]:
            by_unit.setdefault(unit, set()).add((zmin, zmax))
        for unit, scales in by_unit.items():
            assert len(scales) == 1, (plot["id"], unit, scales)  # maps of one quantity: one scale


def test_the_glossary_is_a_section_and_a_tap_shows_a_definition(page) -> None:
    glossary = page.locator("#lesson-glossary")
    assert glossary.is_visible() and "PSNR" in glossary.inner_text() and "fine-detail energy" in glossary.inner_text()
    term = page.locator("#explain-summary abbr[title]").first
    term.scroll_into_view_if_needed()
    assert page.evaluate("(el) => getComputedStyle(el, '::after').content", term.element_handle()) in ("none", "")
    term.click()  # a click or a tap focuses the term (tabindex 0), which shows its definition
    shown = page.evaluate("(el) => getComputedStyle(el, '::after').content", term.element_handle())
    assert shown.strip('"') == term.get_attribute("title")
    page.screenshot(path=str(ARTIFACTS / "lesson_glossary_tap.png"))


def test_explore_further_holds_the_rest_and_steps_through_the_analysed_image(page) -> None:
    page.locator("#explore-further").get_by_text("Explore further").first.click()
    page.locator("#plot-attention-heatmap .js-plotly-plot").wait_for()
    page.locator("#plot-original-errors .js-plotly-plot").wait_for()
    assert_honest_scales(page)  # the figures inside, the error maps and the knock-outs' maps among them
    caption = page.locator("#step-caption")
    caption.get_by_text("Step 1 of").wait_for()
    assert "3 × 46 × 64 (C × H × W)" in caption.inner_text()  # the original shrunk ×3, as the analysis used it
    page.locator("#step-through-heading").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "lesson_step_through.png"))
