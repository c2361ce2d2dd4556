"""The handout for class, printed by a real browser on A4 (`page.pdf`), made by the bundled RCAN on an example
photo with its original (the README's handout screenshot comes from here, not from the tests' random weights):
at most four pages for students and one for the teacher, page 1 with the question, the answer, a large photo and
three crops, at most two figures on a page, 5 to 8 questions the teacher's page answers with this run's numbers,
nothing that overlaps or runs off a page, and no path, setting, command, precision or version anywhere.

Uses Debian's chromium through the playwright package (never `playwright install`); skipped when either is
missing. A screenshot of each page goes to tests/artifacts/ (gitignored) for people to look at.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bench.report_print import A4_WIDTH_PX, CHROMIUM, CHROMIUM_ARGS, open_offline, pdf_pages
from explain.cli import main

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # tests/artifacts
PHOTO = Path(__file__).resolve().parents[2] / "examples" / "fabric_astronaut.png"  # its own original
STUDENT_PAGES = 4
# What a learner cannot use: file paths, settings, command lines, number formats of the computation, versions.
NOT_FOR_CLASS = re.compile(r"(?:/[\w.-]+){2,}|\\\\|\b(?:SR|HF|GRADIO)_[A-Z_]+|--[a-z]|python|\bpip\b|bf16|fp32|fp16|"
                           r"float32|bfloat|\.safetensors|\.py\b|\bversion|\btorch\b", re.I)

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
    pytest.skip("Debian chromium (/usr/bin/chromium) is not installed", allow_module_level=True)

from tests.explain.test_report_print import LAYOUT_PROBLEMS  # noqa: E402 - after the skip, as it skips too


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory):
    """(page under print media, its PDF's page count, the sheets' texts) of the bundled RCAN's handout."""
    out = tmp_path_factory.mktemp("handout")
    assert main(["report", str(PHOTO), "--original", str(PHOTO), "--weights", "bundled", "--handout",
                 "-o", str(out)]) == 0
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page, refused = open_offline(browser, out / "index.html")
            page.wait_for_function("() => window.reportReady !== undefined", timeout=60_000)
            assert page.evaluate("window.reportReady") is True and refused == []
            page.emulate_media(media="print")
            pages = pdf_pages(page.pdf(format="A4", print_background=True))
            for i, sheet in enumerate(page.locator(".sheet").all(), start=1):
                sheet.screenshot(path=str(ARTIFACTS / f"handout_page_{i}.png"))  # README: docs/screenshots/
            yield page, pages
        finally:
            browser.close()


def test_four_pages_for_students_and_one_for_the_teacher(printed) -> None:
    page, pages = printed
    sheets = page.locator(".sheet")
    assert pages == sheets.count() == STUDENT_PAGES + 1
    assert page.locator(".sheet").last.get_attribute("id") == "page-teacher"
    overflow = page.evaluate("[...document.querySelectorAll('.sheet')].map(s => s.scrollHeight - s.clientHeight)")
    assert overflow == [0] * pages  # every sheet holds its content: what is on screen is what prints


def test_page_one_asks_answers_and_shows_the_photo_large_and_three_crops(printed) -> None:
    page, _ = printed
    first = page.locator("#page-1")
    text = first.inner_text()
    assert text.startswith("What keeps fine textures clean") and "8 of every 9 output pixels" in text
    photo = first.locator(".big-photo img").bounding_box()
    assert photo["width"] >= 500  # large enough to see its texture (the 192-px photo drawn 3 screen px a pixel)
    assert first.locator(".three img").count() == 3 and "Figure 1 ·" in text and "Figure 2 ·" in text
    assert "the original" in text and "dB" in text


def test_the_figures_come_two_to_a_page_each_with_its_claim(printed) -> None:
    page, _ = printed
    per_page = page.evaluate("[...document.querySelectorAll('.sheet')].map(s => s.querySelectorAll('.plot').length)")
    assert max(per_page) <= 2 and sum(per_page) == 4  # figures 3 to 6
    drawn = page.evaluate("[...document.querySelectorAll('.plot')].every(p => p.querySelector('svg.main-svg'))")
    titles = page.locator(".sheet .figure-title").all_inner_texts()
    assert drawn and [re.match(r"Figure (\d) ·", t)[1] for t in titles] == ["1", "2", "3", "4", "5", "6"]


def test_five_to_eight_questions_and_the_teacher_answers_them_with_numbers(printed) -> None:
    page, _ = printed
    questions = page.locator("#page-questions ol.questions li").all_inner_texts()
    answers = page.locator("#page-teacher ol.questions li").all_inner_texts()
    assert 5 <= len(questions) <= 8 and len(answers) == len(questions)
    assert sum(bool(re.search(r"\d+\.\d\d dB", a)) for a in answers) >= 3  # answered from this run's numbers
    glossary = page.locator("#page-questions .glossary").inner_text()
    assert "PSNR" in glossary and "fine-detail energy" in glossary
    assert page.locator("#page-questions .about").inner_text().startswith("About this run: RCAN")


def test_nothing_overlaps_runs_off_the_page_or_is_not_for_class(printed) -> None:
    page, _ = printed
    found = page.evaluate(LAYOUT_PROBLEMS, A4_WIDTH_PX)
    assert found["overlaps"] == [], found["overlaps"][:10]
    assert found["clipped"] == [], found["clipped"][:10]
    assert found["hidden"] == [], found["hidden"][:10]
    assert found["wide"] == [], found["wide"][:10]
    text = page.evaluate("document.body.innerText")
    assert NOT_FOR_CLASS.findall(text) == []
