"""`python -m explain report`: the offline page and metrics.json contract, and clean failures."""
from __future__ import annotations

import base64
import gzip
import html
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from explain.cli import main
from explain.distill_study import finding, load_study
from explain.rcan.feature_views import VIEW_NAMES
from explain.summary import FIGURE_HELP as HOW_TO_READ  # every figure's, the architectures' own too
from explain.report import FIGURES_AFTER, markdown_to_html
from sr_core.tools.bench import random_rcan
from sr_core.models.rcan import RCANConfig
from sr_core.models.safmn import SAFMN, SAFMNConfig

RNG = np.random.default_rng(0)


def save_png(path: Path, height: int, width: int, mode: str = "RGB") -> Path:
    channels = len(mode)
    Image.fromarray((RNG.random((height, width, channels)) * 255).astype(np.uint8), mode).save(path)
    return path


def test_report_is_offline_and_metrics_hold_every_contract_key(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    image = save_png(tmp_path / "photo.png", 20, 24, "RGBA")
    original = save_png(tmp_path / "original.png", 60, 72)  # exactly x3: the image is taken as its input
    out = tmp_path / "report"
    rc = main(["report", str(image), "-o", str(out), "--weights", str(tiny_checkpoint), "--original", str(original)])
    assert rc == 0, capsys.readouterr().err

    page = (out / "index.html").read_text(encoding="utf-8")
    assert_offline(page)
    library = gzip.decompress(base64.b64decode(re.search(r'id="plotly-gzip"[^>]*>([^<]+)<', page)[1]))
    assert library.decode().count("* plotly.js v") == 1 and page.count('id="plotly-gzip"') == 1  # inlined once
    # every figure: the error maps, the retrained arms and their effects, the training data and the distillation
    # study included
    assert page.count('class="plot-data"') == 15
    assert page.count("<abbr title=") > 20  # glossary tooltips in the page
    study = page[page.index('<figure class="block" id="distill_study">'):]
    assert html.escape(finding(load_study()), quote=False) in study  # the chart with the study's finding
    assert "Papers and tools" in page and "arxiv.org/abs/2502.16025" in page

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["attention"]["shape"] == [2, 2, 8]
    assert metrics["attention"]["computed_on"] == [24, 20] == metrics["input"]["size"]
    assert isinstance(metrics["answer"]["short"], str) and "predicted" in metrics["answer"]["short"]
    for name in VIEW_NAMES:
        for key in ("hr_similarity", "consistency"):
            value = metrics["feature_views"][name][key]
            # the trained view knows only the bundled RCAN's features: for this tiny model, null and why
            assert value is None if name == "featsharp" else isinstance(value, float), (name, key)
    assert "bundled RCAN" in metrics["feature_views"]["featsharp"]["lineage"]
    depth = metrics["experiments"]["depth"]
    assert [d["groups"] for d in depth] == [0, 1, 2] and all(isinstance(d["psnr"], float) for d in depth)
    assert set(metrics["experiments"]["attention_off"]) >= {"psnr", "psnr_full", "mean_abs_change",
                                                            "texture_share_of_change"}
    assert set(metrics["texture"]["original"]) >= {"psnr_bicubic", "psnr_model", "ssim_bicubic", "ssim_model"}
    for key in ("attention_texture_correlation", "hf_energy_ratio_rcan_vs_bicubic"):
        assert isinstance(metrics["texture"][key], float), key
    assert metrics["texture"]["original"]["psnr_bicubic"] > 0
    assert metrics["input"] == {**metrics["input"], "size": [24, 20], "mode": "RGBA", "jpeg_quality": None}
    assert metrics["model"]["weights"] == tiny_checkpoint.name  # the file that served
    assert {"forward", "feature_views", "figures", "report_html"} <= set(metrics["timings"])
    assert [stage["name"] for stage in metrics["workflow"]][:3] == ["input", "preprocessing", "head"]
    # the retrained ablation arms on the region, the claims they support, where the added detail sits
    retrained = metrics["experiments"]["retrained"]
    assert {r["arm"] for r in retrained} >= {"control", "no_channel_attention", "no_skip", "shallow",
                                             "data_texture", "data_flat"}
    assert all(set(r) >= {"arm", "psnr", "detail_ratio", "texture_share"} and isinstance(r["psnr"], float)
               for r in retrained)
    claims = metrics["answer"]["claims"]
    assert {c["mechanism"] for c in claims} == {"channel attention", "skip connections", "full depth",
                                                "textured training data"}
    for claim in claims:
        low, high = claim["interval"]
        assert claim["supported"] == (low > 0 or high < 0) and low <= claim["effect_db"] <= high
    assert isinstance(metrics["texture"]["real_detail_share"], float)


def test_an_original_that_is_not_x3_of_the_image_becomes_the_input_shrunk_x3(tiny_checkpoint, tmp_path, capsys):
    image = save_png(tmp_path / "photo.png", 30, 36)
    out = tmp_path / "report"
    assert main(["report", str(image), "-o", str(out), "--weights", str(tiny_checkpoint), "--original", str(image)]) == 0
    assert "shrunk x3 with the paper's bicubic (12x10)" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["attention"]["computed_on"] == [12, 10] == metrics["input"]["size"]


def test_metrics_say_the_jpeg_quality_of_the_photo(tiny_checkpoint, tmp_path, capsys):
    image = tmp_path / "photo.jpg"
    Image.fromarray((RNG.random((20, 24, 3)) * 255).astype(np.uint8)).save(image, quality=60)
    out = tmp_path / "report"
    assert main(["report", str(image), "-o", str(out), "--weights", str(tiny_checkpoint)]) == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["input"]["jpeg_quality"] == 60 and metrics["model"]["weights"] == tiny_checkpoint.name
    jpeg = metrics["texture"]["jpeg"]  # its fine detail counted apart on the 8x8 block edges and off them
    assert jpeg["quality"] == 60 and 0 < jpeg["grid_share"] < 1 and jpeg["clean_on_grid"] > 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "This photo is a JPEG" in page and "saved at quality about 60" in page


def _safmn_checkpoint(path: Path) -> Path:
    model = SAFMN(SAFMNConfig(dim=8, n_blocks=1, scale=3))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.mark.parametrize("problem", ["not an image", "missing image", "bad checkpoint", "not SR", "tiny image"])
def test_bad_input_exits_2_with_one_line(problem, tiny_checkpoint, tmp_path, capsys):
    image = save_png(tmp_path / "photo.png", 20, 20)
    weights = tiny_checkpoint
    if problem == "not an image":
        image.write_text("hello")
    elif problem == "missing image":
        image = tmp_path / "nowhere.png"
    elif problem == "bad checkpoint":
        weights = tmp_path / "bad.safetensors"
        weights.write_bytes(b"\x00" * 64)
    elif problem == "not SR":
        weights = tmp_path / "classifier.pth"
        torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2)).state_dict(), weights)
    else:
        image = save_png(tmp_path / "tiny.png", 4, 5)
    rc = main(["report", str(image), "-o", str(tmp_path / "out"), "--weights", str(weights)])
    err_lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("weights:")]
    assert rc == 2
    assert len(err_lines) == 1 and err_lines[0].startswith("error: "), err_lines
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_report_says_which_precision_the_engine_ran(tiny_checkpoint, tmp_path, capsys):
    image = save_png(tmp_path / "photo.png", 30, 36)
    out = tmp_path / "report"
    wide = tmp_path / "wide_rcan.safetensors"  # 32 features: wide enough for bf16 convs (the tiny one is not)
    model = random_rcan(RCANConfig(n_resgroups=1, n_resblocks=1, n_feats=32, reduction=8))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(wide))
    assert main(["report", str(image), "-o", str(out), "--weights", str(wide), "--precision", "bf16"]) == 0
    assert "precision: bf16" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["model"]["precision"] == "bf16"
    assert "<h1>How RCAN enlarges photo.png x3 (bf16)</h1>" in (out / "index.html").read_text(encoding="utf-8")
    assert main(["report", str(image), "-o", str(out), "--weights", str(tiny_checkpoint), "--precision", "bf16"]) == 0
    assert json.loads((out / "metrics.json").read_text())["model"]["precision"] == "fp32"  # what ran, not what was asked
    with pytest.raises(SystemExit) as refused:  # argparse refuses an unknown choice with status 2
        main(["report", str(image), "-o", str(out), "--weights", str(tiny_checkpoint), "--precision", "fp8"])
    assert refused.value.code == 2


def test_a_safmn_checkpoint_gets_its_own_report(tmp_path):
    image = save_png(tmp_path / "photo.png", 24, 20)
    weights = _safmn_checkpoint(tmp_path / "safmn.safetensors")
    assert main(["report", str(image), "-o", str(tmp_path / "out"), "--weights", str(weights)]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["model"]["arch"] == "SAFMN"
    assert len(metrics["modulation"]["blocks"]) == 1 and "attention" not in metrics
    page = (tmp_path / "out" / "index.html").read_text()
    assert 'id="safm_modulation"' in page and "How SAFMN enlarges" in page


def test_markdown_subset_renders_links_lists_and_tables():
    markdown = "## Title\n\n- **a** [x](https://e.org/p)\n  more\n- b\n\n| h | k |\n|---|---|\n| 1 | <2> |"
    html = markdown_to_html(markdown)
    assert "<h3>Title</h3>" in html
    assert '<li><strong>a</strong> <a href="https://e.org/p">x</a> more</li><li>b</li>' in html
    assert "<th>h</th>" in html and "<td>&lt;2&gt;</td>" in html


def assert_offline(page: str) -> None:
    """Nothing the page loads is outside it: every src and CSS url() is a data: URI, no <link>, no <iframe>."""
    assert not re.search(r"<(link|iframe|object|embed)\b", page)
    assert re.findall(r"\bsrc=\"(?!data:image/png;base64,)", page) == []
    assert re.findall(r"url\((?!data:)", page) == []
    assert not re.search(r"<script[^>]*\bsrc=", page)


def _report(args: list[str], out: Path) -> tuple[str, dict]:
    assert main(["report", *args, "-o", str(out)]) == 0
    return (out / "index.html").read_text(encoding="utf-8"), json.loads((out / "metrics.json").read_text())


def test_the_handout_shows_the_photo_and_each_figure_after_its_text_with_how_to_read_it(tiny_checkpoint, tmp_path):
    image = save_png(tmp_path / "photo.png", 40, 48)
    original = save_png(tmp_path / "original.png", 120, 144)
    page, _ = _report([str(image), "--weights", str(tiny_checkpoint), "--original", str(original)], tmp_path / "r")
    photo = page.index('<section id="photo">')
    assert page.index("The short answer") < photo < page.index("The task")
    crops = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page[photo:page.index("</section>", photo)])
    assert [html.unescape(alt) for alt, _ in crops] == ["the input photo", "the input's pixels, each drawn as a square",
                                         "bicubic (MATLAB imresize), x3", "RCAN, x3: the enlargement you get",
                                         "the original: what the enlargement should be"]
    sizes = [Image.open(io.BytesIO(base64.b64decode(data))).size for _, data in crops]
    assert sizes == [(48, 40), (48, 40), *[(144, 120)] * 3]  # lossless, at the pixels' own size
    figures = re.findall(r'<figure class="block" id="(\w+)">', page)
    assert len(figures) == len(set(figures)) == 15  # each figure once, the retrained arms, training data and study
    for key in figures:
        if key in HOW_TO_READ:  # a figure of this photo: after the part of the text that speaks of it
            at = page.index(f'<figure class="block" id="{key}">')
            heading = re.sub(r"<[^>]+>", "", re.findall(r"<h[34]>(.*?)</h[34]>", page[:at])[-1])
            assert any(heading.startswith(start) and key in keys for start, keys in FIGURES_AFTER.items()), (key, heading)
            caption = page[at:page.index("</figure>", at)]
            assert HOW_TO_READ[key] in html.unescape(re.sub(r"<[^>]+>", "", caption)), key
    assert "@page { size: A4" in page and "break-inside: avoid" in page and "max-width: 100% !important" in page


def _flat(record: dict, prefix: str = "") -> dict:
    """Every number and string of a metrics record by its dotted key."""
    items = record.items() if isinstance(record, dict) else enumerate(record)
    out = {}
    for key, value in items:
        name = f"{prefix}.{key}" if prefix else str(key)
        out.update(_flat(value, name) if isinstance(value, (dict, list)) else {name: value})
    return out


def _same_numbers(app_metrics: dict, report_metrics: dict) -> None:
    """The two records agree on every number but the clock's and what the report adds (weights, precision)."""
    skip = ("timings.", "weights.", "model.precision", "workflow.")
    app_values = {k: v for k, v in _flat(app_metrics).items() if not k.startswith(skip)}
    report_values = {k: v for k, v in _flat(report_metrics).items() if not k.startswith(skip)}
    assert app_values.keys() == report_values.keys()
    for key, value in app_values.items():
        if isinstance(value, float) and math.isfinite(value):
            assert report_values[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        else:
            assert report_values[key] == value, key
    assert [s["shape"] for s in app_metrics["workflow"]] == [s["shape"] for s in report_metrics["workflow"]]


@pytest.mark.parametrize("options", ["plain", "click", "original", "original and click"])
def test_the_report_gives_the_apps_numbers_for_the_same_photo_and_options(options, tiny_checkpoint, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("SR_WEIGHTS", str(tiny_checkpoint))
    monkeypatch.delenv("SR_HUB_REPO", raising=False)
    import app

    photo = save_png(tmp_path / "photo.png", 150, 180)  # larger than the 128-px working region: the region moves
    with_original, click = "original" in options, (150, 96) if "click" in options else None
    *_, app_metrics, _, _ = app.explain(str(photo), with_original, "default", "rcan",
                                        None if click is None else (str(photo), *click))
    args = [str(photo), "--weights", str(tiny_checkpoint)]
    args += ["--original", str(photo)] if with_original else []
    args += ["--focus", f"{click[0]},{click[1]}"] if click else []
    page, report_metrics = _report(args, tmp_path / "r")
    _same_numbers(app_metrics, report_metrics)
    if not with_original:  # (with it, the input is the photo shrunk x3: the whole of it is the region)
        assert ("most textured" in report_metrics["input"]["working_region"]["how"]) == (click is None)
    options_line = page[page.index('<p id="options">'):page.index("</p>", page.index('<p id="options">'))]
    assert f"<em>I have the original</em> {'on' if with_original else 'off'}" in options_line
    assert ("x=150, y=96" in options_line) == (click is not None)


def test_a_bad_focus_exits_2(tiny_checkpoint, tmp_path):
    image = save_png(tmp_path / "photo.png", 20, 20)
    with pytest.raises(SystemExit) as refused:
        main(["report", str(image), "-o", str(tmp_path / "out"), "--weights", str(tiny_checkpoint), "--focus", "3;4"])
    assert refused.value.code == 2 and not (tmp_path / "out").exists()


def test_a_focus_outside_the_photo_exits_2_in_one_line(tiny_checkpoint, tmp_path, capsys):
    image = save_png(tmp_path / "photo.png", 20, 20)
    code = main(["report", str(image), "-o", str(tmp_path / "out"), "--weights", str(tiny_checkpoint),
                 "--focus", "99999,5"])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "--focus 99999,5 is outside the 20x20 photo" in message
    assert not (tmp_path / "out").exists()


# --- the report never overwrites its input, and refuses a bad -o before any work --------------------


@pytest.fixture()
def no_work(monkeypatch):
    """The analysis fails the test: a refusal must come before the seconds of work, not after."""
    import explain.analysis

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("the report started its work before refusing")

    monkeypatch.setattr(explain.analysis, "analyze_any", refuse)


@pytest.mark.parametrize("which", ["image as DIR/index.html", "original as DIR/metrics.json",
                                   "image hard-linked as DIR/metrics.json"])
def test_the_report_never_overwrites_an_input(which, tiny_checkpoint, tmp_path, capsys, no_work):
    out = tmp_path / "d"
    out.mkdir()
    photo = save_png(tmp_path / "photo.png", 20, 20)
    if which.startswith("image as"):
        image = out / "index.html"
        image.write_bytes(photo.read_bytes())
        args = [str(image)]
    elif which.startswith("original"):
        original = out / "metrics.json"
        original.write_bytes(save_png(tmp_path / "hr.png", 60, 60).read_bytes())
        image = original
        args = [str(photo), "--original", str(original)]
    else:
        image = out / "metrics.json"
        image.hardlink_to(photo)
        args = [str(photo)]
    before = image.read_bytes()
    rc = main(["report", *args, "-o", str(out), "--weights", str(tiny_checkpoint)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"error: refusing to overwrite the input {args[-1] if 'original' in which else args[0]} "
                               f"(the output {image} is the same file)"], err
    assert image.read_bytes() == before


def test_an_existing_file_as_the_output_folder_is_refused_before_any_work(tiny_checkpoint, tmp_path, capsys, no_work):
    photo = save_png(tmp_path / "photo.png", 20, 20)
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    assert main(["report", str(photo), "-o", str(taken), "--weights", str(tiny_checkpoint)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is an existing file" in err[0] and "give a folder" in err[0], err
    assert taken.read_text() == "keep me"


def test_a_folder_as_the_input_is_called_a_folder(tiny_checkpoint, tmp_path, capsys, no_work):
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "out"), "--weights", str(tiny_checkpoint)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a directory" in err[0] and "not found" not in err[0], err
