"""Which number format the engine computes in: `auto`, `fp32` or `bf16`, and what the hardware offers.

Why a module of its own: the CLI, the app, the bench and the explain report all take the same
`--precision` choice, and `auto` must mean the same everywhere: bf16 on CPUs that execute it
natively, fp16 on CUDA (as the engine always did there), fp32 otherwise, among the precisions the model's
descriptor lists for the device (`Architecture.precisions`). The bf16 CPU path's conv wrapper
(`ReducedPrecisionConv`) lives here too: what "bf16" computes is part of what the choice means.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16")
DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
NAMED_DTYPES = {name: dtype for dtype, name in DTYPE_NAMES.items()}


@functools.lru_cache(maxsize=1)
def cpu_bf16_instructions() -> str | None:
    """The CPU's native bf16 instructions as torch's cpuinfo reports them ("amx_bf16", "avx512_bf16"), else None.

    Why not `torch.ops.mkldnn._is_mkldnn_bf16_supported()` alone: oneDNN also "supports" bf16 on any
    AVX-512 CPU by converting to fp32 in software, and on AVX2-only CPUs torch falls back to reference
    kernels; both are many times slower than fp32. Native means oneDNN has a bf16 path *and*
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


# Where a model's descriptor lists none: what every model here runs in, the preferred first.
DEVICE_PRECISIONS = {"cpu": ("bf16", "fp32"), "cuda": ("fp16", "bf16", "fp32")}


def runs_natively(name: str, device: torch.device) -> bool:
    """fp32 everywhere, fp16 and bf16 on a GPU, bf16 on CPUs with bf16 instructions (`cpu_bf16_instructions`)."""
    if name == "fp32" or device.type == "cuda":
        return True
    return name == "bf16" and device.type == "cpu" and cpu_bf16_instructions() is not None


def resolve_dtype(precision: str, device: torch.device, supported: tuple[str, ...] | None = None) -> torch.dtype:
    """The dtype `precision` means on `device`, among the precisions `supported` there, the preferred first
    (the model's `Architecture.precisions[device.type]`): `auto` is the first that the hardware runs natively."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    supported = supported or DEVICE_PRECISIONS.get(device.type, ("fp32", "bf16"))
    if precision != "auto":
        if precision not in supported:
            raise ValueError(f"this model does not run in {precision} on {device.type}; "
                             f"choose one of auto, {', '.join(supported)}")
        return NAMED_DTYPES[precision]
    return next(NAMED_DTYPES[name] for name in (*supported, "fp32") if runs_natively(name, device))


def describe_dtype(dtype: torch.dtype, device: torch.device) -> str:
    """For info lines: "bf16 (native: avx512_bf16)", "bf16 (emulated: slow on this CPU)", "fp32", "fp16"."""
    name = DTYPE_NAMES.get(dtype, str(dtype))
    if dtype == torch.bfloat16 and device.type == "cpu":
        native = cpu_bf16_instructions()
        return f"{name} (native: {native})" if native else f"{name} (emulated: slow on this CPU)"
    return name


# A conv computes in bf16 when each output sums at least this many input channels and it has at least
# this many outputs: the thin ones (the 3 -> C head, the C -> 3 output conv, SAFMN's depthwise convs,
# the attention's bottleneck) are a sliver of the work, and the output conv in bf16 would round the
# image itself to 8 significant bits (up to half a level).
REDUCED_MIN_CHANNELS = 32


class ReducedPrecisionConv(nn.Module):
    """A conv that computes in a reduced dtype (bf16) while its input and output stay float32.

    Why: the residual stream of RCAN (and SAFMN) is summed over hundreds of blocks; kept in bf16 it
    collects a rounding per block. Against the fp32 engine on the example photos
    (bench/precision_fidelity.py): full RCAN (random weights, 96x96 crops) all-bf16 50.3-56.5 dB, this
    design 57.0-64.2 dB; bundled RCAN 59-62 -> 72-78 dB; for about 2.5% (full) and 10% (bundled) more
    time (bench/README.md). The casts are elementwise passes over maps a conv has just written.
    """

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype) -> None:
        super().__init__()
        self.conv = conv.to(dtype)
        self.dtype = dtype
        # True when a ReLU and another reduced conv follow: the map between them stays reduced, which gives
        # the same numbers (ReLU is exact, bf16 -> fp32 -> bf16 too) without two casts (`keep_reduced_between`).
        self.reduced_output = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x.to(self.dtype))
        return y if self.reduced_output else y.float()


def is_reducible(module: nn.Module) -> bool:
    """A conv wide enough to compute in bf16 (see REDUCED_MIN_CHANNELS)."""
    return isinstance(module, nn.Conv2d) and min(module.in_channels // module.groups,
                                                 module.out_channels) >= REDUCED_MIN_CHANNELS


def use_reduced_precision(model: nn.Module, dtype: torch.dtype) -> int:
    """Swap every wide conv of `model` (`is_reducible`) for a `ReducedPrecisionConv`."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if is_reducible(child):
                setattr(parent, name, ReducedPrecisionConv(child, dtype))
                swapped += 1
    keep_reduced_between(model)
    return swapped


def keep_reduced_between(model: nn.Module) -> None:
    """In every conv-ReLU-conv run of reduced convs (RCAN's blocks), let the first one output bf16."""
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            layers = list(seq)
            for first, relu, second in zip(layers, layers[1:], layers[2:]):
                if (isinstance(first, ReducedPrecisionConv) and isinstance(relu, nn.ReLU)
                        and isinstance(second, ReducedPrecisionConv)):
                    first.reduced_output = True
