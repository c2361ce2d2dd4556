"""The explanation's text (markdown), written from one run's numbers: the plain answer first, then the details,
each pointing to its figure and its number, what the experiments revealed, the workflow, the glossary and the
sources. The sources cited are each explainer's own (`Explainer.sources`: its paper and tools) and the
dataset-distillation study for super-resolution. The architecture-specific parts come from
`explain/<arch>/text.py`; tooltips are added where the text is shown (`explain.glossary.with_tooltips`).
"""
from __future__ import annotations

import math
import re

from explain import explainers as registry
from explain.distill_study import finding, load_study
from explain.experiments import Ablation, Experiments
from explain.jpeg_view import JpegView
from explain.glossary import glossary_markdown
from explain.lesson import data_claim, effect_phrase, main_path_terms, where
from explain.results import BaseAnalysis
from explain.retrained import Retrained
from sr_core.models import Architecture, architecture_named, recipe_architecture
from sr_core.protocol import SOURCE as PROTOCOL_SOURCE
from sr_core.tools.ablation import Effect, arm_named
from explain.tiles import TEXTURE_QUANTILE
from explain.workflow import chw

DISTILLATION = "[A Study in Dataset Distillation for Image Super-Resolution](https://arxiv.org/abs/2502.03656)"
MAX_ANSWER_WORDS = 120
CLOSE_TO_ORIGINAL = 0.15  # a fine-detail energy within 15% of the original's counts as "close to it"

def _study_finding() -> str:
    """The dataset-distillation study's one-sentence finding, or where to run it when its results are absent."""
    try:
        return finding(load_study())
    except (FileNotFoundError, ValueError):
        return "its results are not in this checkout (`python -m sr_core study` makes them)."


def paper_link(arch: Architecture) -> str:
    """The architecture's name, linked to its paper (markdown)."""
    return f"[{arch.name}](https://arxiv.org/abs/{arch.card.arxiv})"


# The sources every explanation cites, after the explainers' own.
SOURCES = """\
- **Dataset distillation for SR**: Dietz et al., {distillation},
  [arXiv 2502.03656](https://arxiv.org/abs/2502.03656). SR networks trained on a distilled 9% of their
  training data keep nearly the same PSNR: how much training data a model needs. The bundled models saw 371
  photos (T91, BSD200, General100; see docs/training.md).
  This project re-ran the question on a CPU (chart *How much data do textures need?*, Workflow & sources tab):
  {study}
  Photos from the training set (BSD200) flatter the bundled models.
""".format(distillation=DISTILLATION, study=_study_finding())


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    """A number for the text, or "n/a" when it is unknown, undefined (NaN) or unbounded."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:{spec}}{suffix}"


def pct(share: float | None) -> str:
    return fmt(None if share is None else 100 * share, ".0f", "%")


def word_count(markdown: str) -> int:
    """Words as a reader counts them: markup, link targets and tags left out."""
    plain = re.sub(r"\]\([^)]*\)|<[^>]+>|[*_#\[\]]", " ", markdown)
    return len(plain.split())


def _db(e: Effect) -> str:
    return f"{e.effect_db:+.2f} dB, 95% interval {e.low:+.2f}..{e.high:+.2f}"


def causes_sentence(retrained: Retrained | None) -> str:
    """What the retrained arms show, naming as causes only the effects whose interval excludes 0 and whose sign
    says the part kept texture; the others are said to make no measurable difference."""
    if retrained is None or not retrained.claims:
        return ("This copy has no retrained networks to compare (the ablation study), so no part is named as "
                "a cause.")
    on_photo = retrained.claims[0].evidence == "this photo"
    where = ("this photo's most textured tiles, against the original" if on_photo else
             "the most textured tiles of a test set (Set14)")
    causes = [c for c in retrained.claims if c.is_cause]
    helped = [c for c in retrained.claims if c.supported and not c.is_cause]
    neutral = [c for c in retrained.claims if not c.supported]
    text = f"Networks retrained without one part each, scored on {where}, show "
    text += ("what keeps textures: " + "; ".join(f"{c.mechanism} ({_db(c.effect)})" for c in causes) + "."
             if causes else "no part whose removal measurably lost texture.")
    if helped:
        text += " Removing " + " and ".join(c.mechanism for c in helped) + " measurably helped here."
    if neutral:
        text += " No measurable difference: " + ", ".join(c.mechanism for c in neutral) + "."
    return text


def chance_words(tex) -> str:  # noqa: ANN001 - explain.texture.TextureEvidence
    """The real share's baseline in words: what detail unrelated to the original's positions would score."""
    chance = tex.chance_detail_share
    if chance is None or not math.isfinite(chance):
        return "no baseline"
    return f"detail placed without regard to the original would score {100 * chance:.0f}%"


def short_answer(a: BaseAnalysis) -> str:
    """The plain answer, at most MAX_ANSWER_WORDS words: the task, what the retrained networks show (causes only
    where measured beyond their uncertainty), and how much of the added detail is real."""
    tex = a.texture
    o = tex.original
    if o is None:
        limit = "That detail is predicted: plausible, not recovered. Only the original photo could prove it real."
    else:
        closer = (f"{o.psnr_model - o.psnr_bicubic:.2f} dB closer to the original than bicubic"
                  if o.psnr_model > o.psnr_bicubic else "no closer to the original than bicubic")
        real = tex.real_detail_share
        where = ("" if real is None or not math.isfinite(real) else
                 f" {100 * real:.0f}% of the added detail sits where the original's does ({chance_words(tex)}).")
        limit = f"It is {closer}.{where}"
    truth = tex.hf_energy_ratio_original
    if truth is not None and math.isfinite(truth) and tex.hf_energy_ratio > truth * (1 + CLOSE_TO_ORIGINAL):
        limit = f"The original has only {fmt(truth, '.1f')}×: part is invented. " + limit
    detail = (f"{fmt(tex.hf_energy_ratio, '.1f')}× bicubic's fine-detail energy" if a.jpeg is None else
              f"{fmt(a.jpeg.detail['served'].off_grid, '.1f')}× bicubic's fine-detail energy away from the JPEG's "
              "8×8 block edges")
    return (
        f"**Your photo was enlarged {a.scale}×: {a.scale ** 2 - 1} of every {a.scale ** 2} output pixels were "
        f"predicted** by {a.model_name}, a network trained on pairs of small and large photos; its result has "
        f"{detail}. {causes_sentence(a.retrained)} {limit}"
    )


def task(a: BaseAnalysis, network: str, technology: str) -> str:
    width, height = a.image_size
    s = a.scale
    return (
        "### The task\n\n"
        f"**Single-image super-resolution, x{s}**: the {width}x{height} photo becomes {width * s}x{height * s}; "
        f"{s * s - 1} of every {s * s} output pixels must be predicted. Here the network is {network} "
        f"({a.model_info['n_params'] / 1e6:.2f}M parameters). {technology} The whole photo was enlarged by the "
        f"app's engine; the per-pixel views and experiments ran on the working region, {a.region_note}.\n"
    )


def depth_text(e: Experiments, model: str, what: str) -> str:
    first, last = e.depth[0], e.depth[-1]
    psnr = "" if first.psnr is None else f", PSNR {fmt(first.psnr)} dB -> {fmt(last.psnr)} dB"
    return (
        f"### Depth: how textures build up (*depth* figure)\n\n"
        f"The same {model}, run with only its first k {what} (the others bypassed through the skip connection "
        f"around them, the rest of the network unchanged). Fine-detail energy goes from "
        f"{fmt(first.hf_energy_ratio)}× bicubic's with none to {fmt(last.hf_energy_ratio)}× with all "
        f"{last.depth}{psnr}. {depth_needed_sentence(e, what)}\n"
    )


def depth_needed_sentence(e: Experiments, what: str) -> str:
    needed = e.depth_needed()
    return (f"The textures need {needed} of the {e.depth[-1].depth} {what} to get 90% of the full network's gain "
            "in fine detail.")


def texture_concentration(share: float) -> str:
    """How the share of a change on the most textured quarter compares with an even spread."""
    if not math.isfinite(share):
        return "nowhere (nothing changed)"
    factor = share / TEXTURE_QUANTILE
    where = ("mostly in textured areas" if share > 0.5 else
             "more in textured areas than elsewhere" if factor > 1.2 else
             "about evenly, not especially in textured areas")
    return f"{where}: {pct(share)} of it falls on the most textured quarter of the region ({factor:.1f}× an even spread)"


def ablation_text(ab: Ablation, title: str, figure: str) -> str:
    psnr = ("" if ab.psnr is None else
            f" Against the original: {fmt(ab.psnr)} dB with it switched off, {fmt(ab.psnr_full)} dB with the "
            "normal network.")
    return (
        f"### {title}: a knock-out (*{figure}* figure)\n\n"
        f"The trained network with {ab.what}, at run time. Its other weights were trained with that part, so this "
        "measures the damage to this network, not what the part contributes (the retrained networks do that). "
        f"The output changes by {fmt(ab.mean_abs_change)} brightness levels "
        f"(of 255) on average, {texture_concentration(ab.texture_share_of_change)}.{psnr}\n"
    )


def retrained_text(a: BaseAnalysis) -> str:
    """The ablation study on this photo: what each retrained arm did here, and each mechanism's verdict."""
    r = a.retrained
    if r is None or not r.claims:
        return ("### Cause and effect: retrained networks\n\nThis copy holds no ablation study "
                "(bench/results/ablation_study.json), so no part's contribution can be measured here.\n")
    rows = "\n".join(f"| {arm.label} | {fmt(arm.psnr)} | {fmt(arm.detail_ratio)}× | {pct(arm.texture_share)} |"
                     for arm in r.arms)
    verdicts = []
    for c in r.claims:
        e = c.effect
        verdict = ("it keeps textures" if c.is_cause else "removing it helped" if c.supported else
                   "no measurable difference")
        study = ("" if c.study is None or c.evidence != "this photo" else
                 f"; in the study, on Set14's textured tiles: {_db(c.study)}")
        verdicts.append(f"- **{c.mechanism}**: {_db(e)} on {c.evidence if c.evidence == 'this photo' else 'Set14'}'s "
                        f"textured tiles (n = {e.n}), {verdict}{study}.")
    steps = sorted(set(r.steps.values()))
    fine_tuned = recipe_architecture(arm_named("control").recipe)
    from_scratch = recipe_architecture(arm_named("data_texture").recipe).name
    return (
        "### Cause and effect: networks retrained without one part each (*retrained* and *retrained effects* "
        "figures)\n\n"
        f"{paper_link(fine_tuned)}'s own ablation trains the network with and without a part and compares. This "
        f"project did the same, small: the bundled {fine_tuned.name} fine-tuned as it is (the control) and without "
        "channel attention, without its skip connections, or with half its residual groups, each with one recipe, "
        f"seed and step count ({', '.join(f'{n:,}' for n in steps)} steps); and small {from_scratch}s trained on "
        "only the most textured or only "
        f"the flattest 8.88% of the training patches (the share of {DISTILLATION}). A second seed of the control "
        "and of the textured-data network shows what chance alone moves; the intervals count it. Here each of "
        f"them enlarged the working region:\n\n| network | PSNR vs original (dB) | fine detail vs bicubic | "
        f"share of its added detail on the textured quarter |\n|---|---|---|---|\n{rows}\n\n"
        "Each part's effect is the PSNR the network loses on textured tiles without it (above 0: the part keeps "
        "textures), with a 95% interval:\n\n" + "\n".join(verdicts) + "\n"
    )


def training_data_text(a: BaseAnalysis) -> str:
    """What the data arms show on this photo, and what the dataset-distillation study found."""
    r = a.retrained
    arms = [] if r is None else [arm for arm in r.arms if arm.arm in ("data_texture", "data_flat")]
    rows = "".join(f"- *{arm.label}*: PSNR {fmt(arm.psnr)} dB against the original, fine detail "
                   f"{fmt(arm.detail_ratio)}× bicubic's\n" for arm in arms)
    claim = data_claim(a)
    verdict = ("" if claim is None else
               f"Textured against flat training patches, on {where(claim)}: {effect_phrase(claim)}.\n\n")
    jpeg = "" if a.jpeg is None else jpeg_text(a.jpeg, a.model_name)
    return (
        "### What the network learned from: training data (*training data* figure)\n\n" + jpeg +
        "Two small networks of the same design, trained the same way, differ only in their training patches: "
        "the most textured or the flattest 8.88% of them. Here they enlarged the same spot:\n\n"
        f"{rows}\n{verdict}How much data? {_study_finding()}\n"
    )


def jpeg_text(view: JpegView, model: str) -> str:
    """The JPEG half of the training-data answer, in plain words and this photo's numbers."""
    served, clean, aware = view.detail["served"], view.detail["clean"], view.detail["jpeg"]
    return (
        f"This photo is a JPEG, saved at quality about {view.quality}: JPEG stores a photo in 8×8 blocks and throws "
        f"fine detail away, and faint block edges remain. So the fine detail is counted apart: on the block edges "
        f"({100 * view.grid_share:.0f}% of the pixels) and away from them, each as a multiple of bicubic's on the "
        f"same pixels. {model}, as it served: {fmt(served.off_grid)}× away from the edges, {fmt(served.on_grid)}× "
        f"on them. The {view.arch} trained on clean photos: {fmt(clean.off_grid)}× and {fmt(clean.on_grid)}×; the "
        f"{view.arch} trained on JPEGs: {fmt(aware.off_grid)}× and {fmt(aware.on_grid)}×. So the first sharpens the "
        f"block edges {fmt(clean.edge_emphasis)}× as much as the rest, the second {fmt(aware.edge_emphasis)}× (1 "
        "would be no difference): a network that never saw a JPEG takes the block edges for texture; one trained on "
        "JPEGs learned to leave them.\n\n"
    )


def added_text(e: Experiments, model: str) -> str:
    return (
        f"### What the network adds (*added detail* figure)\n\n"
        f"{model}'s output minus bicubic's, in brightness levels: red where it brightens, blue where it darkens, "
        f"white where it agrees with bicubic. It adds between {fmt(float(e.added.min()), '.0f')} and "
        f"+{fmt(float(e.added.max()), '.0f')} levels, "
        f"{texture_concentration(e.added_texture_share).split(':')[0]} ({pct(e.added_texture_share)} of it on the "
        "most textured quarter).\n"
    )


def ground_truth(a: BaseAnalysis) -> str:
    tex, model, o = a.texture, a.model_name, a.texture.original
    if o is None:
        return (
            "### Real or invented? (needs the original)\n\n"
            "Without the original nobody can tell whether the added detail is real. Give the sharp original "
            "(*I have the original* in the app, `--original` in the report): it is shrunk x3 with the paper's "
            "bicubic, enlarged again, and the original | bicubic | model crops and spectra are compared.\n"
        )
    ratio, truth = tex.hf_energy_ratio, tex.hf_energy_ratio_original
    if not (math.isfinite(ratio) and truth is not None and math.isfinite(truth) and truth > 0):
        verdict = "cannot be compared here (no fine detail in the region)"
    elif ratio > truth * (1 + CLOSE_TO_ORIGINAL):
        verdict = "goes above the original's: part of the added detail is invented"
    elif ratio >= truth * (1 - CLOSE_TO_ORIGINAL):
        verdict = "comes close to the original's: the amount of detail is real"
    else:
        verdict = "stays below the original's: it restores part of the missing detail, not all of it"
    return (
        "### Real or invented? The original decides (*ground truth* and *error maps* figures)\n\n"
        f"Original | bicubic | {model} at the same spot, and the three spectra. A curve that comes *close to the "
        "original's* is real detail; one that goes *above* it is invented detail. Beyond the input's Nyquist "
        f"frequency the original has {fmt(truth)}× bicubic's fine-detail energy and {model} {fmt(ratio)}×: "
        f"{model}'s curve {verdict}.\n\n"
        f"PSNR says how close the pixels are to the original (higher is closer, in dB): bicubic "
        f"{fmt(o.psnr_bicubic)} dB, {model} {fmt(o.psnr_model)} dB. SSIM says how well local structure matches "
        f"(0 to 1, 1 is identical): bicubic {fmt(o.ssim_bicubic, '.4f')}, {model} {fmt(o.ssim_model, '.4f')}. Both "
        f"on the Y channel of the whole {o.size[0]}x{o.size[1]} photo, with a {o.shave}-pixel border shaved as in "
        f"{paper_link(architecture_named(PROTOCOL_SOURCE))}'s test code; the error maps leave out the same border.\n"
    )


def closing(a: BaseAnalysis, ablations: list[Ablation], mechanism: str, what: str) -> str:
    """What this run's experiments revealed, in two answers."""
    e = a.experiments
    answers = []
    for ab in ablations:
        share = ab.texture_share_of_change
        mostly = "yes" if math.isfinite(share) and share > 0.5 else "no"
        answers.append(f"with {ab.what}: {mostly}, the change lies {texture_concentration(share)}")
    psnr = ""
    if e.depth[0].psnr is not None:
        rises = e.depth[-1].psnr > e.depth[0].psnr
        psnr = (f" PSNR against the original {'rises' if rises else 'does not rise'} from {fmt(e.depth[0].psnr)} dB "
                f"(k = 0) to {fmt(e.depth[-1].psnr)} dB (k = {e.depth[-1].depth}).")
    real = a.texture.real_detail_share
    placed = ("" if real is None or not math.isfinite(real) else
              f"- *Is the added detail where the original's is?* {100 * real:.0f}% of its energy is (correlation "
              f"{fmt(a.texture.added_detail_correlation)} between added and missing detail; "
              f"{chance_words(a.texture)}).\n")
    return (
        "## What this run revealed\n\n"
        f"One run, {a.model_name} on {a.region_note}:\n\n"
        f"- *What keeps the textures?* {causes_sentence(a.retrained)}\n"
        f"{placed}"
        f"- *Does knocking {mechanism} out of the trained network mostly change textured areas?* "
        + "; ".join(answers) + " (damage to a trained network, not the part's contribution).\n"
        f"- *How many {what} do the textures need?* {depth_needed_sentence(e, what)}{psnr}\n"
    )


def workflow(a: BaseAnalysis) -> str:
    lines = ["## How it runs: input -> model -> output\n",
             "Each step with the shape it produces on the working region and the time it took "
             "(the *workflow* figure):\n"]
    for i, stage in enumerate(a.workflow, start=1):
        shape = chw(stage.shape)
        params = f", {stage.params:,} parameters" if stage.params else ""
        lines.append(f"{i}. **{stage.name}** ({shape}{params}, {1000 * stage.seconds:.0f} ms): {stage.detail}")
    return "\n".join(lines) + "\n"


def explainer_markdown(a: BaseAnalysis, answer: str, details: list[str], revealed: str) -> str:
    """The full explanation: the answer, the details (architecture's and shared), what the run revealed, the
    workflow, the glossary and the sources."""
    return "\n".join([
        "## The short answer\n", answer + "\n",
        "## The details, each with its figure\n", *details,
        revealed, workflow(a),
        "## Glossary (hover or tap an underlined term anywhere to see its definition)\n",
        glossary_markdown(main_path_terms(a, answer)) + "\n",
        "## Papers and tools\n", *(e.sources for e in registry.explainers().values() if e.sources), SOURCES,
    ])
