"""The trained FeatSharp-style upsampler: JBU invariants, strict loading, the featsharp view and the recipe."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from explain.rcan.analysis import analyze
from explain.cli import main
from explain.rcan.capture import feature_extractor
from explain.rcan.featsharp import (
    SHIPPED,
    FeatSharpX3,
    LearnedRangeJBU,
    edge_and_flat,
    learned_kernels,
    load_upsampler,
    save_upsampler,
    shipped_upsampler,
    tile_position_index,
)
from explain.rcan.featsharp_train import Recipe, seam_weights, train
from sr_core.checkpoint import CheckpointError
from sr_core.protocol.evaluate import make_lr
from sr_core.image_io import from_uint8
from sr_core.models.rcan import RCAN, RCANConfig
from sr_core.weights import load_weights

RNG = np.random.default_rng(0)


def trained_jbu() -> LearnedRangeJBU:
    return load_upsampler(SHIPPED).jbu


def test_the_shipped_upsampler_loads_strictly_and_has_its_card():
    model = load_upsampler(SHIPPED)
    assert isinstance(model, FeatSharpX3) and model.channels == 56
    assert set(model.state_dict()) == set(load_file(str(SHIPPED)))
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert card["steps"] == card["recipe"]["steps"] and card["loss_curve"][-1]["step"] == card["steps"]
    assert set(card["data"]["sets"]) == {"T91", "BSD200", "General100"}
    assert SHIPPED.stat().st_size < 200_000  # a small file


@pytest.mark.parametrize("jbu", [trained_jbu, LearnedRangeJBU], ids=["trained", "untrained"])
def test_a_constant_map_stays_constant_and_weights_are_normalised(jbu):
    module = jbu()
    torch.manual_seed(0)
    guide = torch.rand(1, 3, 30, 24)
    weights = module.kernels(module.embed(guide))
    assert weights.shape == (1, 49, 30, 24) and bool((weights >= 0).all())
    torch.testing.assert_close(weights.sum(1), torch.ones(1, 30, 24))
    constant = torch.full((1, 5, 10, 8), -1.75)
    with torch.no_grad():
        out = module(constant, guide)
    torch.testing.assert_close(out, torch.full_like(out, -1.75))


def test_the_learned_kernels_are_read_at_an_edge_and_a_flat_pixel():
    guide = torch.zeros(3, 27, 27)
    guide[:, :, 13:] = 1.0
    kernels = learned_kernels(load_upsampler(SHIPPED), guide)
    assert kernels.points["edge"][1] in (12, 13) and kernels.patches["edge"].shape == (7, 7, 3)
    for kind, w in kernels.weights.items():
        assert w.shape == (7, 7) and abs(float(w.sum()) - 1) < 1e-5
        assert 1 <= kernels.effective_neighbours(kind) <= 49
    # At the edge, little weight crosses the step (to the other side of the window's centre column).
    y, x = kernels.points["edge"]
    other_side = slice(0, 3) if x >= 13 else slice(4, 7)
    assert float(kernels.weights["edge"][:, other_side].sum()) < 0.5
    assert abs(kernels.sigma_spatial - float(load_upsampler(SHIPPED).jbu.sigma_spatial.detach())) < 1e-7


def test_edge_and_flat_pixels_are_found_away_from_the_border():
    guide = torch.zeros(3, 20, 20)
    guide[:, 5:, 11:] = 1.0
    points = edge_and_flat(guide)
    assert points["edge"][1] in (10, 11) and 4 <= points["edge"][0] <= 15
    y, x = points["flat"]
    assert 4 <= y <= 15 and 4 <= x <= 15 and abs(x - 10.5) > 3


def _crafted(tmp_path, edit) -> str:
    tensors = {k: v.clone() for k, v in load_file(str(SHIPPED)).items()}
    metadata = {"format": "featsharp-x3-rcan"}
    edit(tensors, metadata)
    path = tmp_path / "crafted.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda t, m: t.pop("fusion.out.weight"), "missing ['fusion.out.weight']"),
    (lambda t, m: t.update(extra=torch.zeros(1)), "unexpected ['extra']"),
    (lambda t, m: t.update({"jbu.sigma_spatial": torch.ones(2)}), "jbu.sigma_spatial has shape [2]"),
    (lambda t, m: t["tile_bias"].fill_(float("nan")), "tile_bias holds NaN"),
    (lambda t, m: m.update(format="rcan"), "is not a FeatSharp x3 upsampler"),
    (lambda t, m: t.update(probe_image=torch.zeros(())), "probe_image has shape []"),
    (lambda t, m: t.update(probe_image=torch.zeros(3, 1, 5000)), "probe_image has shape [3, 1, 5000]"),
    (lambda t, m: t.update(feature_mean=torch.zeros(5000)), "no feature_mean vector of 1..1024 channels"),
])
def test_a_crafted_file_gives_a_one_line_error(tmp_path, edit, message):
    with pytest.raises(CheckpointError) as caught:
        load_upsampler(_crafted(tmp_path, edit))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_garbage_and_pickles_are_refused_in_one_line(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 40)
    pickle = tmp_path / "model.safetensors"
    torch.save({"a": torch.zeros(1)}, pickle)
    for path in (garbage, pickle, tmp_path / "absent.safetensors"):
        with pytest.raises(CheckpointError) as caught:
            load_upsampler(path)
        assert "\n" not in str(caught.value)


def test_featsharp_is_scored_in_metrics_for_the_bundled_rcan():
    hr = (RNG.random((54, 54, 3)) * 255).astype(np.uint8)
    analysis = analyze(load_weights("bundled").model, from_uint8(make_lr(hr, 3)), original=hr, tile=6,
                       view_side=12)
    metrics = analysis.metrics()
    view = metrics["feature_views"]["featsharp"]
    assert isinstance(view["hr_similarity"], float) and isinstance(view["consistency"], float)
    assert -1 <= view["hr_similarity"] <= 1 and -1 <= view["consistency"] <= 1
    assert set(metrics["featsharp_kernels"]) == {"temperature", "sigma_spatial", "tiled_share", "edge", "flat"}
    assert 0 < metrics["featsharp_kernels"]["tiled_share"] < 1
    assert analysis.views.views["featsharp"].image.shape == (36, 36, 3)
    other = analyze(load_weights("bundled").model, from_uint8(make_lr(hr, 3)), original=255 - hr, tile=6,
                    view_side=12)  # the same input, another original: only a score against the original moves
    assert abs(other.metrics()["feature_views"]["featsharp"]["hr_similarity"] - view["hr_similarity"]) > 1e-3


def test_featsharp_is_left_out_with_a_reason_for_another_extractor():
    rgb = RNG.random((24, 24, 3), dtype=np.float32)
    torch.manual_seed(0)
    other = RCAN(RCANConfig(n_resgroups=1, n_resblocks=1, n_feats=56, reduction=8)).eval()  # same width, other net
    assert not shipped_upsampler().matches(feature_extractor(other))
    assert shipped_upsampler().matches(feature_extractor(load_weights("bundled").model.eval()))
    metrics = analyze(other, rgb, tile=8, view_side=12).metrics()
    assert metrics["feature_views"]["featsharp"]["hr_similarity"] is None
    assert "bundled RCAN" in metrics["feature_views"]["featsharp"]["lineage"]
    assert metrics["featsharp_kernels"] is None


def test_tile_positions_and_seam_weights():
    assert tile_position_index(12, 6, border=2).tolist() == [0, 1, 2, 2, 3, 4, 0, 1, 2, 2, 3, 4]
    weights = seam_weights(24, Recipe(), 0)  # input rows 3..20; seams at output rows 24 and 48
    heavy = (torch.arange(3, 21)[weights > 1]).tolist()
    assert heavy == [7, 8, 15, 16]


def _tiny_data(tmp_path):
    folder = tmp_path / "T91-mini"
    folder.mkdir()
    for i in range(4):
        Image.fromarray((RNG.random((40, 44, 3)) * 255).astype(np.uint8)).save(folder / f"t{i}.png")
    return folder


def test_the_recipe_is_deterministic(tmp_path):
    folder = _tiny_data(tmp_path)
    torch.manual_seed(1)
    extractor = feature_extractor(RCAN(RCANConfig(n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4)).eval())
    recipe = Recipe(lr_patch=12, crops_per_image=1, views_per_crop=2, holdout_every=2, batch=2, steps=3, warmup=1,
                    log_every=1)
    runs = [train(extractor, [folder], recipe, log=lambda _: None) for _ in range(2)]
    (first, card_a), (second, card_b) = runs
    assert [p["train_loss"] for p in card_a["loss_curve"]] == [p["train_loss"] for p in card_b["loss_curve"]]
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    assert card_a["steps"] == 3 and card_a["data"]["training_crops"] == 2
    # and it learned something: the parameters moved from their initial values
    assert not torch.equal(first.fusion.out.weight, torch.zeros_like(first.fusion.out.weight))
    out = tmp_path / "up.safetensors"
    save_upsampler(first, out, {})
    assert torch.equal(load_upsampler(out).tile_bias, first.tile_bias)


def test_the_recipe_refuses_the_evaluation_sets(tmp_path):
    folder = tmp_path / "Set5"
    folder.mkdir()
    with pytest.raises(ValueError, match="Set5 and Set14 are for evaluation only"):
        train(lambda x: x, [folder], Recipe(), log=lambda _: None)


def test_the_command_refuses_the_evaluation_sets_in_one_line(tmp_path, capsys):
    (tmp_path / "Set14").mkdir()
    out = tmp_path / "up.safetensors"
    assert main(["train-featsharp", "--data", str(tmp_path / "Set14"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refusing to train on") and "\n" not in err and not out.exists()
