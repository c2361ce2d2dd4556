"""The inference engine: device placement, exact tiling, self-ensemble, progress and cancel."""
from __future__ import annotations

import copy
import threading
from typing import Callable

import numpy as np
import torch
from torch import nn

from sr_core.tiling import Progress, StepCounter, tiled_forward_for

ENSEMBLE_SIZE = 8


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/transposes used by self-ensemble ("RCAN+")."""
    if k & 1:
        x = x.flip(-1)
    if k & 2:
        x = x.flip(-2)
    if k & 4:
        x = x.transpose(-1, -2)
    return x


def dihedral_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    if k & 4:
        x = x.transpose(-1, -2)
    if k & 2:
        x = x.flip(-2)
    if k & 1:
        x = x.flip(-1)
    return x


class Upscaler:
    """Runs a super-resolution model on float images in [0, 1].

    CUDA runs in half precision with channels_last; the CPU in float32 (channels_last was measured
    slower there). Every pass goes through the layer-wise tiled forward, so progress, cancel and
    bounded memory work the same whether or not a tile size is given.
    """

    def __init__(self, model: nn.Module, device: str | None = None) -> None:
        self.device = torch.device(device or default_device())
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but torch sees no CUDA device")
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        if self.device.type != "cpu":
            model = copy.deepcopy(model)  # the caller's float32 model stays as it was
        model = model.to(self.device, self.dtype).eval()
        if self.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.tiled = tiled_forward_for(model)
        self.scale: int = model.scale
        # The model's pixel range: 255 for RCAN (as the official code), 1 for models without rgb_range.
        self.value_range = float(getattr(model.config, "rgb_range", 1.0))

    def steps(self, height: int, width: int, tile: int | None, ensemble: bool) -> int:
        tile = tile or max(height, width)
        return self.tiled.steps(self.model, height, width, tile) * (ENSEMBLE_SIZE if ensemble else 1)

    @torch.inference_mode()
    def upscale_tensor(
        self,
        x: torch.Tensor,
        tile: int | None = None,
        ensemble: bool = False,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> torch.Tensor:
        """NCHW in the model's range (0..255) -> enlarged NCHW float32 in the same range, unclipped."""
        _, _, height, width = x.shape
        if tile is not None and tile < 8:
            raise ValueError(f"tile size must be at least 8 pixels, got {tile}")
        tile = tile or max(height, width)
        counter = StepCounter(self.steps(height, width, tile, ensemble), progress, cancel)
        x = x.to(self.device, self.dtype)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        views = range(ENSEMBLE_SIZE) if ensemble else range(1)
        total: torch.Tensor | None = None
        for k in views:
            out = dihedral_inverse(self.tiled.forward(self.model, dihedral(x, k), tile, counter), k).float()
            total = out if total is None else total.add_(out)
        assert total is not None
        return total.div_(len(views))

    def upscale(
        self,
        rgb: np.ndarray,
        tile: int | None = None,
        ensemble: bool = False,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> np.ndarray:
        """HxWx3 float32 in [0, 1] -> (sH)x(sW)x3 float32 in [0, 1]."""
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
        x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
        out = self.upscale_tensor(x * self.value_range, tile, ensemble, progress, cancel)
        out = (out / self.value_range).clamp(0.0, 1.0)
        return out[0].permute(1, 2, 0).cpu().numpy()
