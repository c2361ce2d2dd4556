"""The app's model and weights choices resolve to `load_weights` specs, and nothing else is accepted."""
from __future__ import annotations

from pathlib import Path

import pytest

from sr_core import weights


def test_weights_choice_accepts_only_listed_values(served_tiny_models) -> None:
    assert weights.spec_for("default") is None
    assert weights.spec_for("bundled") == "bundled"
    assert weights.spec_for("bundled-jpeg") == "bundled-jpeg"  # the JPEG-aware RCAN can be chosen by name
    with pytest.raises(ValueError, match="unknown weights choice"):
        weights.spec_for("/etc/passwd")


def test_model_choice_resolves_to_its_weights(served_tiny_models: Path, monkeypatch) -> None:
    assert weights.model_spec("rcan", "bundled") == "bundled"
    assert weights.model_spec("safmn", "bundled") == str(served_tiny_models)  # the weights dropdown is RCAN's only
    monkeypatch.delenv("SR_SAFMN_WEIGHTS")
    assert weights.model_spec("safmn", "default") == "hub-safmn"
    with pytest.raises(ValueError, match="unknown model choice"):
        weights.model_spec("/etc/passwd", "default")
