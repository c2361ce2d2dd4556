"""What the explain tab (and the `/explain` API) shows, in order: its figure slots with how to read each, the
section headings, which slots each architecture fills, and the summary of one run's numbers.

Why here and not in app.py: these are the explanation's words; the app lays them out. Each architecture's own
words (its figures' titles and how to read them, its section heading, its knock-out, its headline numbers) come
from its explainer (explain.explainers), so nothing here names one: `/explain` returns the same outputs whichever
model ran, the model's own first figure in the shared slot FIRST_SLOT and its other figures in its own slots.
"""
from __future__ import annotations

from explain.captions import CAPTIONS, HOW_TO_READ
from explain.explainers import Explainer, explainer_named, explainers
from explain.glossary import glossary_markdown, terms_in, with_tooltips
from explain.lesson import MAIN_PATH
from sr_core.tools.ablation import MECHANISMS

# Every figure's title and how to read it: the shared ones, then each explainer's own.
FIGURE_CAPTIONS = {**CAPTIONS, **{k: v for e in explainers().values() for k, v in e.captions.items()}}
FIGURE_HELP = {**HOW_TO_READ, **{k: v for e in explainers().values() for k, v in e.how_to_read.items()}}
FIRST_SLOT = "attention_heatmap"  # the shared slot that holds the model's own first figure
# The slots only some models fill (empty, and hidden, for the others), in registry order.
OWN_SLOTS = tuple(dict.fromkeys(slot for e in explainers().values() for slot in e.own_slots))

# Figure slots of the explain tab (and outputs of /explain), in order, each with how to read its figure.
EXPLAIN_FIGURES: dict[str, str] = {key: FIGURE_HELP[key] for key in (
    "texture_evidence", "original_errors", "depth", "ablation", "added_detail", FIRST_SLOT, *OWN_SLOTS,
    "retrained", "retrained_effects", "photo", "training_data")}
# The order the explain tab shows them in: the lesson's main path (explain.lesson), then "Explore further" (the
# API's outputs keep the order above, new slots at its end, so positional callers of /explain are not shifted).
EXPLORE_FURTHER = ("retrained_effects", "original_errors", "ablation", FIRST_SLOT, *OWN_SLOTS)

# Section headings of the explain tab, placed before the figure they name (the model's own: `first_slot`).
SECTION_HEADINGS = {
    "photo": "1 · The lesson: six figures, one claim each",
    "retrained_effects": "2 · Cause and effect in numbers, and the original pixel by pixel",
    "ablation": "3 · Knock-outs in the trained network (damage, not contribution)",
}
OWN_SECTION = "4"


def lesson_glossary() -> str:
    """The glossary of the main path, as a visible section: the terms its how-to-read texts, its claims and the
    short answer use (the mechanisms retrained without, PSNR, fine-detail energy), each defined once."""
    words = " ".join([*(HOW_TO_READ[key] for key in MAIN_PATH), *(m.name for m in MECHANISMS),
                      "super-resolution, bicubic, PSNR, fine-detail energy, training, residual groups"])
    return glossary_markdown(terms_in(words))


def slot_figures(figures: dict) -> list:
    """build_figures' figures in the order of EXPLAIN_FIGURES (None for a slot the model has nothing for); the
    shared FIRST_SLOT holds whichever explainer's own first figure is there."""
    first = next((figures[e.first_figure] for e in explainers().values() if e.first_figure in figures), None)
    return [first if key == FIRST_SLOT else figures.get(key) for key in EXPLAIN_FIGURES]


def _explainer(arch: str) -> Explainer:
    return explainer_named(arch) or next(iter(explainers().values()))


def first_slot(arch: str) -> tuple[str, str, str]:
    """The heading, title and how to read (with glossary tooltips) of the architecture's own first figure."""
    explainer = _explainer(arch)
    first = explainer.first_figure
    return (f"{OWN_SECTION} · {explainer.heading}", FIGURE_CAPTIONS[first], with_tooltips(FIGURE_HELP[first]))


def own_slots_shown(arch: str) -> list[bool]:
    """For each of OWN_SLOTS, whether the architecture fills it."""
    return [slot in _explainer(arch).own_slots for slot in OWN_SLOTS]


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_markdown(metrics: dict) -> str:
    """The plain answer, then the headline numbers of this run, from `explain.analysis.metrics`."""
    texture, arch, experiments = metrics["texture"], metrics["model"]["arch"], metrics["experiments"]
    explainer = _explainer(arch)
    tag = arch.lower()  # the texture keys name the model's side: hf_energy_ratio_rcan_vs_bicubic, psnr_safmn, ...
    unit = experiments["depth_unit"]
    ablation = experiments[explainer.ablation]
    depth = experiments["depth"]
    lines = [
        metrics["answer"]["short"],
        f"**Analysed:** {metrics['input']['working_region']['how']}.",
        f"**Fine detail, {arch} vs bicubic:** {_number(texture[f'hf_energy_ratio_{tag}_vs_bicubic'])}× the fine-detail "
        "energy" + ("" if texture["hf_energy_ratio_original_vs_bicubic"] is None else
                    f"; the original has {_number(texture['hf_energy_ratio_original_vs_bicubic'])}×") + ".",
        f"**Depth:** the textures need {experiments['depth_for_90_percent_of_detail']} of {len(depth) - 1} {unit} "
        "for 90% of the detail" + ("" if depth[0]["psnr"] is None else
                                   f"; PSNR {_number(depth[0]['psnr'])} dB with none, {_number(depth[-1]['psnr'])} "
                                   "dB with all") + ".",
        f"**{explainer.ablation_label}:** the output changes by "
        f"{_number(ablation['mean_abs_change'], 1)} brightness levels on average, "
        f"{_number(None if (share := ablation['texture_share_of_change']) is None else 100 * share, 0)}% of it "
        "on the most textured quarter "
        "(25% if it were even).",
    ]
    if texture.get("jpeg"):
        j = texture["jpeg"]
        lines.append(f"**A JPEG (quality about {j['quality']}):** fine detail away from its 8×8 block edges "
                     f"{_number(j['served_off_grid'])}×, on them {_number(j['served_on_grid'])}× bicubic's; trained on "
                     f"clean photos {_number(j['clean_on_grid'])}× on them, trained on JPEGs "
                     f"{_number(j['jpeg_on_grid'])}×.")
    lines += explainer.summary_lines(metrics)
    original = texture["original"]
    if original:
        lines.append(
            "\n| against the original | PSNR (dB) | SSIM |\n|---|---|---|\n"
            f"| bicubic | {_number(original['psnr_bicubic'])} | {_number(original['ssim_bicubic'], 4)} |\n"
            f"| {arch} | {_number(original[f'psnr_{tag}'])} | {_number(original[f'ssim_{tag}'], 4)} |"
        )
    return with_tooltips("\n\n".join(lines))
