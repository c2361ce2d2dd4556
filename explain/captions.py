"""Every figure's title and its "how to read this figure" caption, one copy for the app's tabs and the report."""
from __future__ import annotations

# Figure titles, by the figures' stable keys (explain.analysis.build_figures).
CAPTIONS = {
    "texture_evidence": "Ground truth and texture evidence: original | bicubic | the network, and their spectra",
    "original_errors": "Error maps against the original (border shaved as in the protocol)",
    "retrained": "Cause and effect: the same spot enlarged by networks retrained without one part each",
    "retrained_effects": "Cause and effect: what removing each part costs on textured tiles, with 95% intervals",
    "depth": "Experiment: depth, the network with only its first k groups or blocks",
    "ablation": "Knock-out: attention off (SAFMN: modulation off) in the trained network, damage not contribution",
    "added_detail": "Experiment: added detail, what the network adds over bicubic",
    "attention_heatmap": "Attention heatmap: the channel-attention gates of the whole photo's enlargement",
    "safm_modulation": "SAFM modulation: where each SAFMN block amplifies or suppresses features",
    "boosted_channels": "The most boosted channels of one block",
    "texture_map": "Texture map: where the texture channels' gates would be higher",
    "feature_views": "Feature views (FeatSharp-style)",
    "feature_view_metrics": "Feature views, scored",
    "workflow": "Workflow: input -> model -> output",
    "photo": "Your photo and its enlargement",
    "training_data": "What the network learned from: the kind and amount of training data",
}
STUDY_CAPTION = "How much data do textures need? The dataset-distillation study"

# How to read each figure, in words for a visitor, by the same keys.
HOW_TO_READ: dict[str, str] = {
    "texture_evidence": (
        "The same spot enlarged by bicubic and by the network, and, with the original, the original itself; right, "
        "their spectra (finer detail to the right). A network curve close to the original's is real detail; one "
        "above it is invented detail; right of the dashed line is detail the small photo could not hold. The crops "
        "share one brightness scale: brighter is lighter in the photo."
    ),
    "original_errors": (
        "Only with “I have the original”: where each method is wrong against the real photo, in brightness levels "
        "(Y channel, 0..255; brighter = larger error), with the protocol's border left out, and PSNR and SSIM as in "
        "the RCAN paper."
    ),
    "retrained": (
        "Each crop is the same spot enlarged by a different network, all trained with one recipe: the network "
        "fine-tuned as it is (the control), then retrained without one part each; the control again with another "
        "seed shows what chance alone changes. Compare each crop with the control. Under each: PSNR against the "
        "original (higher is closer; needs the original) and fine-detail energy as a multiple of bicubic's."
    ),
    "retrained_effects": (
        "For each part, how many dB of PSNR on the most textured tiles the network loses when it is retrained "
        "without it (above 0: the part keeps textures). The bar is the 95% interval: it counts the spread over tiles "
        "and what a second training seed alone moved. A bar that crosses 0 means no measurable difference."
    ),
    "depth": (
        "Experiment: the same network run with only its first k residual groups (RCAN) or blocks (SAFMN); the "
        "skipped ones are bypassed by the skip connection. Top, the spot above for each k; below left, fine-detail "
        "energy against k (the dotted line: the original's); below right, PSNR against the original, when known. "
        "Where a curve flattens, more depth adds little."
    ),
    "ablation": (
        "Knock-out: the trained network with its channel attention (RCAN) or modulation (SAFMN) switched off at run "
        "time. Its other weights were trained with that part, so this shows the damage, not what the part "
        "contributes (the retrained networks above answer that). Top, the altered pictures; below, how much each "
        "pixel's brightness changed, on one scale for every map: bright = a large change, dark = none."
    ),
    "added_detail": (
        "Experiment: the network's output minus bicubic's, in brightness levels (0..255): red where the network "
        "made a pixel brighter than bicubic, blue where darker, white where they agree; the stronger the colour, "
        "the larger the change. This is the detail the network adds, and where."
    ),
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
    "safm_modulation": (
        "Where SAFMN's multi-scale modulation amplifies or suppresses features. Each panel is one block: its SAFM "
        "layer computes, for every pixel and channel, a factor m (GELU of features pooled at 1, ½, ¼ and ⅛ size) that "
        "multiplies the normalised features it adds back. Shown is |m| averaged over channels, on one colour scale "
        "for every block: bright where a block scales its features up most, dark where least. The texture effect "
        "is mean |m| on textured minus flat 16-pixel tiles."
    ),
    "photo": (
        "Left, the pixels the network received, each drawn as a square; right, what it made of them, three times "
        "larger each way. Everything on the right that is not on the left was predicted."
    ),
    "training_data": (
        "Top: the same spot enlarged by networks that differ only in what they learned from (trained on textured "
        "or on flat patches only; for a JPEG photo also the network trained on clean photos against the one trained "
        "on JPEGs). Below: PSNR of small networks trained on a share of the training data; the bars show what a "
        "second training seed alone moves, so gaps inside them are no measurable difference."
    ),
    "workflow": (
        "One box per step of the run, top to bottom, with the shape of what it produced on the working region "
        "and, beside it, the time it took: the long bars are where the seconds go."
    ),
}
