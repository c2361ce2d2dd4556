"""Precision choice (`auto|fp32|bf16`), the bf16 engine's fidelity and exact tiling, and the measured path choice."""
from __future__ import annotations

import math

import pytest
import torch

from sr_core import engine, precision
from sr_core.tools.bench import bench_image, random_rcan
from sr_core.engine import Upscaler, choose_fastest
from sr_core.precision import ReducedPrecisionConv
from sr_core.models.rcan import RCANConfig

WIDE = RCANConfig(n_resgroups=2, n_resblocks=2, n_feats=32, reduction=8)  # wide enough for bf16 convs


@pytest.fixture(scope="module")
def wide_model() -> torch.nn.Module:
    return random_rcan(WIDE, seed=2)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 255) - b.clamp(0, 255)) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def test_auto_means_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert precision.resolve_dtype("fp32", cpu) == torch.float32
    assert precision.resolve_dtype("bf16", cpu) == torch.bfloat16
    assert precision.resolve_dtype("auto", cuda) == torch.float16  # as the engine always did on CUDA
    monkeypatch.setattr(precision, "cpu_bf16_instructions", lambda: "avx512_bf16")
    assert precision.resolve_dtype("auto", cpu) == torch.bfloat16
    assert precision.describe_dtype(torch.bfloat16, cpu) == "bf16 (native: avx512_bf16)"
    monkeypatch.setattr(precision, "cpu_bf16_instructions", lambda: None)  # e.g. an AVX2-only CPU
    assert precision.resolve_dtype("auto", cpu) == torch.float32
    assert "emulated" in precision.describe_dtype(torch.bfloat16, cpu)
    with pytest.raises(ValueError, match="unknown precision"):
        precision.resolve_dtype("fp8", cpu)


def test_native_bf16_detection_needs_the_instructions_not_just_onednn() -> None:
    flags = torch._C._cpu._get_cpu_capability()
    found = precision.cpu_bf16_instructions()
    assert found is None or flags[found]
    if not (flags.get("avx512_bf16") or flags.get("amx_bf16")):
        assert found is None


def test_choose_fastest_skips_the_first_call_and_takes_each_candidates_best() -> None:
    calls: list[str] = []
    times = {"a": [9.0, 2.0, 2.5], "b": [1.0, 3.0, 1.5], "c": [1.0, 2.2, 2.2]}  # first call: setup

    def time_one(name: str) -> float:
        calls.append(name)
        return times[name][sum(1 for c in calls if c == name) - 1]

    best, seen = choose_fastest(["a", "b", "c"], time_one, rounds=2, margin=0.05)
    assert best == "b" and seen == {"a": 2.0, "b": 1.5, "c": 2.2}
    assert calls == ["a", "b", "c", "a", "b", "c", "c", "b", "a"]  # alternating order, so drift hits all alike
    # The first candidate (plain channels_last) is the default: a tie or a win inside the margin keeps it.
    assert choose_fastest(["x", "y"], lambda name: 1.0)[0] == "x"
    assert choose_fastest(["x", "y"], lambda name: {"x": 1.0, "y": 0.97}[name], margin=0.05)[0] == "x"
    assert choose_fastest(["x", "y"], lambda name: {"x": 1.0, "y": 0.90}[name], margin=0.05)[0] == "y"


def test_bf16_engine_keeps_the_stream_and_thin_convs_in_fp32(wide_model: torch.nn.Module) -> None:
    up = Upscaler(wide_model, "cpu", precision="bf16")
    assert up.precision == "bf16" and "bf16" in up.describe()
    reduced = [m for m in up.model.modules() if isinstance(m, ReducedPrecisionConv)]
    assert len(reduced) == 2 * (2 * 2 + 1) + 1 + 1  # RCAB convs, closing convs, the body's last, the upsampler's
    assert up.model.head[0].weight.dtype == up.model.tail[1].weight.dtype == torch.float32  # 3 -> C, C -> 3
    assert all(m.conv.weight.dtype == torch.bfloat16 for m in reduced)
    assert up.candidates == ["channels_last"]  # bf16 paths round differently: a timed choice would change pictures
    assert next(wide_model.parameters()).dtype == torch.float32  # the caller's model is untouched


def test_a_model_too_thin_for_bf16_runs_and_says_fp32() -> None:
    from tests.conftest import tiny_random_rcan  # 8 features: no conv reaches REDUCED_MIN_CHANNELS

    up = Upscaler(tiny_random_rcan(), "cpu", precision="bf16")
    assert up.precision == "fp32" and up.describe().startswith("fp32 (bf16 asked: no conv is wide enough)")
    assert not any(isinstance(m, ReducedPrecisionConv) for m in up.model.modules())


def test_bf16_output_is_within_the_fidelity_contract_and_tiles_exactly(wide_model: torch.nn.Module) -> None:
    x = bench_image(40)
    fp32 = Upscaler(wide_model, "cpu", precision="fp32").upscale_tensor(x)
    bf16 = Upscaler(wide_model, "cpu", precision="bf16")
    whole = bf16.upscale_tensor(x)
    assert whole.dtype == torch.float32
    assert 50 <= psnr(whole, fp32) < 90  # bf16 ran (it differs) and stays within the contract
    for tile in (8, 13):
        tiled = bf16.upscale_tensor(x, tile=tile)
        assert psnr(tiled, whole) > psnr(whole, fp32) + 10  # tiling adds far less than bf16 itself
        assert (tiled - whole).abs().max() < 0.5  # levels


def test_path_choice_is_measured_once_per_key_and_kept(wide_model: torch.nn.Module,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    timed: list[str] = []

    def fake(up: Upscaler, name: str, probe: torch.Tensor) -> float:
        timed.append(name)
        assert probe.shape[-2:] == (engine.PROBE_SIDE, engine.PROBE_SIDE)  # the probe is bounded
        return {"channels_last": 2.0, "nchw": 1.0, "row_winograd": 1.5}[name]

    monkeypatch.setattr(engine, "PATH_CHOICES", {})
    monkeypatch.setattr(engine, "time_candidate", fake)
    up = Upscaler(wide_model, "cpu", precision="fp32")
    up.threads = 1
    x = bench_image(16)
    out = up.upscale_tensor(x)
    assert up.path == "nchw" and up.probe_times == {"channels_last": 2.0, "nchw": 1.0, "row_winograd": 1.5}
    assert up.probe_s > 0 and len(timed) == 3 * (1 + engine.PROBE_ROUNDS)
    again = Upscaler(wide_model, "cpu", precision="fp32")  # same device, model, precision, threads
    again.threads = 1
    assert torch.equal(again.upscale_tensor(x), out)
    assert again.path == "nchw" and again.probe_s == 0 and len(timed) == 3 * (1 + engine.PROBE_ROUNDS)
    reduced = Upscaler(wide_model, "cpu", precision="bf16")  # one candidate: nothing to time
    reduced.threads = 1
    reduced.upscale_tensor(x)
    assert reduced.path == "channels_last" and reduced.probe_s == 0 and len(timed) == 3 * (1 + engine.PROBE_ROUNDS)
