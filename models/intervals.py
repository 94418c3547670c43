"""How much the backtest's figures would move on other roll calls like these: a bootstrap over roll calls.

A backtest of 52 roll calls is a small sample, and a roll call's votes are not independent draws (a party moves
together), so the resampled unit is the roll call with all its votes, drawn within each chamber so that every
resample keeps the backtest's House-Senate mix. Every resample scores all methods on the same roll calls, so the
differences between methods are paired. The intervals tell a reader whether a figure's distance from an issue's bar,
or from a baseline, is larger than what another draw of roll calls would move it by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.metrics import BOOTSTRAPPED, POOLED_BARS, bar_name, measure_parts, meets, resampled


def resample_counts(chambers: pd.Series, draws: int, seed: int) -> np.ndarray:
    """draws x roll calls: how often each roll call (in the order of ``chambers``) is drawn, within its chamber."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((draws, len(chambers)))
    for chamber in sorted(chambers.unique()):
        columns = np.flatnonzero(chambers.to_numpy() == chamber)
        counts[:, columns] = rng.multinomial(len(columns), np.full(len(columns), 1 / len(columns)), size=draws)
    return counts


def interval(values: np.ndarray, level: float) -> list[float]:
    """The central ``level`` interval of the resampled values (draws where a metric is undefined left out; NaN
    when it is undefined in every draw, e.g. a Republican AUC where no roll call split the Republicans)."""
    defined = values[~np.isnan(values)]
    if not len(defined):
        return [float("nan"), float("nan")]
    tail = (1 - level) / 2
    return [float(np.quantile(defined, tail)), float(np.quantile(defined, 1 - tail))]


def roll_call_bootstrap(predictions: pd.DataFrame, methods: list[str], settings: dict) -> dict:
    """Per method and scope (pooled, house, senate) the interval of each bootstrapped metric; per chamber the
    first method's log loss minus each other's; per pooled bar of issue 9 the share of resamples that meet it."""
    chambers = predictions.groupby("measure_id")["chamber"].first().sort_index()
    counts = resample_counts(chambers, int(settings["draws"]), int(settings["seed"]))
    level = float(settings["level"])
    scopes = {"pooled": np.ones(len(chambers))} | {c: (chambers == c).to_numpy(float) for c in chambers.unique()}
    values = {}
    for method in methods:
        parts = measure_parts(predictions.assign(p_yea=predictions[f"p_{method}"]), chambers.index)
        values[method] = {
            scope: {metric: resampled(parts[metric], counts * mask) for metric in BOOTSTRAPPED}
            for scope, mask in scopes.items()
        }
    model, others = methods[0], methods[1:]
    return {
        "resampled": "roll calls with all their votes, within each chamber",
        "draws": int(settings["draws"]),
        "level": level,
        "intervals": {
            method: {scope: {m: interval(v, level) for m, v in by.items()} for scope, by in scopes_of.items()}
            for method, scopes_of in values.items()
        },
        "log_loss_minus_baseline": {
            chamber: {other: _difference(values[model][chamber], values[other][chamber], level) for other in others}
            for chamber in sorted(scopes)
        },
        "share_of_resamples_meeting_bar": {
            bar_name(metric, bar, at_most, spec="g"): _share_meeting(values[model]["pooled"][metric], bar, at_most)
            for metric, (bar, at_most) in POOLED_BARS.items()
            if metric in BOOTSTRAPPED
        },
    }


def _difference(ours: dict, theirs: dict, level: float) -> dict:
    difference = ours["log_loss"] - theirs["log_loss"]
    return {"interval": interval(difference, level), "share_lower": float(np.mean(difference < 0))}


def _share_meeting(values: np.ndarray, bar: float, at_most: bool) -> float:
    """Among the draws where the metric is defined, as ``interval`` counts them (an undefined one neither meets nor
    misses a bar); NaN when there are none."""
    defined = values[~np.isnan(values)]
    if not len(defined):
        return float("nan")
    return float(np.mean(meets(defined, bar, at_most)))
