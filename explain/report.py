"""The offline report for teachers: one self-contained index.html (plotly.js inlined once, no remote scripts)
and metrics.json, the contract that outside checks read."""
from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from explain.analysis import BaseAnalysis, build_figures, explainer_markdown, metrics
from explain.distill_study import study_section
from explain.glossary import with_tooltips
from sr_core.atomic import write_text_atomic

# Figure captions in page order; a key absent from the figures (no original given, another model's) is skipped.
CAPTIONS = {
    "texture_evidence": "Ground truth and texture evidence: original | bicubic | the network, and their spectra",
    "original_errors": "Error maps against the original (border shaved as in the protocol)",
    "depth": "Experiment: depth, the network with only its first k groups or blocks",
    "ablation": "Experiment: attention off (SAFMN: modulation off)",
    "added_detail": "Experiment: added detail, what the network adds over bicubic",
    "attention_heatmap": "Attention heatmap: the channel-attention gates of the whole photo's enlargement",
    "safm_modulation": "SAFM modulation: where each SAFMN block amplifies or suppresses features",
    "boosted_channels": "The most boosted channels of one block",
    "texture_map": "Texture map: where the texture channels' gates would be higher",
    "feature_views": "Feature views (FeatSharp-style)",
    "feature_view_metrics": "Feature views, scored",
    "workflow": "Workflow: input -> model -> output",
}
STUDY_CAPTION = "How much data do textures need? The dataset-distillation study"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; line-height: 1.5; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; }}
section.figure {{ margin: 2em 0; }}
abbr[title] {{ text-decoration: underline dotted; cursor: help; }}
</style>
<script type="text/javascript">{plotlyjs}</script>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def _inline(text: str) -> str:
    """Escape, then the inline markdown this project writes: links, bold, italics."""
    text = html.escape(text, quote=False)
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


def figure_section(key: str, caption: str, figure: go.Figure, after: str = "") -> str:
    div = figure.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})
    heading = with_tooltips(html.escape(caption))
    return f'<section class="figure" id="{key}"><h2>{heading}</h2>\n{div}{after}</section>'


def render_html(analysis: BaseAnalysis, figures: dict[str, go.Figure], title: str, weights: dict | None = None) -> str:
    """The whole page: which weights served, the explainer text (with glossary tooltips), then every figure, with
    plotly.js inlined once."""
    sections = [weights_html(weights)] if weights else []
    sections.append(with_tooltips(markdown_to_html(explainer_markdown(analysis))))
    sections += [figure_section(key, caption, figures[key]) for key, caption in CAPTIONS.items() if key in figures]
    study_figure, study_text = study_section()  # not about this photo: last, when the study's record exists
    if study_figure is not None:
        sections.append(figure_section("distill_study", STUDY_CAPTION, study_figure, markdown_to_html(study_text)))
    return PAGE.format(title=html.escape(title), plotlyjs=get_plotlyjs(), body="\n".join(sections))


def weights_html(weights: dict) -> str:
    """One line naming the file that served (for a Hub file: repo, file and commit), and any fallback note."""
    note = f" {html.escape(weights['note'])}" if weights.get("note") else ""
    return (f'<p id="weights"><strong>Weights:</strong> {html.escape(weights["arch"])} from {html.escape(weights["source"])} '
            f"(<code>{html.escape(weights['location'])}</code>).{note}</p>")


def write_report(analysis: BaseAnalysis, out_dir: Path, title: str, weights: dict | None = None) -> tuple[Path, Path]:
    """Write DIR/index.html and DIR/metrics.json; the figure and page times go into metrics' timings, the served
    weights (`LoadedWeights.provenance()`) into metrics' "weights" and the page's first line."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    figures = build_figures(analysis)
    analysis.timings["figures"] = time.perf_counter() - started
    started = time.perf_counter()
    page = render_html(analysis, figures, title, weights)
    index = out_dir / "index.html"
    write_text_atomic(index, page)
    analysis.timings["report_html"] = time.perf_counter() - started
    metrics_path = out_dir / "metrics.json"
    record = metrics(analysis) if weights is None else {**metrics(analysis), "weights": weights}
    write_text_atomic(metrics_path, json.dumps(record, indent=2, allow_nan=False) + "\n")
    return index, metrics_path
