"""RCAN: Residual Channel Attention Network (Zhang et al., ECCV 2018, arXiv 1807.02758).

The module names below are a contract: they reproduce the state-dict keys of the official
code (github.com/yulunzhang/RCAN, RCAN_TestCode/code/model/rcan.py), so `RCAN_BIX3.pt`
and torchsr's `rcan_x3.pt` load with `strict=True`.

    sub_mean                      MeanShift, 1x1 conv (DIV2K mean, rgb_range 255)
    head.0                        conv 3 -> C
    body.{g}.body.{b}.body.0/2    RCAB convs (body.1 is the ReLU)
    body.{g}.body.{b}.body.3      CALayer: conv_du.0 (C -> C/r), ReLU, conv_du.2 (C/r -> C), sigmoid
    body.{g}.body.{n_resblocks}   conv closing each residual group
    body.{n_resgroups}            conv before the long skip
    tail.0                        Upsampler: x2/x3 conv C -> C*s*s + PixelShuffle(s); x4 = two x2 stages
    tail.1                        conv C -> 3
    add_mean                      MeanShift back

Inputs and outputs are RGB in 0..rgb_range (255), as in the official code.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

# DIV2K RGB mean used by the official code (option.py / common.MeanShift).
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


@dataclass(frozen=True)
class RCANConfig:
    """Hyperparameters; the published x3 model is the default."""

    n_resgroups: int = 10
    n_resblocks: int = 20
    n_feats: int = 64
    reduction: int = 16
    scale: int = 3
    rgb_range: float = 255.0

    def to_dict(self) -> dict:
        return asdict(self)


def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, bias=True)


class MeanShift(nn.Conv2d):
    """Fixed 1x1 conv subtracting (sign=-1) or adding (sign=+1) the dataset mean."""

    def __init__(self, rgb_range: float, sign: int) -> None:
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(DIV2K_RGB_MEAN))
        for p in self.parameters():
            p.requires_grad = False


class CALayer(nn.Module):
    """Channel attention: global average pool -> bottleneck MLP -> sigmoid gate per channel."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def gate(self, pooled: torch.Tensor) -> torch.Tensor:
        """Attention weights from already pooled statistics (N, C, 1, 1); tiling reuses this."""
        return self.conv_du(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.avg_pool(x))


class RCAB(nn.Module):
    """Residual channel attention block: conv-ReLU-conv, channel attention, residual add."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels),
            nn.ReLU(inplace=True),
            conv3x3(channels, channels),
            CALayer(channels, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    """n_resblocks RCABs and a closing conv, wrapped in a short skip connection."""

    def __init__(self, channels: int, reduction: int, n_resblocks: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [RCAB(channels, reduction) for _ in range(n_resblocks)]
        blocks.append(conv3x3(channels, channels))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsampler(nn.Sequential):
    """Sub-pixel upsampling; x4 is two x2 stages, as in the official code."""

    def __init__(self, scale: int, channels: int) -> None:
        if scale in (2, 3):
            stages = [(scale, conv3x3(channels, channels * scale * scale))]
        elif scale == 4:
            stages = [(2, conv3x3(channels, channels * 4)) for _ in range(2)]
        else:
            raise ValueError(f"RCAN supports scales 2, 3 and 4, not {scale}")
        layers: list[nn.Module] = []
        for factor, conv in stages:
            layers += [conv, nn.PixelShuffle(factor)]
        super().__init__(*layers)


class RCAN(nn.Module):
    """The whole network; `forward` maps an RGB batch in 0..255 to its x`scale` enlargement."""

    def __init__(self, config: RCANConfig = RCANConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.n_feats
        self.sub_mean = MeanShift(config.rgb_range, sign=-1)
        self.head = nn.Sequential(conv3x3(3, c))
        groups: list[nn.Module] = [
            ResidualGroup(c, config.reduction, config.n_resblocks) for _ in range(config.n_resgroups)
        ]
        groups.append(conv3x3(c, c))
        self.body = nn.Sequential(*groups)
        self.tail = nn.Sequential(Upsampler(config.scale, c), conv3x3(c, 3))
        self.add_mean = MeanShift(config.rgb_range, sign=+1)

    @property
    def scale(self) -> int:
        return self.config.scale

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Deep features at input resolution: body output plus the long skip."""
        shallow = self.head(self.sub_mean(x))
        return shallow + self.body(shallow)

    def upsample(self, features: torch.Tensor) -> torch.Tensor:
        return self.add_mean(self.tail(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.features(x))


def detect_rcan_config(state_dict: dict[str, torch.Tensor]) -> RCANConfig:
    """Read groups, blocks, features, reduction and scale off the keys and shapes (spandrel-style)."""
    n_feats = state_dict["head.0.weight"].shape[0]
    group_ids = {int(k.split(".")[1]) for k in state_dict if k.startswith("body.") and ".body." in k}
    n_resgroups = max(group_ids) + 1
    block_ids = {
        int(k.split(".")[3]) for k in state_dict if k.startswith("body.0.body.") and ".body.3.conv_du" in k
    }
    n_resblocks = max(block_ids) + 1
    reduction = n_feats // state_dict["body.0.body.0.body.3.conv_du.0.weight"].shape[0]
    if "tail.0.2.weight" in state_dict:
        scale = 4
    else:
        ratio = state_dict["tail.0.0.weight"].shape[0] // n_feats
        scale = {4: 2, 9: 3}.get(ratio, 0)
        if not scale:
            raise ValueError(f"upsampler widens {n_feats} features by {ratio}, which matches no scale")
    # The add_mean bias is rgb_range * mean; RCAN checkpoints use rgb_range 255.
    return RCANConfig(n_resgroups, n_resblocks, n_feats, reduction, scale)
