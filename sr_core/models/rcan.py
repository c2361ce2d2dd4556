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

Below the network: its exact tiled forward (`rcan_forward_tiled`) and its descriptor (`RCAN_ARCHITECTURE`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from sr_core.models.architecture import Architecture, HubSource, ModelCard, Recipe, Weights
from sr_core.tiling import StepCounter, map_tiles, tile_spans

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
    # Ablation variants (the paper's Table 1 removes each part and retrains): a network without CALayers has no
    # conv_du keys; one without the residual-in-residual skips has the same keys, so its checkpoint says so in the
    # safetensors metadata (`residual_skips: False`, written by sr_core.tools.train.save_weights).
    channel_attention: bool = True
    residual_skips: bool = True

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

    def __init__(self, channels: int, reduction: int, channel_attention: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv3x3(channels, channels), nn.ReLU(inplace=True), conv3x3(channels, channels)]
        if channel_attention:
            layers.append(CALayer(channels, reduction))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    """n_resblocks RCABs and a closing conv, wrapped in a short skip connection (unless `short_skip` is off)."""

    def __init__(self, channels: int, reduction: int, n_resblocks: int, channel_attention: bool = True,
                 short_skip: bool = True) -> None:
        super().__init__()
        blocks: list[nn.Module] = [RCAB(channels, reduction, channel_attention) for _ in range(n_resblocks)]
        blocks.append(conv3x3(channels, channels))
        self.body = nn.Sequential(*blocks)
        self.short_skip = short_skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.short_skip else self.body(x)


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
            ResidualGroup(c, config.reduction, config.n_resblocks, config.channel_attention, config.residual_skips)
            for _ in range(config.n_resgroups)
        ]
        groups.append(conv3x3(c, c))
        self.body = nn.Sequential(*groups)
        self.tail = nn.Sequential(Upsampler(config.scale, c), conv3x3(c, 3))
        self.add_mean = MeanShift(config.rgb_range, sign=+1)

    @property
    def scale(self) -> int:
        return self.config.scale

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Deep features at input resolution: body output plus the long skip (when the network has it)."""
        shallow = self.head(self.sub_mean(x))
        deep = self.body(shallow)
        return shallow + deep if self.config.residual_skips else deep

    def upsample(self, features: torch.Tensor) -> torch.Tensor:
        return self.add_mean(self.tail(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.features(x))


def detect_rcan_config(state_dict: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> RCANConfig:
    """Read groups, blocks, features, reduction and scale off the keys and shapes (spandrel-style).

    Channel attention is present when its conv_du keys are; the skips can only be told by the metadata, and the
    reduction is taken from it when it fits the squeeze width.
    """
    n_feats = state_dict["head.0.weight"].shape[0]
    group_ids = {int(k.split(".")[1]) for k in state_dict if k.startswith("body.") and ".body." in k}
    n_resgroups = max(group_ids) + 1
    block_ids = {
        int(k.split(".")[3]) for k in state_dict if k.startswith("body.0.body.") and k.endswith(".body.0.weight")
    }
    n_resblocks = max(block_ids) + 1
    channel_attention = "body.0.body.0.body.3.conv_du.0.weight" in state_dict
    reduction = RCANConfig.reduction
    if channel_attention:
        # The squeeze width is n_feats // reduction, and several reductions give one width (56 // 16 == 56 // 18):
        # the metadata's reduction wins wherever it fits the shapes.
        squeeze = state_dict["body.0.body.0.body.3.conv_du.0.weight"].shape[0]
        named = int((metadata or {}).get("reduction", 0))
        reduction = named if named and n_feats // named == squeeze else n_feats // squeeze
    residual_skips = (metadata or {}).get("residual_skips", "True") != "False"
    if "tail.0.2.weight" in state_dict:
        scale = 4
    else:
        ratio = state_dict["tail.0.0.weight"].shape[0] // n_feats
        scale = {4: 2, 9: 3}.get(ratio, 0)
        if not scale:
            raise ValueError(f"upsampler widens {n_feats} features by {ratio}, which matches no scale")
    # The add_mean bias is rgb_range * mean; RCAN checkpoints use rgb_range 255.
    return RCANConfig(n_resgroups, n_resblocks, n_feats, reduction, scale,
                      channel_attention=channel_attention, residual_skips=residual_skips)


# ---------------------------------------------------------------------------------------------------------------
# Tiled inference that gives the same answer as the whole image.
#
# The channel attention pools each residual over the *whole* image, so cutting the image into overlapping tiles
# and running the network on each (Real-ESRGAN, RCAN's own `forward_chop`) changes every attention vector and
# hence the output. Here only the local operators are tiled (`sr_core.tiling.map_tiles`), and each gate is
# computed from the mean of the whole residual.
# ---------------------------------------------------------------------------------------------------------------


def upsampler_tile(model: nn.Module, tile: int) -> int:
    """The upsampler widens the features scale^2-fold before the pixel shuffle: tile it smaller,
    so its temporaries stay as small as those of the body's tiles."""
    return max(8, tile // model.scale)


def rcan_steps(model: nn.Module, height: int, width: int, tile: int) -> int:
    """How many tile steps `rcan_forward_tiled` takes, for progress totals."""
    cfg = model.config

    def per_map(side: int) -> int:
        return len(tile_spans(height, side)) * len(tile_spans(width, side))

    # head, blocks and closing convs, end, and the head again for the long skip
    body_maps = 1 + cfg.n_resgroups * (cfg.n_resblocks + 1) + 1 + int(cfg.residual_skips)
    return per_map(tile) * body_maps + per_map(upsampler_tile(model, tile))


def rcan_forward_tiled(model: nn.Module, x: torch.Tensor, tile: int, counter: StepCounter) -> torch.Tensor:
    """RCAN's forward pass with its local parts tiled and its global pools exact.

    Whole-image buffers: at most three feature maps live at once (the stream, the group input for the
    short skip, and a scratch map for each block's residual), plus the output. The shallow features
    for the long skip are not kept: the head (a 3 -> C conv, 0.01% of the work) runs again at the end.
    """
    halo_conv, halo_pair = 1, 2  # one 3x3 conv; conv-ReLU-conv (and the upsampler's conv, shuffle, conv)
    tiled = len(tile_spans(x.shape[2], tile)) * len(tile_spans(x.shape[3], tile)) > 1

    def shallow_features(t: torch.Tensor) -> torch.Tensor:
        return model.head(model.sub_mean(t))

    skips = model.config.residual_skips
    stream = map_tiles(shallow_features, x, tile, halo_conv, counter)
    scratch: torch.Tensor | None = None  # a spare whole map, reused when tiled (one tile's result needs no copy)
    for group in list(model.body)[:-1]:
        group_input = stream.clone() if skips else None
        *blocks, closing_conv = list(group.body)
        for block in blocks:
            convs = block.body[:3]
            residual = map_tiles(convs, stream, tile, halo_pair, counter, out=scratch)
            if len(block.body) > 3:  # the CALayer
                pooled = residual.mean(dim=(2, 3), keepdim=True, dtype=torch.float32).to(residual.dtype)
                stream.addcmul_(residual, block.body[3].gate(pooled))
            else:
                stream.add_(residual)
            scratch = residual if tiled else None
            del residual  # untiled, the next block's fresh result must not meet this one in memory
        closed = map_tiles(closing_conv, stream, tile, halo_conv, counter, out=scratch)
        if group_input is not None:
            closed.add_(group_input)
        del group_input
        stream, scratch = closed, (stream if tiled else None)
    features = map_tiles(model.body[-1], stream, tile, halo_conv, counter, out=scratch)
    del scratch
    if skips:
        features.add_(map_tiles(shallow_features, x, tile, halo_conv, counter, out=stream if tiled else None))
    del stream
    return map_tiles(model.upsample, features, upsampler_tile(model, tile), halo_pair, counter, scale=model.scale)


# ---------------------------------------------------------------------------------------------------------------
# Ablations: the trained network with one part removed and every other weight kept, the start of an arm that is
# then retrained (the paper's Table 1 trains each variant; sr_core.tools.ablation fine-tunes from here).
# ---------------------------------------------------------------------------------------------------------------


def _rebuilt(config: RCANConfig, state_dict: dict[str, torch.Tensor]) -> RCAN:
    variant = RCAN(config)
    variant.load_state_dict(state_dict, strict=True)
    return variant


def without_channel_attention(model: RCAN) -> RCAN:
    """Every CALayer removed: each block adds its conv-ReLU-conv residual ungated."""
    kept = {k: v for k, v in model.state_dict().items() if ".body.3.conv_du." not in k}
    return _rebuilt(replace(model.config, channel_attention=False), kept)


def without_residual_skips(model: RCAN) -> RCAN:
    """The residual-in-residual skips removed (each group's short skip and the long skip); the blocks' own
    residuals stay, as in the paper's variants without LSC and SSC."""
    return _rebuilt(replace(model.config, residual_skips=False), model.state_dict())


def shallower(model: RCAN) -> RCAN:
    """The first half of the residual groups, then the body's closing conv: half the depth."""
    n = max(1, model.config.n_resgroups // 2)
    last = f"body.{model.config.n_resgroups}."
    kept = {}
    for key, value in model.state_dict().items():
        if key.startswith(last):
            kept[f"body.{n}." + key.removeprefix(last)] = value
        elif not key.startswith("body.") or int(key.split(".")[1]) < n:
            kept[key] = value
    return _rebuilt(replace(model.config, n_resgroups=n), kept)


RCAN_BIBTEX = """\
@inproceedings{zhang2018rcan,
  title     = {Image Super-Resolution Using Very Deep Residual Channel Attention Networks},
  author    = {Zhang, Yulun and Li, Kunpeng and Li, Kai and Wang, Lichen and Zhong, Bineng and Fu, Yun},
  booktitle = {European Conference on Computer Vision (ECCV)},
  year      = {2018}
}"""

RCAN_ARCHITECTURE = Architecture(
    name="RCAN",
    model=RCAN,
    config=RCANConfig,
    signature_keys=("sub_mean.weight", "head.0.weight", "body.0.body.0.body.0.weight", "tail.0.0.weight",
                    "tail.1.weight"),
    detect=detect_rcan_config,
    # The paper's x3 model: 10 groups x 20 blocks, 64 features, reduction 16.
    bounds={"n_resgroups": (1, 64), "n_resblocks": (1, 100), "n_feats": (1, 512), "reduction": (1, 512),
            "scale": (2, 4)},
    value_range=RCANConfig.rgb_range,
    tiled_forward=rcan_forward_tiled,
    tiled_steps=rcan_steps,
    halo=2,  # the conv pairs, which do nearly all of the work, read 2 pixels around each tile
    min_side=1,
    precisions={"cpu": ("bf16", "fp32"), "cuda": ("fp16", "bf16", "fp32")},
    weights=(
        Weights("bundled", "trained here on clean photos", file="rcan_x3.safetensors"),
        Weights("bundled-jpeg", "trained here on JPEG photos", file="rcan_x3_jpeg.safetensors", jpeg=True),
        # A repo an owner filled with `python -m sr_core export --push` (no official RCAN x3 is on the Hub).
        Weights("hub", "from the server's Hub repo", hub=HubSource("SR_HUB_REPO", "SR_HUB_FILE", "SR_HUB_REVISION"),
                fallback="bundled"),
    ),
    card=ModelCard(
        summary="RCAN (Residual Channel Attention Network, Zhang et al., ECCV 2018) enlarges a photo {scale} times. "
                "Very deep\nresidual groups with channel attention reweight feature channels, so fine textures "
                "survive the enlargement\ninstead of being smoothed away.",
        key_examples="`head.0`, `body.{g}.body.{b}.body.3.conv_du.0`, `tail.0.0`",
        tag="rcan",
        app_env="SR_HUB_REPO={repo}",
        arxiv="1807.02758",
        code="github.com/yulunzhang/RCAN",
        bibtex=RCAN_BIBTEX,
    ),
    training={
        # The bundled default: 1.77M parameters, fp16 safetensors of about 3.5 MB.
        "bundled": Recipe(RCANConfig(n_resgroups=4, n_resblocks=6, n_feats=56, reduction=16, scale=3), batch=64),
        # A CPU-friendly model for quick experiments.
        "small": Recipe(RCANConfig(n_resgroups=3, n_resblocks=3, n_feats=32, reduction=8, scale=3), batch=16),
        # For tests: seconds on a CPU.
        "tiny": Recipe(RCANConfig(n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4, scale=3), batch=4,
                       lr_patch=12, warmup=2, save_every=2, eval_every=2),
        # Fine-tuning the bundled model and its ablations on a CPU (sr_core.tools.ablation): batch 16 of 48 px,
        # a short warm-up and half the bundled recipe's learning rate, so that the control arm is not thrown
        # off the trained optimum.
        "finetune": Recipe(RCANConfig(n_resgroups=4, n_resblocks=6, n_feats=56, reduction=16, scale=3), batch=16,
                           lr=2e-4, warmup=50, save_every=100, eval_every=100),
    },
    ablations={"no_channel_attention": without_channel_attention, "no_skip": without_residual_skips,
               "shallow": shallower},
)
