"""The linked channel view: any (group, block, channel) of an RCAN, its map, gate and share, from one real pass."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explain.analysis import explore_view
from explain.hooks import outputs_replaced
from explain.rcan.capture import attention_layers, capture_forward
from explain.rcan.experiments import forward_with_gates
from explain.rcan.channel_view import channel_view
from sr_core.models.safmn import SAFMN, SAFMNConfig
from tests.conftest import tiny_random_rcan


@pytest.fixture(scope="module")
def model():
    return tiny_random_rcan().eval()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.random.default_rng(3).random((40, 56, 3), dtype=np.float32)


def test_gate_and_map_are_those_of_the_full_forward_pass(model, photo) -> None:
    x = torch.from_numpy(photo.transpose(2, 0, 1).copy())[None] * model.config.rgb_range
    full = capture_forward(model, x, (2, 2), [], top_k=2)
    for group, block in ((1, 1), (2, 2)):
        top = int(full.top_channels[group - 1, block - 1, 0])
        view = channel_view(model, photo, group, block, top)
        np.testing.assert_allclose(view.gates, full.attention[group - 1, block - 1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.abs(view.residual), full.top_maps[group - 1, block - 1, 0], rtol=1e-5,
                                   atol=1e-5)
        assert view.gate_rank == 1  # the capture's most boosted channel ranks first here too


def test_shares_are_the_energy_of_what_the_block_adds(model, photo) -> None:
    views = [channel_view(model, photo, 2, 1, c) for c in range(model.config.n_feats)]
    shares = views[0].shares
    assert shares.sum() == pytest.approx(1.0) and (shares >= 0).all()
    assert [v.share for v in views] == pytest.approx(list(shares))
    ranks = sorted(v.gate_rank for v in views)
    assert ranks == list(range(1, model.config.n_feats + 1))


def test_muting_the_gate_is_a_real_pass_that_changes_only_through_that_channel(model, photo) -> None:
    view = channel_view(model, photo, 1, 2, 5)
    x = torch.from_numpy(photo.transpose(2, 0, 1).copy())[None] * model.config.rgb_range
    with torch.inference_mode():
        normal = model(x)[0].numpy().transpose(1, 2, 0) / model.config.rgb_range
        muted = forward_with_gates(model, x, lambda g: g)  # the hook path itself changes nothing
    np.testing.assert_array_equal(muted[0].numpy().transpose(1, 2, 0) / model.config.rgb_range, normal)
    assert view.muted.mean_abs_change > 0 and view.muted.change.shape == (120, 168)
    assert 0 <= view.muted.texture_share_of_change <= 1
    assert not np.array_equal(view.muted.output, np.clip(normal, 0, 1))
    # A channel whose residual is scaled by 0 already adds nothing: muting it again changes nothing.
    layer = attention_layers(model)[0][1].conv_du[3]
    with outputs_replaced([layer], lambda _i, g: torch.where(torch.arange(g.shape[1])[None, :, None, None] == 5,
                                                              torch.zeros_like(g), g)):
        again = channel_view(model, photo, 1, 2, 5)
    assert again.gate == 0 and again.muted.mean_abs_change == 0


def test_the_view_follows_the_click(model) -> None:
    photo = np.random.default_rng(4).random((150, 200, 3), dtype=np.float32)
    view = channel_view(model, photo, 1, 1, 0, focus=(190, 140))
    assert (view.region.left, view.region.top) == (72, 22) and "you chose" in view.region_note


@pytest.mark.parametrize("choice, message", [
    ((3, 1, 0), "group must be a whole number from 1 to 2"),
    ((1, 0, 0), "block must be a whole number from 1 to 2"),
    ((1, 1, 8), "channel must be a whole number from 0 to 7"),
    ((1, 1, True), "channel must be a whole number"),
    ((1.5, 1, 0), "group must be a whole number"),
    ((1, float("inf"), 0), "block must be a whole number from 1 to 2 for this RCAN, got inf"),
    ((1, 1, float("nan")), "channel must be a whole number"),
    ((1, 1, "7" * 1000), "got '7777"),
])
def test_a_choice_the_model_lacks_gets_one_line(model, photo, choice, message) -> None:
    with pytest.raises(ValueError, match=message) as error:
        channel_view(model, photo, *choice)
    assert "\n" not in str(error.value) and len(str(error.value)) < 120


def test_a_slider_value_counts_as_its_whole_number(model, photo) -> None:
    assert channel_view(model, photo, 2.0, 1.0, 3.0).to_dict()["channel"] == 3


def test_only_rcan_has_a_channel_view(photo) -> None:
    with pytest.raises(ValueError, match="needs an RCAN"):
        explore_view("channel", SAFMN(SAFMNConfig(dim=8, n_blocks=1, scale=3)), photo, (1, 1, 0))


def test_the_figure_and_readout_say_the_numbers(model, photo) -> None:
    figure, text, numbers = explore_view("channel", model, photo, (2, 1, 3))
    assert f"gate {numbers['gate']:.2f}" in figure.layout.title.text
    assert f"{100 * numbers['share']:.1f}%" in text and f"rank {numbers['gate_rank']} of 8" in text
    assert numbers["even_share"] == pytest.approx(1 / 8)
