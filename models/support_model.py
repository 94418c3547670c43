"""The NATO support model: the general model's party context plus what a member's own record says.

Two models added in log-odds of the alliance side. The general vote model (models/context_model.py), fitted on
every roll call with a known sponsor, gives the starting point: sponsors and cosponsors back their bills, parties
follow their members and their President. It enters as XGBoost's base margin, scaled by a logistic fit on the
training votes; the NATO booster then learns from the catalogued votes how each member departs from it (their
alliance record, ideology, agreement with the named sponsors, the party's recent stand). Platt scaling fitted on
out-of-fold predictions calibrates the sum.

Saved as JSON files, never a pickle: XGBoost's own ``booster.json`` and ``context_booster.json`` and
``calibration.json`` (calibration, context scale, feature list). ``load`` reads exactly those. Predictions run
through XGBoost's library (models/booster.py); the xgboost package and scikit-learn are imported only to fit,
which keeps a forecast's start short.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.booster import Booster
from models.context_model import ContextModel
from models.context_model import load as load_context
from models.dataset import alliance_side, time_split, yea_probability
from models.logistic import fit_logistic
from models.logodds import expit, logit
from pipeline.errors import DataError
from pipeline.tables import write_atomic

EPS = 1e-6  # a numerical guard, not a setting: log-odds of exactly 0 or 1 are infinite


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, EPS, 1 - EPS))


def model_settings(params: dict) -> dict:
    """``params['model']`` with the booster's features complete: ``model.features`` plus, when
    ``model.named_sponsor_distances``, the DW-NOMINATE distance to each of ``features.named_sponsors`` (named
    sponsors are declared once, there)."""
    settings = dict(params["model"])
    if settings.get("named_sponsor_distances", False):
        named = [f"distance_{name}" for name in params["features"]["named_sponsors"]]
        settings["features"] = [*settings["features"], *[c for c in named if c not in settings["features"]]]
    return settings


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
        from sklearn.isotonic import IsotonicRegression  # to fit only (see the module's docstring)

        if method == "none" or len(np.unique(target)) < 2:
            return cls("identity")
        if method == "platt":
            platt = fit_logistic(_logit(raw).reshape(-1, 1), target, l2=1e-6, what="the Platt calibration")
            (coef,), intercept = platt  # l2=1e-6: all but unpenalised, as scikit-learn's C=1e6
            return cls("platt", float(coef), intercept)
        if method == "isotonic":
            model = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(raw, target)
            return cls("isotonic", x=tuple(map(float, model.X_thresholds_)), y=tuple(map(float, model.y_thresholds_)))
        raise DataError(f"params.yaml model.calibration: {method!r} is not platt, isotonic or none")

    def apply(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "platt":
            return expit(self.coef * _logit(raw) + self.intercept)
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        return raw


CONTEXT_COLUMN = "context_logit"  # the general model's alliance-side log-odds, also a feature of the booster


@dataclass
class SupportModel:
    booster: Booster | None
    calibration: Calibration
    features: list[str]
    context: ContextModel | None = None
    context_scale: tuple[float, float] = (1.0, 0.0)

    @property
    def input_columns(self) -> list[str]:
        """The columns a caller passes: the booster's features, the general model's, and the orientation."""
        general = self.context.features if self.context is not None else []
        own = [name for name in self.features if name != CONTEXT_COLUMN]
        return list(dict.fromkeys(own + general + ["orientation"]))

    def context_p_yea(self, frame: pd.DataFrame) -> np.ndarray:
        """The general model's P(Yea): from the out-of-time ``context_p_yea`` column when the frame has one
        (training and backtest: a model fitted before the vote's congress), else from the general model
        (forecasts). NaN where there is no general model."""
        if "context_p_yea" in frame.columns:
            return frame["context_p_yea"].to_numpy(dtype=float)
        if self.context is not None:
            return self.context.predict_yea(frame).astype(float)
        return np.full(len(frame), np.nan)

    def context_logit(self, frame: pd.DataFrame) -> np.ndarray:
        """The general model's log-odds of the alliance side (NaN where there is no general model)."""
        return np.where(frame["orientation"].to_numpy() == 1, 1.0, -1.0) * _logit(self.context_p_yea(frame))

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        slope, intercept = self.context_scale
        logit = self.context_logit(frame)
        return np.where(np.isnan(logit), 0.0, slope * np.nan_to_num(logit) + intercept)

    def inputs(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The booster's feature columns (the context's log-odds among them) and its base margin."""
        columns = pd.DataFrame(self.input_array(frame), columns=self.features, index=frame.index)
        return columns, self.margin(frame)

    def input_array(self, frame: pd.DataFrame) -> np.ndarray:
        """``inputs``' feature columns as the array the booster reads (column by column: no frame is copied)."""
        own = [name for name in self.features if name != CONTEXT_COLUMN]
        missing = [name for name in own if name not in frame.columns]
        if missing:
            raise DataError(f"feature table lacks column(s) {', '.join(missing)}")
        logit = self.context_logit(frame)
        columns = [logit if name == CONTEXT_COLUMN else frame[name].astype(float).to_numpy() for name in self.features]
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def _booster_output(self, frame: pd.DataFrame, kind: str) -> np.ndarray:
        return self.booster.predict(self.input_array(frame), self.margin(frame), kind)

    def raw_alliance(self, frame: pd.DataFrame) -> np.ndarray:
        return self._booster_output(frame, "value")

    def predict_alliance(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability that each member takes the alliance side. A sponsor or cosponsor on record
        is never less likely to vote for the measure than the general model says (it learned what such a
        commitment is worth from over a hundred thousand of their votes; the NATO catalog has a few hundred)."""
        return self._alliance(frame, self.raw_alliance(frame))

    def _alliance(self, frame: pd.DataFrame, raw: np.ndarray) -> np.ndarray:
        """``predict_alliance`` from the booster's raw probabilities (``raw_alliance``)."""
        p_alliance = self.calibration.apply(raw)
        committed = self.committed(frame)
        if not committed.any():
            return p_alliance
        p_yea_general = self.context_p_yea(frame)
        floor = np.where(frame["orientation"].to_numpy() == 1, p_yea_general, 1 - p_yea_general)
        raised = np.where(frame["orientation"].to_numpy() == 1, np.fmax(p_alliance, floor), np.fmin(p_alliance, floor))
        return np.where(committed & ~np.isnan(floor), raised, p_alliance)

    @staticmethod
    def committed(frame: pd.DataFrame) -> np.ndarray:
        """Members on record as the measure's sponsor or a cosponsor of its bill on the date."""
        flags = [frame[name].to_numpy() == 1 for name in ("is_sponsor", "is_cosponsor") if name in frame.columns]
        return np.logical_or.reduce(flags) if flags else np.zeros(len(frame), dtype=bool)

    def predict_yea(self, frame: pd.DataFrame) -> np.ndarray:
        return yea_probability(self.predict_alliance(frame), frame["orientation"])

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Log-odds of the alliance side per feature: XGBoost's TreeSHAP of the NATO booster plus, for the base
        margin, the general model's own TreeSHAP (scaled and oriented), so sponsorship and party context show
        under their own names."""
        x = self.input_array(frame)
        own = self.booster.contributions(x)  # no bias: the base margin moves only the bias
        if self.context is None:
            return pd.DataFrame(own, columns=self.features, index=frame.index)
        sign = np.where(frame["orientation"].to_numpy() == 1, 1.0, -1.0)
        general_x = self.context.matrix(frame)
        general = self.context.booster.contributions(general_x) * (sign * self.context_scale[0])[:, None]
        names, values = _add_by_name(own, self.features, general, self.context.features)
        total = pd.DataFrame(values, columns=names, index=frame.index)
        committed = self.committed(frame)
        if not committed.any():
            return total
        raw = self.booster.predict(x, self.margin(frame))
        booster_yea = self.context.booster.predict(general_x).astype(float)
        return self._add_commitment(total, frame, sign, committed, raw, booster_yea)

    def _add_commitment(
        self,
        total: pd.DataFrame,
        frame: pd.DataFrame,
        sign: np.ndarray,
        committed: np.ndarray,
        raw: np.ndarray,
        booster_yea: np.ndarray,
    ) -> pd.DataFrame:
        """For a sponsor or cosponsor on record (``committed``), what the commitment added is the sponsorship's:
        the step from the booster's P(Yea) to the commitment rate, and any lift of the floor above the calibrated
        sum. ``raw``: ``raw_alliance`` of the frame; ``booster_yea``: the general model's ``booster_yea``."""
        step = self.context_scale[0] * sign * (_logit(self.context_p_yea(frame)) - _logit(booster_yea))
        calibrated = self.calibration.apply(raw)
        lift = _logit(self._alliance(frame, raw)) - _logit(calibrated)
        shift = np.where(committed, np.nan_to_num(step) + np.nan_to_num(lift), 0.0)
        role = np.where(frame["is_sponsor"].to_numpy() == 1, "is_sponsor", "is_cosponsor")
        for name in ("is_sponsor", "is_cosponsor"):
            if name not in total.columns:
                total[name] = 0.0
            total[name] = total[name] + np.where(role == name, shift, 0.0)
        return total

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save(directory / "booster.json")
        if self.context is not None:
            self.context.save(directory / "context_booster.json")
        meta = {
            "calibration": self.calibration.__dict__,
            "features": self.features,
            "context_scale": list(self.context_scale),
        }
        write_atomic(directory / "calibration.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))


@functools.cache
def _union(left_names: tuple[str, ...], right_names: tuple[str, ...]) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """The sorted union of two column lists and where each list's columns fall in it (a model's lists: kept)."""
    names = pd.Index(left_names).union(pd.Index(right_names))
    return names, names.get_indexer(left_names), names.get_indexer(right_names)


def _add_by_name(
    left: np.ndarray, left_names: list[str], right: np.ndarray, right_names: list[str]
) -> tuple[pd.Index, np.ndarray]:
    """``DataFrame.add(other, fill_value=0.0)`` of two tables of contributions, in NumPy: the columns of either in
    pandas' order (the sorted union), each the sum of both sides, a side without the column (or with a missing
    value where the other has one) counted as 0.0."""
    names, left_at, right_at = _union(tuple(left_names), tuple(right_names))
    a, b = np.full((len(left), len(names)), np.nan), np.full((len(right), len(names)), np.nan)
    a[:, left_at] = left
    b[:, right_at] = right
    a_missing, b_missing = np.isnan(a), np.isnan(b)
    a[a_missing & ~b_missing] = 0.0
    b[b_missing & ~a_missing] = 0.0
    return names, a + b


MODEL_FILES = ("booster.json", "calibration.json", "context_booster.json", "context_commitment.json")


def fingerprint(folder: Path) -> str:
    """A short content hash of the model files: the same model has the same fingerprint on every machine
    (MLflow's version numbers depend on how many runs a tracking store has seen)."""
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        if (Path(folder) / name).exists():  # the general model's files, where the model has one
            digest.update((Path(folder) / name).read_bytes())
    return digest.hexdigest()[:10]


def load(directory: Path, threads: int = 0) -> SupportModel:
    """A model saved by ``SupportModel.save``: XGBoost JSON and calibration JSON only. ``threads``: the boosters'
    OpenMP threads (``Booster.use_threads``; 0: every core)."""
    booster_path, meta_path = Path(directory) / "booster.json", Path(directory) / "calibration.json"
    for path in (booster_path, meta_path):
        if not path.exists():
            raise DataError(f"model file {path} is missing")
    booster = Booster.load(booster_path)
    meta = json.loads(meta_path.read_text())
    booster.check_features(meta["features"])
    calibration = meta["calibration"]
    calibration["x"], calibration["y"] = tuple(calibration["x"]), tuple(calibration["y"])
    context_path = Path(directory) / "context_booster.json"
    context = load_context(context_path) if context_path.exists() else None
    if threads:
        booster.use_threads(threads)
        if context is not None:
            context.booster.use_threads(threads)
    scale = tuple(meta.get("context_scale", (1.0, 0.0)))
    return SupportModel(booster, Calibration(**calibration), list(meta["features"]), context, scale)


def fit_booster(
    frame: pd.DataFrame,
    features: list[str],
    params: dict,
    seed: int,
    monotone_increasing: tuple[str, ...] = (),
    base: SupportModel | None = None,
) -> Booster:
    """The NATO booster on ``frame``, starting from ``base``'s context margin (none: from zero)."""
    import xgboost as xgb  # to fit only (see the module's docstring)

    settings = dict(params)
    if monotone_increasing:
        settings["monotone_constraints"] = (
            "(" + ",".join("1" if name in monotone_increasing else "0" for name in features) + ")"
        )
    rounds = settings.pop("n_estimators")
    settings.update(objective="binary:logistic", eval_metric="logloss", tree_method="hist", seed=seed)
    base = base or SupportModel(None, Calibration("identity"), features)
    features_frame, margin = base.inputs(frame)
    label = alliance_side(frame["voted_yea"], frame["orientation"])
    matrix = xgb.DMatrix(features_frame, label=label, base_margin=margin, missing=np.nan)
    return Booster.from_trained(xgb.train(settings, matrix, num_boost_round=rounds))


def fit_context_scale(frame: pd.DataFrame, base: SupportModel) -> tuple[float, float]:
    """Slope and intercept that turn the general model's alliance-side log-odds into the best starting point
    for the catalogued votes (a logistic fit on the training rows only; no context: no shift)."""
    logit = base.context_logit(frame)
    known = ~np.isnan(logit)
    target = alliance_side(frame["voted_yea"], frame["orientation"])[known]
    if known.sum() < 100 or len(np.unique(target)) < 2:
        return (0.0, 0.0)
    (slope,), intercept = fit_logistic(logit[known].reshape(-1, 1), target, l2=1.0, what="the context scale")
    return float(slope), intercept


def train(frame: pd.DataFrame, model_params: dict, context: ContextModel | None = None) -> SupportModel:
    """Fit the booster on all rows, and the calibration on predictions it did not see while fitting.

    ``calibration_fit: time`` fits the calibration on the latest ``calibration_fraction`` of measures, scored
    by a booster trained on the earlier ones. ``crossfit`` scores every measure by a booster trained on the
    other folds of measures (grouped: a measure's votes are never split), so the calibration sees how wrong
    the booster is on measures it has not seen, across all of the training period.
    """
    from sklearn.model_selection import GroupKFold  # to fit only (see the module's docstring)

    if frame.empty:
        raise DataError("no training rows: the catalog has no directed roll calls before the cut")
    features, seed = list(model_params["features"]), int(model_params["seed"])
    monotone = tuple(model_params.get("monotone_increasing", ()))
    target = alliance_side(frame["voted_yea"], frame["orientation"])
    unscaled = SupportModel(None, Calibration("identity"), features, context)
    scale = fit_context_scale(frame, unscaled) if model_params.get("context_margin", True) else (0.0, 0.0)
    base = SupportModel(None, Calibration("identity"), features, context, scale)
    if model_params.get("calibration_fit", "time") == "crossfit":
        folds = int(model_params.get("calibration_folds", 5))
        if frame["measure_id"].nunique() >= folds:
            raw = np.empty(len(frame))
            for kept, held in GroupKFold(n_splits=folds).split(frame, groups=frame["measure_id"]):
                booster = fit_booster(frame.iloc[kept], features, model_params["xgboost"], seed, monotone, base)
                raw[held] = _with_booster(base, booster).raw_alliance(frame.iloc[held])
            calibration = Calibration.fit(model_params["calibration"], raw, target)
        else:
            calibration = Calibration("identity")
    else:
        early, late = time_split(frame, model_params["calibration_fraction"])
        if early.sum() == 0:
            early = late
        first = fit_booster(frame[early], features, model_params["xgboost"], seed, monotone, base)
        raw_late = _with_booster(base, first).raw_alliance(frame[late])
        calibration = Calibration.fit(model_params["calibration"], raw_late, target[late.to_numpy()])
    final = fit_booster(frame, features, model_params["xgboost"], seed, monotone, base)
    return SupportModel(final, calibration, features, context, base.context_scale)


def _with_booster(base: SupportModel, booster: Booster) -> SupportModel:
    return SupportModel(booster, Calibration("identity"), base.features, base.context, base.context_scale)
