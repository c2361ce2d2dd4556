"""The explainer text: the plain answer first, this run's numbers, honest trend claims, tooltips for every term,
and only the four allowed sources."""
from __future__ import annotations

import re

import numpy as np
import pytest

from explain.analysis import analyze_any, explainer_markdown
from explain.rcan.analysis import analyze
from explain.text import short_answer
from explain.glossary import definition, glossary, terms_in, with_tooltips
from explain.text import MAX_ANSWER_WORDS, word_count
from sr_core.protocol.evaluate import make_lr
from sr_core.image_io import from_uint8
from tests.explain.rcan.test_attention import half_textured, texture_following_rcan

ALLOWED_LINKS = {
    "https://arxiv.org/abs/1807.02758", "https://github.com/yulunzhang/RCAN",
    "https://arxiv.org/abs/2302.13800", "https://github.com/sunny2109/SAFMN",
    "https://arxiv.org/abs/2502.16025", "https://arxiv.org/abs/2502.03656",
}
# Words a reader would not know that the answer could slip in; each must then be in the glossary.
JARGON = re.compile(r"\b[A-Z][a-z]+[A-Z]\w*|\b[A-Z]{2,}s?\b")


@pytest.mark.parametrize("sign, trend", [(1.0, "higher on textured tiles"), (-1.0, "lower on textured tiles")])
def test_text_states_this_runs_numbers_and_cites_only_the_four_sources(sign, trend):
    analysis = analyze(texture_following_rcan(sign), half_textured(48), tile=8, view_side=24)
    text = explainer_markdown(analysis)
    effect = analysis.texture_attention.effect
    assert effect.exceeds_uncertainty and f"{trend}, beyond its uncertainty" in text
    assert f"[{effect.low:+.4f}, {effect.high:+.4f}]" in text
    assert "Single-image super-resolution, x3" in text and "48x48 photo becomes 144x144" in text
    assert "Largest boosts" in text and "Largest suppressions" in text
    for view in ("jbu", "tiled"):
        assert f"*{view}*" in text
    assert set(re.findall(r"\]\((https?://[^)]+)\)", text)) == ALLOWED_LINKS
    assert not set(re.findall(r"https?://[^\s)\]]+", text)) - ALLOWED_LINKS
    featup = [s for s in re.split(r"(?<=\.)\s", text) if "FeatUp" in s]
    assert featup and all("FeatSharp" in sentence for sentence in featup)  # FeatUp only as part of FeatSharp


def test_text_survives_a_flat_image_and_claims_no_trend():
    from tests.conftest import tiny_random_rcan

    text = explainer_markdown(analyze(tiny_random_rcan(), np.full((24, 24, 3), 0.4, np.float32), tile=4))
    assert "no trend: the interval includes 0" in text
    assert "nan" not in text.lower()
    small = explainer_markdown(analyze(tiny_random_rcan(), np.full((24, 24, 3), 0.4, np.float32)))  # 2x2 tiles
    assert "too few tiles (4 per group, fewer than 5) to claim any trend" in small


@pytest.mark.parametrize("with_original", [False, True])
def test_short_answer_is_plain_short_and_from_this_run(with_original):
    from tests.conftest import tiny_random_rcan

    hr = (np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)
    lr = from_uint8(make_lr(hr, 3))
    analysis = analyze(tiny_random_rcan(), lr, original=hr if with_original else None, tile=4, view_side=8)
    answer = short_answer(analysis)
    assert word_count(answer) <= MAX_ANSWER_WORDS
    assert "8 of every 9 output pixels" in answer and "trained" in answer
    # the mechanisms come from the retrained networks, each named as a cause or as no measurable difference
    assert {"channel attention", "skip connection"} <= terms_in(answer)
    assert f"{analysis.texture.hf_energy_ratio:.1f}×" in answer
    for word in JARGON.findall(answer.replace("RCAN", "")):
        assert definition(word) is not None, f"{word!r} is jargon without a glossary entry"
    o = analysis.texture.original
    if with_original:
        assert ("dB closer to the original than bicubic" in answer) == (o.psnr_model > o.psnr_bicubic)
        assert f"{100 * analysis.texture.real_detail_share:.0f}% of the added detail sits where the original" in answer
        analysis.texture.hf_energy_ratio = 10 * analysis.texture.hf_energy_ratio_original  # more than the original
        invented = short_answer(analysis)
        assert "part is invented" in invented and word_count(invented) <= MAX_ANSWER_WORDS
    else:
        assert "plausible, not recovered" in answer and "Only the original photo could prove it real" in answer


def test_every_glossary_term_gets_its_tooltip_outside_links_and_tags():
    text = "PixelShuffle and [RCAN](https://arxiv.org/abs/1807.02758) <b>gates</b> `PSNR` channel attention"
    out = with_tooltips(text)
    assert out.count("<abbr") == 3  # PixelShuffle, gates, channel attention; not inside the code span
    assert '](https://arxiv.org/abs/1807.02758)' in out
    assert with_tooltips(out) == out  # idempotent: no tooltip inside a tooltip
    for term, text in glossary().items():
        assert definition(term) == text


def test_safmns_short_answer_fits_too_even_with_every_clause():
    from sr_core.models.safmn import SAFMN, SAFMNConfig

    hr = (np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)
    analysis = analyze_any(SAFMN(SAFMNConfig(dim=8, n_blocks=1)).eval(), from_uint8(make_lr(hr, 3)), original=hr)
    analysis.texture.hf_energy_ratio = 10 * analysis.texture.hf_energy_ratio_original
    answer = short_answer(analysis)
    assert "SAFM" in answer and "part is invented" in answer and word_count(answer) <= MAX_ANSWER_WORDS


def test_the_distillation_source_carries_the_studys_own_finding():
    from explain.distill_study import finding, load_study
    from explain.text import SOURCES

    bullet = SOURCES[SOURCES.index("Dataset distillation"):]
    assert "How much data do textures need?" in bullet
    assert finding(load_study()) in bullet
