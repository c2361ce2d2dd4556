"""Photos over the pixel limit: the region that is enlarged instead of a refusal."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sr_core.image_io import ImageTooLarge
from sr_core.photo_region import parse_centre, read_region, region_around, region_note


def test_a_photo_that_fits_is_its_own_region() -> None:
    region = region_around(200, 100, 20_000)
    assert region.box == (0, 0, 200, 100)


def test_a_phone_photo_gets_the_largest_region_the_limit_allows_at_its_centre() -> None:
    region = region_around(4000, 3000, 4_000_000)
    assert region.width * region.height <= 4_000_000
    assert region.width * region.height > 0.998 * 4_000_000  # as large as the limit allows
    assert abs(region.width / region.height - 4 / 3) < 0.01  # the photo's shape
    assert abs(region.centre[0] - 2000) <= 1 and abs(region.centre[1] - 1500) <= 1


def test_the_region_follows_the_click_but_stays_inside_the_photo() -> None:
    near = region_around(4000, 3000, 4_000_000, centre=(1500, 1600))
    assert near.centre == (1500, 1600)
    corner = region_around(4000, 3000, 4_000_000, centre=(3990, 5))
    assert corner.left + corner.width == 4000 and corner.top == 0
    assert (corner.width, corner.height) == (near.width, near.height)  # moved, never shrunk


def test_a_panorama_keeps_its_shape() -> None:
    region = region_around(20_000, 500, 4_000_000)
    assert 0.998 * 4_000_000 < region.width * region.height <= 4_000_000
    assert abs(region.width / region.height - 40) < 0.2 and region.top + region.height <= 500


def test_the_centre_is_two_numbers() -> None:
    assert parse_centre("") is None and parse_centre(None) is None
    assert parse_centre(" 12, 34 ") == (12, 34)
    for bad in ("12", "a,b", "1,2,3", "-5,3"):
        with pytest.raises(ValueError, match="region centre"):
            parse_centre(bad)


def jpeg(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=70, **options)
    return buffer.getvalue()


def test_read_region_crops_the_photo_as_shown_and_keeps_its_jpeg_quality(tmp_path) -> None:
    rng = np.random.default_rng(0)
    pixels = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    path = tmp_path / "phone.jpg"
    path.write_bytes(jpeg(pixels))
    decoded = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255

    whole, none = read_region(path, 60 * 40)
    assert none is None and whole.size == (60, 40)
    image, region = read_region(path, 600, centre=(50, 10))
    assert region.width * region.height <= 600 and (region.width, region.height) == (30, 20)
    assert (region.left, region.top) == (30, 0)
    assert image.size == (30, 20) and image.jpeg_quality == 70 and image.name == "phone"
    left, top, right, bottom = region.box
    assert np.array_equal(image.rgb, decoded[top:bottom, left:right])
    assert path.read_bytes()[:2] == b"\xff\xd8"  # the input is untouched

    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: 40 wide, 60 high
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(jpeg(pixels, exif=exif))
    shown = np.asarray(Image.open(rotated).convert("RGB").transpose(Image.Transpose.ROTATE_270), dtype=np.float32) / 255
    image, region = read_region(rotated, 600)
    assert (region.width, region.height) == (20, 30) and image.size == (20, 30)
    left, top, right, bottom = region.box
    assert np.array_equal(image.rgb, shown[top:bottom, left:right])


def test_pillow_s_bomb_limit_still_refuses(monkeypatch, tmp_path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2_000)  # 100x100 is more than twice this: an error
    with pytest.raises(ImageTooLarge):
        read_region(path, 500)


def test_the_note_says_which_region_and_how_to_enlarge_the_whole_photo() -> None:
    region = region_around(4000, 3000, 4_000_000)
    note = region_note(region, (4000, 3000), 4_000_000, "IMG_0042.jpg")
    assert f"{region.width}×{region.height}" in note and "4000×3000" in note
    assert "python -m sr_core upscale IMG_0042.jpg -o IMG_0042_x3.png" in note
