"""The benchmark: its result keys, its image-like random model, and the FLOP count it rates against."""
from __future__ import annotations

import json
import math

import torch

from sr_core.tools.bench import bench_image, conv_flops, random_rcan, run_bench
from sr_core.models.rcan import RCAN, RCANConfig

SMALL = RCANConfig(n_resgroups=1, n_resblocks=2, n_feats=32, reduction=8)
KEYS = {"device", "size", "reference_s", "engine_s", "speedup", "max_abs_diff", "gflops", "peak_gflops", "peak_mem_mb",
        "precision", "psnr_db"}


def test_bench_on_a_small_model_reports_every_key_and_agreement() -> None:
    result = run_bench(random_rcan(SMALL), size=16, device="cpu", tile=None, repeats=1, precision="fp32").to_dict()
    assert KEYS <= result.keys()
    assert result["precision"] == "fp32" and result["psnr_db"] == result["psnr"]
    assert result["path"] in result["probe_times"] and result["plain_s"] > 0
    json.dumps(result)  # the CLI prints it as its last line
    assert result["device"] == "cpu" and result["size"] == 16
    assert result["reference_s"] > 0 and result["engine_s"] > 0
    assert result["speedup"] == result["reference_s"] / result["engine_s"]
    assert result["max_abs_diff"] < 0.05 and result["psnr"] > 80
    assert result["output_std"] > 20
    assert result["peak_gflops"] == max(result["matmul_gflops"], result["conv_gflops"]) > 0
    assert result["peak_mem_mb"] > 0
    assert len(result["threads"]) == 1 and 1 <= result["threads"][0] <= torch.get_num_threads()


def test_bench_in_bf16_rates_against_the_fp32_reference() -> None:
    result = run_bench(random_rcan(SMALL), size=16, device="cpu", tile=None, repeats=1, precision="bf16").to_dict()
    assert result["precision"] == "bf16" and result["path"] == "channels_last" and result["probe_times"] == {}
    assert 50 < result["psnr_db"] < 100  # bf16 rounding is visible against the fp32 reference, and small
    assert result["peak_gflops"] > 0
    json.dumps(result)


def test_random_rcan_outputs_an_image_not_a_constant() -> None:
    x = bench_image(24)
    with torch.no_grad():
        scaled = random_rcan(SMALL)(x)
        torch.manual_seed(0)
        default = RCAN(SMALL).eval()(x)
    clipped = float(((scaled < 0) | (scaled > 255)).float().mean())
    assert scaled.std() > 20 and clipped < 0.1
    assert default.std() < scaled.std() / 2  # PyTorch's own init flattens the output


def test_random_rcan_is_reproducible_and_bench_image_is_in_range() -> None:
    a, b = random_rcan(SMALL, seed=3), random_rcan(SMALL, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    img = bench_image(40)
    assert img.shape == (1, 3, 40, 40) and torch.equal(img, bench_image(40))
    assert 0 <= float(img.min()) and float(img.max()) <= 255 and img.std() > 20


def test_full_rcan_x3_costs_15_6_million_multiply_adds_per_pixel() -> None:
    with torch.device("meta"):  # shapes only: no weights to initialise, no arithmetic
        macs_per_pixel = conv_flops(RCAN(), 1, 1) / 2
    assert math.isclose(macs_per_pixel, 15.6e6, rel_tol=0.01)
