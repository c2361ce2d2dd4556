"""Cause and effect from retrained networks: real passes of every arm on the region, claims supported exactly when
their interval excludes 0, an answer that names only supported causes, and where the added detail sits."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from explain.experiments import Measure
from explain.retrained import ArmRun, Claim, Retrained, retrained_experiments
from explain.text import MAX_ANSWER_WORDS, causes_sentence, word_count
from explain.texture import chance_detail_share, detail_in_place
from sr_core import engine
from sr_core.engine import Upscaler
from sr_core.image_io import from_uint8
from sr_core.protocol.evaluate import make_lr
from sr_core.protocol.imresize import imresize
from sr_core.tools.ablation import ARMS, MECHANISMS, Effect
from sr_core.tools.train import save_weights
from sr_core.weights import load_weights
from tests.conftest import tiny_random_rcan, tiny_safmn
from tests.sr_core.tools.test_ablation import ABLATIONS


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """A study of tiny networks: the RCAN arms are the tiny RCAN and its variants (the control's seed twin another
    random RCAN), the data arms tiny SAFMNs; the per-image scores give channel attention a clear effect and the
    skips none."""
    folder = tmp_path_factory.mktemp("study")
    per_image = {
        "control": [30.0, 30.2, 29.8, 30.1], "control-seed1": [30.01, 30.19, 29.82, 30.09],
        "no_channel_attention": [29.5, 29.7, 29.3, 29.6], "no_skip": [30.3, 29.9, 30.1, 29.8],
        "shallow": [29.9, 30.1, 29.7, 30.0], "data_texture": [28.0, 28.1, 27.9, 28.0],
        "data_flat": [27.9, 28.2, 27.8, 28.1], "data_texture-seed1": [28.0, 28.1, 27.9, 28.0],
    }
    out = []
    for arm in ARMS:
        if arm.kind == "rcan":
            base = tiny_random_rcan(seed=arm.seed)
            model = ABLATIONS[arm.part](base) if arm.part else base
        else:
            model = tiny_safmn()
        path = folder / f"{arm.name}.safetensors"
        save_weights(model, path, "test", 4)
        scores = per_image[arm.name]
        out.append({"arm": arm.name, "steps": 4, "checkpoint": str(path),
                    "per_image": {"texture_psnr": scores, "flat_psnr": scores, "psnr": scores}})
    return out


def region(seed: int = 0, side: int = 240) -> tuple[np.ndarray, np.ndarray, Measure]:
    hr = (np.random.default_rng(seed).random((side, side, 3)) * 255).astype(np.uint8)
    lr = from_uint8(make_lr(hr, 3))
    bicubic = np.clip(imresize(lr, 3), 0, 1)
    return hr, lr, Measure(lr, bicubic, hr.astype(np.float32) / 255, 3)


def test_every_arm_enlarges_the_region_for_real(rows: list[dict], monkeypatch) -> None:
    # One thread for every run: the engine takes one per idle CPU, and 1 and 2 threads round differently.
    monkeypatch.setattr(engine, "cpu_threads_worth_using", lambda: 1)
    hr, lr, measure = region()
    result = retrained_experiments(lr, measure, rows)
    assert [a.arm for a in result.arms][:4] == ["control", "no_channel_attention", "no_skip", "shallow"]
    for arm, row in ((a, next(r for r in rows if r["arm"] == a.arm)) for a in result.arms):
        expected = Upscaler(load_weights(row["checkpoint"]).model, "cpu", precision="fp32").upscale(lr)
        np.testing.assert_array_equal(arm.output, expected)
        assert set(arm.to_dict()) == {"arm", "label", "psnr", "detail_ratio", "texture_share"}
        assert arm.psnr is not None and 0 <= arm.texture_share <= 1
    # two arms that differ give two pictures
    assert not np.array_equal(result.arm("control").output, result.arm("no_skip").output)


def test_claims_on_the_photo_with_the_original_and_on_the_study_without(rows: list[dict]) -> None:
    hr, lr, measure = region()
    with_original = retrained_experiments(lr, measure, rows)
    assert [c.mechanism for c in with_original.claims] == [m.name for m in MECHANISMS]
    assert {c.evidence for c in with_original.claims} == {"this photo"}
    no_original = Measure(lr, measure.bicubic, None, 3)
    study_only = retrained_experiments(lr, no_original, rows)
    assert {c.evidence for c in study_only.claims} == {"Set14"}
    too_small = retrained_experiments(*region(side=120)[1:], rows)  # 1 textured tile: no spread on the photo
    assert {c.evidence for c in too_small.claims} == {"Set14"}
    by_name = {c.mechanism: c for c in study_only.claims}
    assert by_name["channel attention"].is_cause  # 0.5 dB on every image, seed noise 0.01
    assert not by_name["skip connections"].supported  # +0.3, -0.3, ...: no measurable difference
    for claim in with_original.claims + study_only.claims:
        d = claim.to_dict()
        assert d["supported"] == (d["interval"][0] > 0 or d["interval"][1] < 0)
        assert d["interval"][0] <= d["effect_db"] <= d["interval"][1]


def test_no_study_no_claims() -> None:
    _, lr, measure = region()
    assert retrained_experiments(lr, measure, []) is None
    assert retrained_experiments(lr, measure, [{"arm": "control", "checkpoint": "/nonexistent.safetensors"}]) is None
    assert "no part is named as a cause" in causes_sentence(None)


def effect(value: float, half: float) -> Effect:
    return Effect(value, value - half, value + half, 14, 0.05)


def claims(*specs: tuple[str, float, float]) -> Retrained:
    found = [Claim(name, effect(v, h), "Set14", effect(v, h)) for name, v, h in specs]
    return Retrained([], found, {"control": 600})


def named_as_causes(sentence: str) -> set[str]:
    shown = sentence.split("show", 1)[1].split(". ")[0]
    return {m.name for m in MECHANISMS if m.name in shown}


@pytest.mark.parametrize("specs", [
    [("channel attention", 0.22, 0.1), ("skip connections", 0.05, 0.2), ("full depth", 0.4, 0.1),
     ("textured training data", -0.02, 0.1)],
    [("channel attention", 0.02, 0.1), ("skip connections", 0.5, 0.2), ("full depth", -0.4, 0.1),
     ("textured training data", 0.3, 0.1)],
    [(m.name, 0.0, 0.1) for m in MECHANISMS],
])
def test_the_answer_names_only_supported_causes_and_says_no_measurable_difference_of_the_rest(specs) -> None:
    retrained = claims(*specs)
    sentence = causes_sentence(retrained)
    causes = {c.mechanism for c in retrained.claims if c.is_cause}
    assert named_as_causes(sentence) == causes
    for c in retrained.claims:
        if c.is_cause:
            assert f"{c.mechanism} ({c.effect.effect_db:+.2f} dB" in sentence
        elif not c.supported:
            assert c.mechanism in sentence.split("No measurable difference:")[1]
        else:
            assert f"Removing {c.mechanism}" in sentence or f"and {c.mechanism} measurably helped" in sentence
    if not causes:
        assert "no part whose removal measurably lost texture" in sentence


def test_different_evidence_gives_different_answers() -> None:
    a = causes_sentence(claims(("channel attention", 0.3, 0.1), ("full depth", 0.0, 0.1)))
    b = causes_sentence(claims(("channel attention", 0.0, 0.1), ("full depth", 0.3, 0.1)))
    assert a != b and named_as_causes(a) == {"channel attention"} and named_as_causes(b) == {"full depth"}


def test_the_answer_stays_short_with_every_clause(rows: list[dict]) -> None:
    from explain.rcan.analysis import analyze
    from explain.text import short_answer

    hr, lr, _ = region(side=48)
    analysis = analyze(tiny_random_rcan(), lr, original=hr, tile=4, view_side=8)
    analysis.retrained = claims(*[(m.name, 0.4, 0.1) for m in MECHANISMS])  # every part a cause: longest list
    analysis.texture.hf_energy_ratio = 10 * analysis.texture.hf_energy_ratio_original
    answer = short_answer(analysis)
    assert word_count(answer) <= MAX_ANSWER_WORDS
    assert "part is invented" in answer and all(m.name in answer for m in MECHANISMS)
    assert re.search(r"\d+% of the added detail sits where the original's does", answer)


def test_added_detail_counts_as_real_only_where_the_original_has_it() -> None:
    rng = np.random.default_rng(0)
    bicubic = rng.random((30, 30)).astype(np.float32)
    missing = rng.normal(0, 0.1, (30, 30)).astype(np.float32)
    original = bicubic + missing
    assert detail_in_place(bicubic, original, original, 3)[0] == pytest.approx(1.0)  # exactly the missing detail
    share, correlation = detail_in_place(bicubic, bicubic - missing, original, 3)  # the right places, wrong sign
    assert share == 0 and correlation == pytest.approx(-1.0)
    assert detail_in_place(bicubic, bicubic + 2 * missing, original, 3)[0] == pytest.approx(0.25)  # twice too strong
    invented = bicubic + rng.normal(0, 0.1, (30, 30)).astype(np.float32)  # as strong, somewhere else
    share, correlation = detail_in_place(bicubic, invented, original, 3)
    assert share < 0.3 and abs(correlation) < 0.2
    assert np.isnan(detail_in_place(bicubic, bicubic, original, 3)[0])  # nothing added



def test_the_real_share_is_read_against_what_unrelated_detail_scores() -> None:
    """Detail of the right strength that ignores the original still lands on some missing detail by chance: the
    baseline (the original shifted away) scores it as the real share does, and scores the exact detail low."""
    rng = np.random.default_rng(1)
    bicubic = rng.random((96, 96))
    original = bicubic + rng.normal(0, 0.1, (96, 96))
    invented = bicubic + rng.normal(0, 0.1, (96, 96))
    assert chance_detail_share(bicubic, invented, original, 3) == pytest.approx(
        detail_in_place(bicubic, invented, original, 3)[0], abs=0.03)
    assert detail_in_place(bicubic, original, original, 3)[0] == 1.0 > 3 * chance_detail_share(bicubic, original,
                                                                                                original, 3)
