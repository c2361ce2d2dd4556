"""A JPEG's fine detail counted apart on its 8x8 block edges and off them: sharpened block edges show as detail on
the grid, not as texture."""
from __future__ import annotations

import numpy as np
import pytest

from explain.jpeg_view import fine_detail_map, grid_detail, grid_mask


def test_the_grid_is_the_whole_photos_block_edges_in_output_pixels() -> None:
    mask = grid_mask((48, 48), 3, (0, 0))
    assert mask[0, 10] and mask[23, 10] and mask[24, 10] and not mask[12, 12]  # boundaries at 0 and 24 px
    shifted = grid_mask((48, 48), 3, (4, 4))  # a region 4 input px into the photo: the grid moves with it
    assert shifted[12, 12] and not shifted[0, 0]
    assert 0.2 < mask.mean() < 0.4


def test_sharpened_block_edges_count_on_the_grid_not_as_texture() -> None:
    rng = np.random.default_rng(0)
    bicubic = np.repeat(rng.random((72, 72))[..., None], 3, axis=2) * 0.2 + 0.4
    on_grid = grid_mask((72, 72), 3, (0, 0))
    blocky = bicubic + 0.15 * on_grid[..., None] * np.sign(rng.standard_normal((72, 72, 1)))
    base = fine_detail_map(bicubic[..., 0], 3)
    detail = grid_detail(blocky, base, on_grid, 3)
    assert detail.on_grid > 2 * detail.off_grid and detail.edge_emphasis > 2
    same = grid_detail(bicubic, base, on_grid, 3)
    assert same.off_grid == pytest.approx(1.0, abs=1e-6) and same.on_grid == pytest.approx(1.0, abs=1e-6)
