"""One channel of one residual channel-attention block (RCAB), chosen by the user: its map over the photo, the gate
channel attention gives it, and its share of what the block adds.

RCAN (arXiv 1807.02758, section 3.3) rescales each channel c of a block's residual x_c by a gate
s_c = sigmoid(W_U ReLU(W_D mean(x))), so the block adds s_c * x_c to its input. The view answers, for the
channel a student picks: what does x_c respond to (its map), how strongly is it let through (s_c, and its rank
among the block's channels), and how much of the block's added residual it makes up (its energy share of
s * x: an even share would be 1/C).

And the experiment that makes it cause and effect: the same network with only this one gate set to 0 (the
channel muted in this block, nothing else changed), against the normal network on the same region: how much the
output changes, and how much of that change falls on the most textured quarter (a quarter if it were even).
Two real forward passes over the explanation's working region: the normal one, which also records the block, and
the muted one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explain.experiments import Ablation, Measure
from explain.hooks import outputs_replaced, owner_thread, removed_after
from explain.pipeline import MAX_SIDE, checked_input, model_input, threads_worth_using, value_range, working_region
from explain.rcan.capture import attention_layers
from explain.region import Box
from sr_core.models.rcan import RCAN
from sr_core.engine import tensor_image
from sr_core.protocol.imresize import imresize


@dataclass(frozen=True)
class ChannelView:
    group: int  # from 1, as in the heatmap's rows
    block: int  # from 1
    channel: int  # 0-based tensor index, as in the heatmap's columns
    residual: np.ndarray  # (H, W) the channel of the block's residual, before its gate, in the model's range
    gates: np.ndarray  # (C,) the block's gates on this region
    shares: np.ndarray  # (C,) each channel's share of the energy of what the block adds (sums to 1)
    region: Box  # where in the photo, input pixels
    region_note: str
    lr_region: np.ndarray  # (H, W, 3) the photo there, float [0, 1]
    muted: Ablation  # the network with this gate set to 0, against the normal one

    @property
    def gate(self) -> float:
        return float(self.gates[self.channel])

    @property
    def share(self) -> float:
        return float(self.shares[self.channel])

    @property
    def gate_rank(self) -> int:
        """1 for the block's most boosted channel (ties: the lower index ranks first)."""
        order = np.argsort(-self.gates, kind="stable")
        return int(np.flatnonzero(order == self.channel)[0]) + 1

    def to_dict(self) -> dict:
        return {"group": self.group, "block": self.block, "channel": self.channel, "gate": self.gate,
                "gate_rank": self.gate_rank, "n_channels": int(self.gates.size), "share": self.share,
                "even_share": 1.0 / self.gates.size, "region": self.region.to_dict(),
                "muted": self.muted.to_dict()}


def checked_choice(model: RCAN, group: object, block: object, channel: object) -> tuple[int, int, int]:
    """(group, block, channel) as ints, or a one-line error for a choice the model does not have: API callers
    choose freely (a slider sends 2.0; NaN, infinity, text and booleans are refused, their echo kept short)."""
    layers = attention_layers(model)
    limits = (("group", group, 1, len(layers)), ("block", block, 1, len(layers[0])),
              ("channel", channel, 0, model.config.n_feats - 1))
    chosen = []
    for name, value, low, high in limits:
        whole = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                 and float(value).is_integer())
        if not whole or not low <= value <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high} for this RCAN, "
                             f"got {repr(value)[:40]}")
        chosen.append(int(value))
    return chosen[0], chosen[1], chosen[2]


def normal_pass(model: RCAN, x: torch.Tensor, group: int, block: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(output, residual (C, H, W), gates (C,)) of the normal forward pass of x (1x3xHxW, model range), with
    block (group, block), 1-based, recorded on the way."""
    layer: nn.Module = attention_layers(model)[group - 1][block - 1]
    seen: dict[str, torch.Tensor] = {}
    mine = owner_thread()

    def on_block(module: nn.Module, inputs: tuple, _output: torch.Tensor) -> None:
        if mine():
            seen["residual"] = inputs[0].detach().float()[0].cpu().clone()
            seen["gates"] = module.gate(module.avg_pool(inputs[0])).detach().float().flatten().cpu()

    with removed_after([layer.register_forward_hook(on_block)]), torch.inference_mode():
        output = model(x)
    return output, seen["residual"], seen["gates"]


def muted_pass(model: RCAN, x: torch.Tensor, group: int, block: int, channel: int) -> torch.Tensor:
    """The forward pass with one gate, (group, block, channel), set to 0: that channel of that block adds nothing."""
    def mute(_index: int, gates: torch.Tensor) -> torch.Tensor:
        gates = gates.clone()
        gates[:, channel] = 0
        return gates

    with outputs_replaced([attention_layers(model)[group - 1][block - 1].conv_du[3]], mute), torch.inference_mode():
        return model(x)


def channel_view(model: RCAN, rgb: np.ndarray, group: object, block: object, channel: object,
                 focus: tuple[int, int] | None = None, max_side: int = MAX_SIDE) -> ChannelView:
    """The view of (group, block, channel) on `rgb` (HxWx3 float [0, 1]), over the same working region as the
    explanation (around `focus`, a click, else the most textured one)."""
    if not isinstance(model, RCAN):
        raise ValueError(f"the channel view needs an RCAN (channel attention), not {type(model).__name__}")
    group, block, channel = checked_choice(model, group, block, channel)
    rgb = checked_input(rgb, None, model.scale)  # what explain refuses (e.g. 1x1), the view refuses alike
    region, note, _ = working_region(rgb, max_side, focus)
    lr_region = region.crop(rgb)
    x = model_input(model, lr_region)

    def image(output: torch.Tensor) -> np.ndarray:
        return tensor_image(output, value_range(model))

    with threads_worth_using():
        output, residual, gates = normal_pass(model, x, group, block)
        muted = muted_pass(model, x, group, block, channel)
    energy = ((residual * gates[:, None, None]) ** 2).sum(dim=(1, 2)).double()
    shares = (energy / energy.sum()).numpy() if float(energy.sum()) > 0 else np.full(gates.numel(), 1 / gates.numel())
    measure = Measure(lr_region, np.clip(imresize(lr_region, model.scale), 0, 1), None, model.scale)
    ablation = measure.ablation("muted", f"the gate of group {group}, block {block}, channel {channel} set to 0",
                                image(muted), image(output))
    return ChannelView(group, block, channel, residual[channel].numpy(), gates.numpy(), shares, region, note,
                       lr_region, ablation)
