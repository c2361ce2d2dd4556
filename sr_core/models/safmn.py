"""SAFMN: Spatially-Adaptive Feature Modulation Network (Sun et al., ICCV 2023, arXiv 2302.13800).

The module names below are a contract: they reproduce the state-dict keys of the official code
(github.com/sunny2109/SAFMN, basicsr/archs/safmn_arch.py), so the published checkpoints such as
`SAFMN_DF2K_x3.pth` (BasicSR `{'params': ...}` wrapper) load with `strict=True`.

    to_feat                   conv 3 -> dim, 3x3
    feats.{i}.norm1/norm2     LayerNorm over channels (channels_first, eps 1e-6), weight and bias
    feats.{i}.safm.mfr.{0..3} depthwise 3x3 convs, one per quarter of the channels
    feats.{i}.safm.aggr       1x1 conv dim -> dim
    feats.{i}.ccm.ccm.0/2     conv 3x3 dim -> int(dim * ffn_scale), GELU, conv 1x1 back to dim
    to_img.0                  conv dim -> 3 * scale^2, 3x3, then PixelShuffle(scale) as to_img.1

Facts taken from the official code: block i computes x = safm(norm1(x)) + x, then
x = ccm(norm2(x)) + x; the network adds a global skip, to_img(feats(f) + f) with f = to_feat(x);
no mean shift. The published x3 model is dim 36, 8 blocks, ffn_scale 2.0
(options/test/SAFMN/test_benchmark_x3.yml): 148 tensors, 232,695 parameters.
Inputs and outputs are RGB in 0..1 (BasicSR's range), hence no `rgb_range` in the config.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial
import torch
import torch.nn.functional as F
from torch import nn

from sr_core.models.architecture import Architecture, HubSource, ModelCard, Recipe, Weights
from sr_core.tiling import StepCounter, map_tiles, tile_spans

N_LEVELS = 4  # SAFM splits the channels into this many chunks; chunk i > 0 is pooled by 2**i
MIN_SIDE = 2 ** (N_LEVELS - 1)  # the coarsest level pools by this much, so a side must hold it at least once


@dataclass(frozen=True)
class SAFMNConfig:
    """Hyperparameters; the published x3 model is the default."""

    dim: int = 36
    n_blocks: int = 8
    ffn_scale: float = 2.0
    scale: int = 3

    def __post_init__(self) -> None:
        if self.dim % N_LEVELS:
            raise ValueError(f"SAFMN's dim must be a multiple of {N_LEVELS}, got {self.dim}")

    def to_dict(self) -> dict:
        return asdict(self)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor, as the official `channels_first` branch.

    The statistics are taken in float32 even for half-precision input, so fp16 inference cannot
    overflow in the squared deviations; for float32 input it is the official computation up to rounding.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        centred = x32 - x32.mean(1, keepdim=True)
        var = centred.pow(2).mean(1, keepdim=True)
        normed = (centred * torch.rsqrt(var + self.eps)).to(x.dtype)
        return self.weight[:, None, None] * normed + self.bias[:, None, None]


class SAFM(nn.Module):
    """Spatially-adaptive feature modulation.

    Chunk 0 of the channels gets a depthwise conv at full resolution; chunk i > 0 is max-pooled
    to (h // 2**i, w // 2**i), convolved and nearest-upsampled back. The chunks are concatenated,
    mixed by a 1x1 conv, and GELU of that gates the input. The pooled sizes depend on the whole
    image, so the pooled levels and the local rest are separate methods the tiled forward reuses.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.chunk = dim // N_LEVELS
        self.mfr = nn.ModuleList(
            nn.Conv2d(self.chunk, self.chunk, 3, padding=1, groups=self.chunk) for _ in range(N_LEVELS)
        )
        self.aggr = nn.Conv2d(dim, dim, 1)
        self.act = nn.GELU()

    def pooled_levels(self, coarse: torch.Tensor) -> list[torch.Tensor]:
        """Chunks 1..3 of the whole (normalised) input, max-pooled and convolved, still small."""
        height, width = coarse.shape[-2:]
        if min(height, width) < MIN_SIDE:
            raise ValueError(f"SAFMN needs at least {MIN_SIDE} pixels per side, got {height}x{width}")
        return [
            self.mfr[i](F.adaptive_max_pool2d(chunk, (height // 2**i, width // 2**i)))
            for i, chunk in enumerate(coarse.chunk(N_LEVELS - 1, dim=1), start=1)
        ]

    def modulate(self, x: torch.Tensor, levels: list[torch.Tensor]) -> torch.Tensor:
        """The local rest of SAFM, given the upsampled levels at the same pixels as x."""
        fine = self.mfr[0](x[:, : self.chunk])
        return self.act(self.aggr(torch.cat([fine, *levels], dim=1))) * x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        levels = [F.interpolate(s, size=size, mode="nearest") for s in self.pooled_levels(x[:, self.chunk :])]
        return self.modulate(x, levels)


class CCM(nn.Module):
    """Convolutional channel mixer: conv 3x3 widening by ffn_scale, GELU, conv 1x1 back."""

    def __init__(self, dim: int, ffn_scale: float) -> None:
        super().__init__()
        hidden = int(dim * ffn_scale)
        self.ccm = nn.Sequential(nn.Conv2d(dim, hidden, 3, padding=1), nn.GELU(), nn.Conv2d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ccm(x)


class AttBlock(nn.Module):
    """Pre-norm block: x + SAFM(norm1(x)), then x + CCM(norm2(x))."""

    def __init__(self, dim: int, ffn_scale: float) -> None:
        super().__init__()
        self.norm1 = ChannelLayerNorm(dim)
        self.norm2 = ChannelLayerNorm(dim)
        self.safm = SAFM(dim)
        self.ccm = CCM(dim, ffn_scale)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """The purely local second half, x + CCM(norm2(x)); the tiled forward reuses it."""
        return x + self.ccm(self.norm2(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(x + self.safm(self.norm1(x)))


class SAFMN(nn.Module):
    """The whole network; `forward` maps an RGB batch in 0..1 to its x`scale` enlargement."""

    def __init__(self, config: SAFMNConfig = SAFMNConfig()) -> None:
        super().__init__()
        self.config = config
        self.to_feat = nn.Conv2d(3, config.dim, 3, padding=1)
        self.feats = nn.Sequential(*(AttBlock(config.dim, config.ffn_scale) for _ in range(config.n_blocks)))
        self.to_img = nn.Sequential(
            nn.Conv2d(config.dim, 3 * config.scale**2, 3, padding=1), nn.PixelShuffle(config.scale)
        )

    @property
    def scale(self) -> int:
        return self.config.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shallow = self.to_feat(x)
        return self.to_img(self.feats(shallow) + shallow)


def detect_safmn_config(state_dict: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> SAFMNConfig:
    """Read dim, blocks, FFN width and scale off the keys and shapes (spandrel-style)."""
    dim = state_dict["to_feat.weight"].shape[0]
    n_blocks = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("feats."))
    hidden = state_dict["feats.0.ccm.ccm.0.weight"].shape[0]
    out_channels = state_dict["to_img.0.weight"].shape[0]
    scale = math.isqrt(out_channels // 3)
    if 3 * scale**2 != out_channels:
        raise ValueError(f"to_img.0 has {out_channels} outputs, which is 3 * scale^2 for no integer scale")
    ffn_scale = hidden / dim
    while int(dim * ffn_scale) < hidden:  # the official width is int(dim * ffn_scale): round up by an ulp
        ffn_scale = math.nextafter(ffn_scale, math.inf)
    return SAFMNConfig(dim=dim, n_blocks=n_blocks, ffn_scale=ffn_scale, scale=scale)


def safmn_steps(model: nn.Module, height: int, width: int, tile: int) -> int:
    """How many tile steps `safmn_forward_tiled` takes: to_feat, three maps per block, to_img."""
    per_map = len(tile_spans(height, tile)) * len(tile_spans(width, tile))
    return per_map * (2 + 3 * model.config.n_blocks)


def safmn_forward_tiled(model: nn.Module, x: torch.Tensor, tile: int, counter: StepCounter) -> torch.Tensor:
    """SAFMN's forward pass with its local parts tiled and SAFM's pooled levels exact.

    SAFM max-pools to h // 8 x w // 8 of the *whole* image, so tiles run through the network
    would change the answer. Per block: (1) norm1 of channel chunks 1..3 is written tile by tile
    into a whole-image buffer, (2) those are pooled, convolved and nearest-upsampled on the whole
    image, exactly as the official code, (3) the rest of SAFM (norm1, depthwise conv of chunk 0,
    1x1 aggregation, GELU gate, skip) runs tile by tile with a halo of 1, (4) so does the CCM.

    Memory: besides tile-sized temporaries, whole-image buffers of 3.75 * dim * h * w values stay
    alive (the shallow features for the global skip, the stream with the upsampled levels beside
    it, and the block output), plus one upsampled level (dim / 4 channels) at a time; the tile
    bounds only the temporaries. Measured for a 1280x720 input in fp16 on an H200 (one feature
    map = 63 MiB): tile 256 peaked at 271 MiB, the plain whole-image forward at 581 MiB.
    """
    cfg: SAFMNConfig = model.config
    dim, chunk = cfg.dim, cfg.dim // N_LEVELS
    batch, _, height, width = x.shape
    shallow = map_tiles(model.to_feat, x, tile, 1, counter)
    # Stream in channels [0, dim), the upsampled pooled levels of the current block after it.
    both = shallow.new_empty(batch, dim + (N_LEVELS - 1) * chunk, height, width)
    stream, levels = both[:, :dim], both[:, dim:]
    stream.copy_(shallow)
    block_out = torch.empty_like(shallow)
    for block in model.feats:
        map_tiles(partial(_normed_coarse_chunks, block), stream, tile, 0, counter, out=levels)
        for i, small in enumerate(block.safm.pooled_levels(levels)):  # all pooled before any is overwritten
            levels[:, i * chunk : (i + 1) * chunk] = F.interpolate(small, size=(height, width), mode="nearest")
        map_tiles(partial(_safm_residual, block), both, tile, 1, counter, out=block_out)
        map_tiles(block.mix, block_out, tile, 1, counter, out=stream)
    del block_out
    stream.add_(shallow)
    del shallow
    return map_tiles(model.to_img, stream, tile, 1, counter, scale=cfg.scale)


def _normed_coarse_chunks(block: AttBlock, x: torch.Tensor) -> torch.Tensor:
    """norm1(x) without chunk 0: the part of SAFM's input that gets pooled."""
    return block.norm1(x)[:, block.safm.chunk :]


def _safm_residual(block: AttBlock, t: torch.Tensor) -> torch.Tensor:
    """x + SAFM(norm1(x)) for a tile holding x and, in the channels after it, its upsampled levels."""
    dim = block.norm1.weight.shape[0]
    x = t[:, :dim]
    return x + block.safm.modulate(block.norm1(x), [t[:, dim:]])


SAFMN_BIBTEX = """\
@inproceedings{sun2023safmn,
  title     = {Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution},
  author    = {Sun, Long and Dong, Jiangxin and Tang, Jinhui and Pan, Jinshan},
  booktitle = {IEEE/CVF International Conference on Computer Vision (ICCV)},
  year      = {2023}
}"""

SAFMN_ARCHITECTURE = Architecture(
    name="SAFMN",
    model=SAFMN,
    config=SAFMNConfig,
    signature_keys=("to_feat.weight", "feats.0.norm1.weight", "feats.0.safm.mfr.0.weight", "feats.0.safm.aggr.weight",
                    "feats.0.ccm.ccm.0.weight", "to_img.0.weight"),
    detect=detect_safmn_config,
    # The paper's x3 model: dim 36, 8 blocks, ffn_scale 2 (SAFMN-L: dim 128, 16 blocks).
    bounds={"dim": (4, 512), "n_blocks": (1, 64), "ffn_scale": (0.0625, 8), "scale": (1, 8)},
    value_range=1.0,
    tiled_forward=safmn_forward_tiled,
    tiled_steps=safmn_steps,
    halo=1,  # every tiled map of `safmn_forward_tiled` reads at most 1 pixel around its tile
    min_side=MIN_SIDE,
    precisions={"cpu": ("bf16", "fp32"), "cuda": ("fp16", "bf16", "fp32")},  # the norms keep fp32 statistics
    weights=(
        Weights("bundled-safmn", "trained here on clean photos", file="safmn_x3.safetensors"),
        # The authors' own x3 weights (Apache-2.0; BasicSR {'params': ...}, 232,695 parameters; the model card of
        # huggingface.co/Meloo/SAFMN lists SAFMN_DF2K_x2/x3/x4.pth).
        Weights("hub-safmn", "trained by its authors",
                hub=HubSource("SR_SAFMN_HUB_REPO", "SR_SAFMN_HUB_FILE", "SR_SAFMN_HUB_REVISION",
                              repo_id="Meloo/SAFMN", filename="SAFMN_DF2K_x3.pth"),
                fallback="bundled-safmn"),
    ),
    server_weights_env="SR_SAFMN_WEIGHTS",
    card=ModelCard(
        summary="SAFMN (Spatially-Adaptive Feature Modulation Network, Sun et al., ICCV 2023) enlarges a photo "
                "{scale} times.\nEach block pools its features at several scales and uses them to modulate the "
                "full-resolution ones,\nso a small, fast network still brings back fine detail.",
        key_examples="`to_feat`, `feats.{i}.safm.mfr.{j}`, `feats.{i}.ccm.ccm.0`, `to_img.0`",
        tag="safmn",
        app_env="SR_SAFMN_HUB_REPO={repo} SR_SAFMN_HUB_FILE=model.safetensors",
        arxiv="2302.13800",
        code="github.com/sunny2109/SAFMN",
        bibtex=SAFMN_BIBTEX,
    ),
    training={
        # SAFMN x3 as published (sunny2109/SAFMN options/train/SAFMN/train_DF2K_X3.yml: Adam lr 1e-3, cosine,
        # batch 64 of 64px LR crops); batch and crop here suit CPU training. 232,695 parameters.
        "safmn": Recipe(SAFMNConfig(dim=36, n_blocks=8, ffn_scale=2.0, scale=3), batch=16, lr_patch=48, lr=1e-3),
        # The dataset-distillation study (sr_core.tools.study): a quarter-width SAFMN whose five arms fit one session
        # on a shared 2-core CPU (one thread: about 80 ms per step, "safmn" about 1.3 s). 56,643 parameters.
        # The 32px LR crop leaves room for random crops inside the 48px LR patches of a distilled set.
        "safmn-study": Recipe(SAFMNConfig(dim=24, n_blocks=4, ffn_scale=2.0, scale=3), batch=16, lr_patch=32,
                              lr=1e-3, save_every=250, eval_every=250),
    },
)
