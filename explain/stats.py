"""Effect sizes with their uncertainty, so that no text claims a trend that the data cannot carry.

An effect here is "mean on the most textured tiles minus mean on the flattest tiles", given absolutely (in the
quantity's own units) and relative to the flat mean, with a percentile bootstrap interval over tiles: tiles are
resampled with replacement within each group, which asks how much the difference would move had the photo had
other tiles of the same kind. A trend is claimed only when the interval excludes zero, over at least MIN_TILES tiles in each group.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95
MIN_TILES = 5  # fewer tiles per group than this, and a bootstrap interval means little: no claim at all
NEGLIGIBLE = 0.02  # a relative difference below 2% is called negligible even when it exceeds its uncertainty


@dataclass(frozen=True)
class Effect:
    textured: float  # mean over the most textured tiles
    flat: float  # mean over the flattest tiles
    difference: float  # textured - flat, in the quantity's units
    relative: float  # difference / |flat| (NaN when flat is 0)
    low: float  # bootstrap interval of the difference
    high: float
    n_textured: int
    n_flat: int

    @property
    def exceeds_uncertainty(self) -> bool:
        """True when the interval lies entirely on one side of zero, over at least MIN_TILES tiles per group: only
        then is a direction claimed."""
        enough = min(self.n_textured, self.n_flat) >= MIN_TILES
        return enough and math.isfinite(self.low) and math.isfinite(self.high) and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict:
        return {**asdict(self), "confidence": CONFIDENCE, "exceeds_uncertainty": self.exceeds_uncertainty}


def texture_effect(values: np.ndarray, high: np.ndarray, low: np.ndarray, seed: int = 0,
                   samples: int = BOOTSTRAP_SAMPLES) -> Effect:
    """The textured-minus-flat effect of per-tile `values` (masks `high`, `low` of the same shape)."""
    a = np.asarray(values, np.float64)[high].ravel()
    b = np.asarray(values, np.float64)[low].ravel()
    if a.size == 0 or b.size == 0:
        nan = float("nan")
        return Effect(nan, nan, nan, nan, nan, nan, int(a.size), int(b.size))
    rng = np.random.default_rng(seed)
    boot = (rng.choice(a, (samples, a.size)).mean(axis=1) - rng.choice(b, (samples, b.size)).mean(axis=1))
    tail = (1 - CONFIDENCE) / 2 * 100
    low_q, high_q = np.percentile(boot, [tail, 100 - tail])
    difference = float(a.mean() - b.mean())
    flat = float(b.mean())
    return Effect(
        textured=float(a.mean()), flat=flat, difference=difference,
        relative=difference / abs(flat) if flat != 0 else float("nan"),
        low=float(low_q), high=float(high_q), n_textured=int(a.size), n_flat=int(b.size),
    )


def effect_verdict(effect: dict) -> str:
    """The words for an effect (its `to_dict()` form): too few tiles, no trend inside the uncertainty,
    "negligible" below NEGLIGIBLE relative size, else its direction."""
    difference, relative = effect["difference"], effect["relative"]
    tiles = min(effect["n_textured"], effect["n_flat"])
    if tiles < MIN_TILES:
        return f"too few tiles ({tiles} per group, fewer than {MIN_TILES}) to claim any trend"
    if difference is None or not effect["exceeds_uncertainty"] or not math.isfinite(difference):
        return "no trend: the interval includes 0"
    if relative is not None and math.isfinite(relative) and abs(relative) < NEGLIGIBLE:
        return f"beyond its uncertainty but negligible (under {100 * NEGLIGIBLE:.0f}% relative)"
    return f"{'higher' if difference > 0 else 'lower'} on textured tiles, beyond its uncertainty"


def correlation_interval(r: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The interval of a Pearson r over n pairs (Fisher's z); (NaN, NaN) when it cannot be had (n < 4, |r| = 1)."""
    if n < 4 or not math.isfinite(r) or abs(r) >= 1:
        return float("nan"), float("nan")
    z, spread = math.atanh(r), 1.959963984540054 / math.sqrt(n - 3)  # the normal quantile of 95%
    if confidence != CONFIDENCE:
        raise ValueError("only the 95% interval is tabulated here")
    return math.tanh(z - spread), math.tanh(z + spread)
