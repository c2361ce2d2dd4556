"""Dataset distillation: exact fraction, determinism, texture ranking, matching steps, trainable output."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from sr_core.cli import main
from sr_core.tools.distill import (
    MAX_SCORE, MatchSettings, bicubic_psnr, distill, matching_step, select_texture,
)
from sr_core.protocol.evaluate import make_lr
from sr_core.protocol.imresize import downscale, imresize
from sr_core.models.rcan import RCAN, RCANConfig
from sr_core.tools.train import train

PATCH = 36  # the tiny recipe's 12 px LR crop x3
FAST = MatchSettings(steps=3, syn_batch=2, real_batch=4, model=RCANConfig(1, 1, 8, 4, 3))
# Three 80x110 images give 2 x 3 patches each, the gray 40x40 one a single patch, the 20x20 one none.
CANDIDATES = 3 * 6 + 1


def textured(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth ramp on the left, noise on the right: patches of both kinds."""
    rng = np.random.default_rng(seed)
    ramp = np.broadcast_to(np.linspace(40, 200, width)[None, :, None], (height, width, 3))
    noise = rng.integers(0, 256, (height, width, 3))
    return np.where(np.arange(width)[None, :, None] < width // 2, ramp, noise).astype(np.uint8)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("source")
    for i in range(3):
        Image.fromarray(textured(80, 110, i)).save(folder / f"img{i}.png")
    Image.fromarray(textured(40, 40, 9)[:, :, 0]).save(folder / "gray.png")
    Image.fromarray(textured(20, 20, 10)).save(folder / "small.png")
    return folder


def run(source: Path, out: Path, method: str, keep: float = 0.3, seed: int = 0) -> dict:
    return distill([source], keep, method, out, seed=seed, patch=PATCH, settings=FAST, log=lambda _: None)


def written(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "HR").iterdir())}


@pytest.mark.parametrize("method", ["random", "texture", "gradient"])
def test_keeps_the_exact_fraction_deterministically(source: Path, tmp_path: Path, method: str) -> None:
    first, second = run(source, tmp_path / "a", method), run(source, tmp_path / "b", method)
    assert first["candidates"] == CANDIDATES
    assert first["kept"] == round(0.3 * CANDIDATES) == len(first["patches"]) == len(written(tmp_path / "a"))
    assert first == second
    assert written(tmp_path / "a") == written(tmp_path / "b")
    assert json.loads((tmp_path / "a" / "manifest.json").read_text()) == first
    for record in first["patches"]:
        with Image.open(tmp_path / "a" / record["file"]) as patch:
            assert patch.size == (PATCH, PATCH) and patch.mode == "RGB"
        assert record["image"] in {"img0.png", "img1.png", "img2.png", "gray.png"}


def test_the_seed_changes_the_random_sample(source: Path, tmp_path: Path) -> None:
    picks = lambda m: [(r["image"], r["x"], r["y"]) for r in m["patches"]]
    assert picks(run(source, tmp_path / "a", "random", seed=0)) != picks(run(source, tmp_path / "b", "random", seed=1))


def test_a_kept_patch_is_the_source_pixels(source: Path, tmp_path: Path) -> None:
    record = run(source, tmp_path, "texture")["patches"][0]
    with Image.open(source / record["image"]) as image:
        expected = np.asarray(image.convert("RGB"))[record["y"]:record["y"] + PATCH, record["x"]:record["x"] + PATCH]
    with Image.open(tmp_path / record["file"]) as patch:
        np.testing.assert_array_equal(np.asarray(patch), expected)


def test_texture_scores_a_textured_patch_below_a_flat_one() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (PATCH, PATCH, 3)).astype(np.uint8)
    smooth = textured(PATCH, 2 * PATCH, 0)[:, :PATCH]
    flat = np.full((PATCH, PATCH, 3), 120, np.uint8)
    assert bicubic_psnr(noisy) < 20 < bicubic_psnr(smooth) < bicubic_psnr(flat) == MAX_SCORE


def test_texture_method_keeps_the_noisy_halves(source: Path, tmp_path: Path) -> None:
    manifest = run(source, tmp_path, "texture")
    assert all(record["x"] >= 36 for record in manifest["patches"] if record["image"] != "gray.png")
    scores = [record["score"] for record in manifest["patches"]]
    assert max(scores) < 20


def test_texture_selection_caps_each_image() -> None:
    # Three images of four patches; image 0 is the most textured throughout.
    scores = np.array([1, 2, 3, 4, 10, 11, 12, 13, 20, 21, 22, 23], dtype=float)
    image_ids = np.repeat([0, 1, 2], 4)
    assert select_texture(scores, image_ids, 3) == [0, 1, 4]  # cap ceil(2 * 3 * 4 / 12) = 2 per image
    assert sorted(select_texture(scores, image_ids, 12)) == list(range(12))  # later rounds fill up


def test_torch_downscale_is_make_lr_without_rounding() -> None:
    hr = np.random.default_rng(1).integers(0, 256, (PATCH, PATCH, 3)).astype(np.uint8)
    lr = downscale(torch.from_numpy(hr).double().permute(2, 0, 1)[None], 3)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(lr, imresize(hr.astype(np.float64), 1 / 3), atol=1e-9)
    assert np.abs(lr - make_lr(hr, 3)).max() <= 1.0


def test_each_matching_step_lowers_its_loss() -> None:
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = RCAN(FAST.model)
    real_hr = torch.from_numpy(rng.integers(0, 256, (4, 3, PATCH, PATCH))).float()
    real_lr = downscale(real_hr, 3).round()
    synthetic = [nn.Parameter(torch.from_numpy(rng.uniform(60, 190, (3, PATCH, PATCH))).float()) for _ in range(2)]
    optimizer = torch.optim.Adam(synthetic, lr=1.0)
    losses = [matching_step(model, real_lr, real_hr, synthetic, optimizer) for _ in range(6)]
    assert all(after < before for before, after in zip(losses, losses[1:])), losses


def test_gradient_method_moves_the_texture_patches(source: Path, tmp_path: Path) -> None:
    texture, gradient = run(source, tmp_path / "t", "texture"), run(source, tmp_path / "g", "gradient")
    where = lambda m: [(r["image"], r["x"], r["y"]) for r in m["patches"]]
    assert where(texture) == where(gradient)  # initialised from the texture selection
    assert written(tmp_path / "t") != written(tmp_path / "g")
    assert gradient["gradient"]["steps"] == FAST.steps


def test_the_trainer_reads_the_output(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "reduced"
    run(source, out, "texture")
    weights = tmp_path / "tiny.safetensors"
    train([out], "tiny", weights, iters=2, log=lambda _: None)
    assert weights.is_file()


def test_cli_writes_the_set_and_rejects_bad_arguments(source: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def cli(out: Path, keep: str = "0.2", patch: str = str(PATCH)) -> int:
        return main(["distill", "--data", str(source), "--keep", keep, "--method", "random", "--out", str(out),
                     "--patch", patch])

    assert cli(tmp_path / "set") == 0
    assert json.loads((tmp_path / "set" / "manifest.json").read_text())["kept"] == round(0.2 * CANDIDATES)
    assert capsys.readouterr().out.strip() == str(tmp_path / "set")
    assert cli(tmp_path / "set") == 2  # refuses to mix with an existing set
    assert "already holds images" in capsys.readouterr().err
    assert cli(tmp_path / "x", keep="1.5") == 2
    assert "--keep must be in (0, 1]" in capsys.readouterr().err
    assert cli(tmp_path / "y", patch="35") == 2
    assert "multiple of 3" in capsys.readouterr().err
