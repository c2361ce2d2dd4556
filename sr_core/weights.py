"""One way to resolve weights for the CLI, the app and the tests, and the app's model and weights choices.

Order: an explicit file path -> the Hugging Face Hub (an owner's RCAN repo, or the SAFMN authors' Meloo/SAFMN)
-> the model bundled in this repo. The result records where the weights came from (for a Hub file: repo, file
and commit), so the UI can say so, and carries a note whenever the bundled fallback serves in place of the Hub.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from sr_core.checkpoint import CheckpointError, read_metadata, read_state_dict
from sr_core.hub import (
    RCAN_HUB,
    SAFMN_HUB,
    HubSettings,
    HubUnavailable,
    download_weights,
    hub_settings,
    snapshot_commit,
)
from sr_core.models import architecture_named, count_parameters, model_from_state_dict

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
# Models trained by this project and shipped in the repo, by spec name ("bundled" is the default RCAN): the
# architecture of each, and its file (the descriptor's `bundled`).
BUNDLED_ARCH = {"bundled": "RCAN", "bundled-safmn": "SAFMN", "bundled-jpeg": "RCAN"}
BUNDLED = {spec: BUNDLED_DIR / architecture_named(name).bundled for spec, name in BUNDLED_ARCH.items()}
# The JPEG-aware RCAN: the bundled RCAN fine-tuned on JPEG-compressed inputs (docs/jpeg.md, its model card).
BUNDLED["bundled-jpeg"] = BUNDLED_DIR / "rcan_x3_jpeg.safetensors"
BUNDLED_RCAN = BUNDLED["bundled"]
# Hub specs: where each looks on the Hub, and which bundled model serves when the Hub cannot. "hub-safmn" is
# `--weights hub --hub-repo Meloo/SAFMN --hub-file SAFMN_DF2K_x3.pth`, but falls back to the bundled SAFMN.
HUB_SPECS = {"hub": (RCAN_HUB, "bundled"), "hub-safmn": (SAFMN_HUB, "bundled-safmn")}
WEIGHTS_ENV = "SR_WEIGHTS"  # a path, "bundled", "bundled-safmn", "hub", "hub-safmn" or "auto"


@dataclass
class LoadedWeights:
    model: nn.Module
    arch: str
    source: str  # "hub" | "file" | "bundled"
    location: str
    n_params: int
    note: str = ""  # for operators (CLI, logs): why the bundled model serves in place of the Hub's
    config: dict = field(default_factory=dict)
    fallback_reason: str = ""  # "" | "no-hub-repo" | "hub-unavailable": why the bundled model serves

    def describe(self) -> str:
        """One line for the UI and the CLI."""
        text = f"{self.arch} x{self.config.get('scale', '?')}, {self.n_params / 1e6:.2f}M parameters, from {self.source} ({self.location})"
        return f"{text}. {self.note}" if self.note else text

    @property
    def file_name(self) -> str:
        """The file that served: its name (a Hub file: repo, file and commit, as `location` says)."""
        return self.location if self.source == "hub" else Path(self.location).name

    def provenance(self) -> dict:
        """Which file served, JSON-ready, for reports."""
        return {"arch": self.arch, "source": self.source, "location": self.location, "n_params": self.n_params,
                "note": self.note}


def load_weights(
    spec: str | None = None,
    hub_repo: str | None = None,
    hub_file: str | None = None,
    hub_revision: str | None = None,
) -> LoadedWeights:
    """Resolve `spec` (a path, "bundled", "bundled-safmn", "hub", "hub-safmn", or None/"auto") to a ready model.

    "auto" means "hub". The Hub specs try the Hub (and its cache) once and fall back to their bundled model, with
    a note, when it cannot serve. A file that is not a supported checkpoint raises an error either way.
    """
    spec = spec or os.environ.get(WEIGHTS_ENV) or "auto"
    if spec in BUNDLED:
        return load_file(BUNDLED[spec], source="bundled")
    if spec == "auto":
        spec = "hub"
    if spec not in HUB_SPECS:
        return load_file(Path(spec), source="file")
    return load_from_hub(spec, hub_repo, hub_file, hub_revision)


def load_from_hub(spec: str, repo: str | None, filename: str | None, revision: str | None) -> LoadedWeights:
    """One Hub spec: its file through hf_hub_download (and the HF cache), else its bundled model with a note."""
    source, fallback = HUB_SPECS[spec]
    settings = hub_settings(repo, filename, revision, source)
    bundled = f"the small bundled {BUNDLED_ARCH[fallback]}"
    if settings.repo_id is None:
        note = f"No Hub weights repo is configured (set {source.repo_env}), so {bundled} serves."
        reason = "no-hub-repo"
    else:
        try:
            path = download_weights(settings)
        except HubUnavailable as exc:
            note = f"The Hub could not be reached ({exc}), so {bundled} serves instead."
            reason = "hub-unavailable"
        else:
            return load_file(path, source="hub", location=hub_location(settings, path))
    loaded = load_file(BUNDLED[fallback], source="bundled")
    loaded.note, loaded.fallback_reason = note, reason
    return loaded


def hub_location(settings: HubSettings, path: Path) -> str:
    """`repo/file`, the revision asked for, and the commit that served (the HF cache keeps one snapshot per commit)."""
    text = f"{settings.repo_id}/{settings.filename}" + (f"@{settings.revision}" if settings.revision else "")
    commit = snapshot_commit(path, settings.filename)
    return f"{text}, commit {commit[:12]}" if commit else text


def load_file(path: Path, source: str, location: str | None = None) -> LoadedWeights:
    if source == "bundled" and not path.is_file():
        raise CheckpointError(f"the bundled weights are missing: {path} "
                              "(see docs/training.md, 'The bundled RCAN (model card)')")
    model, arch = model_from_state_dict(read_state_dict(path), read_metadata(path))
    return LoadedWeights(model, arch, source, location or str(path), count_parameters(model),
                         config=model.config.to_dict())


# ---------------------------------------------------------------------------------------------------------------
# The app's choices: which model (RCAN or SAFMN) and which weights under it. Only listed values are accepted, never a
# path from a client; SAFMN's weights are set by the server (SR_SAFMN_WEIGHTS, else the Hub), never by a client.
# ---------------------------------------------------------------------------------------------------------------

SAFMN_WEIGHTS_ENV = "SR_SAFMN_WEIGHTS"  # a SAFMN checkpoint the app's "safmn" choice serves instead of the Hub's
MODELS = ("rcan", "safmn")
DEFAULT_MODEL = "rcan"


def weight_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for the app's weights choice, which applies to RCAN.

    "default" honours SR_WEIGHTS, then the Hub (SR_HUB_REPO), then the bundled model, as `load_weights` does.
    """
    configured = os.environ.get(WEIGHTS_ENV, "").strip()
    if configured and configured not in ("auto", "hub", "bundled"):
        default_label = f"Default: {Path(configured).name}"
    elif hub_settings().repo_id:
        default_label = "Default: Hugging Face Hub, else bundled"
    else:
        default_label = "Default: bundled RCAN"
    if not configured or configured == "auto":  # sr_core.choice.app_weights_choice: JPEG photos go to bundled-jpeg
        default_label += " (JPEG photos: the JPEG-aware RCAN)"
    choices = [(default_label, "default"), ("Bundled RCAN (in this repo)", "bundled"),
               ("JPEG-aware RCAN (in this repo, fine-tuned on JPEG inputs)", "bundled-jpeg")]
    if hub_settings().repo_id:
        choices.append((f"Hugging Face Hub: {hub_settings().describe()}", "hub"))
    return choices


def spec_for(choice: str) -> str | None:
    """Weights choice -> `load_weights` spec."""
    allowed = {value for _, value in weight_choices()}
    if choice not in allowed:
        raise ValueError(f"unknown weights choice {choice!r}; choose one of {sorted(allowed)}")
    return None if choice == "default" else choice


def model_spec(model: str, weights: str) -> str | None:
    """(model choice, weights choice) -> `load_weights` spec; the weights choice applies to RCAN."""
    if model == "safmn":
        return os.environ.get(SAFMN_WEIGHTS_ENV, "").strip() or "hub-safmn"
    if model != "rcan":
        raise ValueError(f"unknown model choice {model!r}; choose one of {list(MODELS)}")
    return spec_for(weights)
