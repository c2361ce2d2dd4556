"""The explainer text (markdown), written from the run's own numbers.

It answers three questions: what task the user is doing, how the run goes from input through the model to the
output, and which papers and tools matter, each tied to a figure. Only four sources are cited: RCAN, SAFMN,
FeatSharp and the dataset-distillation study for super-resolution.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from explain.feature_views import VIEW_NAMES

if TYPE_CHECKING:
    from explain.analysis import Analysis, BaseAnalysis, SAFMNAnalysis

RCAN = "[RCAN](https://arxiv.org/abs/1807.02758)"
SAFMN = "[SAFMN](https://arxiv.org/abs/2302.13800)"
FEATSHARP = "[FeatSharp](https://arxiv.org/abs/2502.16025)"
LINKS = {"RCAN": RCAN, "SAFMN": SAFMN}

SOURCES = """\
- **RCAN**: Zhang et al., *Image Super-Resolution Using Very Deep Residual Channel Attention Networks*, ECCV 2018,
  [arXiv 1807.02758](https://arxiv.org/abs/1807.02758), code
  [github.com/yulunzhang/RCAN](https://github.com/yulunzhang/RCAN). The network used here: residual groups of
  residual blocks, each block ending in channel attention. The *attention heatmap*, *boosted channels* and
  *texture map* figures look inside it; the PSNR/SSIM protocol is the one of its test code.
- **SAFMN**: Sun et al., *Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution*, ICCV 2023,
  [arXiv 2302.13800](https://arxiv.org/abs/2302.13800), code
  [github.com/sunny2109/SAFMN](https://github.com/sunny2109/SAFMN). A much lighter network that modulates
  features *per position* rather than RCAN's one gate per channel for the whole image: the app's fast choice,
  whose *SAFM modulation* figure shows those per-position maps; for RCAN, the *texture map* (its gates
  re-applied to local windows) asks the spatial question that SAFMN builds in.
- **FeatSharp**: Ranzinger et al., *FeatSharp: Your Vision Model Features, Sharper*, ICML 2025,
  [arXiv 2502.16025](https://arxiv.org/abs/2502.16025). Enlarges a model's feature maps by fusing FeatUp's
  joint bilateral upsampler with features of tiled high-resolution views; the *feature views* figure applies
  its recipe, training-free, to RCAN's deep features, and its multi-view fidelity scores them.
- **Dataset distillation for SR**: Dietz et al., *A Study in Dataset Distillation for Image Super-Resolution*,
  [arXiv 2502.03656](https://arxiv.org/abs/2502.03656). Shows that SR networks trained on a distilled set of
  about 9% of the original training data keep nearly the same fidelity; relevant to how much data a small
  model like this one needs, and a reminder that PSNR/SSIM (given an original) measure what training rewards.
  The chart *How much data do textures need?* (Workflow & sources; the end of the report) repeats the study on
  this project's data with a small SAFMN and says, in one sentence, what it found.
"""


def _fmt(value: float, spec: str = ".2f", suffix: str = "") -> str:
    """A number for the text, or "n/a" when it is undefined (NaN) or unbounded."""
    return "n/a" if not math.isfinite(value) else f"{value:{spec}}{suffix}"


def _pct(share: float) -> str:
    return _fmt(100 * share, ".1f", "%")


def _network(a: BaseAnalysis) -> str:
    cfg = a.model_info["config"]
    if a.model_name == "SAFMN":
        return f"{SAFMN} with {cfg['n_blocks']} feature mixing blocks x {cfg['dim']} channels"
    return f"{RCAN} with {cfg['n_resgroups']} residual groups x {cfg['n_resblocks']} blocks x {cfg['n_feats']} channels"


def _task(a: BaseAnalysis) -> str:
    width, height = a.image_size
    s = a.scale
    return (
        "## What you are doing\n\n"
        f"**Single-image super-resolution, x{s}**: the {width}x{height} photo becomes {width * s}x{height * s}. "
        f"Nine output pixels must be invented for every input pixel, so the network predicts the fine detail that "
        f"photos like this one usually have. Here that network is {_network(a)} "
        f"({a.model_info['n_params'] / 1e6:.2f}M parameters). The explainers ran on {a.region_note}.\n"
    )


def _workflow(a: BaseAnalysis) -> str:
    lines = ["## How it runs: input -> model -> output\n",
             "Each step with the shape it produces on the working region and the time it took "
             "(the *workflow* figure):\n"]
    for i, stage in enumerate(a.workflow, start=1):
        shape = "x".join(str(n) for n in stage.shape)
        params = f", {stage.params:,} parameters" if stage.params else ""
        lines.append(f"{i}. **{stage.name}** ({shape}{params}, {1000 * stage.seconds:.0f} ms): {stage.detail}")
    return "\n".join(lines) + "\n"


def _attention(a: Analysis) -> str:
    ta = a.texture_attention
    n_groups, n_blocks, n_channels = a.attention.shape
    boosted = [b for b in a.texture_boosted(3) if math.isfinite(b["boost"])]
    named = ", ".join(f"channel {b['channel']} of group {b['group']} block {b['block']} (+{b['boost']:.3f})"
                      for b in boosted if b["boost"] > 0)
    r = ta.correlation
    if not math.isfinite(r):
        trend = "cannot be related to texture here (one of them is flat over the tiles)"
    elif r > 0.3:
        trend = "rises with texture"
    elif r < -0.3:
        trend = "falls as texture rises (the gates hold back these channels where they are already strong)"
    else:
        trend = "barely depends on texture"
    g, b = a.chosen_block()
    top = ", ".join(str(c) for c in a.top_channels[g, b][:2])
    text = (
        "### Channel attention\n\n"
        f"Channel attention rescales each feature channel from global statistics ({RCAN}): every one of the "
        f"{n_groups * n_blocks} blocks averages its {n_channels} channels over the whole image and turns the "
        f"averages into {n_channels} gates between 0 and 1. On this photo the gates range from "
        f"{a.attention.min():.2f} to {a.attention.max():.2f} (*attention heatmap*). In group {g + 1}, block "
        f"{b + 1}, channels {top} get the largest gates; *boosted channels* shows where those channels respond.\n\n"
        f"Re-applying each block's gate to {a.tile_size}-pixel windows shows where a channel would be boosted "
        f"(*texture map*). Attention to the {ta.basis} (those whose activity follows fine detail) {trend}: "
        f"r = {_fmt(r)} between tile attention and tile high-frequency energy, {ta.textured_mean:.3f} on the most "
        f"textured quarter of tiles against {ta.flat_mean:.3f} on the flattest quarter."
    )
    if named:
        text += (f" The gates boost {named} most in textured regions relative to flat ones (in brackets: gate on "
                 "the most textured tiles minus gate on the flattest).")
    return text + "\n"


def _views(a: Analysis) -> str:
    views = a.views.views
    best_edges = max(VIEW_NAMES, key=lambda n: views[n].edge_alignment if math.isfinite(views[n].edge_alignment)
                     else -math.inf)
    best_fid = max(VIEW_NAMES, key=lambda n: views[n].fidelity if math.isfinite(views[n].fidelity) else -math.inf)
    rows = "\n".join(f"| {n} | {_fmt(views[n].edge_alignment)} | {_pct(views[n].hf_energy)} | "
                     f"{_fmt(views[n].fidelity, '.3g')} |" for n in VIEW_NAMES)
    w = a.views.window
    return (
        "### Feature views\n\n"
        f"{FEATSHARP} enlarges a model's features by fusing a joint bilateral upsampler with features of tiled "
        f"high-resolution views. Its recipe, without training, on RCAN's deep features over a {w.width}x{w.height} "
        "window (*feature views*): *jbu* and *tiled* follow FeatSharp; *fused* (mixing them by agreement) and "
        "*learned* (RCAN's own PixelShuffle upsampling) are analogies; *nearest* and *bilinear* are baselines.\n\n"
        "| view | edge alignment (r) | energy beyond input Nyquist | multi-view fidelity |\n|---|---|---|---|\n"
        f"{rows}\n\n"
        f"The features that follow the output's edges best come from *{best_edges}*; the view most consistent "
        f"with features of shifted, downsampled inputs (FeatSharp's fidelity) is *{best_fid}*. Energy beyond the "
        "input's Nyquist frequency is detail the input could not hold: nearest enlargement gets it from blocky "
        "steps, the other views from edges and texture.\n"
    )


def _modulation(a: SAFMNAnalysis) -> str:
    maps, relation = a.modulation, a.modulation_texture
    r = relation.correlation
    finite = np.isfinite(r)
    if not finite.any():
        trend = "cannot be related to texture here (the photo or the maps are flat over the tiles)"
    else:
        best = int(np.nanargmax(np.where(finite, r, np.nan)))
        follows = int((r[finite] > 0.3).sum())
        trend = (f"{follows} of {len(r)} blocks modulate more strongly where there is more fine detail (r > 0.3 "
                 f"between tile modulation and tile high-frequency energy); block {best + 1} follows texture most "
                 f"closely (r = {_fmt(float(r[best]))}, {relation.textured_mean[best]:.3f} on the most textured "
                 f"quarter of tiles against {relation.flat_mean[best]:.3f} on the flattest)")
    return (
        "### Spatially-adaptive feature modulation\n\n"
        f"{SAFMN} has no channel attention. In each of its {len(maps)} blocks, SAFM splits the features into four "
        "chunks, looks at three of them at 1/2, 1/4 and 1/8 size (max-pooled, so a chunk sees a wide "
        "neighbourhood), mixes the results and passes them through GELU: a modulation map m with one value per "
        "channel *and pixel*, which multiplies the normalised features before the block adds them back. Where "
        "|m| is near 0 the block suppresses its update; where it is large the block amplifies the features "
        f"(*SAFM modulation*, mean |m| over channels per block, {a.tile_size}-pixel windows for the statistics). "
        f"On this photo the block means range from {maps.mean(axis=(1, 2)).min():.2f} to "
        f"{maps.mean(axis=(1, 2)).max():.2f}; {trend}.\n"
    )


def _texture(a: BaseAnalysis) -> str:
    tex, model = a.texture, a.model_name
    ratio = tex.hf_energy_ratio
    o = tex.original
    if not (math.isfinite(ratio) and ratio > 1):
        verdict = f"{model} adds no more fine detail than bicubic interpolation here"
    elif o is not None and o.psnr_rcan < o.psnr_bicubic:
        verdict = (f"{model} scores below bicubic against the original, so this extra energy is error, "
                   "not recovered texture")
    else:
        verdict = f"{model} puts back fine detail that bicubic interpolation cannot create"
    text = (
        "### Texture evidence\n\n"
        f"At the most textured spot (*texture evidence*, zoomed crops) and over the working region, {model}'s output "
        f"has {_fmt(ratio, '.2f', 'x')} the spectral energy of bicubic interpolation beyond the input's Nyquist "
        f"frequency ({_pct(tex.hf_share_rcan)} of its energy against {_pct(tex.hf_share_bicubic)}). {verdict}."
    )
    if o is not None:
        text += (
            f" Against the original ({o.size[0]}x{o.size[1]}, downscaled x{a.scale} and enlarged again, Y channel, "
            f"{a.scale}-pixel border shaved as in {RCAN}'s test code): bicubic {o.psnr_bicubic:.2f} dB / SSIM "
            f"{o.ssim_bicubic:.4f}, {model} {o.psnr_rcan:.2f} dB / SSIM {o.ssim_rcan:.4f} (*error maps*)."
        )
    return text + "\n"


def explainer_markdown(analysis: BaseAnalysis) -> str:
    """The full explainer: task, workflow, why textures survive (with this run's numbers), and sources."""
    inside = [_modulation(analysis)] if analysis.model_name == "SAFMN" else [_attention(analysis), _views(analysis)]
    return "\n".join([
        _task(analysis),
        _workflow(analysis),
        "## Why the textures survive: what the figures show\n",
        *inside,
        _texture(analysis),
        "## Papers and tools\n",
        SOURCES,
    ])
