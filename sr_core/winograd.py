"""Row-Winograd 3x3 convolutions: one of the CPU engine's execution paths (`sr_core.engine.choose_fastest`).

Why a kernel of our own: on the AMD EPYC test machine oneDNN's direct 3x3 conv already runs near the FMA peak and
torch's fp32 GEMMs at half its speed, so a 2-D Winograd built on batched matmuls loses; Winograd in one direction
only turns the conv into a grouped 1x3 conv that oneDNN runs about as fast, with half the multiply-adds.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Winograd F(4,3), Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016,
# arXiv 1509.09308), interpolation points 0, +-1, +-2, infinity: 4 outputs of a 3-tap filter from 6 inputs.
WINOGRAD_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
               (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
WINOGRAD_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
              (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
WINOGRAD_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
WINOGRAD_MIN_CHANNELS = 32  # below this the grouped conv is too thin to pay for the transforms
# Rows are transformed and convolved in strips of about this much input, so the transformed rows (1.5x)
# stay in cache: at 160x160, 1 MiB strips ran the full model in 2.9 s, whole maps in 5.2 s (direct: 3.7 s).
WINOGRAD_STRIP_BYTES = 1 << 20


class RowWinogradConv(nn.Module):
    """A 3x3 conv (stride 1, zero padding 1): Winograd F(4,3) vertically, 4 output rows at a time, and
    3 direct taps horizontally; or the original conv while `active` is False.

    Why: on this CPU oneDNN's direct 3x3 conv already runs near the FMA peak, and torch's fp32 GEMMs
    (MKL) run at half its speed, so a 2-D Winograd built on batched matmuls loses. In one direction,
    F(4,3) turns the conv into one grouped conv (6 groups, 1x3 kernels) that oneDNN runs about as fast
    as the 3x3 one, with 6 * 3 / 4 = 4.5 instead of 9 multiply-adds per output and input channel; both
    transforms are single large GEMMs over whole rows (6x6 and 4x6 matrices) plus one transpose each.
    The transforms are memory-bound and scale worse with threads than the conv: on one thread the
    full model ran 1.36x faster than the plain forward, on two only 1.15x, where channels_last direct
    convs reach 1.27x; hence the switch (the engine times both, `choose_fastest`). The float32 error is a few times
    that of the direct conv (tests/sr_core/test_engine.py, bench/README.md).
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not is_winograd_candidate(conv):
            raise ValueError(f"not a dense 3x3 stride-1 padding-1 conv: {conv}")
        k, c = conv.out_channels, conv.in_channels
        g = torch.tensor(WINOGRAD_G, dtype=torch.float64)
        # U[a] = G w down the kernel's rows: point a, output k, input c, kernel column j.
        u = torch.einsum("ai,kcij->akcj", g, conv.weight.detach().cpu().double())
        weight = u.reshape(6 * k, c, 1, 3).float().contiguous(memory_format=torch.channels_last)
        bias = torch.zeros(6, k)
        if conv.bias is not None:
            bias[1] = conv.bias.detach().cpu()  # column 1 of A^T is all ones: the bias reaches every output once
        device = conv.weight.device
        self.register_buffer("weight", weight.to(device))
        self.register_buffer("bias", bias.reshape(-1).to(device))
        self.register_buffer("bt", torch.tensor(WINOGRAD_BT, dtype=torch.float32, device=device))
        self.register_buffer("at", torch.tensor(WINOGRAD_AT, dtype=torch.float32, device=device))
        self.out_channels = k
        self.conv = conv
        self.active = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return self.conv(x)
        n, c, h, w = x.shape
        tiles = -(-h // 4)
        padded = x.new_empty(n, 4 * tiles + 2, w, c)  # NHWC, one zero row on top, the rest below
        padded[:, :1].zero_()
        padded[:, h + 1 :].zero_()
        padded[:, 1 : h + 1].copy_(x.permute(0, 2, 3, 1))
        y = x.new_empty(n, tiles, 4, w * self.out_channels)  # tile t's output rows 4t .. 4t+3
        per_strip = max(1, WINOGRAD_STRIP_BYTES // (4 * w * c * x.element_size()))
        for i in range(n):
            for t0 in range(0, tiles, per_strip):
                t1 = min(t0 + per_strip, tiles)
                self._strip(padded[i, 4 * t0 :], t1 - t0, out=y[i, t0:t1])
        return y.view(n, 4 * tiles, w, self.out_channels)[:, :h].permute(0, 3, 1, 2)  # channels_last

    def _strip(self, padded: torch.Tensor, tiles: int, out: torch.Tensor) -> None:
        """`tiles` Winograd tiles of 4 output rows each from `padded` (rows, w, c), independent of
        the others: the transforms carry the vertical taps, the grouped conv only looks sideways."""
        _, w, c = padded.shape
        k = self.out_channels
        rows = padded.as_strided((tiles, 6, w * c), (4 * w * c, w * c, 1))  # tile t reads rows 4t .. 4t+5
        v = torch.matmul(self.bt, rows).view(tiles, 6, w, c).transpose(1, 2).contiguous()
        m = F.conv2d(v.view(1, tiles, w, 6 * c).permute(0, 3, 1, 2), self.weight, self.bias,
                     padding=(0, 1), groups=6)  # channels_last: (tiles, w, 6 * k) in memory
        m = m.permute(0, 2, 3, 1).reshape(tiles, w, 6, k).transpose(1, 2).contiguous()
        torch.matmul(self.at, m.view(tiles, 6, w * k), out=out)


def is_winograd_candidate(module: nn.Module) -> bool:
    return (
        isinstance(module, nn.Conv2d)
        and module.kernel_size == (3, 3) and module.stride == (1, 1) and module.padding == (1, 1)
        and module.dilation == (1, 1) and module.groups == 1 and module.padding_mode == "zeros"
        and min(module.in_channels, module.out_channels) >= WINOGRAD_MIN_CHANNELS
        and module.in_channels == module.out_channels  # a wide conv (the upsampler's) would need huge temporaries
    )


def use_row_winograd(model: nn.Module) -> int:
    """Swap every wide 3x3 conv of `model` (in place) for its `RowWinogradConv`; returns how many."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if is_winograd_candidate(child):
                setattr(parent, name, RowWinogradConv(child))
                swapped += 1
    return swapped
