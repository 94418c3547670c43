"""From feature tables to model inputs: the model predicts the *alliance-side* vote, P(Yea) follows.

A Yea on a +1 measure and a Nay on a -1 measure are both alliance-side votes. Predicting that one target
lets the few -1 roll calls (amendments striking Ukraine aid, the Paul amendment) share what the many +1 roll
calls teach, instead of asking the trees to learn every feature twice, once per orientation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.errors import DataError


def alliance_side(voted_yea: pd.Series, orientation: pd.Series) -> np.ndarray:
    """1 where the vote took the alliance side: Yea on +1, Nay on -1."""
    return np.where(orientation.to_numpy() == 1, voted_yea.to_numpy(), 1 - voted_yea.to_numpy()).astype(int)


def yea_probability(p_alliance: np.ndarray, orientation: pd.Series) -> np.ndarray:
    return np.where(orientation.to_numpy() == 1, p_alliance, 1 - p_alliance)


def feature_matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model's columns as floats (missing stays NaN: XGBoost learns where missing goes)."""
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise DataError(f"feature table lacks column(s) {', '.join(missing)}")
    return frame[features].astype(float)


def with_context(training: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    """Training rows with the general model's out-of-time P(Yea) (``context_p_yea``, from the model fitted
    before each vote's congress; NaN where none was)."""
    return training.merge(context, on=["measure_id", "bioguide_id"], how="left", validate="one_to_one")


def time_split(frame: pd.DataFrame, fraction: float) -> tuple[pd.Series, pd.Series]:
    """Rows of the earliest measures and of the latest ``fraction`` of measures (by date): whole measures
    stay on one side, so the later slice is truly later."""
    measure_dates = frame.groupby("measure_id")["date"].first().sort_values(kind="stable")
    n_late = max(1, int(round(len(measure_dates) * fraction)))
    late = set(measure_dates.index[-n_late:])
    is_late = frame["measure_id"].isin(late)
    return ~is_late, is_late
