"""Texture evidence and the signal measures behind it: where texture is, and how much detail each output has."""
from __future__ import annotations

import numpy as np

from explain.measures import high_frequency_energy, pearson, radial_power_spectrum
from explain.region import Box, most_textured_box
from explain.texture import compare_with_original, texture_evidence
from sr_core.protocol.evaluate import bicubic_upscale, make_lr, mod_crop
from sr_core.protocol.imresize import imresize

RNG = np.random.default_rng(0)


def test_high_frequency_energy_is_zero_on_flat_and_positive_on_noise():
    flat = np.full((20, 20, 3), 0.3, dtype=np.float32)
    assert np.allclose(high_frequency_energy(flat), 0)
    assert high_frequency_energy(RNG.random((20, 20, 3), dtype=np.float32)).mean() > 1e-3


def test_most_textured_box_finds_the_noisy_patch():
    rgb = np.full((60, 80, 3), 0.5, dtype=np.float32)
    rgb[30:46, 50:66] = RNG.random((16, 16, 3), dtype=np.float32)
    box = most_textured_box(high_frequency_energy(rgb), 16, 16)
    assert abs(box.top - 30) <= 2 and abs(box.left - 50) <= 2
    assert most_textured_box(np.ones((5, 7)), 16, 16) == Box(0, 0, 5, 7)  # clamped to the map


def test_radial_spectrum_peaks_at_the_sinusoid_frequency():
    x = np.arange(96)
    stripes = np.sin(2 * np.pi * 0.25 * x)[None, :] * np.ones((96, 1))
    freqs, power = radial_power_spectrum(stripes)
    assert abs(freqs[np.argmax(power)] - 0.25) < 0.02


def test_pearson_sign_and_undefined_case():
    a = RNG.random(50)
    assert pearson(a, 2 * a + 1) > 0.999 and pearson(a, -a) < -0.999
    assert np.isnan(pearson(a, np.ones(50)))


def test_texture_evidence_ratio_is_one_for_bicubic_and_above_one_with_added_detail():
    lr = np.full((32, 32, 3), 0.5, dtype=np.float32)
    lr[:, :16] = RNG.random((32, 16, 3), dtype=np.float32)
    bicubic = np.clip(imresize(lr, 3), 0, 1)
    same = texture_evidence(lr, bicubic, 3)
    assert abs(same.hf_energy_ratio - 1) < 1e-9
    assert same.zoom.left < 16  # the zoomed crop sits on the textured half
    assert same.model_zoom.shape == same.bicubic_zoom.shape == (3 * same.zoom.height, 3 * same.zoom.width, 3)
    detailed = np.clip(bicubic + 0.1 * RNG.standard_normal(bicubic.shape), 0, 1).astype(np.float32)
    assert texture_evidence(lr, detailed, 3).hf_energy_ratio > 2


def test_comparison_with_original_follows_the_paper_protocol():
    hr = mod_crop((RNG.random((50, 61, 3)) * 255).astype(np.uint8), 3)  # 48x60
    lr = make_lr(hr, 3)
    as_bicubic = compare_with_original(hr, lr, bicubic_upscale(lr, 3), 3)
    assert as_bicubic.size == (60, 48) and as_bicubic.shave == 3
    assert as_bicubic.psnr_model == as_bicubic.psnr_bicubic and as_bicubic.ssim_model == as_bicubic.ssim_bicubic
    perfect = compare_with_original(hr, lr, hr, 3)
    assert perfect.psnr_model == float("inf") and perfect.ssim_model > 0.999
    assert not perfect.error_model.any() and perfect.error_bicubic.mean() > 1
    assert perfect.error_model.shape == (48 - 6, 60 - 6)  # the protocol's border shaved from the maps too


def test_texture_evidence_with_the_original_adds_its_crop_and_spectrum():
    hr = RNG.random((48, 48, 3), dtype=np.float32)
    lr = np.clip(imresize(hr, 1 / 3), 0, 1)
    evidence = texture_evidence(lr, np.clip(imresize(lr, 3), 0, 1), 3, hr)
    assert evidence.original_zoom.shape == evidence.bicubic_zoom.shape
    assert evidence.power_original.shape == evidence.power_bicubic.shape
    assert evidence.hf_energy_ratio_original > 1  # noise holds more fine detail than its bicubic re-enlargement
