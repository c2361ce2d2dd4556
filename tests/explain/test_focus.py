"""A click on the photo chooses where the explanation looks: the working region and the zoomed crop."""
from __future__ import annotations

import numpy as np

from explain.pipeline import working_region
from explain.region import Box, box_around
from explain.texture import ZOOM_SIDE, texture_evidence


def test_the_box_is_centred_on_the_click_and_stays_inside() -> None:
    assert box_around(100, 60, 32, 32, rows=200, cols=300) == Box(44, 84, 32, 32)
    assert box_around(299, 199, 128, 128, rows=200, cols=300) == Box(72, 172, 128, 128)  # clamped
    assert box_around(0, 0, 128, 128, rows=50, cols=300) == Box(0, 0, 50, 128)  # a photo smaller than the box


def test_the_region_follows_the_click_not_the_texture() -> None:
    rgb = np.zeros((200, 300, 3), np.float32)
    rgb[:64, :64] = np.random.default_rng(0).random((64, 64, 3))  # all texture in the top left corner
    textured, note, _ = working_region(rgb, 128)
    assert (textured.top, textured.left) == (0, 0) and "most textured" in note
    chosen, note, _ = working_region(rgb, 128, focus=(250, 150))
    assert (chosen.top, chosen.left) == (72, 172) and "you chose, at x=172, y=72" in note


def test_the_zoomed_crop_follows_the_click() -> None:
    lr = np.random.default_rng(1).random((96, 96, 3), dtype=np.float32)
    sr = np.repeat(np.repeat(lr, 3, 0), 3, 1)
    evidence = texture_evidence(lr, sr, 3, focus=(80, 10))
    assert evidence.zoom == Box(0, 96 - ZOOM_SIDE, ZOOM_SIDE, ZOOM_SIDE)
