"""The quality chart measured on the models served: each point measures the weights that served (tiny random
models, where the numbers do not matter), and the chart, its caption and the trade-off line read the points as
measured (fixed numbers, where the ordering matters)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explain.quality import QUALITY_VS_TIME, load_quality_vs_time, quality_section, tradeoff_line
from explain.served_quality import measure_served, served_tradeoff, texture_difference
from sr_core.serving import ServedModel
from sr_core.weights import weights_label
from tests.conftest import save_model, tiny_random_rcan


def _served(arch: str, role: str, texture: float, ms: float, tiles: list[float]) -> dict:
    return {"label": f"{arch} · 1.00 M parameters · somewhere", "arch": arch, "kind": "served", "role": role,
            "weights": f"{arch}.safetensors", "n_params": 10**6, "precision": "bf16", "device": "CPU: Test CPU",
            "date": "2026-01-01T00:00:00+00:00", "images": ["a", "b"], "psnr_texture": texture,
            "psnr_whole": texture + 2, "texture_tiles": tiles, "ms_per_mp": ms}


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small textured photos, large enough for a few 48-pixel tiles."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name in ("one", "two"):
        Image.fromarray(rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    return folder


def test_each_point_measures_the_weights_that_served(photos: Path, tmp_path: Path) -> None:
    served = [ServedModel.load(str(save_model(tiny_random_rcan(seed), tmp_path / f"rcan_{seed}.safetensors")),
                               "fp32", measure=False) for seed in (0, 1)]
    points = [measure_served(model, "choice", photos) for model in served]
    assert [p["label"] for p in points] == [weights_label(model.weights) for model in served]
    assert "rcan_0.safetensors" in points[0]["label"] and "rcan_1.safetensors" in points[1]["label"]
    assert points[0]["psnr_texture"] != points[1]["psnr_texture"]  # other weights, another point
    assert points[0]["texture_tiles"] != points[1]["texture_tiles"]
    for point in points:
        assert point["images"] == ["one", "two"] and point["precision"] == "fp32"
        assert len(point["texture_tiles"]) == 2 * 2  # a quarter of the 3x3 tiles of each photo, rounded
        assert point["psnr_texture"] < point["psnr_whole"] and point["ms_per_mp"] > 0
        assert point["device"].startswith("CPU: ")
    with pytest.raises(ValueError, match="role"):
        measure_served(served[0], "best", photos)


def test_a_difference_counts_only_beyond_its_uncertainty() -> None:
    steady = _served("RCAN", "choice", 26.0, 5000, [30.0, 25.0, 21.0, 27.0, 28.0, 24.0])
    above = _served("SAFMN", "choice", 25.0, 3000, [29.0, 24.1, 19.9, 26.2, 27.0, 22.8])  # lower on every tile
    mixed = _served("SAFMN", "choice", 25.9, 3000, [32.0, 23.0, 23.0, 25.0, 30.0, 22.0])  # +-2 dB, either way
    assert texture_difference(steady, above) == (pytest.approx(1.0), True)
    assert texture_difference(steady, mixed)[1] is False
    few = {**steady, "texture_tiles": [30.0, 25.0]}
    assert texture_difference(few, {**above, "texture_tiles": [20.0, 15.0]})[1] is False  # too few tiles


def test_the_tradeoff_line_orders_the_served_choices_by_texture_and_speed() -> None:
    tiles = [30.0, 25.0, 21.0, 27.0, 28.0, 24.0]
    rcan = _served("RCAN", "choice", 26.0, 5000, tiles)
    safmn = _served("SAFMN", "choice", 25.0, 2500, [t - 1 for t in tiles])
    jpeg = _served("RCAN", "jpeg", 27.0, 100, [t + 3 for t in tiles])  # not a model choice: not in the line
    line = served_tradeoff([safmn, jpeg, rcan])
    assert "RCAN keeps more texture (+1.00 dB over SAFMN" in line and "SAFMN runs 2.0× faster" in line
    fast_and_good = served_tradeoff([{**rcan, "ms_per_mp": 100}, safmn])
    assert "RCAN also runs fastest" in fast_and_good
    assert "they run about as fast" in served_tradeoff([rcan, {**safmn, "ms_per_mp": 4800}])
    even = served_tradeoff([rcan, {**safmn, "texture_tiles": [32.0, 23.0, 23.0, 25.0, 30.0, 22.0]}])
    assert "no measurable difference in texture between RCAN and SAFMN" in even
    assert tradeoff_line(load_quality_vs_time(QUALITY_VS_TIME), [rcan, safmn]) == served_tradeoff([rcan, safmn])
    assert "Set5" in tradeoff_line(load_quality_vs_time(QUALITY_VS_TIME), [rcan])  # one choice: the record's line


def test_the_served_chart_keeps_the_record_in_its_own_panel(tmp_path: Path) -> None:
    tiles = [30.0, 25.0, 21.0, 27.0, 28.0, 24.0]
    points = [_served("RCAN", "choice", 26.0, 5000, tiles), _served("SAFMN", "choice", 25.0, 2500, tiles),
              _served("RCAN", "jpeg", 25.5, 5100, tiles)]
    figure, caption, record = quality_section(points)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert len(titles) == 3 and "most textured" in titles[0] and "whole" in titles[1]
    assert "Set5" in titles[2] and "not comparable" in titles[2]
    served_names = {trace.name for trace in figure.data if trace.xaxis in ("x", "x2") and trace.name}
    assert served_names == {p["label"] for p in points}
    assert {trace.marker.symbol for trace in figure.data if trace.xaxis == "x"} == {"circle", "square"}
    published = [trace for trace in figure.data if trace.xaxis == "x3" and "published" in (trace.name or "")]
    assert list(published[0].y) == [p["psnr_set5"] for p in record["points"] if p["kind"] == "published"]
    assert "CPU: Test CPU" in caption and "5 example" not in caption and "2 example photos" in caption
    assert "this machine" not in caption and "Set5" in caption

    alone, caption, _ = quality_section(points, path=tmp_path / "missing.json")  # no record: the served panels
    assert len(alone.layout.annotations) == 2 and "Set5" not in caption
