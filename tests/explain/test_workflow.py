"""The workflow record: every stage of the run, in order, with shapes, parameters and times."""
from __future__ import annotations

import numpy as np

from explain.rcan.analysis import analyze
from tests.conftest import tiny_random_rcan


def test_workflow_covers_the_whole_network_in_order():
    model = tiny_random_rcan()
    analysis = analyze(model, np.random.default_rng(0).random((20, 26, 3), dtype=np.float32),
                       image_mode="L", tile=8, view_side=12)
    stages = {stage.name: stage for stage in analysis.workflow}
    assert list(stages) == ["input", "preprocessing", "head", "residual group 1", "residual group 2",
                            "body conv + long skip", "upsampler", "reconstruction", "output"]
    c = model.config.n_feats
    assert stages["input"].shape == [20, 26, 3] and "26x20 L" in stages["input"].detail
    assert stages["residual group 2"].shape == [1, c, 20, 26]
    assert stages["upsampler"].shape == [1, c, 60, 78]
    assert stages["reconstruction"].shape == [1, 3, 60, 78]
    assert stages["output"].shape == [60, 78, 3]
    # Every parameter of the model belongs to exactly one stage.
    assert sum(stage.params for stage in analysis.workflow) == sum(p.numel() for p in model.parameters())
    assert all(stage.seconds >= 0 for stage in analysis.workflow)
    assert sum(s.seconds for s in analysis.workflow[1:-1]) <= analysis.timings["forward"]
