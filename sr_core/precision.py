"""Which number format the engine computes in: `auto`, `fp32` or `bf16`, and what the hardware offers.

Why a module of its own: the CLI, the app, the bench and the explain report all take the same
`--precision` choice, and `auto` must mean the same everywhere: bf16 on CPUs that execute it
natively, fp16 on CUDA (as the engine always did there), fp32 otherwise.
"""
from __future__ import annotations

import functools

import torch

PRECISIONS = ("auto", "fp32", "bf16")
DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
NAMED_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@functools.lru_cache(maxsize=1)
def cpu_bf16_instructions() -> str | None:
    """The CPU's native bf16 instructions as torch's cpuinfo reports them ("amx_bf16", "avx512_bf16"), else None.

    Why not `torch.ops.mkldnn._is_mkldnn_bf16_supported()` alone: oneDNN also "supports" bf16 on any
    AVX-512 CPU by converting to fp32 in software, and on AVX2-only CPUs torch falls back to reference
    kernels; both are many times slower than fp32 (issue 15). Native means oneDNN has a bf16 path *and*
    the CPU has bf16 dot-product instructions.
    """
    try:
        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return None
        features = torch._C._cpu._get_cpu_capability()  # private, but the only place torch exposes cpuinfo's flags
    except (AttributeError, RuntimeError):
        return None
    for flag in ("amx_bf16", "avx512_bf16"):
        if features.get(flag):
            return flag
    return None


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype `precision` means on `device`."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return NAMED_DTYPES[precision]
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_bf16_instructions() else torch.float32


def describe_dtype(dtype: torch.dtype, device: torch.device) -> str:
    """For info lines: "bf16 (native: avx512_bf16)", "bf16 (emulated: slow on this CPU)", "fp32", "fp16"."""
    name = DTYPE_NAMES.get(dtype, str(dtype))
    if dtype == torch.bfloat16 and device.type == "cpu":
        native = cpu_bf16_instructions()
        return f"{name} (native: {native})" if native else f"{name} (emulated: slow on this CPU)"
    return name
