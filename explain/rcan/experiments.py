"""RCAN's experiments: what changes when the network is made shallower or its channel attention is switched off.

Definitions (tests/explain/test_experiments.py pins each one):
- depth k, for k = 0..G: the head, then only the first k residual groups; the skipped groups are bypassed through
  the long skip (their input goes straight on), and the body's closing conv, the long skip and the tail still run.
  k = G is the normal forward pass, operation for operation.
- attention off: every CALayer's sigmoid output replaced by 1, so each RCAB adds its conv-ReLU-conv residual
  unscaled: the same network as one whose CALayers are removed.
- attention uniform: every gate replaced by the mean of its block's gates, which keeps each block's overall scale
  and removes only the choice *between* channels.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from explain.experiments import Experiments, Measure, run_experiments
from explain.hooks import outputs_replaced
from explain.rcan.capture import attention_layers
from sr_core.models.rcan import RCAN

ATTENTION_OFF = "every channel-attention gate set to 1 (no channel is turned up or down)"
ATTENTION_UNIFORM = "every gate set to the mean of its block's gates (same overall scale, no choice between channels)"


def forward_at_depth(model: RCAN, x: torch.Tensor, k: int) -> torch.Tensor:
    """RCAN with only its first k residual groups (x in the model's range, 1x3xHxW)."""
    groups = list(model.body)[:-1]
    if not 0 <= k <= len(groups):
        raise ValueError(f"depth must be 0..{len(groups)}, got {k}")
    with torch.inference_mode():
        shallow = model.head(model.sub_mean(x))
        deep = shallow
        for group in groups[:k]:
            deep = group(deep)
        return model.upsample(shallow + model.body[-1](deep))


def outputs_at_depths(model: RCAN, x: torch.Tensor) -> list[torch.Tensor]:
    """forward_at_depth(model, x, k) for k = 0..G-1, the groups run once: each k reuses the previous one's
    group outputs (the same operations on the same tensors, so the same results)."""
    groups = list(model.body)[:-1]
    outputs = []
    with torch.inference_mode():
        shallow = model.head(model.sub_mean(x))
        deep = shallow
        for group in groups:
            outputs.append(model.upsample(shallow + model.body[-1](deep)))
            deep = group(deep)
    return outputs


def gate_modules(model: RCAN) -> list[torch.nn.Module]:
    """The sigmoid at the end of every CALayer, in (group, block) order."""
    return [layer.conv_du[3] for group in attention_layers(model) for layer in group]


def forward_with_gates(model: RCAN, x: torch.Tensor, gate: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The normal forward pass with every gate vector g (1xCx1x1) replaced by gate(g)."""
    with outputs_replaced(gate_modules(model), lambda _i, g: gate(g)), torch.inference_mode():
        return model(x)


def gates_off(g: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(g)


def gates_uniform(g: torch.Tensor) -> torch.Tensor:
    return g.mean(dim=1, keepdim=True).expand_as(g).contiguous()


def rcan_experiments(model: RCAN, x: torch.Tensor, normal: np.ndarray, measure: Measure,
                     image: Callable[[torch.Tensor], np.ndarray]) -> Experiments:
    """All of RCAN's experiments on the region x; `normal` is the region's normal output, `image` turns a pass's
    output into an image in [0, 1]."""
    shallower = outputs_at_depths(model, x)
    return run_experiments(
        measure, "groups", model.config.n_resgroups,
        lambda k: image(shallower[k]),
        {"attention_off": (ATTENTION_OFF, lambda: image(forward_with_gates(model, x, gates_off))),
         "attention_uniform": (ATTENTION_UNIFORM, lambda: image(forward_with_gates(model, x, gates_uniform)))},
        normal,
    )
