"""The `python -m sr_core` contract: outputs, exit codes, one-line errors, no tracebacks."""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str | Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    import os

    full_env = {**os.environ, "SR_HUB_REPO": "", "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sr_core", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env,
    )


def png_claiming(width: int, height: int) -> bytes:
    """A PNG signature and IHDR for a huge image, with no real pixel data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.jpg"
    Image.fromarray((rng.random((14, 18, 3)) * 255).astype(np.uint8)).save(path, quality=95)
    return path


def test_upscale_writes_a_3x_png(photo: Path, tmp_path: Path, tiny_checkpoint: Path) -> None:
    out = tmp_path / "out.png"
    result = run_cli("upscale", photo, "-o", out, "--weights", tiny_checkpoint, "--tile", "8")
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (54, 42) and image.mode == "RGB"
    assert "steps" in result.stderr  # progress goes to stderr
    assert photo.read_bytes()[:2] == b"\xff\xd8"  # the input is untouched


def test_several_inputs_go_to_a_directory(photo: Path, tmp_path: Path, tiny_checkpoint: Path) -> None:
    second = tmp_path / "second.png"
    Image.new("RGBA", (5, 7), (10, 200, 30, 128)).save(second)
    result = run_cli("upscale", photo, second, "-o", tmp_path / "outdir", "--weights", tiny_checkpoint)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "outdir" / "photo_x3.png").size == (54, 42)
    with Image.open(tmp_path / "outdir" / "second_x3.png") as rgba:
        assert rgba.mode == "RGBA" and rgba.size == (15, 21)
        assert np.allclose(np.asarray(rgba)[..., 3], 128, atol=1)


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_claiming(40000, 40000))
    return {
        "empty": (empty, "empty"),
        "text": (text, "not an image"),
        "truncated": (truncated, "damaged or incomplete"),
        "huge": (huge, "too large"),
    }


@pytest.mark.parametrize("case", ["empty", "text", "truncated", "huge"])
def test_bad_images_exit_2_with_one_line(case: str, tmp_path: Path, tiny_checkpoint: Path) -> None:
    path, message = bad_inputs(tmp_path)[case]
    result = run_cli("upscale", path, "-o", tmp_path / "out.png", "--weights", tiny_checkpoint)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_checkpoint_of_another_architecture_exits_2(photo: Path, tmp_path: Path) -> None:
    other = tmp_path / "resnet_like.pth"
    torch.save({"params": torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).state_dict()}, other)
    result = run_cli("upscale", photo, "-o", tmp_path / "out.png", "--weights", other)
    assert result.returncode == 2
    assert "not a supported super-resolution checkpoint" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_arguments_exit_2(photo: Path, tmp_path: Path, tiny_checkpoint: Path) -> None:
    assert run_cli("upscale", photo).returncode == 2  # no -o
    missing = run_cli("upscale", tmp_path / "nope.jpg", "-o", tmp_path / "o.png", "--weights", tiny_checkpoint)
    assert missing.returncode == 2 and "input not found" in missing.stderr
    same = run_cli("upscale", tmp_path / "a.png", "-o", tmp_path / "a.png", "--weights", tiny_checkpoint)
    assert same.returncode == 2
    wrong_suffix = run_cli("upscale", photo, "-o", tmp_path / "out.jpg", "--weights", tiny_checkpoint)
    assert wrong_suffix.returncode == 2 and ".png" in wrong_suffix.stderr


def test_input_is_never_overwritten(tmp_path: Path, tiny_checkpoint: Path) -> None:
    src = tmp_path / "x.png"
    Image.new("RGB", (6, 6), (1, 2, 3)).save(src)
    before = src.read_bytes()
    result = run_cli("upscale", src, "-o", src, "--weights", tiny_checkpoint)
    assert result.returncode == 2 and "overwrite" in result.stderr
    assert src.read_bytes() == before


def test_evaluate_prints_a_table_and_json(tmp_path: Path, tiny_checkpoint: Path) -> None:
    import json

    folder = tmp_path / "Mini" / "HR"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (36, 39, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    for weights in ("bicubic", str(tiny_checkpoint)):
        result = run_cli("evaluate", tmp_path / "Mini", "--weights", weights, "--json")
        assert result.returncode == 0, result.stderr
        scores = json.loads(result.stdout.strip().splitlines()[-1])
        assert set(scores) == {"Mini"} and 5 < scores["Mini"]["psnr"] < 60 and -1 < scores["Mini"]["ssim"] <= 1


# --- inputs are never overwritten, writes are atomic, the contract's edges -------------------------


def _tiny_png(path: Path, colour: tuple[int, int, int] = (1, 2, 3)) -> Path:
    Image.new("RGB", (6, 6), colour).save(path)
    return path


def test_an_output_that_is_another_input_is_refused_before_any_work(tmp_path: Path, tiny_checkpoint: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    first, second = _tiny_png(d / "a.png"), _tiny_png(d / "a_x3.png", (9, 9, 9))
    before = second.read_bytes()
    result = run_cli("upscale", first, second, "-o", f"{d}/", "--weights", tiny_checkpoint)
    assert result.returncode == 2 and "refusing to overwrite the input" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 2  # weights line + error
    assert second.read_bytes() == before
    assert not (d / "a_x3_x3.png").exists()  # nothing was written before the check


def test_a_hard_link_to_the_input_is_the_input(tmp_path: Path, tiny_checkpoint: Path) -> None:
    import os

    src = _tiny_png(tmp_path / "x.png")
    link = tmp_path / "link.png"
    os.link(src, link)
    before = src.read_bytes()
    result = run_cli("upscale", src, "-o", link, "--weights", tiny_checkpoint)
    assert result.returncode == 2 and "refusing to overwrite the input" in result.stderr
    assert src.read_bytes() == before


def test_a_write_that_fails_midway_leaves_no_truncated_png(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """A file-size limit makes the write fail after 64 KiB, as a full disk does: no partial out.png remains."""
    import resource
    import signal

    rgb = np.random.default_rng(3).integers(0, 256, (100, 100, 3), dtype=np.uint8)  # x3: ~270 kB as PNG
    src = tmp_path / "noise.png"
    Image.fromarray(rgb).save(src)
    out = tmp_path / "out.png"

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write then fails with EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    env = {**__import__("os").environ, "SR_HUB_REPO": "", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "sr_core", "upscale", str(src), "-o", str(out),
                             "--weights", str(tiny_checkpoint)], cwd=REPO, capture_output=True, text=True,
                            timeout=120, env=env, preexec_fn=limit_file_size)
    assert result.returncode == 2 and "cannot write out.png" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [src]  # no partial file, no leftover temp file


def test_an_output_with_a_trailing_slash_is_a_directory(photo: Path, tmp_path: Path, tiny_checkpoint: Path) -> None:
    result = run_cli("upscale", photo, "-o", f"{tmp_path / 'out dir'}/", "--weights", tiny_checkpoint)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out dir" / "photo_x3.png").is_file()


@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_pixels_must_be_positive(value: str, photo: Path, tmp_path: Path, tiny_checkpoint: Path) -> None:
    result = run_cli("upscale", photo, "-o", tmp_path / "o.png", "--max-pixels", value, "--weights", tiny_checkpoint)
    assert result.returncode == 2 and "--max-pixels" in result.stderr and "positive" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_the_pixel_limit_message_names_the_flag(tmp_path: Path, tiny_checkpoint: Path) -> None:
    big = _tiny_png(tmp_path / "big.png")
    result = run_cli("upscale", big, "-o", tmp_path / "o.png", "--max-pixels", "10", "--weights", tiny_checkpoint)
    assert result.returncode == 2 and "raise it with --max-pixels" in result.stderr
    assert "max_pixels or" not in result.stderr


def test_a_directory_input_is_named_a_directory(tmp_path: Path, tiny_checkpoint: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    result = run_cli("upscale", folder, "-o", tmp_path / "o.png", "--weights", tiny_checkpoint)
    assert result.returncode == 2 and "is a directory" in result.stderr and "not found" not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_device_cuda_without_a_gpu_exits_2_with_one_line(photo: Path, tmp_path: Path, tiny_checkpoint: Path) -> None:
    result = run_cli("upscale", photo, "-o", tmp_path / "o.png", "--device", "cuda", "--weights", tiny_checkpoint)
    assert result.returncode == 2 and "--device cuda" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def crafted_rcan(tmp_path: Path, change) -> Path:  # noqa: ANN001 - change: state dict -> None, edits in place
    from safetensors.torch import save_file

    from tests.conftest import tiny_random_rcan

    state = {k: v.clone().contiguous() for k, v in tiny_random_rcan().state_dict().items()}
    change(state)
    path = tmp_path / "crafted.safetensors"
    save_file(state, str(path))
    return path


def _huge_claim(state: dict) -> None:
    """A few kB claiming 2048 features and 400 groups (such a file, unchecked, drove RSS to 4.6 GB)."""
    state["head.0.weight"] = torch.zeros(2048, 1, 1, 1)
    state["tail.0.0.weight"] = torch.zeros(2048 * 9, 1, 1, 1)  # x3
    state["body.0.body.0.body.3.conv_du.0.weight"] = torch.zeros(128, 1, 1, 1)  # reduction 16
    state["body.399.body.0.body.3.conv_du.0.weight"] = torch.zeros(1)


CRAFTED = {
    "huge": (_huge_claim, "outside the accepted"),
    "reduction 0": (lambda s: s.__setitem__("body.0.body.0.body.3.conv_du.0.weight", torch.zeros(64, 8, 1, 1)),
                    "reduction = 0"),
    "0-d head": (lambda s: s.__setitem__("head.0.weight", torch.tensor(1.0)), "describe no valid model"),
    "NaN": (lambda s: s["tail.1.weight"].fill_(float("nan")), "NaN or infinite"),
    "finite in float64 only": (lambda s: s.__setitem__("tail.1.weight", s["tail.1.weight"].double().fill_(1e300)),
                               "NaN or infinite"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_checkpoints_exit_2_with_one_line(case: str, photo: Path, tmp_path: Path) -> None:
    change, message = CRAFTED[case]
    weights = crafted_rcan(tmp_path, change)
    result = run_cli("upscale", photo, "-o", tmp_path / "o.png", "--weights", weights)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()
