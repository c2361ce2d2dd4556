"""The explainer text: written from the run's numbers, and citing only the four allowed sources."""
from __future__ import annotations

import re

import numpy as np
import pytest

from explain.analysis import analyze, explainer_markdown
from tests.test_explain_attention import half_textured, texture_following_rcan

ALLOWED_LINKS = {
    "https://arxiv.org/abs/1807.02758", "https://github.com/yulunzhang/RCAN",
    "https://arxiv.org/abs/2302.13800", "https://github.com/sunny2109/SAFMN",
    "https://arxiv.org/abs/2502.16025", "https://arxiv.org/abs/2502.03656",
}


@pytest.mark.parametrize("sign, trend", [(1.0, "rises with texture"), (-1.0, "falls as texture rises")])
def test_text_states_this_runs_numbers_and_cites_only_the_four_sources(sign, trend):
    analysis = analyze(texture_following_rcan(sign), half_textured(48), tile=8, view_side=24)
    text = explainer_markdown(analysis)
    assert trend in text
    assert f"r = {analysis.texture_attention.correlation:.2f}" in text
    assert "Single-image super-resolution, x3" in text and "48x48 photo becomes 144x144" in text
    for view in ("jbu", "tiled"):
        assert f"*{view}*" in text
    assert set(re.findall(r"\]\((https?://[^)]+)\)", text)) == ALLOWED_LINKS
    assert not set(re.findall(r"https?://[^\s)\]]+", text)) - ALLOWED_LINKS


def test_text_survives_a_flat_image():
    from sr_core.weights import tiny_random_rcan

    text = explainer_markdown(analyze(tiny_random_rcan(), np.full((24, 24, 3), 0.4, np.float32)))
    assert "cannot be related to texture here" in text
    assert "nan" not in text.lower()
