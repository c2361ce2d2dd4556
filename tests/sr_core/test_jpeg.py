"""JPEG photos: the quality estimate, the choice of RCAN by how a photo was saved, and the JPEG training recipe."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sr_core.weights
from sr_core import cli
from sr_core.choice import JPEG_SPEC, NEAR_LOSSLESS_FROM, choose
from sr_core.image_io import read_image
from sr_core.jpeg import estimate_quality, jpeg_roundtrip, quality_from_tables
from sr_core.tools.train import JPEG_QUALITIES, PatchSampler, state_path, train
from tests.conftest import save_model, tiny_random_rcan


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: something JPEG has to work on at every quality."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 3.0, yy * 2.0, (xx + yy) * 1.5], axis=-1) % 256
    return np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)


def jpeg_bytes(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("quality", [30, 50, 70, 90, 95])
@pytest.mark.parametrize("subsampling", [0, 2])
def test_the_quality_is_read_back_from_pillow_saved_files(quality: int, subsampling: int) -> None:
    data = jpeg_bytes(textured(40, 48), quality=quality, subsampling=subsampling)
    with Image.open(io.BytesIO(data)) as image:
        assert abs(estimate_quality(image) - quality) <= 2
    assert read_image(data).jpeg_quality == estimate_quality(Image.open(io.BytesIO(data)))


def test_lossless_files_have_no_jpeg_quality() -> None:
    buffer = io.BytesIO()
    Image.fromarray(textured(20, 20)).save(buffer, format="PNG")
    assert read_image(buffer.getvalue()).jpeg_quality is None
    assert quality_from_tables({}) is None


def test_tables_not_made_by_libjpeg_get_the_nearest_quality() -> None:
    """A camera's own tables: every entry 10% above IJG quality 60's lands near 60, not at an extreme."""
    from sr_core.jpeg import IJG_CHROMA, IJG_LUMA, ijg_table

    tables = {i: list((ijg_table(base, 60) * 1.1).round().astype(int)) for i, base in enumerate((IJG_LUMA, IJG_CHROMA))}
    assert 52 <= quality_from_tables(tables) <= 60


def test_the_choice_rule_sends_jpegs_to_the_jpeg_model_and_the_rest_to_the_clean_one() -> None:
    assert choose(None).spec is None and not choose(None).jpeg
    assert choose(None, clean_spec="bundled").spec == "bundled"
    low = choose(72)
    assert low.spec == JPEG_SPEC and low.jpeg and "quality about 72" in low.reason and "JPEG-trained" in low.reason
    assert choose(NEAR_LOSSLESS_FROM - 1).spec == JPEG_SPEC
    near = choose(NEAR_LOSSLESS_FROM)
    assert near.spec is None and not near.jpeg and "nearly lossless" in near.reason


def test_one_command_gives_each_photo_its_model(tmp_path: Path, monkeypatch, capsys) -> None:
    clean, jpeg_aware = (save_model(tiny_random_rcan(seed), tmp_path / f"rcan{seed}.safetensors") for seed in (0, 1))
    monkeypatch.setitem(sr_core.weights.BUNDLED, "bundled", clean)
    monkeypatch.setitem(sr_core.weights.BUNDLED, JPEG_SPEC, jpeg_aware)
    monkeypatch.setenv("SR_HUB_REPO", "")
    monkeypatch.delenv("SR_WEIGHTS", raising=False)
    pixels = textured(12, 16)
    png, jpg = tmp_path / "a.png", tmp_path / "b.jpg"
    Image.fromarray(pixels).save(png)
    jpg.write_bytes(jpeg_bytes(pixels, quality=60))
    twin = tmp_path / "c.png"  # b.jpg's decoded pixels, losslessly: only the file type differs from b.jpg
    Image.open(jpg).convert("RGB").save(twin)

    assert cli.main(["upscale", str(png), str(jpg), str(twin), "-o", str(tmp_path / "out") + "/", "--precision", "fp32"]) == 0
    err = capsys.readouterr().err
    assert "a.png: not a JPEG" in err and "b.jpg: saved at JPEG quality about 60, so the JPEG-trained RCAN serves" in err
    out = lambda name: np.asarray(Image.open(tmp_path / "out" / f"{name}_x3.png"))
    assert not np.array_equal(out("b"), out("c"))  # same pixels in, different models

    # --weights bundled forces the clean model on the JPEG too
    assert cli.main(["upscale", str(jpg), "-o", str(tmp_path / "forced.png"), "--weights", "bundled",
                     "--precision", "fp32"]) == 0
    assert "JPEG-trained" not in capsys.readouterr().err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "forced.png")), out("c"))


def test_the_jpeg_round_trip_is_deterministic_and_lossy() -> None:
    pixels = textured(24, 24)
    once, again = jpeg_roundtrip(pixels, 40), jpeg_roundtrip(pixels, 40)
    assert np.array_equal(once, again) and not np.array_equal(once, pixels)
    assert np.abs(jpeg_roundtrip(pixels, 90).astype(int) - pixels).mean() < np.abs(once.astype(int) - pixels).mean()


@pytest.fixture()
def training_set(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    for seed in range(3):
        Image.fromarray(textured(54, 60, seed)).save(folder / f"{seed}.png")
    return folder


def test_the_jpeg_recipe_degrades_crops_reproducibly(training_set: Path) -> None:
    plain = PatchSampler([training_set], 3, 12, torch.device("cpu"), workers=1)
    jpeg = PatchSampler([training_set], 3, 12, torch.device("cpu"), workers=1, degradation="jpeg")
    first = jpeg.batch(4, torch.Generator().manual_seed(5))
    second = jpeg.batch(4, torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    # each LR crop is a JPEG round trip of the bicubic crop at a quality drawn in JPEG_QUALITIES
    generator = torch.Generator().manual_seed(5)
    picks = torch.multinomial(jpeg.weights, 4, replacement=True, generator=generator).tolist()
    i, p = picks[0], 12
    y = int(torch.randint(0, jpeg.lr[i].shape[1] - p + 1, (1,), generator=generator))
    x = int(torch.randint(0, jpeg.lr[i].shape[2] - p + 1, (1,), generator=generator))
    from sr_core.engine import dihedral

    crop = dihedral(plain.lr[i][:, y : y + p, x : x + p], int(torch.randint(0, 8, (1,), generator=generator)))
    quality = int(torch.randint(JPEG_QUALITIES[0], JPEG_QUALITIES[1] + 1, (1,), generator=generator))
    assert torch.equal(first[0][0], PatchSampler.jpeg(crop, quality).float())
    assert not torch.equal(first[0][0], crop.float())
    with pytest.raises(ValueError, match="degradation"):
        PatchSampler([training_set], 3, 12, torch.device("cpu"), workers=1, degradation="blur")


def test_a_resumed_jpeg_run_matches_an_uninterrupted_one(training_set: Path, tmp_path: Path) -> None:
    quiet = lambda _: None
    straight, halves = tmp_path / "straight.safetensors", tmp_path / "halves.safetensors"
    torch.set_num_threads(1)
    train([training_set], "tiny", straight, iters=4, degradation="jpeg", log=quiet)
    train([training_set], "tiny", halves, iters=4, stop_at=2, degradation="jpeg", log=quiet)
    train([training_set], "tiny", halves, iters=4, resume=True, degradation="jpeg", log=quiet)
    from safetensors.torch import load_file

    a, b = load_file(str(straight)), load_file(str(halves))
    assert all(torch.equal(a[k], b[k]) for k in a)
    bicubic = load_file(str(train([training_set], "tiny", tmp_path / "bicubic.safetensors", iters=4, log=quiet) and
                            tmp_path / "bicubic.safetensors"))
    assert not all(torch.equal(a[k], bicubic[k]) for k in a)  # the degradation changed what was learned
    with pytest.raises(ValueError, match="degradation jpeg"):
        train([training_set], "tiny", halves, iters=4, resume=True, log=quiet)
    assert state_path(halves).is_file()
