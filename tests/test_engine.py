"""Tiling must not change the answer; progress, cancel and self-ensemble behave."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from sr_core.engine import Upscaler, dihedral, dihedral_inverse
from sr_core.tiling import Cancelled, Progress
from sr_core.weights import tiny_random_rcan


@pytest.fixture(scope="module")
def upscaler() -> Upscaler:
    return Upscaler(tiny_random_rcan(), "cpu")


def random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_engine_matches_the_plain_forward(upscaler: Upscaler) -> None:
    rgb = random_image(20, 17)
    with torch.no_grad():
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None] * 255
        plain = (tiny_random_rcan()(x) / 255).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    out = upscaler.upscale(rgb)
    assert out.shape == (60, 51, 3)
    assert np.abs(out - plain).max() < 1e-5


@pytest.mark.parametrize("tile", [8, 13, 16])
def test_tiled_output_equals_whole_image_output(upscaler: Upscaler, tile: int) -> None:
    rgb = random_image(29, 37, seed=tile)
    whole = upscaler.upscale(rgb)
    tiled = upscaler.upscale(rgb, tile=tile)
    assert np.abs(tiled - whole).max() < 1e-5  # far inside the 1/255 contract


def test_naive_overlapping_tiles_would_differ() -> None:
    """Why the engine pools globally: running the network per tile changes the attention."""
    model = tiny_random_rcan()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "conv_du" in name or ".body.0." in name or ".body.2." in name:
                param.mul_(6)  # strong residual branches and attention that reacts to image statistics
    upscaler = Upscaler(model, "cpu")
    rgb = random_image(32, 32, seed=3)
    rgb[:, 16:] *= 0.2  # the two halves have different statistics
    whole = upscaler.upscale(rgb)
    assert np.abs(upscaler.upscale(rgb, tile=8) - whole).max() < 1e-5
    left_alone = upscaler.upscale(rgb[:, :20])[:, :48]
    assert np.abs(left_alone - whole[:, :48]).max() > 1 / 255


def test_progress_counts_every_step_and_cancel_stops(upscaler: Upscaler) -> None:
    seen: list[Progress] = []
    upscaler.upscale(random_image(20, 20), tile=8, progress=seen.append)
    assert [p.done for p in seen] == list(range(1, seen[-1].total + 1))
    assert seen[-1].total == upscaler.steps(20, 20, 8, ensemble=False)
    assert seen[-1].eta_s == 0

    cancel = threading.Event()

    def cancel_after_three(p: Progress) -> None:
        if p.done == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        upscaler.upscale(random_image(20, 20), tile=8, progress=cancel_after_three, cancel=cancel)


@pytest.mark.parametrize("k", range(8))
def test_dihedral_inverse_undoes_each_transform(k: int) -> None:
    x = torch.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    assert torch.equal(dihedral_inverse(dihedral(x, k), k), x)


def test_self_ensemble_of_an_equivariant_model_changes_nothing() -> None:
    """A model made of a centred 1-pixel-symmetric kernel commutes with flips and transposes."""
    model = tiny_random_rcan()
    with torch.no_grad():
        for conv in [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]:
            w = conv.weight
            conv.weight.copy_((w + w.flip(-1) + w.flip(-2) + w.flip(-1).flip(-2)) / 4)
            conv.weight.copy_((conv.weight + conv.weight.transpose(-1, -2)) / 2)
    up = Upscaler(model, "cpu")
    rgb = random_image(10, 10, seed=5)
    # Pixel shuffle is not flip-equivariant, so compare the ensemble to its own mean of views instead:
    ens = up.upscale(rgb, ensemble=True)
    views = [up.upscale_tensor(dihedral(torch.from_numpy(rgb).permute(2, 0, 1)[None] * 255, k)) for k in range(8)]
    mean = sum(dihedral_inverse(v, k) for k, v in enumerate(views)) / 8
    assert np.abs(ens - (mean / 255).clamp(0, 1)[0].permute(1, 2, 0).numpy()).max() < 1e-5
