"""SAFMN's stages for the workflow record: shallow features -> feature mixing blocks -> reconstruction."""
from __future__ import annotations

from explain.workflow import StageSpec
from sr_core.models.safmn import SAFMN


def safmn_stages(model: SAFMN) -> list[StageSpec]:
    """SAFMN's stages (official module names: to_feat, feats.{i}, to_img); it works in 0..1, without mean shift."""
    cfg = model.config
    c, s = cfg.dim, cfg.scale
    hidden = int(c * cfg.ffn_scale)
    stages = [("shallow features", f"3x3 conv, 3 -> {c} channels (to_feat), on RGB in 0..1", [model.to_feat])]
    stages += [
        (f"block {i + 1}",
         f"LayerNorm, SAFM (multi-scale modulation: 4 channel chunks at 1, 1/2, 1/4, 1/8 size, GELU gate), skip; "
         f"LayerNorm, CCM (3x3 conv {c} -> {hidden}, GELU, 1x1 back), skip", [block])
        for i, block in enumerate(model.feats)
    ]
    stages.append(("reconstruction", f"add the shallow features (global skip), 3x3 conv {c} -> {3 * s * s}, "
                   f"PixelShuffle({s}): RGB at x{s} size", [model.to_img]))
    return stages
