"""image_io: every photo kind comes back x3 in the same kind; bad files give one clear ImageError."""
from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sr_core.image_io import (
    BUILTIN_MAX_PIXELS,
    ImageError,
    InputImage,
    enlarge,
    from_uint8,
    max_pixels_from_env,
    read_image,
    save_png,
    to_uint8,
)

RNG = np.random.default_rng(0)
W, H = 5, 4  # not square, so a swapped width/height shows


def nearest_x3(rgb: np.ndarray) -> np.ndarray:
    """Exact stand-in for the network: each pixel becomes a 3x3 block."""
    return np.repeat(np.repeat(rgb, 3, axis=0), 3, axis=1)


def random_u8(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def png_data(im: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def alpha_pattern() -> np.ndarray:
    return np.where(np.indices((H, W)).sum(axis=0) % 2 == 0, 255, 0).astype(np.uint8)  # checkerboard


def palette_image(transparent_index: int | None) -> Image.Image:
    im = Image.fromarray(RNG.integers(0, 4, (H, W), dtype=np.uint8), mode="P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 100, 50])
    if transparent_index is not None:
        im.info["transparency"] = transparent_index
    return im


# (source image, expected output mode, the source converted by Pillow to that mode = expected colour/alpha content)
MODE_CASES = {
    "RGB": lambda: (Image.fromarray(random_u8(H, W, 3)), "RGB", None),
    "RGBA": lambda: (Image.fromarray(np.dstack([random_u8(H, W, 3), alpha_pattern()])), "RGBA", None),
    "LA": lambda: (Image.fromarray(np.dstack([random_u8(H, W), alpha_pattern()])), "LA", None),
    "L": lambda: (Image.fromarray(random_u8(H, W)), "L", None),
    "1": lambda: (Image.fromarray(random_u8(H, W)).convert("1"), "L", "L"),
    "P": lambda: (palette_image(None), "RGB", "RGB"),
    "P+transparency": lambda: (palette_image(2), "RGBA", "RGBA"),
    "CMYK": lambda: (Image.fromarray(random_u8(H, W, 4), mode="CMYK"), "RGB", "RGB"),
    "YCbCr": lambda: (Image.fromarray(random_u8(H, W, 3), mode="YCbCr"), "RGB", "RGB"),
    "LAB": lambda: (Image.fromarray(random_u8(H, W, 3), mode="LAB"), "RGB", "RGB"),
    "HSV": lambda: (Image.fromarray(random_u8(H, W, 3), mode="HSV"), "RGB", "RGB"),
    "I;16": lambda: (Image.fromarray(RNG.integers(0, 65536, (H, W), dtype=np.uint16)), "I;16", None),
}


@pytest.mark.parametrize("case", sorted(MODE_CASES))
def test_every_mode_comes_back_x3_in_the_right_mode(case: str) -> None:
    source, output_mode, reference_mode = MODE_CASES[case]()
    reference = source.convert(reference_mode) if reference_mode else source
    loaded = read_image(source)
    assert loaded.original_mode == source.mode
    assert loaded.output_mode == output_mode
    assert loaded.size == (W, H)
    assert loaded.rgb.shape == (H, W, 3) and loaded.rgb.dtype == np.float32
    assert (loaded.alpha is not None) == (output_mode in ("RGBA", "LA"))

    result = enlarge(loaded, nearest_x3)
    assert result.mode == output_mode
    assert result.size == (3 * W, 3 * H)
    got = np.asarray(result)
    want = np.asarray(reference.resize((3 * W, 3 * H), Image.Resampling.NEAREST))
    if output_mode in ("RGBA", "LA"):
        np.testing.assert_array_equal(got[..., :-1], want[..., :-1])  # colour: exact through the nearest fake
        # Bicubic alpha hits the source value exactly at each 3x3 block's centre.
        np.testing.assert_allclose(got[1::3, 1::3, -1], np.asarray(reference)[..., -1], atol=1)
    else:
        np.testing.assert_array_equal(got, want)


def test_alpha_is_enlarged_smoothly_not_as_blocks() -> None:
    rgba = Image.fromarray(np.dstack([random_u8(H, W, 3), alpha_pattern()]))
    alpha = np.asarray(enlarge(read_image(rgba), nearest_x3))[..., 3]
    assert 0 < np.count_nonzero((alpha > 0) & (alpha < 255))  # bicubic, not the network's nearest repeat


def test_palette_transparency_becomes_alpha() -> None:
    im = palette_image(2)
    loaded = read_image(png_data(im))
    np.testing.assert_array_equal(loaded.alpha == 0, np.asarray(im) == 2)


def test_sixteen_bit_gray_survives_a_png_round_trip(tmp_path: Path) -> None:
    values = np.array([[40000, 0, 65535], [1, 12345, 65534]], np.uint16)
    loaded = read_image(png_data(Image.fromarray(values)))
    assert loaded.output_mode == "I;16"
    np.testing.assert_allclose(loaded.rgb[..., 0], values / 65535, rtol=1e-6)
    save_png(enlarge(loaded, nearest_x3), tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as reopened:
        assert reopened.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(reopened), np.repeat(np.repeat(values, 3, 0), 3, 1))


def test_float_and_32_bit_images_are_scaled_to_16_bit() -> None:
    inside = read_image(Image.fromarray(np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)))
    assert inside.output_mode == "I;16" and not inside.notes
    np.testing.assert_allclose(inside.rgb[..., 0], [[0, 0.25], [0.5, 1]], atol=1e-6)

    outside = read_image(Image.fromarray(np.array([[-100, 0], [100, 300]], np.int32)))
    np.testing.assert_allclose(outside.rgb[..., 1], [[0, 0.25], [0.5, 1]], atol=1e-6)
    assert "rescaled" in outside.notes[0]


def test_float_image_with_nan_is_refused() -> None:
    with pytest.raises(ImageError, match="NaN"):
        read_image(Image.fromarray(np.array([[0.0, np.nan]], np.float32)))


def test_exif_orientation_is_applied() -> None:
    pixels = random_u8(2, 4, 3)  # 4 wide, 2 high
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    loaded = read_image(png_data(Image.fromarray(pixels), exif=exif))
    assert loaded.size == (2, 4)
    result = enlarge(loaded, nearest_x3)
    assert result.size == (6, 12)
    rotated = np.rot90(pixels, k=-1)  # clockwise
    np.testing.assert_array_equal(np.asarray(result), np.repeat(np.repeat(rotated, 3, 0), 3, 1))


def test_icc_profile_is_kept_in_the_output(tmp_path: Path) -> None:
    image_cms = pytest.importorskip("PIL.ImageCms")
    profile = image_cms.ImageCmsProfile(image_cms.createProfile("sRGB")).tobytes()
    source = tmp_path / "tagged.png"
    Image.fromarray(random_u8(H, W, 3)).save(source, icc_profile=profile)
    loaded = read_image(source)
    assert loaded.icc_profile == profile and loaded.name == "tagged"
    save_png(enlarge(loaded, nearest_x3), tmp_path / "tagged_x3.png")
    with Image.open(tmp_path / "tagged_x3.png") as reopened:
        assert reopened.info.get("icc_profile") == profile


def test_profile_of_another_colour_space_is_dropped() -> None:
    image_cms = pytest.importorskip("PIL.ImageCms")
    rgb_profile = image_cms.ImageCmsProfile(image_cms.createProfile("sRGB")).tobytes()
    loaded = read_image(png_data(Image.fromarray(random_u8(H, W)), icc_profile=rgb_profile))  # gray + RGB profile
    assert loaded.output_mode == "L" and loaded.icc_profile is None
    assert "colour profile dropped" in loaded.notes[0]


def test_animated_gif_gives_first_frame_and_a_warning() -> None:
    frames = [Image.new("RGB", (W, H), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    with pytest.warns(UserWarning, match="2 frames"):
        loaded = read_image(buffer.getvalue())
    assert any("2 frames" in note for note in loaded.notes)
    np.testing.assert_allclose(loaded.rgb[0, 0], [1, 0, 0])


def test_grayscale_result_is_the_channel_average() -> None:
    loaded = read_image(Image.fromarray(np.full((H, W), 100, np.uint8)))

    def tinted(rgb: np.ndarray) -> np.ndarray:
        out = nearest_x3(rgb).copy()
        out[..., 0] += 3 / 255  # average shifts by exactly 1 level
        return out

    np.testing.assert_array_equal(np.asarray(enlarge(loaded, tinted)), 101)


def test_enlarge_rejects_a_wrong_shape_from_the_upscaler() -> None:
    loaded = read_image(Image.fromarray(random_u8(H, W, 3)))
    with pytest.raises(ValueError, match=r"\(12, 15, 3\)"):
        enlarge(loaded, lambda rgb: rgb)


def test_uint8_helpers_round_and_clip() -> None:
    every_level = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(from_uint8(every_level)), every_level)
    np.testing.assert_array_equal(to_uint8(np.array([-1.0, 0.5 / 255, 0.49 / 255, 0.5, 2.0])), [0, 1, 0, 128, 255])
    tall = np.linspace(0, 1, 600, dtype=np.float32)[:, None]  # spans several quantisation strips
    np.testing.assert_array_equal(to_uint8(tall)[:, 0], np.floor(np.linspace(0, 1, 600) * 255 + 0.5))


def test_max_pixels_from_env() -> None:
    assert max_pixels_from_env({}) == BUILTIN_MAX_PIXELS == 16_000_000
    assert max_pixels_from_env({"SR_MAX_PIXELS": "1_000"}) == 1000
    with pytest.warns(UserWarning, match="SR_MAX_PIXELS"):
        assert max_pixels_from_env({"SR_MAX_PIXELS": "lots"}) == BUILTIN_MAX_PIXELS


# ---- bad inputs: one clear ImageError each ----


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with a token IDAT: opening it allocates nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b"")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="nowhere.png: file not found"):
        read_image(tmp_path / "nowhere.png")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty.png is empty \(0 bytes\)"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="empty"):
        read_image(b"")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("this is not an image\n")
    with pytest.raises(ImageError, match="notes.png is not an image Pillow can read"):
        read_image(tmp_path / "notes.png")


def test_truncated_png(tmp_path: Path) -> None:
    data = png_data(Image.fromarray(random_u8(64, 64, 3)))
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png: the image data is damaged or incomplete .*truncated"):
        read_image(tmp_path / "cut.png")


@pytest.mark.parametrize("max_pixels", [BUILTIN_MAX_PIXELS, 10**12])
def test_header_claiming_40000_squared_is_refused_without_allocating(tmp_path: Path, max_pixels: int) -> None:
    (tmp_path / "bomb.png").write_bytes(png_with_header(40_000, 40_000))
    with pytest.raises(ImageError, match=r"bomb.png is too large: 1,600,000,000 pixels; the limit is [\d,]+ pixels"):
        read_image(tmp_path / "bomb.png", max_pixels=max_pixels)


def test_pillow_bomb_warning_is_an_error_even_under_a_higher_limit() -> None:
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")  # outside read_image the warning would only be shown, not raised
        with pytest.raises(ImageError, match=r"100,000,000 pixels; the limit is 89,478,485 pixels \(Pillow"):
            read_image(png_with_header(10_000, 10_000), max_pixels=10**9)
    assert not leaked


def test_size_limit_is_checked_before_decoding() -> None:
    # The header is valid but the pixel data is garbage: refusing by size proves no pixel was decoded.
    with pytest.raises(ImageError, match=r"image is too large: 100x100 = 10,000 pixels; the limit is 9,999 pixels"):
        read_image(png_with_header(100, 100), max_pixels=9_999)


def test_image_above_max_pixels_names_the_limit() -> None:
    with pytest.raises(ImageError, match=r"5x4 = 20 pixels; the limit is 19 pixels"):
        read_image(Image.fromarray(random_u8(H, W, 3)), max_pixels=19)
    assert isinstance(read_image(Image.fromarray(random_u8(H, W, 3)), max_pixels=20), InputImage)
