"""The general vote model: P(Yea) of a member on any roll call with a known sponsor, from the measure context.

It is what the NATO catalog alone cannot teach: that sponsors and cosponsors vote for their bills, that a
party follows its own members' bills and its President, how a motion to recommit or a rule cuts. Fitted on
tens of thousands of roll calls, it gives the NATO support model its party-level starting point.

To keep every number honest, one model is fitted per congress on every earlier congress only: each roll call
(and each NATO training vote) is scored by a model that never saw it or anything after it. The final model,
fitted on everything up to ``as_of``, scores the forecasts. Saved as XGBoost JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from models.errors import ModelError
from pipeline.ids import congress_first_year


@dataclass
class ContextModel:
    booster: xgb.Booster
    features: list[str]

    def predict_yea(self, frame: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(_matrix(frame, self.features))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """TreeSHAP contributions in log-odds of Yea per feature (the bias column left out)."""
        values = self.booster.predict(_matrix(frame, self.features), pred_contribs=True)
        return pd.DataFrame(values[:, :-1], columns=self.features, index=frame.index)

    def save(self, path: Path) -> None:
        """XGBoost's own JSON, with the feature list kept in the booster's attributes."""
        self.booster.set_attr(features=json.dumps(self.features))
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")  # XGBoost picks JSON by the .json suffix
        try:
            self.booster.save_model(str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def load(path: Path) -> ContextModel:
    if not Path(path).exists():
        raise ModelError(f"general model file {path} is missing: run `dvc repro` first")
    booster = xgb.Booster()
    booster.load_model(str(path))
    features = booster.attr("features")
    if features is None:
        raise ModelError(f"{path}: not a general model (no feature list)")
    return ContextModel(booster, json.loads(features))


def _matrix(frame: pd.DataFrame, features: list[str]) -> xgb.DMatrix:
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise ModelError(f"general model input lacks column(s) {', '.join(missing)}")
    return xgb.DMatrix(frame[features].astype(np.float32), missing=np.nan)


def fit(rows: pd.DataFrame, features: list[str], params: dict) -> ContextModel:
    """One general model on ``rows`` (at most ``max_rows`` of them, drawn reproducibly)."""
    if rows.empty:
        raise ModelError("no general-model rows to fit on")
    if len(rows) > params["max_rows"]:
        rows = rows.sample(params["max_rows"], random_state=params["seed"])
    settings = dict(params["xgboost"])
    rounds = settings.pop("n_estimators")
    settings.update(objective="binary:logistic", tree_method="hist", seed=params["seed"], nthread=params["nthread"])
    matrix = xgb.DMatrix(rows[features].astype(np.float32), label=rows["voted_yea"], missing=np.nan)
    return ContextModel(xgb.train(settings, matrix, num_boost_round=rounds), list(features))


def congress_start(congress: int) -> pd.Timestamp:
    """Congresses begin on 3 January of odd years."""
    return pd.Timestamp(f"{congress_first_year(congress)}-01-03")


def fit_by_congress(general: pd.DataFrame, congresses: list[int], features: list[str], params: dict) -> dict:
    """For each congress, the model fitted on every general row dated before it began (none for the first)."""
    models = {}
    for congress in congresses:
        earlier = general[general["date"] < congress_start(congress)]
        if earlier["measure_id"].nunique() >= params["min_measures"]:
            models[congress] = fit(earlier, features, params)
    return models


def out_of_time_yea(frame: pd.DataFrame, models: dict) -> np.ndarray:
    """P(Yea) of each row from the model of its congress (fitted before it began); NaN where none exists."""
    result = np.full(len(frame), np.nan)
    for congress, model in models.items():
        rows = (frame["congress"] == congress).to_numpy()
        if rows.any():
            result[rows] = model.predict_yea(frame[rows])
    return result
