"""SAFMN's explainer: modulation maps, depth and modulation-off experiments."""
from explain.explainers import Explainer
from explain.safmn.analysis import analyze_safmn
from explain.safmn.figures import safmn_figures
from explain.safmn.stages import safmn_stages
from explain.safmn.text import safmn_answer, safmn_markdown
from sr_core.models.safmn import SAFMN

EXPLAINER = Explainer("SAFMN", SAFMN, analyze_safmn, safmn_figures, safmn_markdown, safmn_answer, safmn_stages)
