"""Run-time estimates: they grow with the image, scale with self-ensemble, charge for halos, learn from runs."""
from __future__ import annotations

import pytest

from sr_core.engine import Upscaler
from sr_core.estimate import Throughput, estimate_seconds, learn_from_run, measure_throughput, work_pixels
from tests.conftest import tiny_random_rcan

THROUGHPUT = Throughput(device="cpu", threads=1, probe_side=128, seconds_per_pixel=2e-6)


@pytest.fixture(scope="module")
def upscaler() -> Upscaler:
    return Upscaler(tiny_random_rcan(), "cpu")


def test_work_pixels_counts_halos_only_between_tiles() -> None:
    assert work_pixels(30, 40, tile=64, halo=2) == 30 * 40
    # Height 30 in tiles of 16: [0, 16) reads rows 0..17 (18), [16, 30) reads rows 14..29 (16).
    assert work_pixels(30, 40, tile=16, halo=2) == (18 + 16) * work_pixels(1, 40, tile=16, halo=2)
    assert work_pixels(1, 40, tile=16, halo=2) == 18 + 20 + 10  # [0, 16) -> 0..17, [16, 32) -> 14..33, [32, 40) -> 30..39


def test_estimate_grows_with_the_image_and_with_smaller_tiles(upscaler: Upscaler) -> None:
    sides = [16, 32, 64, 128, 256, 1024]
    times = [estimate_seconds(THROUGHPUT, upscaler, s, s) for s in sides]
    assert all(a < b for a, b in zip(times, times[1:]))
    tiled, whole = (estimate_seconds(THROUGHPUT, upscaler, 300, 200, tile=t) for t in (32, 300))
    assert tiled > whole  # the halos


def test_self_ensemble_costs_eight_passes(upscaler: Upscaler) -> None:
    for h, w, tile in [(20, 30, None), (300, 200, 64)]:
        single = estimate_seconds(THROUGHPUT, upscaler, h, w, tile)
        assert estimate_seconds(THROUGHPUT, upscaler, h, w, tile, ensemble=True) == pytest.approx(8 * single)


def test_measured_throughput_is_positive_and_probes_one_tile(upscaler: Upscaler) -> None:
    measured = measure_throughput(upscaler, side=24, repeats=1)
    assert measured.device == "cpu" and measured.threads >= 1 and measured.probe_side == 24
    assert measured.seconds_per_pixel > 0
    assert estimate_seconds(measured, upscaler, 32, 32) > estimate_seconds(measured, upscaler, 16, 16) > 0
    with pytest.raises(ValueError, match="probe side"):
        measure_throughput(upscaler, side=upscaler.default_tile + 1)


def test_learning_from_a_run_reproduces_that_run(upscaler: Upscaler) -> None:
    learned = learn_from_run(THROUGHPUT, upscaler, 400, 300, tile=128, ensemble=True, seconds=50.0)
    assert learned.probe_side == THROUGHPUT.probe_side
    assert estimate_seconds(learned, upscaler, 400, 300, tile=128, ensemble=True) == pytest.approx(50.0)
