"""SAFMN's parts of the explanation: the technology in plain words and its modulation maps."""
from __future__ import annotations

import numpy as np

from explain.safmn.analysis import SAFMNAnalysis
from explain.text import (
    ablation_text, added_text, closing, depth_text, explainer_markdown, fmt, ground_truth, paper_link,
    retrained_text, short_answer, task, training_data_text,
)
from sr_core.models import architecture_named

SAFMN = paper_link(architecture_named("SAFMN"))

# Its own figures' titles and how to read them, by the figures' stable keys (registered in its explainer).
CAPTIONS = {
    "safm_modulation": "SAFM modulation: where each SAFMN block amplifies or suppresses features",
}
HOW_TO_READ = {
    "safm_modulation": (
        "Where SAFMN's multi-scale modulation amplifies or suppresses features. Each panel is one block: its SAFM "
        "layer computes, for every pixel and channel, a factor m (GELU of features pooled at 1, ½, ¼ and ⅛ size) that "
        "multiplies the normalised features it adds back. Shown is |m| averaged over channels, on one colour scale "
        "for every block: bright where a block scales its features up most, dark where least. The texture effect "
        "is mean |m| on textured minus flat 16-pixel tiles."
    ),
}
# Its own words, merged into the glossary every explanation shows (explain.glossary).
GLOSSARY = {
    "SAFM": "Spatially-adaptive feature modulation, SAFMN's core: from features pooled at several sizes it "
    "computes a factor for every pixel and channel that scales the features up or down.",
    "modulation": "In SAFMN, the factor SAFM multiplies the features by at each pixel and channel.",
    "GELU": "A smooth version of ReLU: keeps large positive values, shrinks negative ones towards 0.",
    "LayerNorm": "Rescales the feature channels at each pixel to a fixed mean and spread before a stage uses them.",
}
GLOSSARY_ALIASES = {"modulation map": "modulation", "modulation maps": "modulation"}
# Its entry in the explanation's "Papers and tools".
SOURCES = """\
- **SAFMN**: Sun et al., *Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution*, ICCV 2023,
  [arXiv 2302.13800](https://arxiv.org/abs/2302.13800), code
  [github.com/sunny2109/SAFMN](https://github.com/sunny2109/SAFMN). The fast alternative: per-pixel modulation
  instead of one gate per channel (*SAFM modulation*, *modulation off*); its speed and PSNR are the points of the
  *quality versus time* chart."""
# Which of its figures follow which part of its text in the report (by the start of the part's heading).
FIGURES_AFTER = {"Modulation off": ("ablation",), "Spatially-adaptive feature modulation": ("safm_modulation",)}


TECHNOLOGY = (
    "A skip connection carries the picture past its blocks, so they work on the missing fine detail. In every "
    "block, SAFM modulation scales each feature up or down at each pixel. The enlargement itself is learned "
    "(PixelShuffle, at the end)."
)


def network(a: SAFMNAnalysis) -> str:
    cfg = a.model_info["config"]
    return f"{SAFMN} with {cfg['n_blocks']} blocks x {cfg['dim']} feature channels"


def modulation(a: SAFMNAnalysis) -> str:
    maps, relation = a.modulation, a.modulation_texture
    clear = [i for i, e in enumerate(relation.effects) if e.exceeds_uncertainty]
    up = [i + 1 for i in clear if relation.effects[i].difference > 0]
    down = [i + 1 for i in clear if relation.effects[i].difference < 0]
    best = int(np.nanargmax([abs(e.difference) if np.isfinite(e.difference) else -1 for e in relation.effects]))
    e = relation.effects[best]
    return (
        "### Spatially-adaptive feature modulation (*SAFM modulation* figure)\n\n"
        f"{SAFMN} has no channel attention. In each of its {len(maps)} blocks, SAFM looks at the features at 1, "
        "1/2, 1/4 and 1/8 size and, through GELU, makes a modulation map: one factor per channel *and pixel* that "
        "scales the normalised features (LayerNorm) before the block adds them back. Shown is mean |m| over "
        f"channels; the block means range from {maps.mean(axis=(1, 2)).min():.2f} to "
        f"{maps.mean(axis=(1, 2)).max():.2f}. Blocks whose modulation is higher on textured than on flat "
        f"{a.tile_size}-pixel tiles, beyond the uncertainty: {', '.join(map(str, up)) or 'none'}; lower: "
        f"{', '.join(map(str, down)) or 'none'}. Largest effect: block {best + 1}, {fmt(e.textured, '.3f')} vs "
        f"{fmt(e.flat, '.3f')} ({fmt(e.difference, '+.3f')}, {fmt(100 * e.relative, '+.0f')}% relative, 95% "
        f"bootstrap interval [{fmt(e.low, '+.3f')}, {fmt(e.high, '+.3f')}]).\n"
    )


def safmn_markdown(a: SAFMNAnalysis) -> str:
    e = a.experiments
    details = [
        task(a, network(a), TECHNOLOGY),
        depth_text(e, "SAFMN", "blocks"),
        ablation_text(e.ablations["modulation_off"], "Modulation off", "modulation off"),
        added_text(e, "SAFMN"),
        ground_truth(a),
        retrained_text(a),
        training_data_text(a),
        modulation(a),
    ]
    revealed = closing(a, [e.ablations["modulation_off"]], "the modulation", "blocks")
    return explainer_markdown(a, short_answer(a), details, revealed)
