"""The extension point, proven: an architecture defined here, registered through its descriptor alone, is
detected from its keys, loaded, upscaled by the engine (tiled and whole, with the same answer), estimated and
exported, and none of sr_core's files names it."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pytest
import torch
from torch import nn

from sr_core.engine import Upscaler
from sr_core.estimate import Throughput, estimate_seconds, work_pixels
from sr_core.models import (
    ARCHITECTURES,
    Architecture,
    ModelCard,
    Recipe,
    architecture_of,
    model_from_state_dict,
    register,
    training_recipes,
)
from sr_core.tiling import StepCounter, map_tiles, tile_spans
from sr_core.tools.export import export_checkpoint
from sr_core.weights import load_file
from tests.conftest import save_model


@dataclass(frozen=True)
class ToyConfig:
    width: int = 6
    scale: int = 2

    def to_dict(self) -> dict:
        return asdict(self)


class Toy(nn.Module):
    """conv-ReLU, a gate from the *whole* image's mean (as RCAN's attention), conv and pixel shuffle."""

    def __init__(self, config: ToyConfig = ToyConfig()) -> None:
        super().__init__()
        self.config = config
        self.head = nn.Conv2d(3, config.width, 3, padding=1)
        self.tail = nn.Sequential(nn.Conv2d(config.width, 3 * config.scale**2, 3, padding=1),
                                  nn.PixelShuffle(config.scale))

    @property
    def scale(self) -> int:
        return self.config.scale

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.head(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return self.tail(f * torch.sigmoid(f.mean(dim=(2, 3), keepdim=True)))


def toy_forward_tiled(model: Toy, x: torch.Tensor, tile: int, counter: StepCounter) -> torch.Tensor:
    f = map_tiles(model.features, x, tile, 1, counter)
    gated = f * torch.sigmoid(f.mean(dim=(2, 3), keepdim=True))  # the global part, on the whole map
    return map_tiles(model.tail, gated, tile, 1, counter, scale=model.scale)


def toy_steps(model: Toy, height: int, width: int, tile: int) -> int:
    return 2 * len(tile_spans(height, tile)) * len(tile_spans(width, tile))


def detect_toy(state_dict: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> ToyConfig:
    width = state_dict["head.weight"].shape[0]
    return ToyConfig(width=width, scale=int(round((state_dict["tail.0.weight"].shape[0] / 3) ** 0.5)))


TOY = Architecture(
    name="Toy",
    model=Toy,
    config=ToyConfig,
    signature_keys=("head.weight", "tail.0.weight"),
    detect=detect_toy,
    bounds={"width": (1, 64), "scale": (2, 4)},
    value_range=255.0,  # not the old 1.0 fallback: the engine must ask the descriptor for it
    tiled_forward=toy_forward_tiled,
    tiled_steps=toy_steps,
    halo=1,
    min_side=4,
    precisions={"cpu": ("fp32",), "cuda": ("fp32",)},
    card=ModelCard(summary="A toy network that enlarges {scale} times.", key_examples="`head`, `tail.0`",
                   tag="toy", app_env="SR_HUB_REPO={repo}", arxiv="0000.00000",
                   code="example.org/toy", bibtex="@misc{toy}"),
    training={"toy-test": Recipe(ToyConfig(), batch=2, lr_patch=8)},
)


@pytest.fixture
def toy() -> Toy:
    register(TOY)
    torch.manual_seed(0)
    try:
        yield Toy().eval()
    finally:
        ARCHITECTURES.remove(TOY)


def photo(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(0).random((height, width, 3), dtype=np.float32)


def test_the_toy_is_detected_from_its_keys_and_loads_through_the_weights(toy: Toy, tmp_path) -> None:
    model, name = model_from_state_dict(toy.state_dict())
    assert name == "Toy" and isinstance(model, Toy) and model.config == ToyConfig()
    loaded = load_file(save_model(toy, tmp_path / "toy.safetensors"), source="file")
    assert (loaded.arch, loaded.config) == ("Toy", {"width": 6, "scale": 2})
    assert loaded.n_params == sum(p.numel() for p in toy.parameters())
    assert architecture_of(toy) is TOY and "toy-test" in training_recipes()


def test_the_engine_runs_the_toy_tiled_and_whole_with_the_same_answer(toy: Toy) -> None:
    rgb = photo(21, 13)
    with torch.no_grad():
        out = toy(torch.from_numpy(rgb).permute(2, 0, 1)[None] * 255) / 255
        expected = out.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    engine = Upscaler(toy, "cpu", "fp32")
    assert engine.value_range == 255.0 and engine.precision == "fp32"
    seen = []
    tiled = engine.upscale(rgb, tile=8, progress=seen.append)
    whole = engine.upscale(rgb, tile=64)
    assert tiled.shape == whole.shape == (42, 26, 3)
    assert np.abs(whole - expected).max() < 1e-5
    assert np.abs(tiled - expected).max() < 1e-5
    assert [p.done for p in seen] == list(range(1, 2 * 3 * 2 + 1))  # 3 x 2 tiles, two tiled maps
    # Tiles run through the whole network would get the gate wrong: the tiled forward is what makes it exact.
    naive = np.concatenate([engine.upscale(rgb[:8], tile=64), engine.upscale(rgb[8:], tile=64)])
    assert np.abs(naive - expected).max() > 1e-3


def test_the_descriptor_alone_sets_precision_minimum_side_halo_and_model_card(toy: Toy, tmp_path) -> None:
    with pytest.raises(ValueError, match="does not run in bf16 on cpu"):
        Upscaler(toy, "cpu", "bf16")
    with pytest.raises(ValueError, match="Toy needs at least 4 pixels per side"):
        Upscaler(toy, "cpu").upscale(photo(3, 10))
    engine = Upscaler(toy, "cpu")
    assert engine.precision == "fp32"  # auto: the toy lists fp32 only
    per_pixel = Throughput("cpu", 1, 8, 1e-6)
    assert estimate_seconds(per_pixel, engine, 20, 20, tile=8) == pytest.approx(
        1e-6 * work_pixels(20, 20, 8, halo=1))
    out = export_checkpoint(save_model(toy, tmp_path / "toy.safetensors"), tmp_path / "export", repo_id="me/toy")
    card = (out / "README.md").read_text()
    assert "# Toy x2 super-resolution" in card and "RGB in 0..255," in card and "- toy" in card
    assert "RCAN" not in card
    assert json.loads((out / "config.json").read_text())["architecture"] == "Toy"
