"""Evaluation protocol: cropping, degradation, set scoring, and the published bicubic x3 baseline."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sr_core.protocol.evaluate import bicubic_upscale, evaluate_set, format_table, list_images, make_lr, mod_crop
from sr_core.protocol.imresize import imresize
from sr_core.protocol.metrics import psnr_y, ssim_y
from tests.conftest import SHARED_SR

DATA = SHARED_SR


def _smooth_rgb(h, w, phase=0.0):
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    channels = [128 + 80 * np.sin(i / 4.0 + phase + k) * np.cos(j / 6.0 - k) for k in range(3)]
    return np.rint(np.stack(channels, axis=2)).astype(np.uint8)


def _nearest(lr):
    return np.repeat(np.repeat(lr, 3, axis=0), 3, axis=1)


def test_mod_crop_and_make_lr():
    img = _smooth_rgb(41, 38)
    assert mod_crop(img, 3).shape == (39, 36, 3)
    np.testing.assert_array_equal(mod_crop(img, 3), img[:39, :36])
    lr = make_lr(img, 3)
    assert lr.dtype == np.uint8 and lr.shape == (13, 12, 3)
    np.testing.assert_array_equal(lr, imresize(img[:39, :36], 1 / 3))
    with pytest.raises(TypeError):
        make_lr(img.astype(np.float32), 3)


def test_list_images_prefers_hr_folder_and_sorts(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.png"]
    (tmp_path / "HR").mkdir()
    (tmp_path / "HR" / "c.bmp").write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["c.bmp"]


def _write_set(root: Path) -> dict[str, np.ndarray]:
    """Two synthetic images, one RGB and one grayscale, neither a multiple of 3 in size."""
    hr_dir = root / "Tiny" / "HR"
    hr_dir.mkdir(parents=True)
    images = {"one": _smooth_rgb(40, 46), "two": _smooth_rgb(35, 31, phase=1.0)[:, :, 1]}
    for name, img in images.items():
        Image.fromarray(img).save(hr_dir / f"{name}.png")
    return images


def test_evaluate_set_scores_each_image_and_averages(tmp_path):
    images = _write_set(tmp_path)
    seen = []

    def upscale(lr):
        seen.append(lr.shape)
        return _nearest(lr)

    result = evaluate_set(tmp_path / "Tiny", upscale, scale=3)
    assert result["set"] == "Tiny" and result["scale"] == 3
    assert seen == [(13, 15, 3), (11, 10, 3)]  # the gray image reaches the upscaler as RGB
    assert [r["name"] for r in result["images"]] == ["one", "two"]
    for record, hr in zip(result["images"], images.values()):
        hr = mod_crop(hr, 3)
        sr = _nearest(make_lr(hr, 3))
        assert record["psnr"] == pytest.approx(psnr_y(hr, sr, 3), abs=1e-9)
        assert record["ssim"] == pytest.approx(ssim_y(hr, sr, 3), abs=1e-9)
    assert result["psnr"] == pytest.approx(np.mean([r["psnr"] for r in result["images"]]))
    assert result["ssim"] == pytest.approx(np.mean([r["ssim"] for r in result["images"]]))
    assert 15 < result["psnr"] < 40 and 0 < result["ssim"] < 1

    table = format_table([result])
    assert "Tiny" in table and f"{result['psnr']:.2f}" in table and f"{result['ssim']:.4f}" in table
    assert format_table({"Tiny": result}) == table


def test_evaluate_set_aligns_sr_with_cropped_hr(tmp_path):
    images = _write_set(tmp_path)
    hr_queue = [mod_crop(img, 3) for img in images.values()]

    def oracle(lr):
        hr = hr_queue.pop(0)
        return np.repeat(hr[:, :, None], 3, axis=2) if hr.ndim == 2 else hr

    result = evaluate_set(tmp_path / "Tiny" / "HR", oracle, scale=3)
    assert result["set"] == "Tiny"
    assert result["psnr"] == float("inf") and result["ssim"] == pytest.approx(1.0)


def test_evaluate_set_rejects_bad_upscalers(tmp_path):
    _write_set(tmp_path)
    with pytest.raises(ValueError):
        evaluate_set(tmp_path / "Tiny", lambda lr: lr, scale=3)
    with pytest.raises(TypeError):
        evaluate_set(tmp_path / "Tiny", lambda lr: _nearest(lr).astype(np.float32), scale=3)


# Bicubic x3 rows as published in the RCAN paper (Table: BI degradation), checked within +-0.02 dB / +-0.002.
PUBLISHED_BICUBIC_X3 = {"Set5": (30.39, 0.8682), "Set14": (27.55, 0.7742)}


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(PUBLISHED_BICUBIC_X3))
def test_bicubic_x3_reproduces_published_baseline(name):
    if not (DATA / name / "HR").is_dir():
        pytest.skip(f"{DATA / name} not present")
    result = evaluate_set(DATA / name, lambda lr: bicubic_upscale(lr, 3), scale=3)
    psnr, ssim = PUBLISHED_BICUBIC_X3[name]
    assert result["psnr"] == pytest.approx(psnr, abs=0.02)
    assert result["ssim"] == pytest.approx(ssim, abs=0.002)
