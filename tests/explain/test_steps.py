"""The step-through runs the real network on the whole photo: one step per stage the architecture names, shapes
in C x H x W, and its output is the model's output."""
from __future__ import annotations

import numpy as np
import torch

from explain.rcan.stages import rcan_stages
from explain.steps import STEP_MAX_PIXELS, pca_thumbnail, step_through, step_through_photo
from tests.conftest import save_tiny_safmn
from tests.conftest import tiny_random_rcan


def photo(h: int = 21, w: int = 30) -> np.ndarray:
    return np.random.default_rng(0).random((h, w, 3), dtype=np.float32)


def test_every_stage_of_the_whole_photo_with_its_shape_and_time() -> None:
    model = tiny_random_rcan().eval()
    steps = step_through_photo(model, photo())
    names = [step.name for step in steps]
    assert names == ["input", *(name for name, _, _ in rcan_stages(model)), "output"]
    shapes = {step.name: step.shape for step in steps}
    assert shapes["input"] == (3, 21, 30) and shapes["head"] == (8, 21, 30)  # the whole photo, C x H x W
    assert shapes["residual group 2"] == (8, 21, 30) and shapes["upsampler"] == (8, 63, 90)
    assert shapes["output"] == (3, 63, 90)
    assert all(step.seconds >= 0 for step in steps) and all(s.thumbnail.dtype == np.uint8 for s in steps)
    assert "Step 3 of 9: head" in steps[2].caption(2, len(steps)) and "(C × H × W)" in steps[2].caption(2, 9)


def test_the_last_step_is_the_models_output() -> None:
    model = tiny_random_rcan().eval()
    rgb = photo()
    steps = step_through(model, rgb, rcan_stages(model))
    with torch.no_grad():
        out = model(torch.from_numpy(rgb).permute(2, 0, 1)[None] * 255)[0].clamp(0, 255)
    expected = (out / 255 * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(steps[-1].thumbnail, expected)


def test_safmn_has_its_own_stages(tmp_path) -> None:
    from sr_core.weights import load_weights

    model = load_weights(str(save_tiny_safmn(tmp_path / "s.safetensors"))).model
    names = [step.name for step in step_through_photo(model, photo())]
    assert names[:3] == ["input", "shallow features", "block 1"] and names[-2:] == ["reconstruction", "output"]


def test_pca_colours_follow_the_features() -> None:
    features = torch.zeros(8, 4, 6)
    features[0, :, 3:] = 1.0  # right half differs from the left half along one direction
    image = pca_thumbnail(features)
    assert image.shape == (4, 6, 3)
    assert not np.array_equal(image[0, 0], image[0, 5]) and np.array_equal(image[0, 0], image[3, 2])


def test_a_large_photo_is_shrunk_to_the_budget_and_says_so() -> None:
    model = tiny_random_rcan().eval()
    steps = step_through_photo(model, photo(40, 60), max_pixels=20 * 30)  # 4x the budget: halved a side
    assert steps[0].shape == (3, 20, 30) and "shrunk from 60×40 to 30×20 px" in steps[0].detail
    assert steps[-1].shape == (3, 60, 90)
    assert step_through_photo(model, photo(20, 30), max_pixels=20 * 30)[0].shape == (3, 20, 30)  # within: as is
    assert STEP_MAX_PIXELS >= 400 * 266  # a 400x266 photo runs at its own size
