"""Tiling must not change the answer; progress, cancel and self-ensemble behave."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch

from sr_core import engine
from sr_core import winograd as winograd_module
from sr_core.tools.bench import random_rcan
from sr_core.engine import Upscaler, cpu_threads_worth_using, dihedral, dihedral_inverse, idle_cpus
from sr_core.winograd import RowWinogradConv
from sr_core.models.rcan import RCANConfig
from sr_core.tiling import Cancelled, Progress
from tests.conftest import tiny_random_rcan

WIDE = RCANConfig(n_resgroups=2, n_resblocks=2, n_feats=32, reduction=8)  # wide enough for the Winograd convs


@pytest.fixture(scope="module")
def upscaler() -> Upscaler:
    return Upscaler(tiny_random_rcan(), "cpu")


def random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_engine_matches_the_plain_forward(upscaler: Upscaler) -> None:
    rgb = random_image(20, 17)
    with torch.no_grad():
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None] * 255
        plain = (tiny_random_rcan()(x) / 255).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    out = upscaler.upscale(rgb)
    assert out.shape == (60, 51, 3)
    assert np.abs(out - plain).max() < 1e-5


@pytest.mark.parametrize("tile", [8, 13, 16])
def test_tiled_output_equals_whole_image_output(upscaler: Upscaler, tile: int) -> None:
    rgb = random_image(29, 37, seed=tile)
    whole = upscaler.upscale(rgb)
    tiled = upscaler.upscale(rgb, tile=tile)
    assert np.abs(tiled - whole).max() < 1e-5  # far inside the 1/255 contract


def test_naive_overlapping_tiles_would_differ() -> None:
    """Why the engine pools globally: running the network per tile changes the attention."""
    model = tiny_random_rcan()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "conv_du" in name or ".body.0." in name or ".body.2." in name:
                param.mul_(6)  # strong residual branches and attention that reacts to image statistics
    upscaler = Upscaler(model, "cpu")
    rgb = random_image(32, 32, seed=3)
    rgb[:, 16:] *= 0.2  # the two halves have different statistics
    whole = upscaler.upscale(rgb)
    assert np.abs(upscaler.upscale(rgb, tile=8) - whole).max() < 1e-5
    left_alone = upscaler.upscale(rgb[:, :20])[:, :48]
    assert np.abs(left_alone - whole[:, :48]).max() > 1 / 255


def test_progress_counts_every_step_and_cancel_stops(upscaler: Upscaler) -> None:
    seen: list[Progress] = []
    upscaler.upscale(random_image(20, 20), tile=8, progress=seen.append)
    assert [p.done for p in seen] == list(range(1, seen[-1].total + 1))
    assert seen[-1].total == upscaler.steps(20, 20, 8, ensemble=False)
    assert seen[-1].eta_s == 0

    cancel = threading.Event()

    def cancel_after_three(p: Progress) -> None:
        if p.done == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        upscaler.upscale(random_image(20, 20), tile=8, progress=cancel_after_three, cancel=cancel)


@pytest.mark.parametrize("k", range(8))
def test_dihedral_inverse_undoes_each_transform(k: int) -> None:
    x = torch.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    assert torch.equal(dihedral_inverse(dihedral(x, k), k), x)


def test_self_ensemble_averages_the_eight_inverse_transformed_views() -> None:
    """RCAN+: the plain model on each flip/transpose of the input, mapped back and averaged."""
    model = tiny_random_rcan()
    up = Upscaler(model, "cpu")
    rgb = random_image(10, 12, seed=5)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None] * 255
    with torch.no_grad():
        mean = sum(dihedral_inverse(model(dihedral(x, k)), k) for k in range(8)) / 8
    expected = (mean / 255).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    ensemble = up.upscale(rgb, ensemble=True)
    assert np.abs(ensemble - expected).max() < 1e-5
    assert np.abs(ensemble - up.upscale(rgb)).max() > 1e-3  # the views really differ: averaging did something


@pytest.mark.parametrize("strip_bytes", [1 << 20, 1])  # one strip; a strip per Winograd tile
@pytest.mark.parametrize("height, width", [(1, 5), (7, 9), (13, 4), (16, 16)])
def test_row_winograd_conv_equals_the_direct_conv(
    height: int, width: int, strip_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(winograd_module, "WINOGRAD_STRIP_BYTES", strip_bytes)
    generator = torch.Generator().manual_seed(height * 100 + width)
    conv = torch.nn.Conv2d(32, 32, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.06)
        conv.bias.copy_(torch.randn(32, generator=generator))
    x = torch.randn(2, 32, height, width, generator=generator) * 50
    with torch.no_grad():
        exact = torch.nn.functional.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1)
        direct, winograd = conv(x), RowWinogradConv(conv)(x)
    scale = float(exact.abs().max())
    direct_err = float((direct.double() - exact).abs().max())
    winograd_err = float((winograd.double() - exact).abs().max())
    assert winograd.shape == direct.shape
    assert winograd_err < 1e-5 * scale  # float32 rounding, not a wrong tap or a lost bias
    assert winograd_err < 20 * max(direct_err, 1e-7 * scale)


def test_row_winograd_refuses_convs_it_cannot_replace() -> None:
    for conv in [torch.nn.Conv2d(32, 32, 3, padding=1, stride=2), torch.nn.Conv2d(32, 32, 5, padding=2),
                 torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1)]:
        with pytest.raises(ValueError, match="not a dense 3x3"):
            RowWinogradConv(conv)


@pytest.fixture(scope="module")
def wide_model() -> torch.nn.Module:
    return random_rcan(WIDE, seed=1)


def test_cpu_engine_uses_winograd_on_its_own_copy_and_matches_the_plain_forward(
    wide_model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {k: v.clone() for k, v in wide_model.state_dict().items()}
    up = Upscaler(wide_model, "cpu", precision="fp32")
    swapped = [m for m in up.model.modules() if isinstance(m, RowWinogradConv)]
    assert len(swapped) == 2 * (2 * 2 + 1) + 1  # two per RCAB, one per group, the body's last conv
    assert not any(isinstance(m, RowWinogradConv) for m in wide_model.modules())
    after = wide_model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].is_contiguous() for k in before)

    x = torch.from_numpy(random_image(21, 18, seed=4)).permute(2, 0, 1)[None] * 255
    with torch.no_grad():
        plain = wide_model(x)
    assert plain.std() > 20  # an image-like output, so agreement means something
    # Injected probe timings: Winograd wins on one thread, the direct channels_last convs on two.
    fake = {1: {"channels_last": 3.0, "nchw": 4.0, "row_winograd": 2.0},
            2: {"channels_last": 1.0, "nchw": 1.5, "row_winograd": 1.2}}
    monkeypatch.setattr(engine, "PATH_CHOICES", {})
    monkeypatch.setattr(engine, "time_candidate", lambda up, name, probe: fake[torch.get_num_threads()][name])
    for threads in (1, 2):
        up.threads = threads
        out = up.upscale_tensor(x)
        assert up.path == ("row_winograd" if threads == 1 else "channels_last")
        assert all(conv.active == (threads == 1) for conv in swapped)
        assert (out - plain).abs().max() < 0.01  # in 8-bit levels


@pytest.mark.parametrize("tile", [8, 13])
def test_winograd_engine_tiles_equal_the_whole_image(
    wide_model: torch.nn.Module, tile: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    up = Upscaler(wide_model, "cpu", precision="fp32")
    monkeypatch.setattr(engine, "PATH_CHOICES", {up._path_key(1): "row_winograd"})  # the Winograd path
    up.threads = 1
    x = torch.from_numpy(random_image(25, 19, seed=tile)).permute(2, 0, 1)[None] * 255
    whole = up.upscale_tensor(x, tile=64)
    seen: list[Progress] = []
    tiled = up.upscale_tensor(x, tile=tile, progress=seen.append)
    assert (tiled - whole).abs().max() < 0.01  # levels: only the rounding of differently grouped sums differs
    assert seen[-1].done == seen[-1].total == up.steps(25, 19, tile, ensemble=False)
    assert up.path == "row_winograd"


def test_cpu_threads_follow_idle_cpus_within_torchs_limit(upscaler: Upscaler) -> None:
    idle = idle_cpus()
    if idle is not None:  # Linux
        assert -0.01 <= idle <= len(os.sched_getaffinity(0)) + 0.01
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert cpu_threads_worth_using() == 1  # never more than the caller allows
        torch.set_num_threads(2)
        assert 1 <= cpu_threads_worth_using() <= 2
        upscaler.threads = 1
        upscaler.upscale(random_image(9, 9))
        assert torch.get_num_threads() == 2  # a run puts the caller's setting back
    finally:
        upscaler.threads = None
        torch.set_num_threads(previous)


def test_non_finite_outputs_are_refused() -> None:
    """NaN weights would give an all-black PNG and exit 0; the engine refuses to hand such a picture on."""
    model = tiny_random_rcan()
    with torch.no_grad():
        model.tail[1].bias.fill_(float("nan"))
    with pytest.raises(engine.NonFiniteOutput, match="NaN or infinite"):
        Upscaler(model, "cpu").upscale(random_image(8, 8))


def test_a_run_scope_stops_any_pass_between_two_modules_and_only_its_own() -> None:
    """sr_core.tiling.stops_on: the engine's tiled forward and any plain forward pass in the run's context stop
    once its flag is set; a pass in another thread (another visitor's run) is not touched."""
    from sr_core.tiling import stops_on

    model = tiny_random_rcan()
    x = torch.rand(1, 3, 12, 12) * 255
    flag = threading.Event()
    calls: list[str] = []
    handles = [m.register_forward_pre_hook(lambda m, _i, name=n: calls.append(name)) for n, m in model.named_modules()]
    other: list[torch.Tensor] = []
    with stops_on(flag):
        model(x)  # not set: runs to the end
        complete = len(calls)
        flag.set()
        calls.clear()
        with pytest.raises(Cancelled):
            model(x)
        assert calls == []  # stopped before any module ran
        with pytest.raises(Cancelled):
            Upscaler(model, "cpu").upscale(np.random.default_rng(0).random((12, 12, 3), dtype=np.float32), tile=8)
        thread = threading.Thread(target=lambda: other.append(model(x)))  # a fresh context: no flag
        thread.start()
        thread.join()
    for handle in handles:
        handle.remove()
    assert len(other) == 1 and complete > 10
    assert not torch.nn.modules.module._global_forward_pre_hooks  # nothing left behind
    model(x)  # outside the scope the set flag means nothing


def test_a_stopped_run_ends_the_path_probe_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fp32 path probe stops itself after a few steps; a stop of the run it belongs to must end it, not be
    taken for that own stop and followed by every other candidate's and round's pass."""
    from sr_core.tiling import stops_on

    monkeypatch.setattr(engine, "PATH_CHOICES", {})
    up = Upscaler(tiny_random_rcan(), "cpu", precision="fp32")
    assert len(up.candidates) > 1  # a probe is due on the first pass
    passes: list[str] = []
    forward_once = up.forward_once
    monkeypatch.setattr(up, "forward_once", lambda *args: (passes.append(up.path), forward_once(*args))[1])
    flag = threading.Event()
    flag.set()
    with stops_on(flag), pytest.raises(Cancelled):
        up.upscale(np.random.default_rng(0).random((12, 12, 3), dtype=np.float32), tile=8)
    assert len(passes) == 1  # the first probe pass, stopped before its first module; nothing after it


def test_an_image_becomes_a_tensor_in_the_models_range_and_back() -> None:
    """The one image-to-tensor conversion every model run uses (the engine, the explainers, the step-through)."""
    rgb = np.random.default_rng(4).random((5, 7, 3), dtype=np.float32)
    x = engine.image_tensor(rgb, 255.0)
    assert x.shape == (1, 3, 5, 7) and x.dtype == torch.float32
    assert torch.allclose(x[0, :, 2, 3], torch.from_numpy(rgb[2, 3]) * 255)
    assert np.allclose(engine.tensor_image(x, 255.0), rgb, atol=1e-6)
    assert engine.tensor_image(x[0] * 2, 255.0).max() == 1.0  # clipped to [0, 1], with or without the batch axis
