"""The report as a handout, in a real browser: it opens offline (no request leaves the file), draws every figure,
and under print media at A4 no two pieces of text overlap, nothing is wider than the page or clipped, and
`page.pdf(format="A4")` gives a sane number of pages.

Uses Debian's chromium through the playwright package (never `playwright install`); skipped when either is
missing. Screenshots go to tests/artifacts/ (gitignored) for people to look at.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.report_print import A4_WIDTH_PX, CHROMIUM, CHROMIUM_ARGS, open_offline, pdf_pages
from explain.cli import main
from tests.explain.test_report import _safmn_checkpoint

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # tests/artifacts
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
A4_CONTENT_PX = 703  # 210 mm less the stylesheet's two 12 mm margins, in CSS px
TIMEOUT_MS = 60_000
FIGURES = {"rcan_with_original": 15, "safmn": 10}  # every figure of each: retrained arms, training data, study

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
    pytest.skip("Debian chromium (/usr/bin/chromium) is not installed", allow_module_level=True)

# Every line box of the page's text (HTML text nodes, and each text element of the figures' SVG but the hover
# layer) with what it belongs to; then the pairs that overlap by more than a pixel each way, the figures' text cut
# off at their edge or lying on one of their photos or maps, and what is wider than the page.
LAYOUT_PROBLEMS = """
(pageWidth) => {
  const boxes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const owner = node.parentElement;
    if (!node.textContent.trim() || owner.closest("svg, script, style")) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) {
      if (r.width > 0 && r.height > 0) boxes.push({r, owner, text: node.textContent.trim().slice(0, 40)});
    }
  }
  const clipped = [], hidden = [];
  const meet = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1
                         && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  for (const plot of document.querySelectorAll(".plot")) {
    const frame = plot.getBoundingClientRect();
    const images = [...plot.querySelectorAll("svg image")].map((image) => image.getBoundingClientRect());
    for (const text of plot.querySelectorAll("svg text")) {
      if (!text.textContent.trim() || text.closest(".hoverlayer")) continue;
      const r = text.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      boxes.push({r, owner: text, text: plot.id + ": " + text.textContent.trim().slice(0, 40)});
      if (r.left < frame.left - 1 || r.right > frame.right + 1 || r.top < frame.top - 1 || r.bottom > frame.bottom + 1)
        clipped.push(plot.id + ": " + text.textContent.trim().slice(0, 40));
      if (images.some((image) => meet(image, r))) hidden.push(plot.id + ": " + text.textContent.trim().slice(0, 40));
    }
  }
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.owner !== b.owner && meet(a.r, b.r)) overlaps.push(a.text + " <-> " + b.text);
    }
  }
  const wide = [];
  // HTML boxes, whole SVGs and what they paint; not plotly's invisible drag handles, which straddle the edges.
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg") && !el.matches("svg.main-svg, svg text, svg image")) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.left < -1 || r.right > pageWidth + 1))
      wide.push(`${el.tagName} in ${el.closest("[id]")?.id}: ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  const plots = [...document.querySelectorAll(".plot")];
  return {overlaps, clipped, hidden, wide, texts: boxes.length, plots: plots.length,
          drawn: plots.filter((p) => p.querySelector("svg.main-svg")).length,
          right: Math.max(...[...document.querySelectorAll("h1, h2, h3, h4, p, li, table, figure, img, svg.main-svg")]
                                 .map((el) => el.getBoundingClientRect().right))};
}
"""


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module", params=["rcan_with_original", "safmn"])
def report(request, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """An RCAN report with an original (every figure, error maps included) and a SAFMN one."""
    out = tmp_path_factory.mktemp(request.param)
    photo = EXAMPLES / "wood_coffee.png"
    if request.param == "safmn":
        args = ["--weights", str(_safmn_checkpoint(out / "safmn.safetensors"))]
    else:
        args = ["--weights", str(tiny_checkpoint), "--original", str(photo)]
    assert main(["report", str(photo), "-o", str(out / "report"), *args]) == 0
    return request.param, out / "report" / "index.html"


@contextmanager
def loaded(browser, index: Path) -> Iterator[tuple]:  # noqa: ANN001 - a playwright browser
    """(page, refused requests) once the report's script has run; the page is closed afterwards."""
    page, refused = open_offline(browser, index)
    try:
        page.wait_for_function("() => window.reportReady !== undefined", timeout=TIMEOUT_MS)
        yield page, refused
    finally:
        page.close()


@pytest.mark.browser
def test_the_report_opens_offline_and_draws_every_figure(browser, report) -> None:
    name, index = report
    with loaded(browser, index) as (page, refused):
        assert page.evaluate("window.reportReady") is True  # plotly.js unpacked in the page, every figure drawn
        assert refused == []  # nothing fetched from anywhere: no fonts, scripts, images or styles outside the file
        drawn = page.evaluate("[...document.querySelectorAll('.plot')].filter(p => p.querySelector('svg')).length")
        assert drawn == page.evaluate("document.querySelectorAll('.plot').length") == FIGURES[name]
        assert page.evaluate("[...document.images].every(img => img.complete && img.naturalWidth > 0)")


@pytest.mark.browser
def test_printed_on_a4_nothing_overlaps_or_is_clipped(browser, report) -> None:
    name, index = report
    with loaded(browser, index) as (page, _):
        assert page.evaluate("window.reportReady") is True
        page.emulate_media(media="print")
        found = page.evaluate(LAYOUT_PROBLEMS, A4_WIDTH_PX)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"report_print_{name}.png"), full_page=True)
        assert found["texts"] > 300 and found["plots"] == found["drawn"]  # the probe saw the page and its figures
        assert found["overlaps"] == [], found["overlaps"][:10]
        assert found["clipped"] == [], found["clipped"][:10]
        assert found["hidden"] == [], found["hidden"][:10]  # no label under a photo or a map
        assert found["wide"] == [], found["wide"][:10]
        assert 600 < found["right"] <= A4_CONTENT_PX  # fits between the A4 margins, not only on the A4 sheet
        pdf = page.pdf(format="A4", print_background=True)
        assert pdf.startswith(b"%PDF") and 4 <= pdf_pages(pdf) <= 30, pdf_pages(pdf)


def test_the_page_counter_counts_pages_not_the_page_tree() -> None:
    pdf = b"%PDF-1.4 1 0 obj <</Type /Pages /Count 2>> 2 0 obj <</Type /Page>> 3 0 obj <</Type/Page /Parent 1>>"
    assert pdf_pages(pdf) == 2
