"""The title and the "how to read this figure" caption of every figure all models share, one copy for the app's tabs
and the report; each architecture keeps its own figures' words (explain/<arch>/text.py, registered in its explainer)."""
from __future__ import annotations

from sr_core.protocol import SOURCE as PROTOCOL_SOURCE

# Figure titles, by the figures' stable keys (explain.analysis.build_figures).
CAPTIONS = {
    "texture_evidence": "Ground truth and texture evidence: original | bicubic | the network, and their spectra",
    "original_errors": "Error maps against the original (border shaved as in the protocol)",
    "retrained": "Cause and effect: the same spot enlarged by networks retrained without one part each",
    "retrained_effects": "Cause and effect: what removing each part costs on textured tiles, with 95% intervals",
    "depth": "Experiment: depth, the network with only its first k groups or blocks",
    "ablation": "Knock-out: the model's own mechanism switched off in the trained network, damage not contribution",
    "added_detail": "Experiment: added detail, what the network adds over bicubic",
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
        f"the {PROTOCOL_SOURCE} paper."
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
        "Experiment: the same network run with only its first k residual groups or blocks; the "
        "skipped ones are bypassed by the skip connection. Top, the spot above for each k; below left, fine-detail "
        "energy against k (the dotted line: the original's); below right, PSNR against the original, when known. "
        "Where a curve flattens, more depth adds little."
    ),
    "ablation": (
        "Knock-out: the trained network with its own mechanism (channel attention, modulation) switched off at run "
        "time. Its other weights were trained with that part, so this shows the damage, not what the part "
        "contributes (the retrained networks above answer that). Top, the altered pictures; below, how much each "
        "pixel's brightness changed, on one scale for every map: bright = a large change, dark = none."
    ),
    "added_detail": (
        "Experiment: the network's output minus bicubic's, in brightness levels (0..255): red where the network "
        "made a pixel brighter than bicubic, blue where darker, white where they agree; the stronger the colour, "
        "the larger the change. This is the detail the network adds, and where."
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
