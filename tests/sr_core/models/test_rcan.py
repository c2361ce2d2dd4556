"""The RCAN module names are a contract with the official checkpoints."""
from __future__ import annotations

import pytest
import torch

from sr_core.checkpoint import CheckpointError, read_state_dict
from sr_core.models import UnsupportedCheckpoint, model_from_state_dict
from sr_core.models.rcan import RCAN, RCANConfig, detect_rcan_config
from tests.conftest import tiny_random_rcan


def published_keys(groups: int = 10, blocks: int = 20) -> set[str]:
    """The key list of the official RCAN_BIX3.pt, written out from its published layout."""
    keys = {"sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias", "head.0.weight", "head.0.bias"}
    for g in range(groups):
        for b in range(blocks):
            prefix = f"body.{g}.body.{b}.body"
            for layer in ("0", "2", "3.conv_du.0", "3.conv_du.2"):
                keys |= {f"{prefix}.{layer}.weight", f"{prefix}.{layer}.bias"}
        keys |= {f"body.{g}.body.{blocks}.weight", f"body.{g}.body.{blocks}.bias"}
    keys |= {f"body.{groups}.weight", f"body.{groups}.bias"}
    keys |= {"tail.0.0.weight", "tail.0.0.bias", "tail.1.weight", "tail.1.bias"}
    return keys


def test_full_x3_has_the_published_keys_and_parameter_count() -> None:
    state = RCAN().state_dict()
    assert set(state) == published_keys()
    assert len(state) == 1632
    assert sum(t.numel() for t in state.values()) == 15_629_307


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_config_is_detected_from_the_state_dict(scale: int) -> None:
    config = RCANConfig(n_resgroups=3, n_resblocks=2, n_feats=16, reduction=4, scale=scale)
    assert detect_rcan_config(RCAN(config).state_dict()) == config


def test_an_ambiguous_reduction_is_read_from_the_metadata_where_it_fits_the_shapes() -> None:
    """56 features squeeze to 3 channels with reduction 16 and with 18: the shapes alone cannot tell them apart."""
    state = RCAN(RCANConfig(n_resgroups=1, n_resblocks=1, n_feats=56, reduction=16, scale=3)).state_dict()
    assert detect_rcan_config(state).reduction == 18  # the shapes' own reading
    assert detect_rcan_config(state, {"reduction": "16"}).reduction == 16
    assert detect_rcan_config(state, {"reduction": "4"}).reduction == 18  # metadata that contradicts the shapes


def test_mean_shift_tensors_come_from_the_checkpoint() -> None:
    state = tiny_random_rcan().state_dict()
    state["sub_mean.bias"] = torch.tensor([-100.0, -110.0, -120.0])
    model, _ = model_from_state_dict(state)
    assert torch.equal(model.sub_mean.bias, state["sub_mean.bias"])


def save_variants(tmp_path, state: dict[str, torch.Tensor]) -> dict[str, object]:
    from safetensors.torch import save_file

    variants = {
        "plain.pt": state,
        "params.pth": {"params": state},
        "params_ema.pth": {"params_ema": state, "params": {k: torch.zeros_like(v) for k, v in state.items()}},
        "state_dict.pth": {"state_dict": state, "epoch": 3},
        "module.pt": {f"module.{k}": v for k, v in state.items()},
    }
    paths = {}
    for name, payload in variants.items():
        torch.save(payload, tmp_path / name)
        paths[name] = tmp_path / name
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    paths["model.safetensors"] = tmp_path / "model.safetensors"
    return paths


def test_every_checkpoint_format_gives_identical_outputs(tmp_path) -> None:
    paths = save_variants(tmp_path, tiny_random_rcan().state_dict())
    x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(1)) * 255
    outputs = {}
    for name, path in paths.items():
        model, arch = model_from_state_dict(read_state_dict(path))
        assert arch == "RCAN"
        with torch.no_grad():
            outputs[name] = model(x)
    reference = outputs.pop("plain.pt")
    assert reference.shape == (1, 3, 36, 30)
    assert reference.std() > 1.0  # a non-trivial output, so equality means something
    for name, out in outputs.items():
        assert torch.equal(out, reference), name


def test_another_architecture_is_refused_with_names(tmp_path) -> None:
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 3, 3)).state_dict()
    with pytest.raises(UnsupportedCheckpoint, match="not a supported super-resolution checkpoint.*missing"):
        model_from_state_dict(other)


def test_a_truncated_rcan_names_the_missing_keys() -> None:
    state = tiny_random_rcan().state_dict()
    del state["body.1.body.0.body.2.weight"]
    with pytest.raises(UnsupportedCheckpoint, match="body.1.body.0.body.2.weight"):
        model_from_state_dict(state)


def test_unreadable_checkpoints_raise_checkpoint_errors(tmp_path) -> None:
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    for path, message in [(empty, "empty"), (text, "cannot read"), (tmp_path / "missing.pt", "not found")]:
        with pytest.raises(CheckpointError, match=message):
            read_state_dict(path)


def test_pickled_code_is_not_executed(tmp_path) -> None:
    class Payload:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle code ran')",))

    path = tmp_path / "evil.pt"
    torch.save({"params": Payload()}, path)
    with pytest.raises(CheckpointError):
        read_state_dict(path)
