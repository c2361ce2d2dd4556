"""The quality-versus-time chart's content: the record, and the measurements of the models a server serves.

The record: PSNR on Set5 x3 against milliseconds per output megapixel, for the bundled models (measured on one
machine) and the full-size published ones (published PSNR, speed measured there). `bench/quality_vs_time.py`
writes it; the file ships in the repo, so the app draws the chart before anything is measured. Once the served
models are measured on the server (explain/served_quality.py), the chart and the trade-off line say what they
measured, with the record kept in its own panel (explain/quality_chart.py draws both).
"""
from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go

from explain.quality_chart import quality_vs_time_figure, served_quality_figure
from explain.served_quality import served_caption, served_tradeoff

QUALITY_VS_TIME = Path(__file__).resolve().parent / "quality_vs_time.json"
POINT_KEYS = ("label", "arch", "kind", "psnr_set5", "ms_per_mp", "n_params", "psnr_source", "speed_source")
KINDS = ("measured", "published")


def load_quality_vs_time(path: Path = QUALITY_VS_TIME) -> dict:
    """The record, checked: every point has POINT_KEYS and a kind in KINDS, and the machine is described.

    Raises FileNotFoundError when the file is absent and ValueError when it is malformed."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for key in ("cpu", "threads", "torch", "date"):
        if key not in data.get("machine", {}):
            raise ValueError(f"{path}: machine.{key} is missing")
    points = data.get("points") or []
    if not points:
        raise ValueError(f"{path}: no points")
    for point in points:
        missing = [key for key in POINT_KEYS if key not in point]
        if missing:
            raise ValueError(f"{path}: point {point.get('label', '?')!r} lacks {', '.join(missing)}")
        if point["kind"] not in KINDS:
            raise ValueError(f"{path}: point {point['label']!r} has kind {point['kind']!r}, not one of {KINDS}")
    return data


def quality_caption(data: dict) -> str:
    """One markdown paragraph under the chart, for visitors: how to read it, what was measured on what machine,
    and the published sources (the script and its JSON keys are for the README, not here)."""
    machine = data["machine"]
    sources = sorted({p["psnr_source"] for p in data["points"] if p["kind"] == "published"})
    return (
        "**How to read it:** up is better quality, left is faster. Quality is PSNR in decibels on the five Set5 "
        "test photos shrunk ×3 and enlarged back, compared with the originals (brightness only, as in the "
        "papers); +1 dB is a clearly visible gain. Time is how long the model takes per megapixel of output on "
        f"this server's processor ({machine['cpu']}, {machine['threads']} threads, measured "
        f"{machine['date'][:10]}); a 400×266 photo gives about 1 megapixel. Filled circles are the small models "
        "this app runs; open diamonds are the full-size models of the papers, with their published quality "
        f"({'; '.join(sources)})."
    )


def tradeoff_line(quality: dict | None, served: list[dict] | None = None) -> str:
    """The trade-off in one line under the model choice: from the served models' measurements on this server when
    there are any (explain.served_quality.served_tradeoff), else from the record's measured points: the fastest
    model against the one that scores highest."""
    if sum(p["role"] == "choice" for p in served or []) >= 2:
        return served_tradeoff(served)
    measured = [p for p in (quality or {}).get("points", []) if p["kind"] == "measured"]
    if len(measured) < 2:
        return "The chart under Workflow & sources compares the models' quality and speed."
    best = max(measured, key=lambda p: p["psnr_set5"])
    fastest = min(measured, key=lambda p: p["ms_per_mp"])
    if best is fastest:
        return (f"Measured once on the bundled models: {best['arch']} scores highest on Set5 and runs fastest "
                "(the chart under Workflow & sources measures the models served here).")
    speedup, gain = best["ms_per_mp"] / fastest["ms_per_mp"], best["psnr_set5"] - fastest["psnr_set5"]
    return (f"Measured once on the bundled models: {fastest['arch']} runs {speedup:.1f}× faster; {best['arch']} "
            f"scores {gain:.2f} dB higher on Set5 (the chart under Workflow & sources measures the models served "
            "here).")


def quality_section(served: list[dict] | None = None,
                    path: Path = QUALITY_VS_TIME) -> tuple[go.Figure | None, str, dict | None]:
    """(chart, its caption, the record) for the app: the `served` models' measurements beside the record when
    there are any, else the record alone; with neither, no chart and a line saying how to make the record."""
    try:
        data = load_quality_vs_time(path)
    except (FileNotFoundError, ValueError) as exc:
        if served:
            return served_quality_figure(served, None), served_caption(served, with_record=False), None
        return None, f"*No quality-versus-time record ({exc}); `python bench/quality_vs_time.py` writes it.*", None
    if served:
        return served_quality_figure(served, data), served_caption(served), data
    return quality_vs_time_figure(data), quality_caption(data), data
