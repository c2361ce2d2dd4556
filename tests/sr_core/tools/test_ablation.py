"""The retrained ablations: each variant differs from RCAN only in the named part, its checkpoint says so, the
engine serves it exactly, the study runs and resumes, and the claim rule (supported iff the interval excludes 0)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from sr_core.cli import main
from sr_core.engine import Upscaler
from sr_core.models.rcan import RCAN, shallower, without_channel_attention, without_residual_skips
from sr_core.tools.ablation import (
    ARMS, MECHANISMS, ROW_KEYS, initial_weights, paired_effect, run_ablation, study_effects,
)
from sr_core.tools.train import save_weights, train
from sr_core.weights import BUNDLED_RCAN, load_weights
from tests.conftest import save_model, tiny_random_rcan
from tests.sr_core.tools.test_distill import PATCH, textured

ABLATIONS = {"no_channel_attention": without_channel_attention, "no_skip": without_residual_skips,
             "shallow": shallower}


def config_changes(a: RCAN, b: RCAN) -> dict:
    before, after = a.config.to_dict(), b.config.to_dict()
    return {k: after[k] for k in before if before[k] != after[k]}


@pytest.mark.parametrize("name", ABLATIONS)
def test_each_variant_differs_only_in_its_part(name: str) -> None:
    model = tiny_random_rcan()
    variant = ABLATIONS[name](model)
    original, ablated = model.state_dict(), variant.state_dict()
    if name == "no_channel_attention":
        assert config_changes(model, variant) == {"channel_attention": False}
        removed = {k for k in original if ".body.3.conv_du." in k}
        assert removed and set(ablated) == set(original) - removed
        kept = {k: original[k] for k in ablated}
    elif name == "no_skip":
        assert config_changes(model, variant) == {"residual_skips": False}
        assert set(ablated) == set(original)
        kept = original
    else:
        assert config_changes(model, variant) == {"n_resgroups": 1}
        # The first group is kept; the body's closing conv (body.2 of two groups) becomes body.1.
        kept = {k: v for k, v in original.items() if not k.startswith(("body.1.", "body.2."))}
        kept.update({k.replace("body.2.", "body.1.", 1): v for k, v in original.items() if k.startswith("body.2.")})
        assert set(ablated) == set(kept)
    assert all(torch.equal(ablated[k], kept[k]) for k in ablated)
    x = torch.rand(1, 3, 10, 12) * 255
    with torch.no_grad():
        assert not torch.allclose(model(x), variant(x))  # the part mattered to this network


def test_the_variants_run_what_their_config_says() -> None:
    """No CALayer means each block adds its residual ungated; no skips means the body alone feeds the tail."""
    model = tiny_random_rcan()
    x = torch.rand(1, 3, 9, 11) * 255
    with torch.no_grad():
        no_ca = without_channel_attention(model)
        assert all(len(block.body) == 3 for group in list(no_ca.body)[:-1] for block in list(group.body)[:-1])
        no_skip = without_residual_skips(model)
        shallow = no_skip.head(no_skip.sub_mean(x))
        deep = shallow
        for group in list(no_skip.body)[:-1]:
            deep = group.body(deep)  # no short skip around the group
        expected = no_skip.upsample(no_skip.body[-1](deep))  # no long skip
        torch.testing.assert_close(no_skip(x), expected)


@pytest.mark.parametrize("name", ABLATIONS)
def test_a_saved_variant_loads_as_itself_and_tiles_exactly(name: str, tmp_path: Path) -> None:
    """The checkpoint says which part is missing (keys, or metadata for the skips), and the engine's tiled pass
    equals the whole-image pass for the variant too."""
    variant = ABLATIONS[name](tiny_random_rcan())
    path = tmp_path / f"{name}.safetensors"
    save_weights(variant, path, "test", 0)
    loaded = load_weights(str(path))
    unused = {"reduction"} if name == "no_channel_attention" else set()  # without CALayers nothing records it
    assert {k: v for k, v in loaded.config.items() if k not in unused} == \
        {k: v for k, v in variant.config.to_dict().items() if k not in unused}
    x = np.random.default_rng(0).random((23, 29, 3), dtype=np.float32)
    engine = Upscaler(loaded.model, "cpu", precision="fp32")
    whole, tiled = engine.upscale(x, tile=64), engine.upscale(x, tile=8)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    with torch.no_grad():
        plain = loaded.model(torch.from_numpy(x).permute(2, 0, 1)[None] * 255)[0].permute(1, 2, 0).numpy() / 255
    np.testing.assert_allclose(whole, plain.clip(0, 1), atol=1e-4)


def test_without_the_metadata_a_skipless_checkpoint_would_load_as_the_normal_network(tmp_path: Path) -> None:
    """Why the metadata matters: the keys of the two are the same."""
    variant = without_residual_skips(tiny_random_rcan())
    plain = save_model(variant, tmp_path / "no_metadata.safetensors")
    assert load_weights(str(plain)).config["residual_skips"] is True
    save_weights(variant, tmp_path / "with.safetensors", "test", 0)
    assert load_weights(str(tmp_path / "with.safetensors")).config["residual_skips"] is False


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("sr")
    train_dir = root / "train" / "HR"
    train_dir.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(textured(80, 110, i)).save(train_dir / f"img{i}.png")
    evaluation = [root / "Set5", root / "Set14"]
    for s, folder in enumerate(evaluation):
        (folder / "HR").mkdir(parents=True)
        for i in range(3):
            Image.fromarray(textured(60, 75, 100 + 10 * s + i)).save(folder / "HR" / f"img{i}.png")
    return {"train": [root / "train"], "eval": evaluation}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(tiny_random_rcan(), tmp_path_factory.mktemp("base") / "base.safetensors")


def test_control_at_zero_steps_is_the_base_model(folders: dict, base: Path, tmp_path: Path) -> None:
    out = tmp_path / "control.safetensors"
    start = initial_weights(ARMS[0], tmp_path, base)
    assert start == base
    train(folders["train"], "tiny", out, iters=4, init=start, stop_at=0, log=lambda _: None)
    trained, original = load_weights(str(out)).model.state_dict(), load_weights(str(base)).model.state_dict()
    assert trained.keys() == original.keys()
    # fp16 on disk: the base's float32 values rounded once
    assert all(torch.equal(trained[k], original[k].half().float()) for k in trained)


def test_the_control_starts_as_the_bundled_rcan_itself(tmp_path: Path) -> None:
    """With the real recipe and file: 0 steps of the control arm give the bundled tensors exactly (both fp16)."""
    folder = tmp_path / "train"
    folder.mkdir()
    Image.fromarray(textured(150, 160, 0)).save(folder / "a.png")
    assert initial_weights(ARMS[0], tmp_path) == BUNDLED_RCAN
    out = tmp_path / "control.safetensors"
    train([folder], "finetune", out, iters=600, init=BUNDLED_RCAN, stop_at=0, log=lambda _: None)
    started, bundled = load_file(str(out)), load_file(str(BUNDLED_RCAN))
    assert started.keys() == bundled.keys() and all(torch.equal(started[k], bundled[k]) for k in bundled)


def study(folders: dict, base: Path, root: Path, only=(), steps: int = 4) -> list[dict]:
    return run_ablation(folders["train"], folders["eval"], steps, steps, root / "work", root / "results", only=only,
                        threads=1, rcan_config="tiny", data_config="tiny", base=base, patch=PATCH,
                        log=lambda _: None)


def test_the_study_scores_every_arm_and_continues_where_it_stopped(folders: dict, base: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    first = study(folders, base, tmp_path, only=["control"])
    assert [r["arm"] for r in first] == ["control"]
    control_file = Path(first[0]["checkpoint"])
    stamp = control_file.stat().st_mtime_ns
    rows = study(folders, base, tmp_path)
    assert [r["arm"] for r in rows] == [arm.name for arm in ARMS]
    assert control_file.stat().st_mtime_ns == stamp  # a finished arm is not trained again
    assert json.loads((tmp_path / "results" / "ablation_study.json").read_text()) == rows
    for row in rows:
        assert set(ROW_KEYS) <= set(row)
        assert row["steps"] == 4 and row["half"]["steps"] == 2
        assert len(row["per_image"]["texture_psnr"]) == 3
        # the row's checkpoint holds the network the arm names
        config = load_weights(row["checkpoint"]).config
        assert config.get("channel_attention", True) == (row["arm"] != "no_channel_attention")
        assert config.get("residual_skips", True) == (row["arm"] != "no_skip")
    assert set(study_effects(rows)) == {m.name for m in MECHANISMS}
    # `python -m sr_core evaluate ... --precision fp32 --split` reproduces a row
    row = rows[1]
    main(["evaluate", *map(str, folders["eval"]), "--weights", row["checkpoint"], "--precision", "fp32", "--split",
          "--json"])
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["Set14"]["psnr"] == row["set14_psnr"]
    assert f"Set14: PSNR on the most textured quarter of tiles {row['texture_psnr']:.4f} dB" in out
    with pytest.raises(ValueError, match="another protocol"):
        study(folders, base, tmp_path, steps=6)


def test_a_claim_is_supported_exactly_when_its_interval_excludes_zero() -> None:
    clear = paired_effect([30.5, 30.6, 30.4, 30.5], [30.0, 30.1, 29.9, 30.0], seed_db=0.05)
    assert clear.effect_db == pytest.approx(0.5) and clear.low > 0 and clear.supported
    noisy = paired_effect([30.5, 29.6, 30.4, 29.5], [30.0, 30.1, 29.9, 30.0], seed_db=0.05)
    assert noisy.low < 0 < noisy.high and not noisy.supported
    # a seed noise as large as the effect widens the interval past zero
    seedy = paired_effect([30.5, 30.6, 30.4, 30.5], [30.0, 30.1, 29.9, 30.0], seed_db=0.4)
    assert seedy.low < 0 and not seedy.supported
    harmful = paired_effect([30.0, 30.1, 29.9, 30.0], [30.5, 30.6, 30.4, 30.5], seed_db=0.05)
    assert harmful.high < 0 and harmful.supported  # removing the part helped: measurable, too
    single = paired_effect([31.0], [30.0], seed_db=0.0)
    assert math.isinf(single.high) and not single.supported  # one pair has no spread to measure
