"""The offline report as a handout: its size, and its page count when Chromium prints it on A4.

    python bench/report_print.py REPORT_DIR/index.html [--png PAGE.png]

Prints one JSON line: bytes, MB, A4 pages. Uses Debian's chromium through the playwright package (test-only
dependency; never `playwright install`), offline: every request that leaves the file is refused and counted.
With --png, also a screenshot of the page under print media at A4 width, to look at.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
A4_WIDTH_PX = 794  # 210 mm at 96 CSS px per inch
RENDERED = "() => window.reportReady === true || document.querySelectorAll('.js-plotly-plot').length > 0"


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF: its /Type /Page objects (not /Pages, the tree's nodes). Enough for Chromium's PDFs, which
    write the page objects uncompressed."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def open_offline(browser, html: Path, width: int = A4_WIDTH_PX):  # noqa: ANN001, ANN201 - playwright objects
    """A page with `html` loaded, every request other than the file itself refused; (page, refused URLs)."""
    page = browser.new_page(viewport={"width": width, "height": 1100})
    refused: list[str] = []
    url = html.resolve().as_uri()

    def guard(route) -> None:  # noqa: ANN001
        if route.request.url == url or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.goto(url, wait_until="load")
    page.wait_for_function(RENDERED)
    return page, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("html", type=Path)
    parser.add_argument("--png", type=Path, default=None, help="write a print-media screenshot here")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page, refused = open_offline(browser, args.html)
            page.emulate_media(media="print")
            if args.png:
                page.screenshot(path=str(args.png), full_page=True)
            pdf = page.pdf(format="A4", print_background=True)
        finally:
            browser.close()
    size = args.html.stat().st_size
    print(json.dumps({"bytes": size, "MB": round(size / 1e6, 2), "a4_pages": pdf_pages(pdf),
                      "refused_requests": len(refused)}))


if __name__ == "__main__":
    main()
