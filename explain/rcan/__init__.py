"""RCAN's explainer: channel attention, feature views, depth and attention-off experiments."""
from explain.explainers import Explainer
from explain.rcan.analysis import analyze
from explain.rcan.figures import rcan_figures
from explain.rcan.stages import rcan_stages
from explain.rcan.text import rcan_answer, rcan_markdown
from sr_core.models.rcan import RCAN

EXPLAINER = Explainer("RCAN", RCAN, analyze, rcan_figures, rcan_markdown, rcan_answer, rcan_stages)
