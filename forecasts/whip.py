"""Whip counts: how many members back a bill, with an interval that respects correlated errors.

Members' errors are not independent: when a bill turns out more (or less) popular than its features say,
many members move at once. Each simulation draws one bill-level shock z ~ N(0, 1) and shifts every member's
log-odds by ``scale * z``. ``scale`` is fitted by maximum likelihood on the backtest's measures (their
votes, integrated over the shock by Gauss-Hermite quadrature), and the intervals' coverage is checked there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.logodds import expit, logit
from pipeline.ids import SEATS

NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(40)  # for E over z ~ N(0, 1)
WEIGHTS = WEIGHTS / WEIGHTS.sum()


CLIP = 1e-6  # probabilities kept off 0 and 1, where log-odds are infinite


def _shifted(p: np.ndarray, shocks: np.ndarray) -> np.ndarray:
    """P(Yea) of every member (columns) under each shock (rows)."""
    return expit(logit(np.clip(p, CLIP, 1 - CLIP))[None, :] + shocks[:, None])


def measure_log_likelihood(p: np.ndarray, y: np.ndarray, scale: float) -> float:
    """log P(the votes of one measure) with the shared shock integrated out."""
    q = np.clip(_shifted(p, scale * NODES), 1e-12, 1 - 1e-12)
    per_node = (y * np.log(q) + (1 - y) * np.log(1 - q)).sum(axis=1)
    top = per_node.max()
    return float(top + np.log((WEIGHTS * np.exp(per_node - top)).sum()))


def fit_shock_scale(backtest: pd.DataFrame, probability: str = "p_xgboost") -> float:
    """The bill-level shock scale (log-odds) that makes the backtest's votes most likely."""
    groups = [(g[probability].to_numpy(), g["voted_yea"].to_numpy()) for _, g in backtest.groupby("measure_id")]

    def negative(scale: float) -> float:
        return -sum(measure_log_likelihood(p, y, scale) for p, y in groups)

    from scipy.optimize import minimize_scalar  # the predict stage fits the scale; forecasts only read it

    return float(minimize_scalar(negative, bounds=(0.0, 6.0), method="bounded").x)


def simulate_supporters(p: np.ndarray, scale: float, draws: int = 20000, seed: int = 0) -> np.ndarray:
    """Number of supporters in each of ``draws`` simulations of the bill. A member backs the bill in a draw
    when a uniform u < expit(logit(p) + shock), written as u * (1 + odds against * exp(-shock)) < 1: the same
    draws as the logistic, without a logarithm and an exponential per member and draw."""
    rng = np.random.default_rng(seed)
    shocks = scale * rng.standard_normal(draws)
    clipped = np.clip(p, CLIP, 1 - CLIP)
    odds_against = (1 - clipped) / clipped
    supporters = np.zeros(draws, dtype=np.int64)
    # draws at a time (the uniforms come in the same order whatever the chunk): buffers of a House chunk stay
    # within the processor's cache, which makes the passes over them a sixth faster than at 2,000 draws
    chunk = max(1, min(500, draws))
    against, uniform = np.empty((chunk, len(p))), np.empty((chunk, len(p)))
    backs = np.empty((chunk, len(p)), dtype=bool)
    for start in range(0, draws, chunk):
        rows = slice(0, min(chunk, draws - start))
        np.multiply.outer(np.exp(-shocks[start : start + chunk]), odds_against, out=against[rows])
        rng.random(out=uniform[rows])
        np.add(against[rows], 1, out=against[rows])
        np.multiply(uniform[rows], against[rows], out=uniform[rows])
        np.less(uniform[rows], 1, out=backs[rows])
        supporters[start : start + chunk] = np.count_nonzero(backs[rows], axis=1)
    return supporters


def thresholds(chamber: str, members: int) -> dict[str, int]:
    """Votes needed with every sitting voting member voting (vacancies lower the bar): majority, two-thirds
    (suspension of the rules in the House, treaties and veto overrides), and cloture (three-fifths of the
    Senate's sworn members: 60)."""
    needed = {"simple_majority": members // 2 + 1, "two_thirds": math.ceil(2 * members / 3)}
    if chamber == "senate":
        needed["cloture_60"] = math.ceil(0.6 * members) if members != 100 else 60
    return needed


TWO_THIRDS_VOTES = {"suspension", "treaty", "veto_override"}  # decided by two-thirds of those voting


def deciding_threshold(procedure: str, needed: dict[str, int]) -> str:
    """Which of ``thresholds``' bars decides a vote of this procedure: two-thirds for a suspension of the rules, a
    treaty or a veto override, three-fifths of the Senate for cloture, else a majority of those voting."""
    if procedure in TWO_THIRDS_VOTES:
        return "two_thirds"
    if procedure == "cloture" and "cloture_60" in needed:
        return "cloture_60"
    return "simple_majority"


def whip_count(
    p: np.ndarray,
    chamber: str,
    scale: float,
    committed: np.ndarray | None = None,
    draws: int = 20000,
    seed: int = 0,
) -> dict:
    """The count over the chamber's sitting voting members ``p``. Sponsors and cosponsors on record
    (``committed``) count as supporters in every simulation; their model P(Yea) stays in ``expected_by_model``.
    Figures are rounded so that a rerun writes identical files."""
    committed = np.zeros(len(p), dtype=bool) if committed is None else np.asarray(committed, dtype=bool)
    counted = np.where(committed, 1.0, p)
    supporters = int(committed.sum()) + simulate_supporters(p[~committed], scale, draws, seed)
    low, high = np.percentile(supporters, [5, 95])
    needed = thresholds(chamber, len(p))
    return {
        "seats": SEATS[chamber],
        "members": int(len(p)),
        "vacancies": max(SEATS[chamber] - int(len(p)), 0),
        "committed": int(committed.sum()),
        "expected_supporters": round(float(counted.sum()), 2),
        "expected_by_model": round(float(p.sum()), 2),
        "interval_90": [int(low), int(high)],
        "likely_supporters": int((counted >= 0.5).sum()),
        "swing": int(((p >= 0.25) & (p <= 0.75) & ~committed).sum()),
        "thresholds": needed,
        "p_pass": {name: round(float((supporters >= votes).mean()), 4) for name, votes in needed.items()},
        "shock_scale": round(scale, 4),
        "distribution": np.bincount(supporters, minlength=len(p) + 1).tolist(),
    }


def interval_coverage(backtest: pd.DataFrame, probability: str = "p_xgboost", draws: int = 4000) -> dict:
    """Share of backtest measures whose actual Yea count fell inside the 90% interval. The shock scale used
    for each cut year is fitted on the other years only; independent coin flips (scale 0) for comparison."""
    inside: dict[str, list[bool]] = {"shared_shock": [], "independent": []}
    scales = {}
    for cut, part in backtest.groupby("cut"):
        others = backtest[backtest["cut"] != cut]
        scales[int(cut)] = fit_shock_scale(others, probability) if not others.empty else 0.0
        for number, (_, group) in enumerate(part.groupby("measure_id")):
            actual = group["voted_yea"].sum()
            for name, scale in (("shared_shock", scales[int(cut)]), ("independent", 0.0)):
                counts = simulate_supporters(group[probability].to_numpy(), scale, draws, seed=number)
                low, high = np.percentile(counts, [5, 95])
                inside[name].append(bool(low <= actual <= high))
    return {
        "coverage_90_shared_shock": round(float(np.mean(inside["shared_shock"])), 4),
        "coverage_90_independent": round(float(np.mean(inside["independent"])), 4),
        "measures": len(inside["shared_shock"]),
        "shock_scale_by_held_out_cut": {cut: round(scale, 4) for cut, scale in scales.items()},
    }
