"""One way to resolve weights for the CLI, the app and the tests, and the app's model and weights choices.

Every name here comes from the architectures' descriptors (sr_core.models: each one's `weights`, bundled files
and Hub sources). Order: an explicit file path -> the Hugging Face Hub (the default model's repo set by the
operator, or another model's published weights) -> the model bundled in this repo. The result records where the weights came from (for a Hub file: repo, file
and commit), so the UI can say so, and carries a note whenever the bundled fallback serves in place of the Hub.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from sr_core.checkpoint import CheckpointError, count_file_parameters, read_metadata, read_state_dict
from sr_core.hub import HubSettings, HubUnavailable, download_weights, hub_settings, snapshot_commit
from sr_core.models import (ARCHITECTURES, Architecture, architecture_keyed, architecture_named, count_parameters,
                            model_from_state_dict)

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
# Models trained by this project and shipped in the repo, by spec name ("bundled" is the default model's;
# "bundled-jpeg" its JPEG-aware fine-tuning, docs/jpeg.md).
BUNDLED = {w.spec: BUNDLED_DIR / w.file for arch in ARCHITECTURES for w in arch.weights if w.file}
BUNDLED_RCAN = BUNDLED["bundled"]
# Hub specs: where each looks on the Hub, and which bundled model serves when the Hub cannot.
HUB_SPECS = {w.spec: (w.hub, w.fallback) for arch in ARCHITECTURES for w in arch.weights if w.hub}
WEIGHTS_ENV = "SR_WEIGHTS"  # a path, a bundled or Hub spec ("bundled", "hub", ...) or "auto"


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

    @property
    def origin(self) -> str:
        """Where the weights came from, in words for labels: their descriptor's words for bundled and Hub
        weights ("trained here on clean photos", "trained by its authors"), else the server's file."""
        if self.source == "file":
            return f"the server's file {Path(self.location).name}"
        described = architecture_named(self.arch).weights
        if self.source == "hub":
            return next((f"{w.origin}, {self.location}" for w in described if w.hub), self.location)
        origin = next((w.origin for w in described if w.file == Path(self.location).name), "bundled")
        return f"{origin} (the Hub could not serve)" if self.fallback_reason == "hub-unavailable" else origin

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
    """Resolve `spec` (a path, a bundled or Hub spec, or None/"auto") to a ready model.

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
    bundled = f"the small bundled {model_from_spec(fallback).name}"
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


def model_from_spec(spec: str) -> Architecture:
    """The architecture a bundled or Hub spec serves."""
    return next(arch for arch in ARCHITECTURES for w in arch.weights if w.spec == spec)


# ---------------------------------------------------------------------------------------------------------------
# The app's choices: which model and which weights under it. Only listed values are accepted, never a path from
# a client. The weights choice applies to the models whose server names no weights for them (the default
# model); another model's weights are set by the server (its `server_weights_env`, else its Hub weights).
# ---------------------------------------------------------------------------------------------------------------

MODELS = tuple(arch.key for arch in ARCHITECTURES)
DEFAULT_MODEL = MODELS[0]


def weight_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for the app's weights choice, which applies to the default model.

    "default" honours SR_WEIGHTS, then the Hub (SR_HUB_REPO), then the bundled model, as `load_weights` does.
    """
    arch = architecture_keyed(DEFAULT_MODEL)
    configured = os.environ.get(WEIGHTS_ENV, "").strip()
    bundled = [w for w in arch.weights if w.file]
    if configured and configured not in ("auto", "hub", "bundled"):
        default_label = f"Default: {Path(configured).name}"
    elif hub_settings().repo_id:
        default_label = "Default: Hugging Face Hub, else bundled"
    else:
        default_label = f"Default: bundled {arch.name}"
    jpeg = next((w for w in bundled if w.jpeg), None)
    if jpeg and (not configured or configured == "auto"):  # sr_core.choice.app_weights_choice
        default_label += f" (JPEG photos: the {arch.name} {jpeg.origin})"
    choices = [(default_label, "default"), *((f"Bundled {arch.name}, {w.origin}", w.spec) for w in bundled)]
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
    """(model choice, weights choice) -> `load_weights` spec; the weights choice applies to the default model,
    another model serves what its server names (its `server_weights_env`), else its Hub weights."""
    arch = architecture_keyed(model)
    if arch.server_weights_env is None:
        return spec_for(weights)
    hub = arch.hub()
    return os.environ.get(arch.server_weights_env, "").strip() or (hub.spec if hub else arch.bundled().spec)


def choice_label(arch: Architecture, loaded: LoadedWeights | None = None) -> str:
    """What the app's model choice says of `arch`: the model, its size and where its weights came from, exact once
    its default weights are `loaded`, else read from what they would be (never how good it is: the quality chart,
    measured on the models served, says that)."""
    if loaded is not None:
        size, words = loaded.n_params, loaded.origin
    else:
        spec = model_spec(arch.key, "default") or os.environ.get(WEIGHTS_ENV, "").strip() or "auto"
        spec = "hub" if spec == "auto" else spec
        if spec in HUB_SPECS and hub_settings(source=HUB_SPECS[spec][0]).repo_id is None:
            spec = HUB_SPECS[spec][1]  # no repo: the bundled fallback serves
        if spec in BUNDLED:
            words, size = next(w.origin for w in arch.weights if w.spec == spec), count_file_parameters(BUNDLED[spec])
        elif spec in HUB_SPECS:
            words, size = f"{arch.hub().origin}, from the Hub when first chosen (else the one trained here)", None
        else:
            words, size = f"the server's file {Path(spec).name}", count_file_parameters(spec)
    jpeg = next((w for w in arch.weights if w.jpeg), None)
    if jpeg and arch.key == DEFAULT_MODEL and os.environ.get(WEIGHTS_ENV, "").strip() in ("", "auto"):
        words += f"; JPEG photos: the one {jpeg.origin}"  # sr_core.choice
    return size_label(arch.name, size, words)


def weights_label(loaded: LoadedWeights) -> str:
    """The same words for weights already served (no JPEG note: the JPEG-aware weights are named as themselves),
    e.g. "RCAN · 1.77 M parameters · trained here on JPEG photos": how the quality chart names its points."""
    return size_label(loaded.arch, loaded.n_params, loaded.origin)


def size_label(name: str, size: int | None, words: str) -> str:
    return f"{name}{'' if size is None else f' · {size / 1e6:.2f} M parameters'} · {words}"
