"""The table, finding and plot of the dataset-distillation study, from its record.

    python bench/distill_study_plot.py [--json bench/results/distill_study.json] [--png bench/results/distill_study.png]

Reads what `python -m sr_core study` wrote, prints the Markdown table (sr_core.tools.study.format_rows) and the finding
sentence (explain.distill_study.finding), and draws the learner's chart (explain.distill_study_figure, the same
figure the app and the report show) into a PNG with Debian's chromium through the playwright package, the
browser the tests use (there is no plotly image exporter here). Nothing is measured: the numbers are the JSON's.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explain.distill_study import STUDY_JSON, distill_study_figure, finding, load_study  # noqa: E402
from sr_core.tools.study import format_rows  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 900, 440


def write_png(figure, png: Path) -> None:
    from playwright.sync_api import sync_playwright

    figure.update_layout(width=WIDTH, height=HEIGHT)
    with tempfile.TemporaryDirectory() as scratch:
        page_file = Path(scratch) / "chart.html"
        figure.write_html(page_file, include_plotlyjs=True, config={"staticPlot": True})
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(page_file.as_uri())
            page.wait_for_selector(".main-svg")
            page.locator(".plot-container").first.screenshot(path=str(png))
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=STUDY_JSON)
    parser.add_argument("--png", type=Path, default=ROOT / "bench" / "results" / "distill_study.png")
    args = parser.parse_args()
    rows = load_study(args.json)
    print(format_rows(rows))
    print()
    print(finding(rows))
    write_png(distill_study_figure(rows), args.png)
    print(f"wrote {args.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
