"""The lesson's main path: at most six figures in lesson order, numbered, each titled with one claim from this
run's numbers, a cause named only where its interval excludes 0."""
from __future__ import annotations

import numpy as np
import pytest

from explain.analysis import analyze_any, build_figures
from explain.lesson import MAIN_PATH, main_path, main_path_terms, retrained_claim
from explain.retrained import Claim, Retrained
from explain.stats import correlation_interval
from sr_core.tools.ablation import Effect
from tests.conftest import tiny_random_rcan
from tests.explain.rcan.test_attention import half_textured


@pytest.fixture(scope="module")
def analysis():
    return analyze_any(tiny_random_rcan(), half_textured(48))


def claims(skips: Effect, attention: Effect) -> Retrained:
    return Retrained([], [Claim("skip connections", skips, "Set14", skips),
                          Claim("channel attention", attention, "Set14", attention)], {})


def test_the_main_path_is_numbered_in_lesson_order_and_titles_its_figures(analysis) -> None:
    figures = build_figures(analysis)
    path = main_path(analysis, figures)
    assert len(MAIN_PATH) <= 6 and [step.key for step in path] == [k for k in MAIN_PATH if k in figures]
    assert [step.number for step in path] == list(range(1, len(path) + 1))
    for step in path:
        title = figures[step.key].layout.title.text.replace("<br>", " ")
        assert title == step.title and title.startswith(f"Figure {step.number} · ")
    assert f"{analysis.experiments.depth_needed()} of the" in next(s.claim for s in path if s.key == "depth")
    assert {"bicubic", "PSNR"} <= main_path_terms(analysis, "") | {"PSNR"}


def test_a_cause_is_named_only_beyond_its_uncertainty(analysis) -> None:
    analysis.retrained = claims(Effect(1.66, 0.87, 2.44, 14, 0.02), Effect(0.05, -0.01, 0.12, 14, 0.02))
    assert retrained_claim(analysis) == ("Retrained without its skip connections, the RCAN loses +1.66 dB (95% "
                                         "interval +0.87 to +2.44 dB, n = 14) on Set14's textured tiles")
    analysis.retrained = claims(Effect(0.3, -0.2, 0.8, 14, 0.02), Effect(-0.3, -0.5, -0.1, 14, 0.02))
    assert "no part is a measurable cause; removing the channel attention measurably helped" in retrained_claim(
        analysis)  # not "no measurable difference": one part's removal measurably gained
    analysis.retrained = claims(Effect(0.3, -0.2, 0.8, 14, 0.02), Effect(0.05, -0.01, 0.12, 14, 0.02))
    assert retrained_claim(analysis).startswith("On Set14's textured tiles, removing any one part makes no "
                                                "measurable difference")
    analysis.retrained = None
    assert "no part can be named" in retrained_claim(analysis)


def test_the_correlation_interval_follows_fishers_z() -> None:
    low, high = correlation_interval(0.67, 30)
    assert low == pytest.approx(0.4075, abs=1e-3) and high == pytest.approx(0.8304, abs=1e-3)
    assert all(np.isnan(correlation_interval(0.5, 3)))
