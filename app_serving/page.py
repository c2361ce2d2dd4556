"""The page's words and look, apart from its layout: the opening text, the explanation tab's introduction and
empty states, the example photos, the CSS and the theme."""
from __future__ import annotations

import functools

import gradio as gr

from app_serving.jobs import file_digest
from explain.served_quality import EXAMPLES_DIR  # the example photos, which the quality chart measures on
from sr_core.models import ARCHITECTURES

def intro(scale: int) -> str:
    """The page's opening: what it does, with the models registered (sr_core.models)."""
    names = " or ".join(f"**{arch.name}**" for arch in ARCHITECTURES)
    return (f"# Super-resolution ×{scale}, explained\nUpload a photo: {names} enlarges it {scale} times, next to "
            "ordinary **bicubic** enlargement; drag the slider to compare. The download is a lossless PNG that "
            "keeps transparency, 16-bit grey and the colour profile. The other tabs show *why* fine textures "
            "survive, and what each model costs in time and keeps in texture, measured on the models served here.")


EXPLAIN_INTRO = """\
### What technology keeps fine textures so clean?
The answer comes first, written from this photo's own numbers; below it, the lesson in six figures, each titled
with its claim and its number, with how to read it beside it; the rest is under *Explore further*. Hover or tap an
underlined term for its definition. Everything is computed for the photo in the **Upscale** tab with the model chosen
there, when you open this tab (or press *Explain*), so enlarging never waits for it: the experiments change the network and show what happens to *your*
photo. **I have the original** treats your upload as the sharp original: it is shrunk ×3 the way the RCAN paper
does (bicubic), enlarged back, and everything is compared with the original, the only way to tell real detail from
invented detail. It is on for the examples, which are their own originals.
"""

NOT_EXPLAINED = ("*Nothing explained yet: choose a photo in the **Upscale** tab (or an example), then open this tab "
                 "or press **Explain this photo**.*")

EXAMPLES = [
    ("fabric_astronaut.png", "Fabric"),
    ("fur_cat.png", "Fur"),
    ("wood_coffee.png", "Wood grain"),
    ("brick_wall.png", "Brick (grey)"),
    ("foliage_grass.png", "Foliage (grey)"),
]

CSS = """
#banner { border: 1px solid var(--color-accent); border-radius: 8px; padding: 4px 12px;
          background: var(--color-accent-soft); }
.caption { color: var(--body-text-color-subdued); font-size: 0.95em; margin: 0 0 18px 4px; }
/* Tables keep their words whole; a table wider than its column scrolls instead. */
.prose table { display: block; overflow-x: auto; }
.prose td, .prose th { word-break: normal !important; overflow-wrap: normal !important; hyphens: manual; }
.how-to-read { margin-top: 2.2em; }
/* Numbered lists of 10 or more items: room for two-digit markers ("10.", not ".0."). */
.prose ol, .md ol { padding-left: 2.6em; list-style-position: outside; }
#slider-hint { color: var(--body-text-color-subdued); margin-top: -6px; }
"""


def theme() -> gr.themes.Base:
    # System fonts only: the Space must render the same offline, without fetching Google Fonts.
    return gr.themes.Soft(
        primary_hue="indigo",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


NOT_STEPPED = ("*Choose a photo in the **Upscale** tab, then open **Explore further** (close and open it again after a "
               "change): the analysed image's run through the network appears here, step by step.*")


def is_example(image: str | None) -> bool:
    """Whether the photo is one of the bundled examples (by content: Gradio serves copies under other paths)."""
    return bool(image) and file_digest(image) in example_digests()


@functools.lru_cache(maxsize=1)
def example_digests() -> frozenset[str]:
    return frozenset(file_digest(str(EXAMPLES_DIR / file)) for file, _ in EXAMPLES)
