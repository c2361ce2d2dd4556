"""The lesson: the explanation's main path of at most six figures, in the order a lesson runs, each with its
number and one claim written from this run's numbers; everything else is "Explore further".

Why a main path: a teacher has 45 minutes. The photo and its enlargement, the original against bicubic and the
network, what the network adds, the networks retrained without one part each (cause and effect), depth, and the
training data answer the question in that order; the views inside the network are for those who want more. The
app, the full report and the handout all read the path from here, so they tell the same lesson.

A claim names a cause only where its interval excludes 0; otherwise it says "no measurable difference".
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

from explain.captions import HOW_TO_READ
from explain.glossary import terms_in
from explain.results import BaseAnalysis
from explain.retrained import Claim
from sr_core.models import recipe_architecture
from sr_core.tools.ablation import MECHANISMS, arm_named

# The main path, in lesson order: the photo, original | bicubic | model, what the network adds, the retrained
# networks (cause and effect), depth, and the training data.
MAIN_PATH = ("photo", "texture_evidence", "added_detail", "retrained", "depth", "training_data")
TITLE_CHARS = 80  # a title line's characters: the app's plots are about 900 px wide at 17 px type
TITLE_LINE_PX = 22  # the room each further title line takes above the plot
DATA_MECHANISMS = frozenset(m.name for m in MECHANISMS if m.with_arm.startswith("data_"))


@dataclass(frozen=True)
class LessonFigure:
    number: int
    key: str
    claim: str  # one line, with this run's numbers

    @property
    def title(self) -> str:
        return f"Figure {self.number} · {self.claim}"

    @property
    def how_to_read(self) -> str:
        return HOW_TO_READ[self.key]


def interval(low: float, high: float, unit: str = " dB") -> str:
    return f"95% interval {low:+.2f} to {high:+.2f}{unit}"


def effect_phrase(claim: Claim) -> str:
    """"+1.65 dB (95% interval +0.87 to +2.44 dB, n = 14)" or "no measurable difference (...)"."""
    e = claim.effect
    numbers = f"{e.effect_db:+.2f} dB ({interval(e.low, e.high)}, n = {e.n})"
    return numbers if claim.supported else f"no measurable difference ({numbers})"


def where(claim: Claim) -> str:
    return "this photo's textured tiles" if claim.evidence == "this photo" else "Set14's textured tiles"


def part_claims(a: BaseAnalysis) -> list[Claim]:
    """The claims about parts of the network (not about its data), largest effect first."""
    claims = [] if a.retrained is None else [c for c in a.retrained.claims if c.mechanism not in DATA_MECHANISMS]
    return sorted(claims, key=lambda c: (not c.is_cause, -c.effect.effect_db))


def data_claim(a: BaseAnalysis) -> Claim | None:
    claims = [] if a.retrained is None else [c for c in a.retrained.claims if c.mechanism in DATA_MECHANISMS]
    return claims[0] if claims else None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def photo_claim(a: BaseAnalysis) -> str:
    s = a.scale
    return f"Enlarged {s}× each way, {s * s - 1} of every {s * s} output pixels were predicted by {a.model_name}"


def evidence_claim(a: BaseAnalysis) -> str:
    tex, model = a.texture, a.model_name
    o = tex.original
    if o is not None:
        gain = o.psnr_model - o.psnr_bicubic
        if gain > 0:
            return (f"{model} is {gain:.2f} dB closer to the original than bicubic "
                    f"(PSNR {o.psnr_model:.2f} against {o.psnr_bicubic:.2f} dB)")
        return f"{model} is no closer to the original than bicubic (PSNR {o.psnr_model:.2f} against {o.psnr_bicubic:.2f} dB)"
    if a.jpeg is not None:
        served = a.jpeg.detail["served"]
        return (f"{model} has {served.off_grid:.1f}× bicubic's fine detail off the JPEG's 8×8 block edges and "
                f"{served.on_grid:.1f}× on them; only the original could say how much is real")
    if _finite(tex.hf_energy_ratio):
        return (f"{model} has {tex.hf_energy_ratio:.1f}× bicubic's fine detail here; only the original could "
                "say how much is real")
    return f"{model} and bicubic at the same spot (no fine detail to measure here)"


def added_claim(a: BaseAnalysis) -> str:
    e = a.experiments
    largest = float(max(abs(e.added.min()), abs(e.added.max())))
    share = e.added_texture_share
    where_ = ("" if not _finite(share) else
              f", {100 * share:.0f}% of it on the most textured quarter (25% if it were even)")
    return f"The network changes bicubic's pixels by up to {largest:.0f} brightness levels{where_}"


def studied_network() -> str:
    """The network the retrained arms are (the study's control recipe's architecture), named, since the photo may
    have been explained with another."""
    return f"the {recipe_architecture(arm_named('control').recipe).name}"


def retrained_claim(a: BaseAnalysis) -> str:
    claims = part_claims(a)
    if not claims:
        return "No retrained networks in this copy: no part can be named as a cause"
    top = claims[0]
    if top.is_cause:
        return f"Retrained without its {top.mechanism}, {studied_network()} loses {effect_phrase(top)} on {where(top)}"
    study = [c for c in claims if c.study is not None and c.study.supported and c.study.effect_db > 0]
    helped = [c for c in claims if c.supported]  # measurable, but removing the part gained detail
    text = (f"On {where(top)}, no part is a measurable cause; removing the {helped[0].mechanism} measurably helped "
            f"(PSNR lost without it: {effect_phrase(helped[0])})" if helped else f"On {where(top)}, removing any one part makes no measurable difference")
    if top.evidence == "this photo" and study:
        best = max(study, key=lambda c: c.study.effect_db)
        text += f"; on Set14's, the {best.mechanism} do ({best.study.effect_db:+.2f} dB)"
    return text


def depth_claim(a: BaseAnalysis) -> str:
    e = a.experiments
    return (f"The textures need {e.depth_needed()} of the {e.depth[-1].depth} {e.unit} for 90% of the "
            f"network's fine detail")


def data_claim_text(a: BaseAnalysis) -> str:
    if a.jpeg is not None:
        clean, aware = a.jpeg.detail["clean"], a.jpeg.detail["jpeg"]
        return (f"Trained on clean photos, {a.jpeg.arch} sharpens this JPEG's 8×8 block edges "
                f"{clean.edge_emphasis:.2f}× as much as the rest; trained on JPEGs, {aware.edge_emphasis:.2f}×")
    claim = data_claim(a)
    if claim is None:
        return "What the network learned from decides what it treats as texture"
    if claim.is_cause:
        return (f"Trained on textured patches instead of flat ones, the same small network gains "
                f"{effect_phrase(claim)} on {where(claim)}")
    return f"Textured against flat training patches: {effect_phrase(claim)} on {where(claim)}"


CLAIMS = {
    "photo": photo_claim,
    "texture_evidence": evidence_claim,
    "added_detail": added_claim,
    "retrained": retrained_claim,
    "depth": depth_claim,
    "training_data": data_claim_text,
}


def main_path(a: BaseAnalysis, figures: dict | None = None) -> list[LessonFigure]:
    """The main path's figures of this run (those `figures` holds, when given), numbered 1.. in lesson order."""
    keys = [key for key in MAIN_PATH if figures is None or key in figures]
    return [LessonFigure(number, key, CLAIMS[key](a)) for number, key in enumerate(keys, start=1)]


def main_path_terms(a: BaseAnalysis, answer: str) -> set[str]:
    """The glossary terms the short answer and the main path's claims and how-to-read texts use: the glossary a
    learner needs, and no more."""
    return terms_in(" ".join([answer, *(f"{step.claim}. {step.how_to_read}" for step in main_path(a))]))


def title_main_path(a: BaseAnalysis, figures: dict) -> dict:
    """The main path's figures titled with their number and claim, broken into lines that fit the app's plots
    (plotly does not wrap), in place; returns `figures`."""
    for step in main_path(a, figures):
        lines = textwrap.wrap(step.title, TITLE_CHARS)
        figure = figures[step.key]
        top = figure.layout.margin.t if figure.layout.margin.t is not None else 100
        figure.update_layout(title=dict(text="<br>".join(lines)), margin=dict(t=top + TITLE_LINE_PX * (len(lines) - 1)))
    return figures
