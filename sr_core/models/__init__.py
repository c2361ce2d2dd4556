"""Architectures known to the engine, each detected from its state-dict keys (spandrel-style)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from sr_core.models.rcan import RCAN, detect_rcan_config
from sr_core.models.safmn import SAFMN, detect_safmn_config


class UnsupportedCheckpoint(ValueError):
    """The state dict matches no supported architecture; the message says what was missing."""


@dataclass(frozen=True)
class Architecture:
    name: str
    signature_keys: tuple[str, ...]  # keys every checkpoint of this architecture has
    build: Callable[[dict[str, torch.Tensor]], nn.Module]  # state dict -> model with detected config


def _build_rcan(state_dict: dict[str, torch.Tensor]) -> nn.Module:
    return RCAN(detect_rcan_config(state_dict))


ARCHITECTURES: list[Architecture] = [
    Architecture(
        "RCAN",
        ("sub_mean.weight", "head.0.weight", "body.0.body.0.body.3.conv_du.0.weight", "tail.0.0.weight", "tail.1.weight"),
        _build_rcan,
    ),
    Architecture(
        "SAFMN",
        ("to_feat.weight", "feats.0.norm1.weight", "feats.0.safm.mfr.0.weight", "feats.0.safm.aggr.weight",
         "feats.0.ccm.ccm.0.weight", "to_img.0.weight"),
        lambda state_dict: SAFMN(detect_safmn_config(state_dict)),
    ),
]


def model_from_state_dict(state_dict: dict[str, torch.Tensor]) -> tuple[nn.Module, str]:
    """Detect the architecture, build it and load the tensors strictly.

    Raises UnsupportedCheckpoint naming the missing or unexpected keys.
    """
    best: tuple[int, Architecture] | None = None
    for arch in ARCHITECTURES:
        present = sum(k in state_dict for k in arch.signature_keys)
        if present == len(arch.signature_keys):
            model = arch.build(state_dict)
            expected = model.state_dict()
            missing = sorted(set(expected) - set(state_dict))
            unexpected = sorted(set(state_dict) - set(expected))
            if missing or unexpected:
                raise UnsupportedCheckpoint(
                    f"looks like {arch.name} but keys differ: missing {_preview(missing)}, "
                    f"unexpected {_preview(unexpected)}"
                )
            bad_shapes = [k for k, v in expected.items() if tuple(v.shape) != tuple(state_dict[k].shape)]
            if bad_shapes:
                raise UnsupportedCheckpoint(f"looks like {arch.name} but shapes differ for {_preview(bad_shapes)}")
            model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
            return model.eval(), arch.name
        if best is None or present > best[0]:
            best = (present, arch)
    names = ", ".join(a.name for a in ARCHITECTURES)
    hint = ""
    if best is not None:
        missing = [k for k in best[1].signature_keys if k not in state_dict]
        hint = f"; closest is {best[1].name}, missing {_preview(missing)}"
    raise UnsupportedCheckpoint(
        f"not a supported super-resolution checkpoint ({names}): {len(state_dict)} keys such as "
        f"{_preview(sorted(state_dict))}{hint}"
    )


def _preview(keys: list[str], n: int = 3) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(repr(k) for k in keys[:n]) + more
