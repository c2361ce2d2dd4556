"""Served models: each (model, weights, precision) choice is loaded once, and only when chosen."""
from __future__ import annotations

import pytest

from sr_core import serving


def test_each_model_is_loaded_once_and_only_when_chosen(served_tiny_models, monkeypatch) -> None:
    loads: list[str | None] = []
    real_load = serving.ServedModel.load

    def counting_load(spec, precision="auto"):
        loads.append(spec)
        return real_load(spec, precision)

    monkeypatch.setattr(serving.ServedModel, "load", staticmethod(counting_load))
    engines = serving.ServedModels()
    assert engines.peek("default", "safmn") is None
    first = engines.get("default", "safmn")
    assert engines.get("default", "safmn") is first and first.weights.arch == "SAFMN"
    assert engines.get("bundled", "safmn") is first  # SAFMN ignores the RCAN weights choice: the same file
    assert engines.get("default").weights.arch == "RCAN"
    assert len(loads) == 2
    exact = engines.get("default", "rcan", "fp32")  # each precision is an engine of its own
    assert exact.upscaler.precision == "fp32" and engines.get("default", "rcan", "fp32") is exact
    assert len(loads) == 3
    with pytest.raises(ValueError, match="unknown precision"):
        engines.get("default", "rcan", "fp8")
