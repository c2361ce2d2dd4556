"""Which weights enlarge a photo when nobody named weights: chosen by how the photo was saved.

A model that learned from clean bicubic pairs sharpens JPEG blocking and ringing as if it were texture; weights
fine-tuned on JPEG-compressed inputs (a descriptor's `Weights(jpeg=True)`, the default model's `bundled-jpeg`)
undo them instead. So a JPEG goes to the JPEG-aware weights and a lossless file to the clean ones. A JPEG saved at a quality of
NEAR_LOSSLESS_FROM or more carries so few artefacts that the clean model scores as well or better there
(measured: bench/jpeg_photos.py, docs/jpeg.md), so it goes to the clean one too.

Applies where no weights are named: the CLI without --weights and without $SR_WEIGHTS, the app's and the API's
default weights choice. Naming weights (`--weights bundled`, the app's "bundled") always wins.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from sr_core.models import ARCHITECTURES

# The default model (the first registered) and its JPEG-aware weights.
DEFAULT_ARCH = ARCHITECTURES[0]
JPEG_WEIGHTS = next(w for w in DEFAULT_ARCH.weights if w.jpeg)
JPEG_SPEC = JPEG_WEIGHTS.spec
# Estimated JPEG quality from which the clean RCAN serves. Measured (bench/jpeg_photos.py, Set5 + Set14, Y-PSNR of
# the JPEG-aware minus the clean RCAN): +0.61 dB at quality 80, +0.25 at 86, +0.08 at 88, -0.13 at 90, -0.78 at 95.
NEAR_LOSSLESS_FROM = 90


@dataclass(frozen=True)
class Choice:
    """The weights spec to load (None: the usual default, i.e. $SR_WEIGHTS, the Hub, else the bundled default model) and
    why, in words for the info line and stderr."""

    spec: str | None
    reason: str
    jpeg: bool  # True when the JPEG-aware model serves


def choose(jpeg_quality: int | None, clean_spec: str | None = None) -> Choice:
    """The model for a photo saved at `jpeg_quality` (None: not a JPEG); `clean_spec` is what serves otherwise."""
    if jpeg_quality is None:
        return Choice(clean_spec, f"not a JPEG (no compression artefacts to undo), so the {DEFAULT_ARCH.name} trained "
                                  "on clean images serves", jpeg=False)
    if jpeg_quality >= NEAR_LOSSLESS_FROM:
        return Choice(clean_spec, f"saved at JPEG quality about {jpeg_quality}, nearly lossless, so the "
                                  f"{DEFAULT_ARCH.name} trained on clean images serves (it scores higher there)",
                      jpeg=False)
    return Choice(JPEG_SPEC, f"saved at JPEG quality about {jpeg_quality}, so the JPEG-trained {DEFAULT_ARCH.name} serves",
                  jpeg=True)


def weights_named_by_server() -> bool:
    """$SR_WEIGHTS names weights (a path, "bundled", "hub"...): then they serve every photo; "auto" names none."""
    from sr_core.weights import WEIGHTS_ENV

    return os.environ.get(WEIGHTS_ENV, "").strip() not in ("", "auto")


def app_weights_choice(weights: str, model: str, jpeg_quality: int | None) -> tuple[str, Choice | None]:
    """The app's and the API's weights choice for one photo: "default" with the default model (and no
    $SR_WEIGHTS, which names weights for the server) follows `choose`; any named choice, and other models, stay
    as they are (no reason given)."""
    if weights != "default" or model != DEFAULT_ARCH.key or weights_named_by_server():
        return weights, None
    chosen = choose(jpeg_quality)
    return (JPEG_SPEC if chosen.jpeg else "default"), chosen
