"""The support model: XGBoost on point-in-time features, calibrated on a later time slice.

Saved as two JSON files, never a pickle: XGBoost's own ``booster.json`` and ``calibration.json`` (Platt
coefficients or isotonic breakpoints) with the feature list. ``load`` reads exactly those.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models.dataset import alliance_side, feature_matrix, time_split, yea_probability
from pipeline.errors import DataError
from pipeline.tables import write_atomic

EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibration:
    """Maps raw alliance-side probabilities to calibrated ones."""

    method: str
    coef: float = 1.0
    intercept: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    @classmethod
    def fit(cls, method: str, raw: np.ndarray, target: np.ndarray) -> Calibration:
        if method == "none" or len(np.unique(target)) < 2:
            return cls("identity")
        if method == "platt":
            model = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), target)
            return cls("platt", float(model.coef_[0, 0]), float(model.intercept_[0]))
        if method == "isotonic":
            model = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(raw, target)
            return cls("isotonic", x=tuple(map(float, model.X_thresholds_)), y=tuple(map(float, model.y_thresholds_)))
        raise DataError(f"params.yaml model.calibration: {method!r} is not platt, isotonic or none")

    def apply(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "platt":
            return 1 / (1 + np.exp(-(self.coef * _logit(raw) + self.intercept)))
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        return raw


@dataclass
class SupportModel:
    booster: xgb.Booster
    calibration: Calibration
    features: list[str]

    def raw_alliance(self, frame: pd.DataFrame) -> np.ndarray:
        matrix = xgb.DMatrix(feature_matrix(frame, self.features), missing=np.nan)
        return self.booster.predict(matrix)

    def predict_alliance(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability that each member takes the alliance side."""
        return self.calibration.apply(self.raw_alliance(frame))

    def predict_yea(self, frame: pd.DataFrame) -> np.ndarray:
        return yea_probability(self.predict_alliance(frame), frame["orientation"])

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """SHAP contributions (log-odds of the alliance side) per feature, from XGBoost's own TreeSHAP."""
        matrix = xgb.DMatrix(feature_matrix(frame, self.features), missing=np.nan)
        values = self.booster.predict(matrix, pred_contribs=True)
        return pd.DataFrame(values[:, :-1], columns=self.features, index=frame.index)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".tmp-{os.getpid()}-booster.json"  # XGBoost picks JSON by the .json suffix
        try:
            self.booster.save_model(str(tmp))
            os.replace(tmp, directory / "booster.json")
        finally:
            tmp.unlink(missing_ok=True)
        meta = {"calibration": self.calibration.__dict__, "features": self.features}
        write_atomic(directory / "calibration.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))


def load(directory: Path) -> SupportModel:
    """A model saved by ``SupportModel.save``: XGBoost JSON and calibration JSON only."""
    booster_path, meta_path = Path(directory) / "booster.json", Path(directory) / "calibration.json"
    for path in (booster_path, meta_path):
        if not path.exists():
            raise DataError(f"model file {path} is missing")
    booster = xgb.Booster()
    booster.load_model(booster_path)
    meta = json.loads(meta_path.read_text())
    calibration = meta["calibration"]
    calibration["x"], calibration["y"] = tuple(calibration["x"]), tuple(calibration["y"])
    return SupportModel(booster, Calibration(**calibration), list(meta["features"]))


def fit_booster(
    frame: pd.DataFrame, features: list[str], params: dict, seed: int, monotone_increasing: tuple[str, ...] = ()
) -> xgb.Booster:
    settings = dict(params)
    if monotone_increasing:
        settings["monotone_constraints"] = (
            "(" + ",".join("1" if name in monotone_increasing else "0" for name in features) + ")"
        )
    rounds = settings.pop("n_estimators")
    settings.update(objective="binary:logistic", eval_metric="logloss", tree_method="hist", seed=seed, nthread=2)
    target = alliance_side(frame["voted_yea"], frame["orientation"])
    matrix = xgb.DMatrix(feature_matrix(frame, features), label=target, missing=np.nan)
    return xgb.train(settings, matrix, num_boost_round=rounds)


def train(frame: pd.DataFrame, model_params: dict) -> SupportModel:
    """Fit the booster on all rows, and the calibration on predictions it did not see while fitting.

    ``calibration_fit: time`` fits the calibration on the latest ``calibration_fraction`` of measures, scored
    by a booster trained on the earlier ones. ``crossfit`` scores every measure by a booster trained on the
    other folds of measures (grouped: a measure's votes are never split), so the calibration sees how wrong
    the booster is on measures it has not seen, across all of the training period.
    """
    if frame.empty:
        raise DataError("no training rows: the catalog has no directed roll calls before the cut")
    features, seed = list(model_params["features"]), int(model_params["seed"])
    monotone = tuple(model_params.get("monotone_increasing", ()))
    target = alliance_side(frame["voted_yea"], frame["orientation"])
    if model_params.get("calibration_fit", "time") == "crossfit":
        folds = int(model_params.get("calibration_folds", 5))
        measures = frame["measure_id"].unique()
        if len(measures) >= folds:
            fold_of = pd.Series(np.arange(len(measures)) % folds, index=measures)
            fold = frame["measure_id"].map(fold_of).to_numpy()
            raw = np.empty(len(frame))
            for k in range(folds):
                held = fold == k
                booster = fit_booster(frame[~held], features, model_params["xgboost"], seed, monotone)
                raw[held] = SupportModel(booster, Calibration("identity"), features).raw_alliance(frame[held])
            calibration = Calibration.fit(model_params["calibration"], raw, target)
        else:
            calibration = Calibration("identity")
    else:
        early, late = time_split(frame, model_params["calibration_fraction"])
        if early.sum() == 0:
            early = late
        first = fit_booster(frame[early], features, model_params["xgboost"], seed, monotone)
        raw_late = SupportModel(first, Calibration("identity"), features).raw_alliance(frame[late])
        calibration = Calibration.fit(model_params["calibration"], raw_late, target[late.to_numpy()])
    final = fit_booster(frame, features, model_params["xgboost"], seed, monotone)
    return SupportModel(final, calibration, features)
