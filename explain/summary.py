"""What the explain tab (and the `/explain` API) shows, in order: its figure slots with how to read each, the
section headings, which slots each architecture fills, and the summary of one run's numbers.

Why here and not in app.py: these are the explanation's words and its per-architecture choices; the app lays
them out. SAFMN has no channel attention, so its modulation maps take the model's first slot and the slots that
look inside RCAN stay empty: `/explain` returns the same outputs whichever model ran.
"""
from __future__ import annotations

from explain.captions import HOW_TO_READ
from explain.explainers import explainer_named
from explain.glossary import with_tooltips
from explain.stats import effect_verdict

# Figure slots of the explain tab (and outputs of /explain), in order, each with how to read its figure
# (explain.captions, shared with the report). The slot "attention_heatmap" holds the model's own first figure
# (RCAN's gates, SAFMN's modulation maps).
EXPLAIN_FIGURES: dict[str, str] = {key: HOW_TO_READ[key] for key in (
    "texture_evidence", "original_errors", "depth", "ablation", "added_detail", "attention_heatmap",
    "boosted_channels", "texture_map", "feature_views", "feature_view_metrics", "retrained", "retrained_effects")}
# The order the explain tab shows them in: the retrained networks right after the ground truth (the API's
# outputs keep the order above, new slots at its end, so positional callers of /explain are not shifted).
LAYOUT_ORDER = ("texture_evidence", "original_errors", "retrained", "retrained_effects", "depth", "ablation",
                "added_detail", "attention_heatmap", "boosted_channels", "texture_map", "feature_views",
                "feature_view_metrics")

# The first slot's figure by architecture (metrics["model"]["arch"] says which ran), and the slots only RCAN fills.
FIRST_SLOT = {"RCAN": "attention_heatmap", "SAFMN": "safm_modulation"}
RCAN_ONLY = ("boosted_channels", "texture_map", "feature_views", "feature_view_metrics")
SAFM_HELP = HOW_TO_READ["safm_modulation"]

# Section headings of the explain tab, placed before the figure they name.
SECTION_HEADINGS = {
    "texture_evidence": "1 · Real or invented? The result against bicubic and the original",
    "retrained": "2 · Cause and effect: networks retrained without one part each",
    "depth": "3 · Inside the trained network: depth and knock-outs (damage, not contribution)",
    "attention_heatmap": "4 · Inside RCAN: channel attention",
    "safm_modulation": "4 · Inside SAFMN: where each block looks",
    "feature_views": "5 · Feature views: how much fine structure the deep features carry",
}


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
    explainer = explainer_named(arch)
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
