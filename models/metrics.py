"""How good a set of P(Yea) forecasts was, on the votes that were then cast.

scikit-learn is imported by the scores that use it, not here: a forecast's page draws its calibration chart with
``table_calibration_error`` and should not wait a second for scikit-learn to load.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def reliability_table(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean forecast, observed rate and votes in each non-empty equal-width probability bin."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "p": p, "y": y})
    table = frame.groupby("bin").agg(mean_forecast=("p", "mean"), observed_rate=("y", "mean"), votes=("y", "size"))
    return table.reset_index()


def table_calibration_error(table: pd.DataFrame) -> float:
    """Share-weighted mean |observed rate - mean forecast| over the bins of a reliability table (0 when empty)."""
    votes = table["votes"].sum()
    gaps = (table["observed_rate"] - table["mean_forecast"]).abs()
    return float((gaps * table["votes"]).sum() / votes) if votes else 0.0


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """The calibration error of ``reliability_table``'s equal-width bins."""
    return table_calibration_error(reliability_table(p, y, bins))


def within_party_auc(frame: pd.DataFrame, party: str) -> float:
    """AUC within each (measure, party) group that had both Yeas and Nays, averaged with weights equal to the
    number of Yea-Nay pairs: does the forecast rank which members of the party broke ranks?"""
    parts = within_party_auc_parts(frame, party)
    weight = parts["pairs"].sum()
    return float(parts["auc_times_pairs"].sum() / weight) if weight else float("nan")


def within_party_auc_parts(frame: pd.DataFrame, party: str) -> pd.DataFrame:
    """Per measure, the party's AUC times its Yea-Nay pairs and the pairs (0 where the party did not split)."""
    from sklearn.metrics import roc_auc_score

    rows = {}
    for measure, group in frame[frame["party"] == party].groupby("measure_id"):
        yeas = int(group["voted_yea"].sum())
        pairs = yeas * (len(group) - yeas)
        auc = roc_auc_score(group["voted_yea"], group["p_yea"]) if pairs else 0.0
        rows[measure] = (auc * pairs, float(pairs))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["auc_times_pairs", "pairs"])


def defectors_found(frame: pd.DataFrame) -> tuple[float, int]:
    """Of the members who voted against their party's majority, how many are among the k members the forecast
    thought likeliest to break (k = number who actually broke, per measure and party). Members tied at the
    k-th score share the remaining places (expected hits under a random order), so a forecast that does not
    tell members apart gets chance credit, not the luck of the row order."""
    found, total = 0.0, 0
    for _, group in frame[frame["party"].isin(["R", "D"])].groupby(["measure_id", "party"]):
        majority_yea = group["voted_yea"].mean() > 0.5
        defected = (group["voted_yea"] != majority_yea).to_numpy()
        k = int(defected.sum())
        if k == 0 or k == len(group):
            continue
        breaking = (1 - group["p_yea"] if majority_yea else group["p_yea"]).to_numpy()
        threshold = np.sort(breaking)[::-1][k - 1]
        above, at = breaking > threshold, breaking == threshold
        places_left = k - int(above.sum())
        found += defected[above].sum() + defected[at].sum() * places_left / at.sum()
        total += k
    return found, total


def headline_score(frame: pd.DataFrame, bins: int = 10) -> dict[str, float]:
    """The metrics that need no per-measure loop (for scoring millions of votes on thousands of roll calls)."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = frame["voted_yea"].to_numpy().astype(int)
    p = np.clip(frame["p_yea"].to_numpy(dtype=float), 1e-6, 1 - 1e-6)
    return {
        "votes": int(len(frame)),
        "measures": int(frame["measure_id"].nunique()),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "roc_auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "ece": expected_calibration_error(p, y, bins),
    }


def party_level_error(frame: pd.DataFrame) -> float:
    """Mean absolute difference between the forecast and the actual Yea share of each party (R, D) on each
    roll call: how far off the forecast was where whole parties move, whatever it got right member by member."""
    parts = party_level_error_parts(frame)
    cells = parts["cells"].sum()
    return float(parts["gap_sum"].sum() / cells) if cells else float("nan")


def party_level_error_parts(frame: pd.DataFrame) -> pd.DataFrame:
    """Per measure, the sum of |forecast - actual Yea share| over its (R, D) cells and the number of cells."""
    parties = frame[frame["party"].isin(["R", "D"])]
    shares = parties.groupby(["measure_id", "party"])[["p_yea", "voted_yea"]].mean()
    gaps = (shares["p_yea"] - shares["voted_yea"]).abs().groupby(level="measure_id")
    return pd.DataFrame({"gap_sum": gaps.sum(), "cells": gaps.size().astype(float)})


def score(frame: pd.DataFrame, bins: int = 10) -> dict[str, float]:
    """Metrics of the forecasts ``p_yea`` against ``voted_yea``; NaN where a metric is undefined."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    if frame.empty:
        return {}
    y = frame["voted_yea"].to_numpy().astype(int)
    p = np.clip(frame["p_yea"].to_numpy(dtype=float), 1e-6, 1 - 1e-6)
    found, total = defectors_found(frame)
    return {
        "votes": int(len(frame)),
        "measures": int(frame["measure_id"].nunique()),
        "accuracy": float(((p > 0.5) == y).mean()),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "roc_auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "within_party_auc_R": within_party_auc(frame, "R"),
        "within_party_auc_D": within_party_auc(frame, "D"),
        "ece": expected_calibration_error(p, y, bins),
        "party_level_error": party_level_error(frame),
        "defectors": total,
        "defectors_in_top_k": round(float(found), 2),
        "defector_recall_at_k": float(found / total) if total else float("nan"),
    }


def log_loss_parts(frame: pd.DataFrame) -> pd.DataFrame:
    """Per measure, the summed log loss of its votes (P clipped as ``score`` clips it) and the votes."""
    y = frame["voted_yea"].to_numpy().astype(float)
    p = np.clip(frame["p_yea"].to_numpy(dtype=float), 1e-6, 1 - 1e-6)
    loss = pd.Series(-(y * np.log(p) + (1 - y) * np.log(1 - p)), index=frame.index)
    grouped = loss.groupby(frame["measure_id"])
    return pd.DataFrame({"loss_sum": grouped.sum(), "votes": grouped.size().astype(float)})


POOLED_BARS = {  # issue 9's bars on the pooled backtest: metric -> (bar, True when a value at most the bar meets it)
    "log_loss": (0.20, True),
    "within_party_auc_R": (0.85, False),
    "ece": (0.03, True),
    "party_level_error": (0.10, True),
}


def bar_name(metric: str, bar: float, at_most: bool, spec: str = ".2f") -> str:
    """'log_loss_at_most_0.20', 'within_party_auc_R_at_least_0.85' (``spec``: the bar's format)."""
    return f"{metric}_{'at_most' if at_most else 'at_least'}_{bar:{spec}}"


def meets(values, bar: float, at_most: bool):
    """Whether each value meets the bar (a float or an array of them)."""
    return np.less_equal(values, bar) if at_most else np.greater_equal(values, bar)


BOOTSTRAPPED = {  # metric: (its parts per measure, numerator, denominator)
    "log_loss": (log_loss_parts, "loss_sum", "votes"),
    "within_party_auc_R": (lambda frame: within_party_auc_parts(frame, "R"), "auc_times_pairs", "pairs"),
    "party_level_error": (party_level_error_parts, "gap_sum", "cells"),
}


def measure_parts(frame: pd.DataFrame, measures: pd.Index) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each bootstrapped metric's numerator and denominator per measure, in the order of ``measures`` (0 where a
    measure adds nothing to a metric, e.g. no Republican split): every such metric is a ratio of sums over measures."""
    parts = {}
    for metric, (of, numerator, denominator) in BOOTSTRAPPED.items():
        table = of(frame).reindex(measures, fill_value=0.0)
        parts[metric] = (table[numerator].to_numpy(dtype=float), table[denominator].to_numpy(dtype=float))
    return parts


def resampled(parts: tuple[np.ndarray, np.ndarray], counts: np.ndarray) -> np.ndarray:
    """A ratio metric on each resample of measures (``counts``: draws x measures, how often each is drawn)."""
    numerator, denominator = parts
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ numerator) / (counts @ denominator)
