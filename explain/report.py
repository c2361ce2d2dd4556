"""The full offline report, for teachers and anyone who wants everything: one self-contained index.html and
metrics.json, the contract that outside checks read.

The page is one column that fits A4: which weights and options ran (and how to get the same numbers in the app),
the photo (the input, bicubic, the network's enlargement and the original as lossless PNG crops of the working
region), then each part of the explanation with its figure and how to read it. A print stylesheet keeps every
figure whole on one page and nothing wider than the page.

Offline and small: plotly.js is inlined once, gzip-compressed (4.8 MB of text is most of a report's size) and
unpacked by the browser itself (DecompressionStream, in every browser since 2023); no request leaves the file.
"""
from __future__ import annotations

import base64
import functools
import gzip
import html
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.offline import get_plotlyjs

from explain.analysis import BaseAnalysis, build_figures, explainer_markdown, metrics
from explain.captions import STUDY_CAPTION
from explain.explainers import explainers
from explain.distill_study import study_section
from explain.glossary import TOOLTIP_CSS, with_tooltips
from explain.print_figures import COLUMN_PX, fit_to_column
from explain.lesson import main_path
from explain.summary import FIGURE_CAPTIONS, FIGURE_HELP
from sr_core.atomic import write_text_atomic
from sr_core.image_io import to_uint8
from sr_core.protocol.imresize import imresize

MAX_PHOTO_SIDE = 1000  # the whole input is embedded up to this size, else shrunk (the crops stay pixel-exact)

# Which figures follow which part of the explanation (by the start of its heading), so that each figure sits
# next to its text: the shared parts here, each architecture's in its explainer. A figure no part claims comes last.
FIGURES_AFTER = {
    "Real or invented?": ("texture_evidence", "original_errors"),
    "Cause and effect": ("retrained", "retrained_effects"),
    "What the network learned from": ("training_data",),
    "Depth": ("depth",),
    "What the network adds": ("added_detail",),
    "How it runs": ("workflow",),
    **{start: keys for e in explainers().values() for start, keys in e.figures_after.items()},
}
FIRST_PARTS = ("The short answer", "The details", "The task", "Real or invented?")  # as the app's tab: evidence first

STYLE = f"""
:root {{ --column: {COLUMN_PX}px; }}
body {{ font-family: system-ui, sans-serif; line-height: 1.45; margin: 1.5em auto; padding: 0 1em;
        max-width: var(--column); color: #1d1d1d; }}
h1 {{ font-size: 1.6em; line-height: 1.2; }}
table {{ border-collapse: collapse; font-size: 0.92em; }} td, th {{ border: 1px solid #ccc; padding: 0.15em 0.5em; }}
figure {{ margin: 1.2em 0; }}
figcaption {{ font-size: 0.9em; color: #333; margin-top: 0.3em; }}
.plot {{ width: var(--column); max-width: 100%; overflow-x: auto; }}
.figure-title {{ font-size: 0.92em; color: #2a3f5f; margin: 0 0 0.2em; }}
.photo {{ position: relative; display: inline-block; max-width: 100%; }}
.photo img {{ display: block; max-width: 100%; }}
.region {{ position: absolute; border: 2px solid #e8590c; box-sizing: border-box; }}
.crops {{ display: grid; grid-template-columns: 1fr 1fr; gap: 6px; }}
.crops figure {{ margin: 0; }}
.crops img {{ width: 100%; display: block; image-rendering: pixelated; }}
.crops figcaption {{ margin: 0.1em 0 0; }}
#options, #weights {{ font-size: 0.92em; }}
@page {{ size: A4; margin: 12mm; }}
@media print {{
  body {{ margin: 0; padding: 0; font-size: 10pt; }}
  figure.block, .crops figure, table, tr {{ break-inside: avoid; }}
  h2, h3, h4, h5 {{ break-after: avoid; }}
  img, svg, table, .plot {{ max-width: 100% !important; }}
  .plot {{ overflow: visible; }}
  a {{ color: inherit; text-decoration: none; }}
}}
""" + TOOLTIP_CSS

# Unpacks plotly.js (gzip, base64) and draws every figure; `window.reportReady` says when (true) or that it could
# not (the error), for people and for the print test.
LOADER = """
(async () => {
  const packed = atob(document.getElementById("plotly-gzip").textContent.trim());
  const bytes = Uint8Array.from(packed, (c) => c.charCodeAt(0));
  const unpacked = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const library = document.createElement("script");
  library.textContent = await new Response(unpacked).text();
  document.head.appendChild(library);
  for (const data of document.querySelectorAll("script.plot-data")) {
    const figure = JSON.parse(data.textContent);
    await Plotly.newPlot(data.previousElementSibling, figure.data, figure.layout, {displaylogo: false});
  }
  window.reportReady = true;
})().catch((error) => {
  window.reportReady = String(error);
  for (const plot of document.querySelectorAll(".plot:empty")) {
    plot.textContent = "This browser could not draw the figure (" + error + "); any browser from 2023 on can.";
  }
});
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script id="plotly-gzip" type="application/octet-stream">{plotly_gzip}</script>
</head>
<body>
<h1>{title}</h1>
<noscript><p>The figures are drawn by JavaScript; without it, the text, the numbers and the photos are all here.</p></noscript>
{body}
<script>{loader}</script>
</body>
</html>
"""


@dataclass(frozen=True)
class Options:
    """What the report was asked for, in the app's terms: the same photo and options give the app's numbers."""

    photo: str  # the file to give the app: the image, or with an original the original (the app shrinks it)
    original: bool = False  # an original was given ("I have the original" in the app)
    focus: tuple[int, int] | None = None  # (x, y) where the explanation looks, in `photo`'s pixels (an app click)
    precision: str = "fp32"  # what enlarged the photo


def _inline(text: str) -> str:
    """Escape, then the inline markdown this project writes: links, bold, italics."""
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)


def markdown_to_html(markdown: str) -> str:
    """The markdown subset of `explain.text`: headings, paragraphs, bullet and numbered lists, tables."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", markdown.strip()):
        lines = block.splitlines()
        heading = re.match(r"(#{1,6}) (.*)", lines[0])
        if heading:
            level = len(heading[1]) + 1  # the page title is the only h1
            out.append(f"<h{level}>{_inline(heading[2])}</h{level}>")
            lines = lines[1:]
            if not lines:
                continue
        if lines[0].startswith("|"):
            rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if "---" not in line]
            head = "".join(f"<th>{_inline(c)}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
            out.append(f"<table><tr>{head}</tr>{body}</table>")
        elif re.match(r"(- |\d+\. )", lines[0]):
            tag = "ul" if lines[0].startswith("- ") else "ol"
            items: list[str] = []
            for line in lines:
                start = re.match(r"(- |\d+\. )(.*)", line)
                if start:
                    items.append(start[2])
                else:  # continuation of the previous item
                    items[-1] += " " + line.strip()
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + f"</{tag}>")
        else:
            out.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(out)


def explanation_parts(markdown: str) -> list[tuple[str, str]]:
    """(heading, markdown) of each part of the explanation, split at its ## and ### headings, the evidence first."""
    parts = []
    for chunk in re.split(r"\n(?=#{2,3} )", markdown.strip()):
        heading = re.match(r"#{2,3} (.*)", chunk)
        parts.append((heading[1] if heading else "", chunk))
    first = [p for name in FIRST_PARTS for p in parts if p[0].startswith(name)]
    return first + [p for p in parts if p not in first]


def png_data_uri(image: np.ndarray) -> str:
    """A lossless PNG of an (H, W, 3) image in [0, 1] (or uint8), as a data URI."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image) if image.dtype != np.uint8 else image).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def photo_section(analysis: BaseAnalysis, photo: np.ndarray | None) -> str:
    """Figure 1 of the main path: the input (the working region outlined), then the region's crops: the input
    pixels, bicubic, the network and, when known, the original, each lossless and at the output's pixel size."""
    region, scale, model = analysis.region, analysis.scale, analysis.model_name
    parts = ['<section id="photo">', "<h2>Your photo and its enlargement</h2>",
             f'<p class="figure-title">{html.escape(main_path(analysis)[0].title)}</p>']
    if photo is not None:
        height, width = photo.shape[:2]
        shown = photo
        if max(height, width) > MAX_PHOTO_SIDE:
            factor = max(height, width) / MAX_PHOTO_SIDE
            shown = np.asarray(Image.fromarray(to_uint8(photo)).resize(
                (max(1, round(width / factor)), max(1, round(height / factor))), Image.Resampling.LANCZOS))
        box = (f"left:{100 * region.left / width:.3f}%;top:{100 * region.top / height:.3f}%;"
               f"width:{100 * region.width / width:.3f}%;height:{100 * region.height / height:.3f}%")
        size = "" if shown is photo else f", shown at {shown.shape[1]}x{shown.shape[0]}"
        parts.append(f'<figure class="block"><div class="photo"><img alt="the input photo" '
                     f'src="{png_data_uri(shown)}"><div class="region" style="{box}"></div></div>'
                     f"<figcaption><strong>The input</strong> ({width}x{height} pixels{size}). The orange box is the "
                     f"working region, {html.escape(analysis.region_note)}: the crops below, the per-pixel views and "
                     "the experiments look there.</figcaption></figure>")
    bicubic = np.clip(imresize(np.asarray(analysis.lr_region, np.float32), scale), 0, 1)
    crops = [("the input's pixels, each drawn as a square", analysis.lr_region),
             ("bicubic (MATLAB imresize), x3", bicubic), (f"{model}, x3: the enlargement you get", analysis.sr_region)]
    if analysis.hr_region is not None:
        crops.append(("the original: what the enlargement should be", analysis.hr_region))
    cells = "".join(f'<figure><img alt="{html.escape(name)}" src="{png_data_uri(image)}">'
                    f"<figcaption>{html.escape(name)}</figcaption></figure>" for name, image in crops)
    parts.append(f'<figure class="block"><div class="crops">{cells}</div><figcaption><strong>The working region, '
                 f"enlarged x{scale}</strong> ({region.width * scale}x{region.height * scale} output pixels, lossless "
                 "PNG). Compare the fine texture: bicubic blurs it; the network predicts it"
                 f"{'; the original shows what was really there' if analysis.hr_region is not None else ''}."
                 "</figcaption></figure>")
    parts.append("</section>")
    return "\n".join(parts)


def figure_block(key: str, figure: go.Figure, after: str = "", height: int | None = None,
                 caption_title: bool = True) -> str:
    """A figure fitted to the column (`height` px tall when given), its title and how to read it (after the
    figure's name unless `caption_title` is False), kept on one printed page."""
    heading, fitted = fit_to_column(figure)
    if height is not None:
        fitted.update_layout(height=height)
    spec = fitted.to_json().replace("</", "<\\/")  # no "</script>" inside the script element
    title = FIGURE_CAPTIONS.get(key, STUDY_CAPTION if key == "distill_study" else key)
    name = f"<strong>{html.escape(title)}.</strong> " if caption_title else ""
    caption = with_tooltips(f"{name}{html.escape(FIGURE_HELP.get(key, ''))}")
    return (f'<figure class="block" id="{key}"><p class="figure-title">{_plot_text(heading)}</p>'
            f'<div class="plot" id="plot-{key}"></div>'
            f'<script type="application/json" class="plot-data">{spec}</script>'
            f"<figcaption>{caption}</figcaption>{after}</figure>")


def _plot_text(text: str) -> str:
    """A plotly title (plain text with <br> and <b>) as safe HTML."""
    escaped = html.escape(re.sub(r"<br\s*/?>", "\n", text), quote=False)
    return re.sub(r"&lt;(/?)b&gt;", r"<\1b>", escaped).replace("\n", "<br>")


def options_html(options: Options) -> str:
    """The options that ran, how to get the same numbers in the app, and the one way they can still differ."""
    click = ("" if options.focus is None else
             f", and a click on the photo at x={options.focus[0]}, y={options.focus[1]}")
    mode = "on" if options.original else "off"
    return (
        f'<p id="options"><strong>Options:</strong> original {"given" if options.original else "not given"}, '
        f"region {'chosen by a click' if options.focus else 'chosen as the most textured'}, enlargement in "
        f"{html.escape(options.precision)}. <strong>The same numbers in the app:</strong> "
        f"<code>{html.escape(options.photo)}</code> and the same weights, with <em>I have the original</em> "
        f"{mode}{click}, then <em>How textures are kept</em>. "
        "After <em>Enlarge</em>, the app explains the 8-bit PNG it gave you; this report explains the network's "
        "unrounded output, so the fine-detail ratio can differ in its fourth digit (a 400x266 photo: 11.995x "
        "after Enlarge, 11.990x here and in the app without it).</p>"
    )


def render_html(analysis: BaseAnalysis, figures: dict[str, go.Figure], title: str, weights: dict | None = None,
                photo: np.ndarray | None = None, options: Options | None = None) -> str:
    """The whole page: weights and options, the photo, the explanation part by part each followed by its figures
    (with glossary tooltips), the study's chart last; plotly.js inlined once."""
    sections = [weights_html(weights)] if weights else []
    if options is not None:
        sections.append(options_html(options))
    placed: set[str] = set()
    for heading, markdown in explanation_parts(explainer_markdown(analysis)):
        sections.append(with_tooltips(markdown_to_html(markdown)))
        if heading.startswith("The short answer"):
            sections.append(photo_section(analysis, photo))
        keys = next((keys for start, keys in FIGURES_AFTER.items() if heading.startswith(start)), ())
        for key in keys:
            if key in figures and key not in placed and key != "photo":  # the photo section is figure 1
                sections.append(figure_block(key, figures[key]))
                placed.add(key)
    sections += [figure_block(key, figure) for key, figure in figures.items() if key not in placed | {"photo"}]
    study_figure, study_text = study_section()  # not about this photo: last, when the study's record exists
    if study_figure is not None:
        sections.append(f"<h3>{html.escape(STUDY_CAPTION)}</h3>")
        sections.append(figure_block("distill_study", study_figure, markdown_to_html(study_text)))
    return PAGE.format(title=html.escape(title), style=STYLE, plotly_gzip=plotly_gzip(), loader=LOADER,
                       body="\n".join(sections))


@functools.lru_cache(maxsize=1)
def plotly_gzip() -> str:
    """plotly.js, gzip-compressed (fixed mtime: the same bytes every run) and base64-encoded."""
    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def weights_html(weights: dict) -> str:
    """One line naming the file that served (for a Hub file: repo, file and commit), and any fallback note."""
    note = f" {html.escape(weights['note'])}" if weights.get("note") else ""
    return (f'<p id="weights"><strong>Weights:</strong> {html.escape(weights["arch"])} from {html.escape(weights["source"])} '
            f"(<code>{html.escape(weights['location'])}</code>).{note}</p>")


REPORT_FILES = ("index.html", "metrics.json")  # what write_report writes into its folder, and nothing else


def write_report(analysis: BaseAnalysis, out_dir: Path, title: str, weights: dict | None = None,
                 photo: np.ndarray | None = None, options: Options | None = None) -> tuple[Path, Path]:
    """Write DIR/index.html and DIR/metrics.json; the figure and page times go into metrics' timings, the served
    weights (`LoadedWeights.provenance()`) into metrics' "weights" and the page's first line. `photo`: the whole
    input, shown with its working region; `options`: what ran, said on the page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    figures = build_figures(analysis)
    analysis.timings["figures"] = time.perf_counter() - started
    started = time.perf_counter()
    page = render_html(analysis, figures, title, weights, photo, options)
    index = out_dir / REPORT_FILES[0]
    write_text_atomic(index, page)
    analysis.timings["report_html"] = time.perf_counter() - started
    return index, write_metrics(analysis, out_dir, weights)


def write_metrics(analysis: BaseAnalysis, out_dir: Path, weights: dict | None) -> Path:
    """DIR/metrics.json: the analysis' numbers, with the served weights (`LoadedWeights.provenance()`) when given."""
    path = out_dir / REPORT_FILES[1]
    record = metrics(analysis) if weights is None else {**metrics(analysis), "weights": weights}
    write_text_atomic(path, json.dumps(record, indent=2, allow_nan=False) + "\n")
    return path
