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
    from sklearn.metrics import roc_auc_score

    total, weight = 0.0, 0.0
    for _, group in frame[frame["party"] == party].groupby("measure_id"):
        yeas = int(group["voted_yea"].sum())
        nays = len(group) - yeas
        if yeas and nays:
            pairs = yeas * nays
            total += roc_auc_score(group["voted_yea"], group["p_yea"]) * pairs
            weight += pairs
    return float(total / weight) if weight else float("nan")


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
    parties = frame[frame["party"].isin(["R", "D"])]
    if parties.empty:
        return float("nan")
    shares = parties.groupby(["measure_id", "party"])[["p_yea", "voted_yea"]].mean()
    return float((shares["p_yea"] - shares["voted_yea"]).abs().mean())


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
