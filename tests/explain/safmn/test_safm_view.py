"""SAFMN's modulation view (hooks, maps, figure, text) and the quality-versus-time chart."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explain.analysis import MAX_SIDE, analyze_any, build_figures, explainer_markdown
from explain.safmn.analysis import analyze as analyze_safmn
from explain.quality_chart import quality_vs_time_figure
from explain.quality import QUALITY_VS_TIME, load_quality_vs_time
from explain.safmn.capture import capture_modulation, modulation_texture
from tests.conftest import tiny_random_rcan, tiny_safmn

RNG = np.random.default_rng(0)


def half_textured(height: int, width: int) -> np.ndarray:
    """Left half noise, right half flat grey."""
    rgb = np.full((height, width, 3), 0.5, dtype=np.float32)
    rgb[:, : width // 2] = RNG.random((height, width // 2, 3), dtype=np.float32)
    return rgb


def test_hooks_capture_one_map_per_block_at_input_size_and_leave_no_hook_behind():
    model = tiny_safmn(3)
    x = torch.from_numpy(half_textured(20, 26)).permute(2, 0, 1)[None]
    capture = capture_modulation(model, x)
    assert capture.maps.shape == (3, 20, 26)
    assert np.all(capture.maps >= 0) and capture.maps.std(axis=(1, 2)).min() > 0  # a map, not a constant
    with torch.inference_mode():
        assert torch.allclose(capture.output, model(x)[0], atol=1e-6)  # the hooks changed nothing
    assert all(not block.safm.act._forward_hooks for block in model.feats)


def test_map_is_the_channel_mean_of_the_modulation_magnitude():
    """With aggr's weights zero, m = GELU(bias) everywhere: each block's map is mean |GELU(bias)|, exactly."""
    model = tiny_safmn(2)
    biases = [torch.tensor([-3.0, -0.5, 0.0, 0.2, 0.7, 1.0, 2.0, 4.0]), torch.linspace(-1, 3, 8)]
    with torch.no_grad():
        for block, bias in zip(model.feats, biases):
            block.safm.aggr.weight.zero_()
            block.safm.aggr.bias.copy_(bias)
    x = torch.from_numpy(half_textured(16, 16)).permute(2, 0, 1)[None]
    maps = capture_modulation(model, x).maps
    for block_map, bias in zip(maps, biases):
        np.testing.assert_allclose(block_map, F.gelu(bias).abs().mean().item(), rtol=1e-6)


def test_modulation_that_follows_texture_correlates_with_it():
    energy = np.zeros((32, 32), np.float32)
    energy[:, :16] = RNG.random((32, 16), dtype=np.float32) + 1
    relation = modulation_texture(np.stack([energy, -energy, np.ones_like(energy)]), energy, (4, 4))
    assert relation.correlation[0] > 0.99 and relation.correlation[1] < -0.99 and np.isnan(relation.correlation[2])
    assert relation.textured_mean[0] > relation.flat_mean[0]
    assert relation.tile_maps.shape == (3, 4, 4)


def test_analysis_caps_the_working_region_and_gives_texture_evidence_and_workflow():
    model = tiny_safmn(2)
    rgb = half_textured(140, 150)
    analysis = analyze_any(model, rgb)
    assert analysis.modulation.shape == (2, MAX_SIDE, MAX_SIDE)  # the working region, not the photo
    assert analysis.sr_region.shape == (3 * MAX_SIDE, 3 * MAX_SIDE, 3)
    assert [stage.name for stage in analysis.workflow] == ["input", "shallow features", "block 1", "block 2",
                                                           "reconstruction", "output"]
    assert sum(stage.params for stage in analysis.workflow) == sum(p.numel() for p in model.parameters())

    metrics = analysis.metrics()
    json.dumps(metrics, allow_nan=False)
    assert metrics["model"]["arch"] == "SAFMN" and metrics["modulation"]["shape"] == [2, MAX_SIDE, MAX_SIDE]
    assert len(metrics["modulation"]["blocks"]) == 2
    assert {"hf_energy_ratio_safmn_vs_bicubic", "hf_share_safmn"} <= set(metrics["texture"])
    assert not any("rcan" in key for key in metrics["texture"])


def test_figures_and_text_for_safmn():
    hr = (RNG.random((60, 66, 3)) * 255).astype(np.uint8)
    analysis = analyze_safmn(tiny_safmn(3), half_textured(20, 22), original=hr)
    figures = build_figures(analysis)
    assert set(figures) == {"workflow", "safm_modulation", "texture_evidence", "original_errors", "retrained",
                            "retrained_effects", "depth", "ablation",
                            "added_detail", "photo", "training_data"}
    traces = figures["safm_modulation"].data
    assert sum(t.type == "heatmap" for t in traces) == 3 and sum(t.type == "image" for t in traces) == 4
    assert [a.text for a in figures["texture_evidence"].layout.annotations[:3]] == ["original", "bicubic (MATLAB "
                                                                                   "imresize)", "SAFMN"]
    text = explainer_markdown(analysis)
    assert "Spatially-adaptive feature modulation" in text and "### Channel attention" not in text
    assert "SAFMN " in text and "dB" in text


def test_analyze_safmn_refuses_other_models():
    with pytest.raises(ValueError, match="needs a SAFMN"):
        analyze_safmn(tiny_random_rcan(), half_textured(20, 20))


# --- quality versus time ----------------------------------------------------------------------------------------


def _point(label: str, arch: str, kind: str, psnr: float, ms: float) -> dict:
    return {"label": label, "arch": arch, "kind": kind, "psnr_set5": psnr, "ms_per_mp": ms, "n_params": 1000,
            "psnr_source": "a paper" if kind == "published" else "measured", "speed_source": "measured"}


def test_chart_reads_the_record_and_separates_measured_from_published(tmp_path: Path):
    record = {
        "command": "python bench/quality_vs_time.py", "protocol": {"psnr": "p.", "speed": "s."},
        "machine": {"cpu": "Test CPU", "threads": 2, "torch": "2.x", "date": "2026-01-01T00:00:00+00:00"},
        "points": [_point("RCAN small", "RCAN", "measured", 33.8, 9000.0),
                   _point("SAFMN small", "SAFMN", "measured", 33.0, 900.0),
                   _point("RCAN full", "RCAN", "published", 34.74, 60000.0)],
    }
    path = tmp_path / "quality.json"
    path.write_text(json.dumps(record))
    fig = quality_vs_time_figure(load_quality_vs_time(path))
    markers = {trace.name: trace for trace in fig.data if trace.mode == "markers+text"}
    measured = next(t for name, t in markers.items() if "measured here" in name and "published" not in name)
    published = next(t for name, t in markers.items() if "published" in name)
    assert list(measured.text) == ["RCAN small", "SAFMN small"] and list(published.y) == [34.74]
    assert fig.layout.xaxis.type == "log" and "Test CPU" in fig.layout.title.text
    assert sum(trace.mode == "lines" for trace in fig.data) == 1  # RCAN's bundled -> full-size link

    record["points"][0]["kind"] = "guessed"
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="kind 'guessed'"):
        load_quality_vs_time(path)


def test_the_shipped_record_has_both_models_measured_and_published():
    """The app draws this file without ../shared: it must be in the repo and complete."""
    data = load_quality_vs_time(QUALITY_VS_TIME)
    kinds = {(p["arch"], p["kind"]) for p in data["points"]}
    assert kinds == {("RCAN", "measured"), ("SAFMN", "measured"), ("RCAN", "published"), ("SAFMN", "published")}
    published = {p["arch"]: p["psnr_set5"] for p in data["points"] if p["kind"] == "published"}
    assert published == {"RCAN": 34.74, "SAFMN": 34.34}
    assert all(p["ms_per_mp"] > 0 for p in data["points"]) and data["command"].startswith("python bench/")
