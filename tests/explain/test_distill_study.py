"""The learner's dataset-distillation chart and finding, drawn from the study's JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from explain.distill_study import STUDY_JSON, distill_study_figure, finding, gaps, load_study, study_section


def row(arm: str, keep: float, set5: float, set14: float) -> dict:
    return {"arm": arm, "keep": keep, "steps": 6000, "seconds": 500.0, "config": "safmn-study",
            "set5_psnr": set5, "set5_ssim": 0.9, "set14_psnr": set14, "set14_ssim": 0.8,
            "checkpoint": f"bench/results/distill_study/{arm}.safetensors"}


ROWS = [row("full", 1.0, 32.40, 29.00), row("random", 0.0888, 32.32, 28.95), row("texture", 0.0888, 32.45, 29.02),
        row("gradient", 0.0888, 32.10, 28.70), row("random-0.025", 0.025, 31.90, 28.60)]


def test_the_chart_draws_psnr_against_the_share_for_each_set() -> None:
    fig = distill_study_figure(ROWS)
    by_axis = {}
    for trace in fig.data:
        by_axis.setdefault(trace.xaxis, {})[trace.legendgroup] = (list(trace.x), list(trace.y))
    assert set(by_axis) == {"x", "x2"}  # Set5 left, Set14 right
    set5, set14 = by_axis["x"], by_axis["x2"]
    assert set5["random"] == ([2.5, 8.88, 100.0], [31.90, 32.32, 32.40])  # the random shares, sorted, then the full set
    assert set14["texture"][1] == [29.02] and set14["gradient"][1] == [28.70]
    assert set14["texture"][0][0] < 8.88 < set14["gradient"][0][0]  # side by side, not on top of each other
    assert [t.customdata[0][3] for t in fig.data if t.legendgroup != "random"] == [8.88] * 4  # hover: the true share
    assert fig.layout.xaxis.type == "log"
    low, high = fig.layout.yaxis2.range
    assert low < 28.60 and high > 29.02


def test_the_finding_states_each_gap_to_the_full_set() -> None:
    assert gaps(ROWS)["gradient"] == pytest.approx({"set5": -0.30, "set14": -0.30})
    sentence = finding(ROWS)
    assert "random −0.08 / −0.05 dB" in sentence
    assert "texture +0.05 / +0.02 dB" in sentence
    assert "gradient −0.30 / −0.30 dB" in sentence
    assert "worse than" in sentence  # gradient's 0.3 dB is beyond one seed's noise
    assert "random-0.025" not in sentence  # the sentence is about the paper's 8.88%
    assert "about as well as" in finding(ROWS[:3])
    assert ". " not in sentence and sentence.endswith(").")  # one sentence


def test_a_malformed_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    path.write_text(json.dumps([{k: v for k, v in ROWS[0].items() if k != "set14_ssim"}]))
    with pytest.raises(ValueError, match="lacks set14_ssim"):
        load_study(path)
    path.write_text(json.dumps(ROWS[1:]))
    with pytest.raises(ValueError, match="no 'full' arm"):
        load_study(path)
    with pytest.raises(FileNotFoundError):
        load_study(tmp_path / "absent.json")


def test_the_committed_record_draws() -> None:
    if not STUDY_JSON.is_file():
        pytest.skip("the study has not been run yet")
    rows = load_study()
    assert len(distill_study_figure(rows).data) >= 2
    assert finding(rows).startswith("A small SAFMN trained on only 8.88%")


def test_the_section_says_how_to_make_a_missing_record(tmp_path: Path) -> None:
    figure, text = study_section(tmp_path / "absent.json")
    assert figure is None and "python -m sr_core study" in text
    path = tmp_path / "study.json"
    path.write_text(json.dumps(ROWS))
    figure, text = study_section(path)
    assert figure is not None and text.startswith(f"**{finding(ROWS)}**") and "DIV2K" in text
