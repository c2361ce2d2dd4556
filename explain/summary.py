"""What the explain tab (and the `/explain` API) shows, in order: its figure slots with how to read each, the
section headings, which slots each architecture fills, and the summary of one run's numbers.

Why here and not in app.py: these are the explanation's words and its per-architecture choices; the app lays
them out. SAFMN has no channel attention, so its modulation maps take the model's first slot and the slots that
look inside RCAN stay empty: `/explain` returns the same outputs whichever model ran.
"""
from __future__ import annotations

from explain.captions import HOW_TO_READ
from explain.glossary import glossary_markdown, terms_in, with_tooltips
from explain.lesson import MAIN_PATH
from sr_core.tools.ablation import MECHANISMS
from explain.stats import effect_verdict

# Figure slots of the explain tab (and outputs of /explain), in order, each with how to read its figure
# (explain.captions, shared with the report). The slot "attention_heatmap" holds the model's own first figure
# (RCAN's gates, SAFMN's modulation maps).
EXPLAIN_FIGURES: dict[str, str] = {key: HOW_TO_READ[key] for key in (
    "texture_evidence", "original_errors", "depth", "ablation", "added_detail", "attention_heatmap",
    "boosted_channels", "texture_map", "feature_views", "feature_view_metrics", "retrained", "retrained_effects",
    "photo", "training_data")}
# The order the explain tab shows them in: the lesson's main path (explain.lesson), then "Explore further" (the
# API's outputs keep the order above, new slots at its end, so positional callers of /explain are not shifted).
EXPLORE_FURTHER = ("retrained_effects", "original_errors", "ablation", "attention_heatmap", "boosted_channels",
                   "texture_map", "feature_views", "feature_view_metrics")
LAYOUT_ORDER = MAIN_PATH + EXPLORE_FURTHER

# The first slot's figure by architecture (metrics["model"]["arch"] says which ran), and the slots only RCAN fills.
FIRST_SLOT = {"RCAN": "attention_heatmap", "SAFMN": "safm_modulation"}
RCAN_ONLY = ("boosted_channels", "texture_map", "feature_views", "feature_view_metrics")
SAFM_HELP = HOW_TO_READ["safm_modulation"]

# Section headings of the explain tab, placed before the figure they name.
SECTION_HEADINGS = {
    "photo": "1 · The lesson: six figures, one claim each",
    "retrained_effects": "2 · Cause and effect in numbers, and the original pixel by pixel",
    "ablation": "3 · Knock-outs in the trained network (damage, not contribution)",
    "attention_heatmap": "4 · Inside RCAN: channel attention",
    "safm_modulation": "4 · Inside SAFMN: where each block looks",
    "feature_views": "5 · Feature views: how much fine structure the deep features carry",
}


def lesson_glossary() -> str:
    """The glossary of the main path, as a visible section: the terms its how-to-read texts, its claims and the
    short answer use (the mechanisms retrained without, PSNR, fine-detail energy), each defined once."""
    words = " ".join([*(HOW_TO_READ[key] for key in MAIN_PATH), *(m.name for m in MECHANISMS),
                      "super-resolution, bicubic, PSNR, fine-detail energy, training, residual groups"])
    return glossary_markdown(terms_in(words))


def slot_figures(figures: dict) -> list:
    """build_figures' figures in the order of EXPLAIN_FIGURES (None for a slot the model has nothing for)."""
    first = figures.get("attention_heatmap", figures.get("safm_modulation"))
    return [first if key == "attention_heatmap" else figures.get(key) for key in EXPLAIN_FIGURES]


def first_slot(arch: str) -> tuple[str, str]:
    """The key of the architecture's own first figure, and how to read it (with glossary tooltips)."""
    first = FIRST_SLOT.get(arch, "attention_heatmap")
    return first, with_tooltips(SAFM_HELP if first == "safm_modulation" else EXPLAIN_FIGURES[first])


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_markdown(metrics: dict) -> str:
    """The plain answer, then the headline numbers of this run, from `explain.analysis.metrics`."""
    texture, arch, experiments = metrics["texture"], metrics["model"]["arch"], metrics["experiments"]
    tag = arch.lower()  # the texture keys name the model's side: hf_energy_ratio_rcan_vs_bicubic, psnr_safmn, ...
    unit = experiments["depth_unit"]
    ablation = experiments["attention_off" if arch == "RCAN" else "modulation_off"]
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
        f"**{'Attention' if arch == 'RCAN' else 'Modulation'} off:** the output changes by "
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
    if arch == "RCAN":
        effect = texture["attention_texture_effect"]
        trend = effect_verdict(effect)
        lines.append(f"**Gates, textured − flat tiles:** {_number(effect['difference'], 4)} on the 0..1 scale, 95% "
                     f"interval [{_number(effect['low'], 4)}, {_number(effect['high'], 4)}]: {trend}.")
    original = texture["original"]
    if original:
        lines.append(
            "\n| against the original | PSNR (dB) | SSIM |\n|---|---|---|\n"
            f"| bicubic | {_number(original['psnr_bicubic'])} | {_number(original['ssim_bicubic'], 4)} |\n"
            f"| {arch} | {_number(original[f'psnr_{tag}'])} | {_number(original[f'ssim_{tag}'], 4)} |"
        )
    return with_tooltips("\n\n".join(lines))
