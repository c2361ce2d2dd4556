"""SAFMN's explainer: modulation maps, depth and modulation-off experiments."""
from __future__ import annotations

from explain.explainers import Explainer
from explain.safmn.analysis import analyze
from explain.safmn.figures import safmn_figures
from explain.safmn.stages import safmn_stages
from explain.safmn.text import (CAPTIONS, FIGURES_AFTER, GLOSSARY, GLOSSARY_ALIASES, HOW_TO_READ, SOURCES,
                                safmn_markdown)
from sr_core.models.safmn import SAFMN

EXPLAINER = Explainer(
    arch="SAFMN",
    model_type=SAFMN,
    analyze=analyze,
    figures=safmn_figures,
    markdown=safmn_markdown,
    stages=safmn_stages,
    first_figure="safm_modulation",
    heading="Inside SAFMN: where each block looks",
    captions=CAPTIONS,
    how_to_read=HOW_TO_READ,
    ablation="modulation_off",
    ablation_label="Modulation off",
    glossary=GLOSSARY,
    figures_after=FIGURES_AFTER,
    glossary_aliases=GLOSSARY_ALIASES,
    sources=SOURCES,
    colour="#e8590c",
)
