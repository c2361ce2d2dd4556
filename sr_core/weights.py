"""One way to resolve weights for the CLI, the app and the tests.

Order: an explicit file path -> the Hugging Face Hub -> the model bundled in this repo. The
result records where the weights came from, so the UI can say so, and carries a note whenever
the bundled fallback serves in place of the Hub.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from sr_core.checkpoint import CheckpointError, read_state_dict
from sr_core.hub import HubUnavailable, download_weights, hub_settings
from sr_core.models import model_from_state_dict
from sr_core.models.rcan import RCAN, RCANConfig

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
BUNDLED_RCAN = BUNDLED_DIR / "rcan_x3.safetensors"
# Models trained by this project and shipped in the repo, by spec name ("bundled" is the default RCAN).
BUNDLED = {"bundled": BUNDLED_RCAN, "bundled-safmn": BUNDLED_DIR / "safmn_x3.safetensors"}
WEIGHTS_ENV = "SR_WEIGHTS"  # a path, "bundled", "bundled-safmn", "hub" or "auto"


@dataclass
class LoadedWeights:
    model: nn.Module
    arch: str
    source: str  # "hub" | "file" | "bundled"
    location: str
    n_params: int
    note: str = ""  # for operators (CLI, logs): why the bundled model serves in place of the Hub's
    config: dict = field(default_factory=dict)
    fallback: str = ""  # "" | "no-hub-repo" | "hub-unavailable": the bundled model serves in place of the Hub's

    def describe(self) -> str:
        """One line for the UI and the CLI."""
        text = f"{self.arch} x{self.config.get('scale', '?')}, {self.n_params / 1e6:.2f}M parameters, from {self.source} ({self.location})"
        return f"{text}. {self.note}" if self.note else text


def load_weights(
    spec: str | None = None,
    hub_repo: str | None = None,
    hub_file: str | None = None,
    hub_revision: str | None = None,
) -> LoadedWeights:
    """Resolve `spec` (a path, "bundled", "bundled-safmn", "hub", or None/"auto") to a ready model.

    "auto" and "hub" try the Hub and fall back to the bundled model, with a note, when it
    cannot be reached. A file that is not a supported checkpoint raises an error either way.
    """
    spec = spec or os.environ.get(WEIGHTS_ENV) or "auto"
    if spec in BUNDLED:
        return load_file(BUNDLED[spec], source="bundled")
    if spec not in ("auto", "hub"):
        return load_file(Path(spec), source="file")
    settings = hub_settings(hub_repo, hub_file, hub_revision)
    if settings.repo_id is None:
        note = "No Hub weights repo is configured (set SR_HUB_REPO), so the small bundled RCAN serves."
        fallback = "no-hub-repo"
    else:
        try:
            path = download_weights(settings)
        except HubUnavailable as exc:
            note = f"The Hub could not be reached ({exc}), so the small bundled RCAN serves instead."
            fallback = "hub-unavailable"
        else:
            revision = f"@{settings.revision}" if settings.revision else ""
            return load_file(path, source="hub", location=f"{settings.repo_id}/{settings.filename}{revision}")
    loaded = load_file(BUNDLED_RCAN, source="bundled")
    loaded.note, loaded.fallback = note, fallback
    return loaded


def load_file(path: Path, source: str, location: str | None = None) -> LoadedWeights:
    if source == "bundled" and not path.is_file():
        raise CheckpointError(f"the bundled weights are missing: {path} (see README, 'Training the bundled model')")
    model, arch = model_from_state_dict(read_state_dict(path))
    config = model.config.to_dict() if hasattr(model, "config") else {}
    n_params = sum(t.numel() for t in model.state_dict().values())
    return LoadedWeights(model, arch, source, location or str(path), n_params, config=config)


def tiny_random_rcan(seed: int = 0) -> RCAN:
    """A 2x2x8 RCAN with non-trivial random weights, for fast tests."""
    generator = torch.Generator().manual_seed(seed)
    model = RCAN(RCANConfig(n_resgroups=2, n_resblocks=2, n_feats=8, reduction=4, scale=3))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.copy_(torch.randn(param.shape, generator=generator) * (0.05 if "weight" in name else 0.01))
    return model.eval()
