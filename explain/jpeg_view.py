"""For a photo that arrived as a JPEG: how much of the "fine detail" lies on the JPEG's 8×8 block grid, and what
the RCAN trained on clean photos and the one trained on JPEGs make of the same spot.

Why: JPEG stores a photo in 8×8 blocks and throws fine detail away; what is left shows as faint block edges. A
network trained on clean photos takes those edges for texture and sharpens them, and the fine-detail energy then
counts the sharpened blocks as detail. So the detail is reported apart: on the block grid (the output pixels
within GRID_HALF_WIDTH of a block boundary) and off it, each as a multiple of bicubic's on the same pixels. Both
bundled RCANs enlarge the working region (fp32), side by side: what a network learned from decides what it treats
as texture.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from explain.measures import luminance
from explain.region import Box
from sr_core.engine import Upscaler
from sr_core.models import architecture_of
from sr_core.protocol.imresize import imresize
from sr_core.weights import load_weights

BLOCK = 8  # JPEG's block side, input pixels
GRID_HALF_WIDTH = 1.5  # output pixels either side of a block boundary that count as "on the grid"
MODELS = {"clean": "bundled", "jpeg": "bundled-jpeg"}  # the default model trained on clean photos, and on JPEGs
TRAINED_ON = {"clean": "clean photos", "jpeg": "JPEGs"}


@dataclass
class GridDetail:
    """Fine detail of one enlargement, on the block grid and off it, each over bicubic's on the same pixels."""

    off_grid: float  # the fine-detail ratio without the grid: the texture measure for a JPEG
    on_grid: float  # ... on the grid lines alone: how much the block edges were sharpened

    @property
    def edge_emphasis(self) -> float:
        """Detail on the block edges over detail elsewhere: above 1, the blocks were sharpened more than the rest."""
        return self.on_grid / self.off_grid if self.off_grid > 0 else float("nan")


@dataclass
class JpegView:
    quality: int
    grid_share: float  # share of the region's output pixels on the grid
    detail: dict[str, GridDetail]  # "served", "clean", "jpeg"
    zooms: dict[str, np.ndarray]  # "clean", "jpeg": each model's pixels at the zoomed spot
    arch: str  # the architecture of the two compared models

    def label(self, name: str) -> str:
        """How the compared model `name` ("clean", "jpeg") is shown."""
        return f"{self.arch} trained on {TRAINED_ON[name]}"

    def to_dict(self) -> dict:
        return {"quality": self.quality, "grid_share": self.grid_share,
                **{f"{name}_{side}": getattr(d, side) for name, d in self.detail.items()
                   for side in ("off_grid", "on_grid")}}


def grid_mask(shape: tuple[int, int], scale: int, origin: tuple[int, int]) -> np.ndarray:
    """Output pixels within GRID_HALF_WIDTH of a JPEG block boundary; `origin` is the region's (left, top) in the
    photo's input pixels, since the grid is the whole photo's."""
    def near(length: int, start: int) -> np.ndarray:
        centre = (np.arange(length) + 0.5) / scale + start  # input coordinate of each output pixel's centre
        distance = np.abs(centre - BLOCK * np.round(centre / BLOCK)) * scale
        return distance <= GRID_HALF_WIDTH

    rows, cols = near(shape[0], origin[1]), near(shape[1], origin[0])
    return rows[:, None] | cols[None, :]


def fine_detail_map(luma: np.ndarray, scale: int) -> np.ndarray:
    """Per output pixel, the energy of the detail finer than the input's Nyquist frequency (the part of the
    spectrum the fine-detail energy counts, with its Hann window against the edges' wrap-around), as a map."""
    window = np.outer(np.hanning(luma.shape[0]), np.hanning(luma.shape[1]))
    spectrum = np.fft.fft2((luma - luma.mean()) * window)
    fy = np.fft.fftfreq(luma.shape[0])[:, None]
    fx = np.fft.fftfreq(luma.shape[1])[None, :]
    spectrum[np.maximum(np.abs(fy), np.abs(fx)) <= 0.5 / scale] = 0
    return np.abs(np.fft.ifft2(spectrum)) ** 2


def grid_detail(output: np.ndarray, bicubic_energy: np.ndarray, on_grid: np.ndarray, scale: int) -> GridDetail:
    energy = fine_detail_map(luminance(output), scale)

    def ratio(where: np.ndarray) -> float:
        base = float(bicubic_energy[where].sum())
        return float(energy[where].sum()) / base if base > 0 else float("nan")

    return GridDetail(off_grid=ratio(~on_grid), on_grid=ratio(on_grid))


@lru_cache(maxsize=2)
def engine(spec: str) -> Upscaler:
    """A bundled model and its engine, built once per process."""
    return Upscaler(load_weights(spec).model, "cpu", precision="fp32")


def jpeg_view(quality: int, lr_region: np.ndarray, sr_region: np.ndarray, region: Box, zoom: Box,
              scale: int, offset: tuple[int, int] = (0, 0)) -> JpegView:
    """The comparison for a region of a photo saved as a JPEG at `quality`: the served enlargement `sr_region`
    and both bundled RCANs' on and off the block grid, and their crops at `zoom`. `offset`: where the analysed
    image starts in the saved photo (a part cut from a photo over the pixel limit), since the grid is the photo's."""
    bicubic = np.clip(imresize(np.asarray(lr_region, np.float32), scale), 0, 1)
    bicubic_energy = fine_detail_map(luminance(bicubic), scale)
    on_grid = grid_mask(bicubic_energy.shape, scale, (offset[0] + region.left, offset[1] + region.top))
    engines = {name: engine(spec) for name, spec in MODELS.items()}
    outputs = {name: upscaler.upscale(lr_region) for name, upscaler in engines.items()}
    detail = {name: grid_detail(image, bicubic_energy, on_grid, scale)
              for name, image in {"served": sr_region, **outputs}.items()}
    zooms = {name: zoom.crop(image, scale) for name, image in outputs.items()}
    return JpegView(quality, float(on_grid.mean()), detail, zooms, architecture_of(engines["clean"].model).name)
