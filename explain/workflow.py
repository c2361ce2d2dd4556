"""The run as a pipeline, input -> network stages -> output, with the tensor shape, parameter count and time of
each stage (timed by hooks during the region's forward pass). Each architecture names its stages
(`explain/<arch>/stages.py`): a list of (name, what it does, modules)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from sr_core.models import count_parameters

StageSpec = tuple[str, str, list[nn.Module]]  # (name, what it does, the modules that make it up)


@dataclass
class Stage:
    name: str
    detail: str
    shape: list[int]  # output shape: NCHW inside the network, HxWx3 for images
    params: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def chw(shape: list[int] | tuple[int, ...]) -> str:
    """A shape as learners read it, C × H × W: the batch of one dropped, an image's H x W x 3 turned round."""
    dims = list(shape)
    if len(dims) == 4:
        dims = dims[1:]
    elif len(dims) == 3 and dims[2] in (1, 3, 4) and dims[0] not in (1, 3, 4):
        dims = [dims[2], dims[0], dims[1]]
    return " × ".join(str(n) for n in dims) + " (C × H × W)"


def _param_count(modules: list[nn.Module]) -> int:
    return sum(count_parameters(module) for module in modules)


def timed_modules(stages: list[StageSpec]) -> list[tuple[str, nn.Module]]:
    """Every module whose time and output shape the forward pass records, keyed by a unique name."""
    return [(f"{name}/{i}", module) for name, _, modules in stages for i, module in enumerate(modules)]


def workflow_record(
    stages: list[StageSpec],
    scale: int,
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
    s = scale
    record = [Stage("input", f"{width}x{height} {image_mode}; analysed on {region_note}", [rows, cols, 3], 0,
                    conversion_seconds)]
    for name, detail, modules in stages:
        keys = [f"{name}/{i}" for i in range(len(modules))]
        record.append(Stage(
            name=name,
            detail=detail,
            shape=list(stage_shapes[keys[-1]]),
            params=_param_count(modules),
            seconds=sum(stage_seconds[k] for k in keys),
        ))
    record.append(Stage("output", f"clip to [0, 1]; the whole photo (enlarged by the engine) becomes "
                        f"{width * s}x{height * s}", [rows * s, cols * s, 3], 0, 0.0))
    return record
