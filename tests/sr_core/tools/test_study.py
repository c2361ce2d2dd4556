"""The dataset-distillation study: one protocol per arm, rows the evaluate command reproduces, resume."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from sr_core.cli import main
from sr_core.tools.distill import MatchSettings
from sr_core.models.rcan import RCANConfig
from sr_core.tools.study import ROW_KEYS, run_study, study_arms
from tests.sr_core.tools.test_distill import PATCH, textured

FAST = MatchSettings(steps=2, syn_batch=2, real_batch=4, model=RCANConfig(1, 1, 8, 4, 3))
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Two training folders (18 candidate 36px patches) and two small evaluation sets, one image gray."""
    root = tmp_path_factory.mktemp("sr")
    train = [root / "A", root / "B"]
    for f, folder in enumerate(train):
        (folder / "HR").mkdir(parents=True)
        for i in range(2 - f):
            Image.fromarray(textured(80, 110, 10 * f + i)).save(folder / "HR" / f"img{i}.png")
    evaluation = [root / "Set5", root / "Set14"]
    for s, folder in enumerate(evaluation):
        (folder / "HR").mkdir(parents=True)
        Image.fromarray(textured(31, 40, 100 + s)).save(folder / "HR" / "rgb.png")
        Image.fromarray(textured(30, 30, 200 + s)[:, :, 0]).save(folder / "HR" / "gray.png")
    return {"train": train, "eval": evaluation}


def study(folders: dict[str, list[Path]], root: Path, steps: int = 4, log=lambda _: None) -> list[dict]:
    return run_study(folders["train"], folders["eval"], steps, root / "work", root / "results", config="tiny",
                     extra_keeps=[0.1], patch=PATCH, match_settings=FAST, log=log)


def tensors(path: Path) -> dict[str, torch.Tensor]:
    """The weights alone (safetensors writes its metadata in no fixed order, so the bytes may differ)."""
    return load_file(str(path))


@pytest.fixture(scope="module")
def straight(folders: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted study."""
    root = tmp_path_factory.mktemp("straight")
    study(folders, root)
    return root


def test_every_arm_gets_a_row_with_the_contract_keys(straight: Path) -> None:
    rows = json.loads((straight / "results" / "distill_study.json").read_text())
    assert [r["arm"] for r in rows] == ["full", "random", "texture", "gradient", "random-0.1"]
    assert [r["keep"] for r in rows] == [1.0, 0.0888, 0.0888, 0.0888, 0.1]
    for row in rows:
        assert tuple(row) == ROW_KEYS
        assert row["steps"] == 4 and row["config"] == "tiny" and row["seconds"] >= 0
        assert Path(row["checkpoint"]) == straight / "results" / "distill_study" / f"{row['arm']}.safetensors"
        assert Path(row["checkpoint"]).is_file()
    # Only the data differ: the subsets were built and trained on, so the arms' weights differ.
    weights = [tensors(Path(r["checkpoint"])) for r in rows]
    assert all(not torch.equal(a["head.0.weight"], b["head.0.weight"]) for a, b in zip(weights, weights[1:]))


def test_the_evaluate_command_reproduces_each_row(straight: Path, folders: dict[str, list[Path]],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for row in json.loads((straight / "results" / "distill_study.json").read_text()):
        capsys.readouterr()
        assert main(["evaluate", *map(str, folders["eval"]), "--weights", row["checkpoint"], "--json"]) == 0
        scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert scores == {"Set5": {"psnr": row["set5_psnr"], "ssim": row["set5_ssim"]},
                          "Set14": {"psnr": row["set14_psnr"], "ssim": row["set14_ssim"]}}


def test_an_interrupted_study_continues_to_the_same_weights(straight: Path, folders: dict[str, list[Path]],
                                                            tmp_path: Path) -> None:
    def stop_in_texture(message: str) -> None:
        if message.startswith("texture: step 4/4"):  # logged before the step-4 state is saved: the state is at 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study(folders, tmp_path, log=stop_in_texture)
    done = json.loads((tmp_path / "results" / "distill_study.json").read_text())
    assert [r["arm"] for r in done] == ["full", "random"]

    messages: list[str] = []
    rows = study(folders, tmp_path, log=messages.append)
    assert "full: done" in messages and "random: done" in messages
    assert "texture: resumed at step 2 of 4" in messages
    assert not any(m.startswith("full: step") for m in messages)  # finished arms are not trained again
    for row in rows:
        again = straight / "results" / "distill_study" / f"{row['arm']}.safetensors"
        resumed, uninterrupted = tensors(Path(row["checkpoint"])), tensors(again)
        assert resumed.keys() == uninterrupted.keys()
        assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed), row["arm"]


def test_a_rerun_with_another_protocol_is_refused(straight: Path, folders: dict[str, list[Path]],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="steps differ"):
        study(folders, straight, steps=6)
    code = main(["study", "--data", *map(str, folders["train"]), "--eval", *map(str, folders["eval"]),
                 "--steps", "6", "--config", "tiny", "--work", str(straight / "work"),
                 "--results", str(straight / "results"), "--patch", str(PATCH)])
    assert code == 2 and "another protocol" in capsys.readouterr().err
    assert main(["study", "--data", "/no/such/folder", "--eval", str(folders["eval"][0]), "--steps", "2"]) == 2


def test_chosen_arms_only(folders: dict[str, list[Path]], tmp_path: Path) -> None:
    rows = run_study(folders["train"], folders["eval"], 2, tmp_path / "work", tmp_path / "results", config="tiny",
                     patch=PATCH, match_settings=FAST, only=["texture"], log=lambda _: None)
    assert [r["arm"] for r in rows] == ["texture"]
    with pytest.raises(ValueError, match="no arm texure"):
        run_study(folders["train"], folders["eval"], 2, tmp_path / "work", tmp_path / "results", config="tiny",
                  patch=PATCH, match_settings=FAST, only=["texure"])


def test_the_arms_are_the_full_set_and_the_papers_share() -> None:
    arms = study_arms([0.025])
    assert [(a.name, a.method, a.keep) for a in arms] == [
        ("full", "full", 1.0), ("random", "random", 0.0888), ("texture", "texture", 0.0888),
        ("gradient", "gradient", 0.0888), ("random-0.025", "random", 0.025)]


@pytest.mark.data
def test_the_committed_rows_are_reproduced_on_set5(shared_sr: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each committed checkpoint, scored again on the shared Set5, gives its row's numbers."""
    path = REPO / "bench" / "results" / "distill_study.json"
    if not path.is_file():
        pytest.skip("the study has not been run yet")
    rows = json.loads(path.read_text())
    for row in rows:
        assert tuple(row) == ROW_KEYS
        capsys.readouterr()
        assert main(["evaluate", str(shared_sr / "Set5"), "--weights", str(REPO / row["checkpoint"]), "--json"]) == 0
        scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["Set5"]
        assert np.isclose(scores["psnr"], row["set5_psnr"], atol=1e-3), (row["arm"], scores)
        assert np.isclose(scores["ssim"], row["set5_ssim"], atol=1e-4), (row["arm"], scores)
