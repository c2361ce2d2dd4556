"""Rectangles of an image, and finding the most textured one.

The explainers run on a working region rather than the whole photo (RCAN on CPU costs seconds per 256x256, and
FeatSharp-style tiling multiplies that by 9), so the region is chosen where there is most to explain: the window
with the highest local high-frequency energy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    def crop(self, image: np.ndarray, scale: int = 1) -> np.ndarray:
        """The box's pixels of an HxW(xC) image that is `scale` times larger than the box's coordinates."""
        return image[self.top * scale : self.bottom * scale, self.left * scale : self.right * scale]

    def within(self, outer: Box) -> Box:
        """This box in the coordinates of `outer` (which must contain it)."""
        return Box(self.top - outer.top, self.left - outer.left, self.height, self.width)

    def grown(self, margin: int, height: int, width: int) -> Box:
        """The box enlarged by `margin` on each side, clamped to a height x width image."""
        top, left = max(0, self.top - margin), max(0, self.left - margin)
        return Box(top, left, min(height, self.bottom + margin) - top, min(width, self.right + margin) - left)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def box_around(x: int, y: int, height: int, width: int, rows: int, cols: int) -> Box:
    """The height x width window centred on (x, y) as near as the rows x cols map allows: where a user clicked."""
    height, width = min(height, rows), min(width, cols)
    top = min(max(int(y) - height // 2, 0), rows - height)
    left = min(max(int(x) - width // 2, 0), cols - width)
    return Box(top, left, height, width)


def most_textured_box(energy: np.ndarray, height: int, width: int) -> Box:
    """The height x width window (clamped to the map) with the largest summed `energy`; top-left on ties."""
    rows, cols = energy.shape
    height, width = min(height, rows), min(width, cols)
    integral = np.zeros((rows + 1, cols + 1))
    integral[1:, 1:] = np.asarray(energy, dtype=np.float64).cumsum(0).cumsum(1)
    sums = (integral[height:, width:] - integral[:-height, width:]
            - integral[height:, :-width] + integral[:-height, :-width])
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return Box(int(top), int(left), height, width)
