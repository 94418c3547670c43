"""The simple answers the model must beat, fitted on the same training rows and scored the same way.

All three predict the alliance-side probability, clipped to ``evaluate.baseline_clip`` (a baseline that says 0 or 1
would be scored infinitely wrong by one surprise); P(Yea) follows from the orientation as for the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.dataset import alliance_side
from models.logistic import fit_logistic, linear_predictor
from models.logodds import expit


def _party(frame: pd.DataFrame) -> pd.Series:
    return frame["party"].where(frame["party"].isin(["R", "D"]), "other")


def party_line(train: pd.DataFrame, test: pd.DataFrame, clip: tuple[float, float]) -> np.ndarray:
    """(a) How often the member's party took the alliance side on past measures of the same orientation."""
    target = pd.Series(alliance_side(train["voted_yea"], train["orientation"]), index=train.index)
    rates = target.groupby([_party(train), train["orientation"]]).mean()
    overall = target.mean()
    keys = pd.MultiIndex.from_arrays([_party(test), test["orientation"]])
    return np.clip(rates.reindex(keys).fillna(overall).to_numpy(), *clip)


def _ideology_design(frame: pd.DataFrame, fill: pd.Series) -> np.ndarray:
    dims = frame[["nominate_dim1", "nominate_dim2"]].copy()
    party = _party(frame)
    for column in dims:
        dims[column] = dims[column].fillna(party.map(fill[column]))
    return np.column_stack([(party == "R").astype(float), dims.to_numpy(), frame["orientation"].to_numpy()])


def ideology_logistic(train: pd.DataFrame, test: pd.DataFrame, clip: tuple[float, float]) -> np.ndarray:
    """(b) Logistic regression on party and DW-NOMINATE dim1/dim2 (new members: their party's mean)."""
    fill = train.groupby(_party(train))[["nominate_dim1", "nominate_dim2"]].mean().fillna(0.0)
    target = alliance_side(train["voted_yea"], train["orientation"])
    what = "the DW-NOMINATE baseline"
    coefs, intercept = fit_logistic(_ideology_design(train, fill), target, l2=1.0, what=what)  # scikit-learn's C=1
    return np.clip(expit(linear_predictor(_ideology_design(test, fill), coefs, intercept)), *clip)


def shrunk_share(test: pd.DataFrame, clip: tuple[float, float]) -> np.ndarray:
    """(c) The member's own alliance-side share before the measure, shrunk toward their party's share in the
    chamber by ``features.shrinkage_votes`` pseudo-votes (features/build.py computes it point-in-time)."""
    return np.clip(test["shrunk_catalog_share"].to_numpy(dtype=float), *clip)


BASELINES = {
    "party_line": party_line,
    "ideology_logistic": ideology_logistic,
    "shrunk_share": lambda train, test, clip: shrunk_share(test, clip),
}
