"""The handout for class (`python -m explain report ... --handout`): four A4 pages for students and a fifth with
the answers for the teacher, written from one run's numbers.

Page 1 asks the question, gives the short answer, the photo large enough to see its texture and the three crops
of one spot (figures 1 and 2 of the lesson's main path); pages 2 and 3 hold the main path's other figures, two to
a page; page 4 asks 5 to 8 questions that this run's own numbers answer, lists the words the lesson uses, and ends
with one line about the run; page 5 answers the questions with those numbers. Every page is a fixed A4 sheet, so
what is on screen is what prints, and a sheet that overflowed would show (tests/explain/test_handout_print.py).

Nothing a learner cannot use is on it: no file or server paths, settings, command lines, number formats of the
computation or software versions.
"""
from __future__ import annotations

import datetime
import html
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from explain.analysis import BaseAnalysis, build_figures, short_answer
from explain.glossary import glossary, with_tooltips
from explain.text import chance_words
from explain.lesson import (LessonFigure, data_claim, effect_phrase, main_path, main_path_terms, part_claims,
                            where)
from explain.report import (LOADER, PAGE, REPORT_FILES, STYLE, figure_block, markdown_to_html, plotly_gzip,
                            png_data_uri, write_metrics)
from explain.figures import enlarged
from sr_core.atomic import write_text_atomic

QUESTION = "What keeps fine textures clean when a network enlarges a photo?"
# CSS px of each plot on pages 2 and 3: two figures, their claims and captions fill an A4 sheet
FIGURE_HEIGHTS = {"added_detail": 300, "retrained": 440, "depth": 350, "training_data": 420}
FIGURE_HEIGHT = 360  # any other
PHOTO_HEIGHT_PX = 380  # the photo on page 1, at most this tall (and the column wide)

HANDOUT_STYLE = """
@page { size: A4; margin: 12mm; }
body { max-width: 703px; margin: 0 auto; padding: 0; font-size: 10pt; }
h1 { font-size: 1.45em; margin: 0 0 0.3em; }
h2 { font-size: 1.15em; margin: 0.4em 0 0.3em; }
.sheet { box-sizing: border-box; width: 703px; height: 1020px; overflow: hidden; position: relative;
         break-after: page; page-break-after: always; padding: 0; margin: 0 0 24px; }
.sheet:last-of-type { break-after: auto; page-break-after: auto; }
@media screen { .sheet { outline: 1px dashed #ced4da; outline-offset: 6px; } }
@media print { .sheet { margin: 0; } }
.sheet .answer { font-size: 1.02em; margin: 0 0 0.5em; }
.sheet figure { margin: 0.3em 0 0.6em; }
.sheet figcaption { font-size: 0.86em; }
.big-photo { position: relative; display: inline-block; max-width: 100%; }
.big-photo img { display: block; max-width: 703px; max-height: PHOTO_HEIGHTpx; image-rendering: auto; }
.three { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px; }
.three figure { margin: 0; }
.three img { width: 100%; display: block; image-rendering: pixelated; }
.three figcaption { margin-top: 0.15em; font-size: 0.86em; }
.questions li { margin: 0 0 0.55em; }
.glossary { font-size: 0.88em; columns: 2; column-gap: 18px; }
.glossary p { margin: 0 0 0.35em; break-inside: avoid; }
.about { position: absolute; bottom: 0; left: 0; right: 0; font-size: 0.8em; color: #555;
         border-top: 1px solid #ccc; padding-top: 0.3em; }
.teacher h2 { margin-top: 0; }
""".replace("PHOTO_HEIGHT", str(PHOTO_HEIGHT_PX))


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:{spec}}"


def photo_block(analysis: BaseAnalysis, photo: np.ndarray | None, step: LessonFigure) -> str:
    """Figure 1: the whole photo, as large as the page allows, with the working region outlined."""
    if photo is None:
        return ""
    width, height = analysis.image_size
    r = analysis.region
    box = (f"left:{100 * r.left / width:.3f}%;top:{100 * r.top / height:.3f}%;"
           f"width:{100 * r.width / width:.3f}%;height:{100 * r.height / height:.3f}%")
    shown = photo
    if max(photo.shape[:2]) < 350:  # a small photo is drawn with square pixels rather than blurred
        shown = enlarged(photo, 700)
    return (f'<p class="figure-title">{html.escape(step.title)}</p>'
            f'<figure><div class="big-photo"><img alt="the photo" src="{png_data_uri(shown)}">'
            f'<div class="region" style="{box}"></div></div>'
            f"<figcaption>The whole photo; the orange box is the part explained below.</figcaption></figure>")


def crops_block(analysis: BaseAnalysis, step: LessonFigure) -> str:
    """Figure 2 as three crops of one spot: the original (or the input's own pixels), bicubic and the network."""
    tex, model, o = analysis.texture, analysis.model_name, analysis.texture.original
    if tex.original_zoom is not None:
        first = ("the original", tex.original_zoom)
    else:
        first = ("the pixels the network received", np.repeat(np.repeat(
            tex.zoom.crop(analysis.lr_region), analysis.scale, 0), analysis.scale, 1))
    scores = ({} if o is None else
              {"bicubic": f", PSNR {o.psnr_bicubic:.2f} dB over the whole photo",
               model: f", PSNR {o.psnr_model:.2f} dB over the whole photo"})
    crops = [first, ("bicubic", tex.bicubic_zoom), (model, tex.model_zoom)]
    cells = "".join(f'<figure><img alt="{html.escape(name)}" src="{png_data_uri(enlarged(crop, 230))}">'
                    f"<figcaption>{html.escape(name + scores.get(name, ''))}</figcaption></figure>"
                    for name, crop in crops)
    return (f'<p class="figure-title">{html.escape(step.title)}</p><div class="three">{cells}</div>'
            f"<figcaption>{with_tooltips(html.escape(step.how_to_read.split('; right,')[0]))}.</figcaption>")


def first_page(analysis: BaseAnalysis, photo: np.ndarray | None, path: list[LessonFigure]) -> str:
    answer = with_tooltips(markdown_to_html(short_answer(analysis)))
    jpeg = ("" if analysis.jpeg_quality is None else
            f"<p><strong>This photo is a JPEG</strong> (saved at quality about {analysis.jpeg_quality}): JPEG "
            "stores a photo in 8×8 blocks and throws fine detail away, and a network trained only on clean photos "
            "can take the block edges for texture.</p>")
    return (f'<section class="sheet" id="page-1"><h1>{html.escape(QUESTION)}</h1>'
            f'<div class="answer">{answer}</div>{jpeg}'
            f"{photo_block(analysis, photo, path[0])}{crops_block(analysis, path[1])}</section>")


def figure_pages(figures: dict[str, go.Figure], path: list[LessonFigure]) -> list[str]:
    """The main path after figure 2, two figures to a sheet."""
    rest = path[2:]
    pages = []
    for start in range(0, len(rest), 2):
        blocks = "".join(figure_block(step.key, figures[step.key], caption_title=False,
                                      height=FIGURE_HEIGHTS.get(step.key, FIGURE_HEIGHT))
                         for step in rest[start:start + 2])
        pages.append(f'<section class="sheet" id="page-{len(pages) + 2}">{blocks}</section>')
    return pages


def questions(analysis: BaseAnalysis, path: list[LessonFigure]) -> list[tuple[str, str]]:
    """(question, answer with this run's numbers), from reading a figure to reasoning about it."""
    number = {step.key: step.number for step in path}
    tex, model, e = analysis.texture, analysis.model_name, analysis.experiments
    o = tex.original
    qa: list[tuple[str, str]] = []
    if o is not None:
        gain = o.psnr_model - o.psnr_bicubic
        qa.append((f"Figure {number['texture_evidence']}: which crop is closest to the original, and by how many dB?",
                   f"{model if gain > 0 else 'Bicubic'}: PSNR {o.psnr_model:.2f} dB for {model} against "
                   f"{o.psnr_bicubic:.2f} dB for bicubic, a difference of {gain:+.2f} dB."))
    else:
        qa.append((f"Figure {number['texture_evidence']}: which crop shows more fine detail, and how much more?",
                   f"{model}: {_fmt(tex.hf_energy_ratio, '.1f')}× the fine-detail energy of bicubic. Without the "
                   "original nobody can say how much of it is real."))
    share = e.added_texture_share
    qa.append((f"Figure {number['added_detail']}: does the network add detail evenly, or mostly where the photo "
               "is textured? What share lands on the most textured quarter?",
               f"{_fmt(100 * share, '.0f')}% of the change lands on the most textured quarter of the region; an "
               "even spread would put 25% there."))
    parts = part_claims(analysis)
    if parts and "retrained" in number:
        top = parts[0]
        qa.append((f"Figure {number['retrained']}: which part of the network, removed before training, costs the "
                   "most on textured tiles? Is the loss larger than its uncertainty?",
                   f"The {top.mechanism}: {effect_phrase(top)} on {where(top)}. "
                   + ("The interval excludes 0, so the effect is measurable." if top.supported else
                      "The interval includes 0, so it is no measurable difference.")))
        attention = next((c for c in parts if c.mechanism == "channel attention"), None)
        if attention is not None:
            qa.append(("How can you tell from the numbers whether removing channel attention made a difference?",
                       f"Its effect is {effect_phrase(attention)} on {where(attention)}. A difference counts only "
                       "when its whole 95% interval lies on one side of 0."))
    if "depth" in number:
        first, last = e.depth[0], e.depth[-1]
        qa.append((f"Figure {number['depth']}: how many {e.unit} does the network need for 90% of its fine detail, "
                   "and what does it give with none?",
                   f"{e.depth_needed()} of {last.depth}. With none (k = 0) it has {_fmt(first.hf_energy_ratio)}× "
                   f"bicubic's fine detail, with all {_fmt(last.hf_energy_ratio)}×."))
    data = data_claim(analysis)
    if data is not None and "training_data" in number:
        qa.append((f"Figure {number['training_data']}: two identical networks, one trained on textured patches "
                   "only, one on flat patches only. Which keeps textures better, and by how much?",
                   f"The one trained on textured patches: {effect_phrase(data)} on {where(data)}."))
    if analysis.jpeg is not None:
        clean, aware = analysis.jpeg.detail["clean"], analysis.jpeg.detail["jpeg"]
        qa.append(("Why does a network that never saw a JPEG sharpen the JPEG's 8×8 blocks?",
                   "It learned from clean photos, where every sharp edge was real detail worth keeping; the block "
                   f"edges look like such detail to it. Here it sharpens them {clean.edge_emphasis:.2f}× as much as "
                   f"the rest of the photo; the network trained on JPEGs {aware.edge_emphasis:.2f}×."))
    elif tex.real_detail_share is not None and math.isfinite(tex.real_detail_share):
        qa.append(("Is all the detail the network adds real? Where does the rest come from?",
                   f"{100 * tex.real_detail_share:.0f}% of the added detail lies where the original's is "
                   f"({chance_words(tex)}); the rest is not in the original: the network predicted it from what "
                   "similar photos in its training data looked like."))
    qa.append(("Bicubic cannot create detail that the small photo does not hold. Where does the network's detail "
               "come from?",
               f"From training: {model} learned from many pairs of small and large photos what fine detail "
               "usually goes with the patterns it sees, and predicts it. That is why its training data matters."))
    return qa[:8]


def questions_page(analysis: BaseAnalysis, qa: list[tuple[str, str]], about: str) -> str:
    items = "".join(f"<li>{with_tooltips(html.escape(q))}</li>" for q, _ in qa)
    terms = sorted(main_path_terms(analysis, short_answer(analysis)), key=str.lower)
    definitions = glossary()
    words = "".join(f"<p><strong>{html.escape(t)}</strong>: {html.escape(definitions[t])}</p>" for t in terms)
    return (f'<section class="sheet" id="page-questions"><h2>Questions</h2>'
            "<p>Answer each from the figures and numbers of this handout.</p>"
            f'<ol class="questions">{items}</ol><h2>Words used</h2><div class="glossary">{words}</div>'
            f'<p class="about">{html.escape(about)}</p></section>')


def teacher_page(qa: list[tuple[str, str]]) -> str:
    items = "".join(f"<li><em>{html.escape(q)}</em><br>{html.escape(a)}</li>" for q, a in qa)
    return (f'<section class="sheet teacher" id="page-teacher"><h2>For the teacher: the answers, from this run'
            f"</h2><p>Pages 1 to 4 are for the students; this page is not.</p>"
            f'<ol class="questions">{items}</ol></section>')


def about_line(analysis: BaseAnalysis, weights: dict | None, photo_name: str) -> str:
    """What served and how, in one plain line: the model, its weights' origin, the photo, the date."""
    source = (weights or {}).get("source", "")
    origin = ("the project's own trained weights" if source == "bundled" else
              "weights from the Hugging Face Hub" if "hub" in source.lower() else "weights given by the user")
    width, height = analysis.image_size
    o = analysis.texture.original
    shrunk = "" if o is None else f", made from the original ({o.size[0]} × {o.size[1]} pixels) shrunk ×{analysis.scale}"
    return (f"About this run: {analysis.model_name} with {analysis.model_info['n_params'] / 1e6:.2f} million "
            f"parameters, {origin}; the photo {photo_name}, {width} × {height} pixels{shrunk}; explained on "
            f"{datetime.date.today().isoformat()}.")


def render_handout(analysis: BaseAnalysis, figures: dict[str, go.Figure], photo: np.ndarray | None,
                   weights: dict | None, photo_name: str) -> str:
    path = main_path(analysis, figures)
    qa = questions(analysis, path)
    sheets = [first_page(analysis, photo, path), *figure_pages(figures, path),
              questions_page(analysis, qa, about_line(analysis, weights, photo_name)), teacher_page(qa)]
    body = "\n".join(sheets)
    return PAGE.format(title=html.escape(QUESTION), style=STYLE + HANDOUT_STYLE, plotly_gzip=plotly_gzip(),
                       loader=LOADER, body=body).replace(f"<h1>{html.escape(QUESTION)}</h1>\n", "", 1)


def write_handout(analysis: BaseAnalysis, out_dir: Path, weights: dict | None, photo: np.ndarray | None,
                  photo_name: str) -> tuple[Path, Path]:
    """DIR/index.html as the handout and DIR/metrics.json as the full report writes it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = build_figures(analysis)
    index = out_dir / REPORT_FILES[0]
    write_text_atomic(index, render_handout(analysis, figures, photo, weights, photo_name))
    return index, write_metrics(analysis, out_dir, weights)
