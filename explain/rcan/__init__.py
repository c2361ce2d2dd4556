"""RCAN's explainer: channel attention, feature views, depth and attention-off experiments, and the channel
explorer (any channel of any block, its gate, and the output with that gate set to 0)."""
from __future__ import annotations

import numpy as np
from torch import nn

from explain.explainers import Control, Explainer, View
from explain.rcan.analysis import analyze
from explain.rcan.capture import recording_gates
from explain.rcan.channel_view import channel_view
from explain.rcan.figures import channel_view_figure, rcan_figures
from explain.rcan.stages import rcan_stages
from explain.rcan.text import (CAPTIONS, FIGURES_AFTER, GLOSSARY, GLOSSARY_ALIASES, HOW_TO_READ, SOURCES,
                               channel_view_text, gates_summary, rcan_markdown)
from sr_core.models.rcan import RCAN

OWN_FIGURES = ("attention_heatmap", "boosted_channels", "texture_map", "feature_views", "feature_view_metrics")


def channel_counts(model: nn.Module) -> tuple[int, int, int] | None:
    """The highest group, block and channel the channel explorer offers for `model`; None for a non-RCAN."""
    if not isinstance(model, RCAN):
        return None
    return model.config.n_resgroups, model.config.n_resblocks, model.config.n_feats - 1


def channel_start(metrics: dict) -> tuple[tuple[int, int], ...] | None:
    """After an RCAN explanation: span its groups, blocks and channels, and start on the channel it boosts most in
    the block it chose; None otherwise."""
    config = metrics.get("model", {}).get("config", {})
    chosen = metrics.get("attention", {}).get("chosen_block")
    if "n_resgroups" not in config or not chosen:
        return None
    return ((config["n_resgroups"], chosen["group"]), (config["n_resblocks"], chosen["block"]),
            (config["n_feats"] - 1, chosen["most_boosted_channels"][0]))


def explore_channel(model: nn.Module, rgb: np.ndarray, group: object, block: object, channel: object,
                    focus: tuple[int, int] | None = None) -> tuple:
    """The linked channel view: its figure, its readout (markdown, without tooltips) and its numbers, on the
    explanation's working region. ValueError names a bad choice (or a model without channel attention)."""
    view = channel_view(model, rgb, group, block, channel, focus)
    return channel_view_figure(view), channel_view_text(view), view.to_dict()


CHANNEL_EXPLORER = View(
    key="channel",
    after="boosted_channels",
    heading="Any channel, any block: choose one",
    plot_label="The chosen channel over the photo, and its gate among the block's",
    empty_text="*Explain a photo (RCAN) to look at any channel of any block here.*",
    plot_id="plot-channel-view",
    text_id="channel-readout",
    controls=(Control("group", "Residual group", "the heatmap's G number", 1, "channel-group"),
              Control("block", "Block in the group", "the heatmap's B number", 1, "channel-block"),
              Control("channel", "Channel", "the heatmap's column", 0, "channel-index")),
    highest=channel_counts,
    start=channel_start,
    explore=explore_channel,
)

EXPLAINER = Explainer(
    arch="RCAN",
    model_type=RCAN,
    analyze=analyze,
    figures=rcan_figures,
    markdown=rcan_markdown,
    stages=rcan_stages,
    first_figure="attention_heatmap",
    heading="Inside RCAN: channel attention",
    captions=CAPTIONS,
    how_to_read=HOW_TO_READ,
    ablation="attention_off",
    ablation_label="Attention off",
    glossary=GLOSSARY,
    own_slots=OWN_FIGURES[1:],
    summary_lines=gates_summary,
    record=recording_gates,
    views=(CHANNEL_EXPLORER,),
    figures_after=FIGURES_AFTER,
    glossary_aliases=GLOSSARY_ALIASES,
    sources=SOURCES,
    colour="#3b5bdb",
)
