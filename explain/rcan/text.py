"""RCAN's parts of the explanation: the technology in plain words, channel attention with honest statistics, and
the feature views."""
from __future__ import annotations

import math

from explain.rcan.analysis import RCANAnalysis
from explain.rcan.channel_view import ChannelView
from explain.rcan.feature_views import VIEW_NAMES
from explain.stats import effect_verdict
from explain.text import (
    ablation_text, added_text, closing, depth_text, explainer_markdown, fmt, ground_truth, paper_link,
    retrained_text, short_answer, task, training_data_text,
)
from sr_core.models import architecture_named

RCAN = paper_link(architecture_named("RCAN"))
FEATSHARP = "[FeatSharp](https://arxiv.org/abs/2502.16025)"

# Its own figures' titles and how to read them, by the figures' stable keys (registered in its explainer).
CAPTIONS = {
    "attention_heatmap": "Attention heatmap: the channel-attention gates of the whole photo's enlargement",
    "boosted_channels": "The most boosted channels of one block",
    "texture_map": "Texture map: where the texture channels' gates would be higher",
    "feature_views": "Feature views (FeatSharp-style)",
    "feature_view_metrics": "Feature views, scored",
}
HOW_TO_READ = {
    "attention_heatmap": (
        "Each row is one residual block, each column one feature channel. The colour is the block's gate for that "
        "channel, on the fixed 0..1 scale: near 1 the channel passes, near 0 it is muted. These are the gates of "
        "your enlargement, computed on the whole photo."
    ),
    "boosted_channels": (
        "The channels that one block lets through most, drawn over the photo: bright where the channel responds. "
        "Look for channels that light up on edges, stripes and fine texture rather than on flat areas."
    ),
    "texture_map": (
        "The same gates re-applied to small tiles: would the network favour its texture channels where there is "
        "texture? The title gives the difference with its bootstrap interval: if the interval includes 0, there is "
        "no trend to see."
    ),
    "feature_views": (
        "RCAN's deep features (dozens of numbers per pixel, shown as colours by one shared PCA) enlarged ×3 in up "
        "to seven ways. JBU is guided by the input, never by the output. featsharp is the one upsampler trained by this "
        "project, shown only for the bundled RCAN it was trained on, with its learned kernel at an edge and at a flat "
        "pixel in the last row."
    ),
    "feature_view_metrics": (
        "Two scores per view, cosine similarity (higher is better): against the features of the original (needs "
        "the original; the score that counts) and consistency with the input's features (a necessary condition "
        "only: nearest enlargement passes it)."
    ),
}
# Its own words, merged into the glossary every explanation shows (explain.glossary).
GLOSSARY = {
    "residual-in-residual": "RCAN's nesting of skip connections: skips around every block, around every group "
    "of blocks (short skips) and around the whole body (the long skip).",
    "long skip": "The skip connection around RCAN's whole body: the shallow features are added to its output.",
    "residual group": "In RCAN, a stack of residual blocks plus a convolution, wrapped in its own skip "
    "connection.",
    "residual block": "A small stage (convolution, ReLU, convolution, then channel attention in RCAN) whose "
    "output is added to its input.",
    "RCAB": "Residual channel attention block: RCAN's residual block, ending in channel attention.",
    "channel attention": "RCAN's mechanism in every block: each feature channel is averaged over the whole photo "
    "and a tiny network turns those averages into one gate per channel.",
    "CALayer": "The code name of RCAN's channel attention layer.",
}
GLOSSARY_ALIASES = {"residual groups": "residual group", "residual blocks": "residual block", "RCABs": "RCAB"}
# Its entries in the explanation's "Papers and tools".
SOURCES = """\
- **RCAN**: Zhang et al., *Image Super-Resolution Using Very Deep Residual Channel Attention Networks*, ECCV 2018,
  [arXiv 1807.02758](https://arxiv.org/abs/1807.02758), code
  [github.com/yulunzhang/RCAN](https://github.com/yulunzhang/RCAN). The network, its residual-in-residual design
  (*depth* figure: the groups bypassed through its long skip), its channel attention (*attention heatmap*, *attention
  off*), and the PSNR/SSIM protocol of its test code (*ground truth*, *error maps*). It trained on DIV2K's 800
  photos, larger than the 371 the bundled models saw.
- **FeatSharp**: Ranzinger et al., *FeatSharp: Your Vision Model Features, Sharper*, ICML 2025,
  [arXiv 2502.16025](https://arxiv.org/abs/2502.16025). Enlarges a model's features by fusing FeatUp's joint
  bilateral upsampler (the part of FeatSharp it builds on) with features of tiled views; the *feature views*
  figure applies its recipe, training-free, to RCAN's deep features, and scores each view with its consistency
  and, given the original, against the original's features."""
# Which of its figures follow which part of its text in the report (by the start of the part's heading).
FIGURES_AFTER = {"Attention made uniform": ("ablation",),
                 "Channel attention": ("attention_heatmap", "boosted_channels", "texture_map"),
                 "Feature views": ("feature_views", "feature_view_metrics")}


TECHNOLOGY = (
    "Its residual-in-residual design passes most of the picture through skip connections, so its deep layers work "
    "on the missing fine detail. Channel attention turns each feature channel up or down. The enlargement itself "
    "is learned (PixelShuffle, at the end)."
)


def network(a: RCANAnalysis) -> str:
    cfg = a.model_info["config"]
    return (f"{RCAN} with {cfg['n_resgroups']} residual groups x {cfg['n_resblocks']} residual blocks x "
            f"{cfg['n_feats']} feature channels")


def _channel(c: dict) -> str:
    return (f"group {c['group']} block {c['block']} channel {c['channel']}: {c['difference']:+.4f} "
            f"[{c['low']:+.4f}, {c['high']:+.4f}]")


def attention(a: RCANAnalysis) -> str:
    ta, e = a.texture_attention, a.texture_attention.effect
    n_groups, n_blocks, n_channels = a.attention.shape
    width, height = a.computed_on
    ext = a.extremes()
    trend = effect_verdict(e.to_dict())
    return (
        "### Channel attention: which channels each block turns up (*attention heatmap*, *texture map*)\n\n"
        f"Every one of the {n_groups * n_blocks} RCABs averages its {n_channels} feature channels over the whole "
        f"photo and turns the averages into {n_channels} gates between 0 and 1 ({RCAN}). The gates shown are those "
        f"of the enlargement you got, computed on the whole {width}x{height} photo: they range from "
        f"{a.attention.min():.2f} to {a.attention.max():.2f} (colour scale fixed at 0..1).\n\n"
        f"Re-applying each block's gate to {a.tile_size}-pixel tiles of the working region asks where a channel "
        f"would be boosted. For the {ta.basis} (those whose activity follows fine detail), the gate is "
        f"{fmt(e.textured, '.3f')} on the most textured quarter of tiles and {fmt(e.flat, '.3f')} on the flattest: "
        f"a difference of {fmt(e.difference, '+.4f')} on the 0..1 gate scale ({fmt(100 * e.relative, '+.1f')}% "
        f"relative), 95% bootstrap interval [{fmt(e.low, '+.4f')}, {fmt(e.high, '+.4f')}] over tiles: {trend}.\n\n"
        f"Largest boosts on textured tiles (gate difference, interval): {'; '.join(map(_channel, ext['boosted']))}. "
        f"Largest suppressions: {'; '.join(map(_channel, ext['suppressed']))}.\n"
    )


def learned_text(a: RCANAnalysis) -> str:
    """What the trained view learned, and whether training beat the training-free JBU on this photo."""
    fv, k = a.views, a.views.kernels
    if k is None:
        return "".join(f"*{name}*: {why}.\n" for name, why in fv.missing.items())
    v = fv.views
    edge, flat = k.effective_neighbours("edge"), k.effective_neighbours("flat")
    text = (f"*featsharp* is the one trained view: its JBU's range kernel and spatial sigma were learned "
            f"({FEATSHARP}, FeatUp's learned range kernel) by asking the upsampled features, shifted by a third of "
            "a pixel and shrunk, to match RCAN's own features of those shifted views. What it learned, at two "
            f"pixels of the guide (last row of the figure): at the strongest edge it averages {edge:.1f} of its 49 "
            f"window pixels, in the flattest area {flat:.1f} (learned spatial sigma {k.sigma_spatial:.2f}, from 1 "
            f"at the start; range temperature {k.temperature:.2f}).")
    if max(edge, flat) < 2:
        text += (" So it learned to keep each pixel's own bicubic-enlarged features and to average nothing "
                 "with its neighbours.")
    else:
        text += " A kernel that follows edges averages fewer pixels at the edge than where nothing changes."
    text += (f" Its fusion gives the tiled views' features {fmt(100 * k.tiled_share, '.0f')}% of the weight over "
             "this window, the smooth JBU output the rest.")
    if fv.hr_image is not None:
        gain = v["featsharp"].hr_similarity - v["jbu"].hr_similarity
        text += (f" Against the original's features it scores {fmt(v['featsharp'].hr_similarity, '.3f')}, "
                 f"{fmt(gain, '+.3f')} against the training-free *jbu* on this one window; over 139 windows of "
                 "Set5, Set14 and the examples it is 0.036 below *jbu* (95% interval 0.032 to 0.039; "
                 "docs/explanation.md, bench/featsharp_compare.py).")
    return text + "\n"


def views(a: RCANAnalysis) -> str:
    v = a.views.views
    w = a.views.window
    names = [n for n in VIEW_NAMES if n in v]
    with_hr = a.views.hr_image is not None
    rows = "\n".join(f"| {n} | {fmt(v[n].hr_similarity, '.3f')} | {fmt(v[n].consistency, '.3f')} |" for n in names)
    lineage = "\n".join(f"- *{n}*: {v[n].lineage}" for n in names)
    if with_hr:
        best = max(names, key=lambda n: v[n].hr_similarity if math.isfinite(v[n].hr_similarity) else -2)
        verdict = (f"Closest to the original's own features on this window: *{best}* "
                   f"({fmt(v[best].hr_similarity, '.3f')}), one window, so a lead of a few thousandths means "
                   "nothing. That is the score that counts.")
    else:
        verdict = "Without the original only consistency can be measured, and it cannot rank the views by detail."
    return (
        "### Feature views: how much fine structure the deep features carry (*feature views* figure)\n\n"
        f"{FEATSHARP} enlarges a model's features; its recipe on RCAN's deep features over a "
        f"{w.width}x{w.height} window of the input. *jbu* (FeatUp's JBU, guided by the input's bicubic "
        "enlargement, never by the output) and *tiled* follow FeatSharp without training; *featsharp* is its "
        "recipe trained by this project; *fused* and *learned* are analogies; "
        "*nearest* and *bilinear* are baselines. Colours: one PCA of the deep features, the same three "
        "directions for every view, so similar colours mean similar features (in those three directions).\n\n"
        "Scores are mean cosine similarity per pixel (-1..1, higher is better). *vs original*: against the same "
        "extractor run on the original photo (needs the original). *consistency* (FeatUp's, within FeatSharp): the "
        "view shrunk "
        "x3 against the input's features, a necessary condition only: nearest enlargement passes it perfectly "
        "while adding no detail.\n\n"
        "| view | vs original | consistency |\n|---|---|---|\n"
        f"{rows}\n\nWhere each view comes from:\n\n{lineage}\n\n{verdict}\n\n{learned_text(a)}"
    )


def rcan_markdown(a: RCANAnalysis) -> str:
    e = a.experiments
    details = [
        task(a, network(a), TECHNOLOGY),
        depth_text(e, "RCAN", "residual groups"),
        ablation_text(e.ablations["attention_off"], "Attention off", "attention off"),
        ablation_text(e.ablations["attention_uniform"], "Attention made uniform", "attention off"),
        added_text(e, "RCAN"),
        ground_truth(a),
        retrained_text(a),
        training_data_text(a),
        attention(a),
        views(a),
    ]
    revealed = closing(a, [e.ablations["attention_off"], e.ablations["attention_uniform"]], "channel attention",
                       "residual groups")
    return explainer_markdown(a, short_answer(a), details, revealed)


def channel_view_text(view: ChannelView) -> str:
    """The readout beside the channel view: what the numbers say, in one short paragraph."""
    even = 100 / view.gates.size
    weight = "more than" if 100 * view.share > even else "less than"
    return (
        f"**Group {view.group}, block {view.block}, channel {view.channel}** on {view.region_note}: channel "
        f"attention gives it a gate of **{view.gate:.2f}** (0 mutes, 1 passes), rank {view.gate_rank} of "
        f"{view.gates.size} in this block. After gating it makes up **{100 * view.share:.1f}%** of what the block "
        f"adds to the picture's features, {weight} an even share ({even:.1f}%). Left, the channel before its gate: "
        "red where it adds, blue where it takes away. **Experiment:** with only this gate set to 0 (the channel "
        f"muted in this block, nothing else changed) the output changes by {view.muted.mean_abs_change:.2f} "
        f"brightness levels on average (0..255), {fmt(100 * view.muted.texture_share_of_change, '.0f')}% of it on the "
        "most textured quarter of the region (25% if it were even): right, where. The gates here are computed on "
        "this region, so they can differ a little from the heatmap's, which are the whole photo's."
    )


def gates_summary(metrics: dict) -> list[str]:
    """RCAN's own headline number in the summary: do the gates differ between textured and flat tiles."""
    effect = metrics["texture"]["attention_texture_effect"]

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    return [f"**Gates, textured − flat tiles:** {number(effect['difference'])} on the 0..1 scale, 95% interval "
            f"[{number(effect['low'])}, {number(effect['high'])}]: {effect_verdict(effect)}."]
