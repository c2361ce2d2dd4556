"""The run as a pipeline, input -> network stages -> output, with the tensor shape, parameter count and time of
each stage (timed by hooks during the explainers' one forward pass). RCAN: preprocessing -> head -> residual
groups -> upsampler -> reconstruction; SAFMN: shallow features -> feature mixing blocks -> reconstruction."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from sr_core.models.rcan import RCAN
from sr_core.models.safmn import SAFMN


@dataclass
class Stage:
    name: str
    detail: str
    shape: list[int]  # output shape: NCHW inside the network, HxWx3 for images
    params: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def _param_count(modules: list[nn.Module]) -> int:
    return sum(p.numel() for module in modules for p in module.parameters())


def network_stages(model: nn.Module) -> list[tuple[str, str, list[nn.Module]]]:
    """(name, what it does, modules) of each stage inside the network, in order."""
    if isinstance(model, SAFMN):
        return safmn_stages(model)
    if not isinstance(model, RCAN):
        raise ValueError(f"no workflow record for {type(model).__name__}")
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


def safmn_stages(model: SAFMN) -> list[tuple[str, str, list[nn.Module]]]:
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


def timed_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every module whose time and output shape the forward pass records, keyed by a unique name."""
    return [(f"{name}/{i}", module) for name, _, modules in network_stages(model) for i, module in enumerate(modules)]


def workflow_record(
    model: nn.Module,
    image_size: tuple[int, int],
    image_mode: str,
    region_note: str,
    region_shape: tuple[int, int],
    conversion_seconds: float,
    stage_seconds: dict[str, float],
    stage_shapes: dict[str, tuple[int, ...]],
) -> list[Stage]:
    """The pipeline of this run; network stages ran on the working region (`region_shape`, input pixels)."""
    width, height = image_size
    rows, cols = region_shape
    s = model.config.scale
    record = [Stage("input", f"{width}x{height} {image_mode}; analysed on {region_note}", [rows, cols, 3], 0,
                    conversion_seconds)]
    for name, detail, modules in network_stages(model):
        keys = [f"{name}/{i}" for i in range(len(modules))]
        record.append(Stage(
            name=name,
            detail=detail,
            shape=list(stage_shapes[keys[-1]]),
            params=_param_count(modules),
            seconds=sum(stage_seconds[k] for k in keys),
        ))
    record.append(Stage("output", f"clip to [0, 1]; the whole photo becomes {width * s}x{height * s}",
                        [rows * s, cols * s, 3], 0, 0.0))
    return record
