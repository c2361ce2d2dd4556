"""What visitors see of a run and of the server's set-up: plain words, no server paths, no environment variables
(those go to the log: sr_core.serving, app_serving.runs.shown_to_user)."""
from __future__ import annotations

from pathlib import Path

from sr_core.estimate import format_duration
from sr_core.image_io import InputImage
from sr_core.serving import ServedModel
from sr_core.weights import LoadedWeights


def run_info(engine: ServedModel, image: InputImage, seconds: float, ensemble: bool,
             why: tuple[str, ...] = ()) -> str:
    width, height = image.size
    parts = [
        engine.summary(),
        f"{format_duration(seconds)}{' with ×8 self-ensemble' if ensemble else ''}",
        f"{width}×{height} → {width * engine.upscaler.scale}×{height * engine.upscaler.scale} px",
    ]
    lines = [" · ".join(parts), f"Weights: {weights_for_visitors(engine.weights)}", *why]
    lines += [f"Note: {note}" for note in image.notes]
    return "\n\n".join(lines)


FALLBACK_REASONS = {
    "no-hub-repo": "no Hub weights are set up on this server",
    "hub-unavailable": "the Hugging Face Hub could not be reached",
}


def banner_text(engine: ServedModel) -> str:
    if not engine.weights.fallback_reason:
        return ""
    reason = FALLBACK_REASONS[engine.weights.fallback_reason]
    return (f"ℹ️ **A small built-in model is serving** ({reason}), so results are a little less sharp than the "
            f"full {engine.weights.arch}'s.")


def weights_for_visitors(weights: LoadedWeights) -> str:
    """Where the weights came from, for the info line (also the API's): says when the Hub fell back."""
    if weights.source == "hub":
        return f"Hugging Face Hub, `{weights.location}`"
    if weights.source == "file":
        return f"`{Path(weights.location).name}`"
    text = f"the small built-in {weights.arch}"
    if weights.fallback_reason:
        text += f" (fallback: {FALLBACK_REASONS[weights.fallback_reason]})"
    return text
