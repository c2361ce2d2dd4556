"""RCAN's stages for the workflow record: preprocessing -> head -> residual groups -> upsampler -> reconstruction."""
from __future__ import annotations

from explain.workflow import StageSpec
from sr_core.models.rcan import RCAN


def rcan_stages(model: RCAN) -> list[StageSpec]:
    """(name, what it does, modules) of each stage inside the network, in order."""
    cfg = model.config
    c, s = cfg.n_feats, cfg.scale
    groups = list(model.body)[:-1]
    stages = [
        ("preprocessing", "x255, subtract the DIV2K mean colour (sub_mean)", [model.sub_mean]),
        ("head", f"3x3 conv, 3 -> {c} channels (shallow features)", [model.head]),
    ]
    stages += [
        (f"residual group {g + 1}",
         f"{cfg.n_resblocks} RCABs (conv-ReLU-conv, channel attention, skip) + conv, short skip", [group])
        for g, group in enumerate(groups)
    ]
    stages += [
        ("body conv + long skip", "3x3 conv, plus the shallow features: the deep features F", [model.body[-1]]),
        ("upsampler", f"3x3 conv {c} -> {c * s * s}, PixelShuffle({s}): {c} channels at x{s} size", [model.tail[0]]),
        ("reconstruction", f"3x3 conv {c} -> 3, add the mean colour back (add_mean)", [model.tail[1], model.add_mean]),
    ]
    return stages
