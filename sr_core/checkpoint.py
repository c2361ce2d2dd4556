"""Read a checkpoint file into a flat state dict, safely, whatever wrapper it came in."""
from __future__ import annotations

import math

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from sr_core.errors import WeightsError, first_line

# Wrappers seen in the wild: BasicSR ('params', 'params_ema'), Lightning and others ('state_dict').
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")


class CheckpointError(WeightsError, ValueError):
    """The file cannot be read as a checkpoint; the message names the file and the problem."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load tensors from .safetensors or a torch file (weights_only=True), unwrap, strip `module.`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint is empty (0 bytes): {path}")
    try:
        if path.suffix == ".safetensors":
            raw: object = load_file(str(path))
        else:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's unpickler raises many types (KeyError, UnpicklingError, ...) on garbage
        reason = first_line(exc)
        if "Weights only load failed" in reason:
            reason = "not a file of plain tensors (it would need unsafe unpickling, which is refused)"
        raise CheckpointError(f"cannot read checkpoint {path.name}: {reason}") from exc
    return normalize_state_dict(raw, path.name)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors header's metadata (string pairs; empty for other formats): what the keys cannot say, such
    as an RCAN trained without its residual skips. Read after `read_state_dict` has vetted the file."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {}
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def count_file_parameters(path: str | Path) -> int | None:
    """The number of values a safetensors file holds, read from its header alone (no tensor is loaded); None for
    other formats and unreadable files. What the app's labels say before a model is loaded."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            return sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    except (OSError, ValueError, RuntimeError):
        return None


def normalize_state_dict(raw: object, name: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Unwrap known wrapper dicts and drop DataParallel's `module.` prefix."""
    for key in WRAPPER_KEYS:
        if isinstance(raw, dict) and key in raw and isinstance(raw[key], dict):
            raw = raw[key]
            break
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"{name} holds no state dict (found {type(raw).__name__})")
    tensors = {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{name} holds no tensors")
    return {k.removeprefix("module."): v for k, v in tensors.items()}
