"""Architectures known to the engine, each detected from its state-dict keys (spandrel-style).

A checkpoint is untrusted input: its shapes decide how large a model gets built. So the detected configuration
is checked against sane bounds, and the model's keys, shapes and size are checked on a skeleton built on
PyTorch's "meta" device (no memory behind it) *before* the real model is allocated; tensors holding NaN or
infinity are refused, since they would only ever produce a black picture.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from sr_core.models.rcan import RCAN, detect_rcan_config
from sr_core.models.safmn import SAFMN, detect_safmn_config

# The largest model accepted, in float32 bytes: 64x the published RCAN x3 (15.6 M parameters, 62 MB).
MAX_MODEL_BYTES = 4 << 30
# What reading the shapes may raise on a crafted file (0-d tensors, odd key names, zero divisions).
_DETECTION_ERRORS = (KeyError, IndexError, ValueError, ZeroDivisionError, TypeError)


class UnsupportedCheckpoint(ValueError):
    """The state dict matches no supported architecture; the message says what was missing."""


@dataclass(frozen=True)
class Architecture:
    name: str
    signature_keys: tuple[str, ...]  # keys every checkpoint of this architecture has
    detect: Callable[[dict[str, torch.Tensor]], object]  # state dict -> config (a dataclass with to_dict)
    build: Callable[[object], nn.Module]  # config -> model
    bounds: dict[str, tuple[float, float]]  # config field -> (lowest, highest) accepted value


ARCHITECTURES: list[Architecture] = [
    Architecture(
        "RCAN",
        ("sub_mean.weight", "head.0.weight", "body.0.body.0.body.3.conv_du.0.weight", "tail.0.0.weight", "tail.1.weight"),
        detect_rcan_config,
        RCAN,
        # The paper's x3 model: 10 groups x 20 blocks, 64 features, reduction 16.
        {"n_resgroups": (1, 64), "n_resblocks": (1, 100), "n_feats": (1, 512), "reduction": (1, 512),
         "scale": (2, 4)},
    ),
    Architecture(
        "SAFMN",
        ("to_feat.weight", "feats.0.norm1.weight", "feats.0.safm.mfr.0.weight", "feats.0.safm.aggr.weight",
         "feats.0.ccm.ccm.0.weight", "to_img.0.weight"),
        detect_safmn_config,
        SAFMN,
        # The paper's x3 model: dim 36, 8 blocks, ffn_scale 2 (SAFMN-L: dim 128, 16 blocks).
        {"dim": (4, 512), "n_blocks": (1, 64), "ffn_scale": (0.0625, 8), "scale": (1, 8)},
    ),
]


def model_from_state_dict(state_dict: dict[str, torch.Tensor]) -> tuple[nn.Module, str]:
    """Detect the architecture, check it, build it and load the tensors strictly.

    Raises UnsupportedCheckpoint with a one-line reason: missing or unexpected keys, shapes, a configuration
    out of bounds, a model too large, non-finite values.
    """
    best: tuple[int, Architecture] | None = None
    for arch in ARCHITECTURES:
        present = sum(k in state_dict for k in arch.signature_keys)
        if present == len(arch.signature_keys):
            return _load(arch, state_dict), arch.name
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


def _load(arch: Architecture, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    config = _detected_config(arch, state_dict)
    with torch.device("meta"):  # the skeleton has shapes but no memory
        expected = {k: tuple(v.shape) for k, v in arch.build(config).state_dict().items()}
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise UnsupportedCheckpoint(
            f"looks like {arch.name} but keys differ: missing {_preview(missing)}, unexpected {_preview(unexpected)}"
        )
    bad_shapes = [k for k, shape in expected.items() if shape != tuple(state_dict[k].shape)]
    if bad_shapes:
        raise UnsupportedCheckpoint(f"looks like {arch.name} but shapes differ for {_preview(bad_shapes)}")
    n_bytes = 4 * sum(state_dict[k].numel() for k in expected)
    if n_bytes > MAX_MODEL_BYTES:
        raise UnsupportedCheckpoint(f"the {arch.name} model would need {n_bytes / 2**20:,.0f} MiB of weights; "
                                    f"the limit is {MAX_MODEL_BYTES / 2**20:,.0f} MiB")
    non_finite = [k for k, v in state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if non_finite:
        raise UnsupportedCheckpoint(f"the checkpoint holds NaN or infinite values in {_preview(non_finite)}")
    model = arch.build(config)
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    return model.eval()


def _detected_config(arch: Architecture, state_dict: dict[str, torch.Tensor]) -> object:
    """The configuration the shapes describe, within `arch.bounds`, or UnsupportedCheckpoint."""
    try:
        config = arch.detect(state_dict)
    except _DETECTION_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedCheckpoint(f"looks like {arch.name} but its tensor shapes describe no valid model "
                                    f"({type(exc).__name__}: {reason})") from exc
    values = config.to_dict()
    for field, (lowest, highest) in arch.bounds.items():
        if not lowest <= values[field] <= highest:
            raise UnsupportedCheckpoint(f"looks like {arch.name} but its shapes give {field} = {values[field]}, "
                                        f"outside the accepted {lowest:g}..{highest:g}")
    return config


def _preview(keys: list[str], n: int = 3) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(repr(k) for k in keys[:n]) + more
