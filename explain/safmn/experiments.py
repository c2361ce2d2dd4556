"""SAFMN's experiments, the analogues of RCAN's.

Definitions (tests/explain/test_experiments.py pins each one):
- depth k, for k = 0..N: the shallow features, then only the first k blocks; the skipped blocks are bypassed
  through the global skip, and the reconstruction (to_img) still runs. k = N is the normal forward pass.
- modulation off: every SAFM's modulation map m = GELU(aggr(.)) replaced by 1, so SAFM passes its normalised
  input through unchanged: the same network as one whose SAFM returns its input.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from explain.experiments import Experiments, Measure, run_experiments
from explain.hooks import outputs_replaced
from sr_core.models.safmn import SAFMN

MODULATION_OFF = "every SAFM modulation map set to 1 (no position or channel is amplified or suppressed)"


def forward_at_depth(model: SAFMN, x: torch.Tensor, k: int) -> torch.Tensor:
    """SAFMN with only its first k blocks (x in 0..1, 1x3xHxW)."""
    if not 0 <= k <= len(model.feats):
        raise ValueError(f"depth must be 0..{len(model.feats)}, got {k}")
    with torch.inference_mode():
        shallow = model.to_feat(x)
        return model.to_img(model.feats[:k](shallow) + shallow)


def outputs_at_depths(model: SAFMN, x: torch.Tensor) -> list[torch.Tensor]:
    """forward_at_depth(model, x, k) for k = 0..N-1, each block run once."""
    outputs = []
    with torch.inference_mode():
        shallow = model.to_feat(x)
        deep = shallow
        for block in model.feats:
            outputs.append(model.to_img(deep + shallow))
            deep = block(deep)
    return outputs


def forward_modulation_off(model: SAFMN, x: torch.Tensor) -> torch.Tensor:
    """The normal forward pass with every modulation map replaced by ones."""
    acts = [block.safm.act for block in model.feats]
    with outputs_replaced(acts, lambda _i, m: torch.ones_like(m)), torch.inference_mode():
        return model(x)


def safmn_experiments(model: SAFMN, x: torch.Tensor, normal: np.ndarray, measure: Measure,
                      image: Callable[[torch.Tensor], np.ndarray]) -> Experiments:
    """All of SAFMN's experiments on the region x, as `rcan_experiments`."""
    shallower = outputs_at_depths(model, x)
    return run_experiments(
        measure, "blocks", len(model.feats),
        lambda k: image(shallower[k]),
        {"modulation_off": (MODULATION_OFF, lambda: image(forward_modulation_off(model, x)))},
        normal,
    )
