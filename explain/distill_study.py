"""How much data do textures need? The dataset-distillation study's chart and finding, for the learner.

The numbers are bench/results/distill_study.json, written by `python -m sr_core study` (sr_core/tools/study.py):
one small SAFMN trained per arm with one protocol, on the full training set or on 8.88% of its patches
(the share of Dietz et al., arXiv 2502.03656), scored on Set5 and Set14 with the paper's protocol.
This module only reads that record: the chart is PSNR against the share of the training data.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sr_core.models import recipe_architecture
from sr_core.protocol import SOURCE as PROTOCOL_SOURCE
from sr_core.tools.distill import PAPER_KEEP
from sr_core.tools.study import ROW_KEYS

STUDY_JSON = Path(__file__).resolve().parents[1] / "bench" / "results" / "distill_study.json"
# Gaps smaller than this count as "about as well": the full arm trained again with seed 1 scored 0.13 dB (Set5)
# and 0.09 dB (Set14) below seed 0 (bench/results/distill_study_seed1/distill_study.json), so a second training
# seed alone moves a result this much.
NOISE_DB = 0.13
# Texture and gradient share one x; drawn a little apart so that neither hides the other (hover: the true share).
DODGE = {"texture": 0.94, "gradient": 1.06}
MIN_SPAN_DB = 1.0  # the PSNR axis spans at least this, so that hundredths of a dB do not look like a cliff
SETS = (("set5", "Set5"), ("set14", "Set14"))
COMMAND = ("python -m sr_core study --data T91 BSD200 General100 --eval Set5 Set14 --steps 6000 "
           "--extra-keep 0.025")  # the folders are those of ../shared/data/sr (docs/studies.md: the full line)
# How each kind of arm is drawn: the random shares (and the full set) as one curve, the chosen subsets as marks.
STYLES = {
    "random": dict(name="random share (and the full set)", color="#495057", symbol="circle"),
    "texture": dict(name="texture 8.88%: the patches bicubic loses most", color="#e8590c", symbol="diamond"),
    "gradient": dict(name="gradient 8.88%: synthetic patches, gradient matching", color="#3b5bdb", symbol="square"),
}


def load_study(path: Path = STUDY_JSON) -> list[dict]:
    """The study's rows, checked; FileNotFoundError when absent, ValueError when malformed or without the full arm."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty list of rows")
    for row in rows:
        missing = [key for key in ROW_KEYS if key not in row]
        if missing:
            raise ValueError(f"{path}: arm {row.get('arm', '?')!r} lacks {', '.join(missing)}")
    if not any(row["arm"] == "full" for row in rows):
        raise ValueError(f"{path}: no 'full' arm to compare with")
    return rows


def kind(row: dict) -> str:
    """'texture' or 'gradient' for those subsets; 'random' for the random shares and the full set."""
    return row["arm"] if row["arm"] in ("texture", "gradient") else "random"


def gaps(rows: list[dict]) -> dict[str, dict[str, float]]:
    """dB each arm scores above (+) or below (-) the full set, per test set, for every arm but the full one."""
    full = next(row for row in rows if row["arm"] == "full")
    return {row["arm"]: {key: row[f"{key}_psnr"] - full[f"{key}_psnr"] for key, _ in SETS}
            for row in rows if row["arm"] != "full"}


def trained(rows: list[dict]) -> str:
    """The architecture the study trained (every arm the same recipe)."""
    return recipe_architecture(rows[0]["config"]).name


def _signed(db: float) -> str:
    return f"{db:+.2f}".replace("-", "−")


def finding(rows: list[dict]) -> str:
    """What the study found, in one plain sentence with its numbers (gaps to the full set, Set5/Set14)."""
    full = next(row for row in rows if row["arm"] == "full")
    gap = gaps(rows)
    subsets = [row["arm"] for row in rows if row["arm"] in gap and abs(row["keep"] - PAPER_KEEP) < 1e-9]
    if not subsets:
        return f"Only the full training set has been trained so far ({full['set5_psnr']:.2f} dB on Set5)."
    worst = min(gap[arm][key] for arm in subsets for key, _ in SETS)
    verdict = "about as well as" if worst > -NOISE_DB else "worse than"
    per_arm = ", ".join(f"{arm} {_signed(gap[arm]['set5'])} / {_signed(gap[arm]['set14'])} dB" for arm in subsets)
    return (f"A small {trained(rows)} trained on only 8.88% of the training patches, for the same {full['steps']:,} steps, "
            f"scored {verdict} one trained on all of them (Set5 / Set14 against the full set: {per_arm}; "
            f"another training seed alone moves the full set by up to {NOISE_DB:.2f} dB).")


def caption(rows: list[dict]) -> str:
    """How the numbers were made and how this differs from the paper, under the chart."""
    config = rows[0]["config"]
    return (
        f"Made with `{COMMAND}` (bench/results/distill_study.json; each row reproduced by "
        f"`python -m sr_core evaluate Set5 Set14 --weights CHECKPOINT`) on a 2-core AMD EPYC CPU, one thread per arm. "
        f"Every arm: the same `{config}` recipe (a 56,643-parameter {trained(rows)}), seed, steps and schedule; "
        f"PSNR on the Y channel, x3, the {PROTOCOL_SOURCE} paper's protocol; Set5 and Set14 are never trained on. "
        "The share is of the candidate 144 px patches; in pixels, 8.88% of them are 6.7% of the full images. "
        "Unlike the paper (arXiv 2502.03656): x3 instead of x2 and x4, T91 + BSD200 + General100 instead of DIV2K, "
        f"a small {trained(rows)} instead of its models, and no latent-space (generator) arm. One seed per arm: the "
        "full arm trained again with seed 1 scored 0.13 dB (Set5) and 0.09 dB (Set14) lower, so smaller gaps are noise."
    )


def distill_study_figure(rows: list[dict]) -> go.Figure:
    """PSNR against the share of the training data (log scale), Set5 left, Set14 right."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in SETS], horizontal_spacing=0.12)
    add_study_panels(fig, rows, row=1, cols={key: col for col, (key, _) in enumerate(SETS, start=1)})
    fig.update_layout(
        title=f"How much data do textures need? One small {trained(rows)} per arm, same steps",
        height=440, font=dict(size=12), margin=dict(l=60, r=20, t=70, b=110),
        legend=dict(orientation="h", x=0, xanchor="left", y=-0.25, yanchor="top"),
    )
    return fig


def add_study_panels(fig: go.Figure, rows: list[dict], row: int, cols: dict[str, int]) -> None:
    """The study's points into `fig`'s panels (row, cols[set]) for each test set named ("set5", "set14"): PSNR against
    the share of the training data (log scale), each point with an error bar of the seed noise (NOISE_DB): a
    second training seed alone moved the full set that much, so gaps inside the bars are no measurable difference."""
    shares = sorted({100 * r["keep"] for r in rows})
    first = min(cols.values())
    for key, col in cols.items():
        for name, style in STYLES.items():
            chosen = sorted((r for r in rows if kind(r) == name), key=lambda r: r["keep"])
            if not chosen:
                continue
            fig.add_trace(go.Scatter(
                x=[100 * r["keep"] * DODGE.get(name, 1.0) for r in chosen], y=[r[f"{key}_psnr"] for r in chosen],
                mode="lines+markers" if name == "random" else "markers", name=style["name"],
                legendgroup=name, showlegend=col == first,
                line=dict(color=style["color"], dash="dot"),
                marker=dict(color=style["color"], symbol=style["symbol"], size=11),
                error_y=dict(type="constant", value=NOISE_DB, color=style["color"], thickness=1.5, width=4),
                text=[r["arm"] for r in chosen],
                customdata=[[r[f"{key}_ssim"], r["steps"], r["seconds"], 100 * r["keep"]] for r in chosen],
                hovertemplate=("<b>%{text}</b>: %{customdata[3]:.2f}% of the data<br>PSNR %{y:.2f} dB "
                               f"(± {NOISE_DB:.2f} dB seed noise), SSIM %{{customdata[0]:.4f}}"
                               "<br>%{customdata[1]:,} steps, %{customdata[2]:,.0f} s of training<extra></extra>"),
            ), row=row, col=col)
        fig.update_xaxes(type="log", title_text="share of the training data (%, log scale)", row=row, col=col,
                         tickvals=shares, ticktext=[f"{share:g}%" for share in shares],
                         range=[math.log10(min(shares)) - 0.15, math.log10(max(shares)) + 0.15])
        values = [r[f"{key}_psnr"] for r in rows]
        middle = (max(values) + min(values)) / 2
        half = max(MIN_SPAN_DB, max(values) - min(values) + 2 * NOISE_DB + 0.2) / 2
        fig.update_yaxes(title_text=f"PSNR on {dict(SETS)[key]} (dB)", range=[middle - half, middle + half],
                         row=row, col=col)


def study_section(path: Path = STUDY_JSON) -> tuple[go.Figure | None, str]:
    """(chart, markdown under it: the finding, then the caption) for the app and the report; without a usable
    record, no chart and a line saying how to make it."""
    try:
        rows = load_study(path)
    except (FileNotFoundError, ValueError) as exc:
        return None, f"*No dataset-distillation record ({exc}); `{COMMAND}` writes it.*"
    return distill_study_figure(rows), f"**{finding(rows)}**\n\n{caption(rows)}"
