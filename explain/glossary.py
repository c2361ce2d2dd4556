"""Every technical term the explanation uses, defined once in plain words, and shown wherever it appears: on hover
(the `title` of `<abbr title=... tabindex="0">`) and on tap or keyboard focus (TOOLTIP_CSS shows the same text
under the term, since touch screens and paper have no hover), in the app's markdown and in the report's HTML.

The terms every model shares live here; each architecture's own terms come from its explainer
(`Explainer.glossary`, `Explainer.glossary_aliases`) and are merged in. Terms are matched as whole words: a spelling
with a capital letter after its first character (PSNR, PixelShuffle, dB) exactly, other terms in any case.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache

from explain import explainers as registry

# term -> definition, for the terms every model shares. The key is how the term is written in the text; ALIASES maps
# other spellings onto it.
SHARED: dict[str, str] = {
    "super-resolution": "Making a photo larger by predicting the fine detail its pixels do not hold. "
    "Single-image super-resolution uses only the one photo.",
    "bicubic": "Ordinary enlargement: each new pixel is a smooth weighted average of the 16 nearest old ones "
    "(MATLAB's imresize, the baseline super-resolution papers compare against). It cannot create detail.",
    "deep network": "A program made of many stacked layers of simple learned filters. Its numbers (parameters) "
    "were set by training, not written by hand.",
    "training": "Showing the network many pairs of a small photo and its large original, and adjusting its "
    "parameters until its enlargements come close to the originals.",
    "parameters": "The learned numbers inside the network (filter weights).",
    "skip connection": "A shortcut that adds a stage's input to its output, so the stage only computes a "
    "correction to what passes through unchanged.",
    "gate": "A number between 0 and 1 that multiplies a feature channel: near 1 it passes, near 0 it is muted.",
    "sigmoid": "The function 1/(1+e^-x), which squeezes any number into the range 0..1; it makes the gates.",
    "feature channel": "One of the dozens of maps a layer computes from the photo, each responding to some "
    "pattern (an edge direction, a stripe, a colour).",
    "deep features": "The feature channels at the end of the network's body, just before the enlargement.",
    "convolution": "A small learned filter (here 3x3 pixels) slid over every position of a map.",
    "ReLU": "The function max(0, x): keeps positive values, sets negative ones to 0.",
    "PixelShuffle": "The learned enlargement at the end: a convolution computes 9 values per input pixel, which "
    "are rearranged into the 3x3 output pixels that replace it.",
    "Nyquist frequency": "The finest detail a pixel grid can hold: one light-dark cycle every two pixels. Detail "
    "beyond the input's Nyquist frequency cannot be in the small photo; the network must predict it.",
    "fine-detail energy": "How much of the picture's brightness variation is finer than the input's Nyquist "
    "frequency, measured in its spectrum; given as a ratio to bicubic's (1.0 = no more detail than bicubic).",
    "spectrum": "How much brightness variation a picture has at each scale, from coarse (left) to fine (right).",
    "PSNR": "Peak signal-to-noise ratio, in dB: how close a picture is to the original, pixel by pixel. Higher is "
    "closer; +1 dB means about 21% less squared error.",
    "SSIM": "Structural similarity, 0 to 1: how well local brightness, contrast and structure match the "
    "original. Higher is closer; 1 is identical.",
    "Y channel": "The brightness part of a colour picture; super-resolution papers score PSNR and SSIM on it.",
    "working region": "The part of the photo the per-pixel views and experiments run on (its most textured "
    "128x128 square at most), to keep the explanation to seconds.",
    "tile": "A small square window of the working region (16 input pixels a side) over which local statistics "
    "are taken.",
    "effect size": "How large a difference is, in the quantity's own units and relative to its baseline.",
    "bootstrap interval": "The range a number would likely take with other tiles of the same kind: tiles are "
    "redrawn at random many times; 95% of the redrawn results fall in the interval.",
    "PCA": "Principal component analysis: the three directions in which the many feature channels vary most, "
    "shown as red, green and blue, so similar colours mean similar features.",
    "JBU": "Joint bilateral upsampling (from FeatUp, part of FeatSharp): enlarges a feature map by averaging "
    "neighbours, weighted by distance and by how similar a guide image's colours are, so edges follow the guide.",
    "cosine similarity": "How alike two lists of numbers are in direction, from -1 (opposite) through 0 "
    "(unrelated) to 1 (same).",
    "dB": "Decibel: a logarithmic unit; for PSNR, 10 x log10 of the peak squared value over the mean squared "
    "error.",
}

ALIASES: dict[str, str] = {
    "skip connections": "skip connection",
    "gates": "gate",
    "feature channels": "feature channel",
    "convolutions": "convolution",
    "conv": "convolution",
    "trained": "training",
    "SISR": "super-resolution",
    "single-image super-resolution": "super-resolution",
    "spectra": "spectrum",
    "tiles": "tile",
    "bootstrap intervals": "bootstrap interval",
    "Joint bilateral upsampling": "JBU",
    "joint bilateral upsampler": "JBU",
}

_PROTECTED = re.compile(r"<abbr\b.*?</abbr>|<[^>]+>|\]\([^)]*\)|`[^`]*`|https?://\S+", re.S)


def glossary() -> dict[str, str]:
    """Every term -> its definition: the shared ones and every registered explainer's own."""
    return {**SHARED, **{term: text for e in registry.explainers().values() for term, text in e.glossary.items()}}


def _spellings() -> dict[str, str]:
    """Every spelling -> its term."""
    own_aliases = {alias: term for e in registry.explainers().values() for alias, term in e.glossary_aliases.items()}
    return {**{term: term for term in glossary()}, **ALIASES, **own_aliases}


def _exact(spelling: str) -> bool:
    """Acronyms and code names (a capital after the first character) match only as written."""
    return any(c.isupper() for c in spelling[1:])


@lru_cache(maxsize=4)
def _pattern(spellings: tuple[str, ...]) -> re.Pattern:
    parts = [(f"(?-i:{re.escape(s)})" if _exact(s) else re.escape(s)) for s in sorted(spellings, key=len, reverse=True)]
    return re.compile(r"(?<![\w-])(" + "|".join(parts) + r")(?![\w-])", re.I)


def _terms() -> re.Pattern:
    return _pattern(tuple(sorted(_spellings())))


def definition(spelling: str) -> str | None:
    """The definition of a term as written in the text (any listed spelling), else None."""
    lookup = {s if _exact(s) else s.lower(): term for s, term in _spellings().items()}
    term = lookup.get(spelling) or lookup.get(spelling.lower())
    return None if term is None else glossary()[term]


def terms_in(text: str) -> set[str]:
    """The glossary terms (canonical keys) that `text` uses."""
    return {_canonical(m[1]) for m in _terms().finditer(text)}


def _canonical(spelling: str) -> str:
    for s, term in _spellings().items():
        if s == spelling or (not _exact(s) and s.lower() == spelling.lower()):
            return term
    raise KeyError(spelling)


def with_tooltips(text: str) -> str:
    """Every glossary term in `text` (markdown or HTML) wrapped in <abbr title="definition">, outside tags, link
    targets, code and existing tooltips."""
    out, last = [], 0
    for protected in _PROTECTED.finditer(text):
        out.append(_annotate(text[last : protected.start()]))
        out.append(protected[0])
        last = protected.end()
    out.append(_annotate(text[last:]))
    return "".join(out)


def _annotate(segment: str) -> str:
    definitions = glossary()

    def wrap(match: re.Match) -> str:
        title = html.escape(definitions[_canonical(match[1])], quote=True)
        return f'<abbr title="{title}" tabindex="0">{match[1]}</abbr>'

    return _terms().sub(wrap, segment)


def glossary_markdown(terms: set[str] | None = None) -> str:
    """The glossary as a markdown list, each term defined once: `terms` (canonical keys) only, when given."""
    definitions = glossary()
    chosen = definitions if terms is None else {term: definitions[term] for term in terms}
    return "\n".join(f"- **{term}**: {text}" for term, text in sorted(chosen.items(), key=lambda kv: kv[0].lower()))


# A tapped (focused) term shows its definition in a box under it; hovering shows the browser's own tooltip.
TOOLTIP_CSS = """
abbr[title] { text-decoration: underline dotted; cursor: help; position: relative; }
abbr[title]:focus { outline: 2px solid #3b5bdb; outline-offset: 1px; }
abbr[title]:focus::after { content: attr(title); position: absolute; left: 0; top: 1.5em; z-index: 20;
  width: max-content; max-width: min(22em, 80vw); padding: 0.4em 0.6em; background: #fff; color: #1d1d1d;
  border: 1px solid #868e96; border-radius: 4px; box-shadow: 0 2px 6px rgba(0, 0, 0, 0.2);
  font-size: 0.9rem; font-weight: normal; font-style: normal; line-height: 1.35; white-space: normal; }
@media print { abbr[title]:focus::after { content: none; } abbr[title] { text-decoration: none; } }
"""
