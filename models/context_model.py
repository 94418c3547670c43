"""The general vote model: P(Yea) of a member on any roll call with a known sponsor, from the measure context.

It is what the NATO catalog alone cannot teach: that sponsors and cosponsors vote for their bills, that a
party follows its own members' bills and its President, how a motion to recommit or a rule cuts. Fitted on
tens of thousands of roll calls, it gives the NATO support model its party-level starting point.

To keep every number honest, one model is fitted per congress on every earlier congress only: each roll call
(and each NATO training vote) is scored by a model that never saw it or anything after it. The final model,
fitted on everything up to ``as_of``, scores the forecasts. Saved as XGBoost JSON; predictions run through
XGBoost's library (models/booster.py), the xgboost package is imported only to fit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.booster import Booster
from models.errors import ModelError
from pipeline.ids import congress_first_year
from pipeline.tables import release_free_memory, write_atomic


@dataclass
class ContextModel:
    booster: Booster
    features: list[str]
    commitment: CommitmentRates | None = None
    procedures: dict[str, list[str]] | None = None  # per chamber, the procedures of the roll calls it learned from

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's input: the model's feature columns as float32 (missing: NaN)."""
        return _matrix(frame, self.features)

    def booster_yea(self, frame: pd.DataFrame) -> np.ndarray:
        """P(Yea) from the trees alone (for sponsors and cosponsors too)."""
        return self.booster.predict(self.matrix(frame)).astype(float)

    def predict_yea(self, frame: pd.DataFrame) -> np.ndarray:
        """P(Yea): the booster's, and for members on record behind the measure the commitment table's rate."""
        p_yea = self.booster_yea(frame)
        if self.commitment is None:
            return p_yea
        committed = self.commitment.lookup(frame)
        return np.where(np.isnan(committed), p_yea, committed)

    def procedures_by_chamber(self) -> dict[str, set[str]] | None:
        """The procedures of the roll calls the model learned from, per chamber ('house', 'senate'); None for a
        model saved without them."""
        return None if self.procedures is None else {chamber: set(kinds) for chamber, kinds in self.procedures.items()}

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """TreeSHAP contributions in log-odds of Yea per feature (the bias column left out)."""
        values = self.booster.contributions(self.matrix(frame))
        return pd.DataFrame(values, columns=self.features, index=frame.index)

    def save(self, path: Path) -> None:
        """XGBoost's own JSON, with the feature list kept in the booster's attributes; the commitment table
        beside it (``context_commitment.json``)."""
        if self.commitment is not None:
            self.commitment.save(path.with_name(COMMITMENT_FILE))
        self.booster.set_attribute("features", json.dumps(self.features))
        if self.procedures is not None:
            self.booster.set_attribute("procedures", json.dumps(self.procedures))
        self.booster.save(path)


def load(path: Path) -> ContextModel:
    if not Path(path).exists():
        raise ModelError(f"general model file {path} is missing: run `dvc repro` first")
    booster = Booster.load(path)
    features = booster.attribute("features")
    if features is None:
        raise ModelError(f"{path}: not a general model (no feature list)")
    booster.check_features(json.loads(features))
    commitment_path = Path(path).with_name(COMMITMENT_FILE)
    commitment = load_commitment(commitment_path) if commitment_path.exists() else None
    procedures = booster.attribute("procedures")
    return ContextModel(booster, json.loads(features), commitment, json.loads(procedures) if procedures else None)


def _matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise ModelError(f"general model input lacks column(s) {', '.join(missing)}")
    return frame[features].to_numpy(dtype=np.float32, na_value=np.nan)


def fit(
    rows: pd.DataFrame,
    features: list[str],
    params: dict,
    chosen: np.ndarray | None = None,
    take: Callable[[np.ndarray, list[str]], pd.DataFrame] | None = None,
) -> ContextModel:
    """One general model: the booster on at most ``max_rows`` of ``rows`` (drawn reproducibly), the commitment
    table on all of them. ``chosen``: a mask of the rows to fit on (all when None), so that a model of earlier
    congresses never copies them whole: the commitment table reads its five columns, the booster the rows drawn
    (the same draw as ``DataFrame.sample`` of those rows, which draws positions from their count alone).
    ``take(positions, columns)``: those rows' feature columns, where ``rows`` holds only the light columns (the
    general stage reads the features of the rows drawn from disk); ``rows`` itself when None."""
    import xgboost as xgb  # to fit only: forecasts predict through the library without the package's imports

    positions = np.arange(len(rows)) if chosen is None else np.flatnonzero(chosen)
    if len(positions) == 0:
        raise ModelError("no general-model rows to fit on")
    committable = rows[COMMITMENT_COLUMNS].iloc[positions]  # the rows' chamber and procedure among them
    commitment = CommitmentRates.fit(committable, params["commitment_pseudo_votes"])
    procedures = _procedures(committable)
    del committable
    if len(positions) > params["max_rows"]:
        positions = pd.Series(positions).sample(params["max_rows"], random_state=params["seed"]).to_numpy()
    drawn = rows.iloc[positions][features] if take is None else take(positions, features)
    settings = dict(params["xgboost"])
    rounds = settings.pop("n_estimators")
    settings.update(objective="binary:logistic", tree_method="hist", seed=params["seed"], nthread=params["nthread"])
    label = rows["voted_yea"].to_numpy()[positions]
    matrix = xgb.DMatrix(drawn.astype(np.float32), label=label, missing=np.nan)
    trained = xgb.train(settings, matrix, num_boost_round=rounds)
    return ContextModel(Booster.from_trained(trained), list(features), commitment, procedures)


def _procedures(rows: pd.DataFrame) -> dict[str, list[str]]:
    """Per chamber, the procedures among the rows (all of them, not the draw): which votes the model has met."""
    cells = rows[["is_senate", "procedure"]].drop_duplicates()
    return {
        chamber: sorted(cells.loc[cells["is_senate"] == flag, "procedure"].astype(str))
        for chamber, flag in (("house", 0), ("senate", 1))
    }


def congress_start(congress: int) -> pd.Timestamp:
    """Congresses begin on 3 January of odd years."""
    return pd.Timestamp(f"{congress_first_year(congress)}-01-03")


def fit_by_congress(
    general: pd.DataFrame,
    congresses: list[int],
    features: list[str],
    params: dict,
    take: Callable[[np.ndarray, list[str]], pd.DataFrame] | None = None,
) -> dict:
    """For each congress, the model fitted on every general row dated before it began (none for the first);
    ``take`` as for ``fit``."""
    models = {}
    for congress in congresses:
        earlier = (general["date"] < congress_start(congress)).to_numpy()
        if general.loc[earlier, "measure_id"].nunique() >= params["min_measures"]:
            models[congress] = fit(general, features, params, earlier, take)
            release_free_memory()  # the drawn rows and the fit's matrices gone before the next fit
    return models


def out_of_time_yea(frame: pd.DataFrame, models: dict) -> np.ndarray:
    """P(Yea) of each row from the model of its congress (fitted before it began); NaN where none exists."""
    result = np.full(len(frame), np.nan)
    for congress, model in models.items():
        rows = (frame["congress"] == congress).to_numpy()
        if rows.any():
            result[rows] = model.predict_yea(frame[rows])
    return result


COMMITMENT_KEYS = ["is_senate", "procedure", "is_sponsor", "same_party_as_sponsor"]
COMMITMENT_COLUMNS = [*COMMITMENT_KEYS, "is_cosponsor", "voted_yea"]  # what CommitmentRates.fit reads
COMMITMENT_FILE = "context_commitment.json"


@dataclass
class CommitmentRates:
    """How often members on record behind a measure (its sponsor, or a cosponsor of its bill) voted Yea on it,
    by chamber, procedure, role and whether they share the sponsor's party: plain rates over every such vote,
    shrunk toward the rate of all committed votes of the chamber and procedure. A table, not trees: there are
    only hundreds of such votes in some cells (a Republican cosponsor of a Democrat's bill in the Senate) and
    a sampled booster underfits them."""

    rates: pd.DataFrame  # COMMITMENT_KEYS + yea, votes, rate

    @classmethod
    def fit(cls, rows: pd.DataFrame, pseudo_votes: float) -> CommitmentRates:
        committed = rows[(rows["is_sponsor"] == 1) | (rows["is_cosponsor"] == 1)]
        cells = committed.groupby(COMMITMENT_KEYS, dropna=False)["voted_yea"].agg(["sum", "size"]).reset_index()
        prior = committed.groupby(["is_senate", "procedure"])["voted_yea"].mean().rename("prior").reset_index()
        cells = cells.merge(prior, on=["is_senate", "procedure"])
        # plus one Yea and one Nay (Laplace): a cell where everyone voted Yea is not a certainty
        cells["rate"] = (cells["sum"] + pseudo_votes * cells["prior"] + 1) / (cells["size"] + pseudo_votes + 2)
        return cls(cells.rename(columns={"sum": "yea", "size": "votes"})[COMMITMENT_KEYS + ["yea", "votes", "rate"]])

    def lookup(self, frame: pd.DataFrame) -> np.ndarray:
        """The rate of each committed row's cell (NaN for rows not committed or cells never seen)."""
        committed = ((frame["is_sponsor"] == 1) | (frame["is_cosponsor"] == 1)).to_numpy()
        if not committed.any():
            return np.full(len(frame), np.nan)
        if "procedure" not in frame.columns:  # numeric inputs (MLflow's signature): from the one-hot columns
            one_hot = frame[[c for c in frame.columns if c.startswith("procedure_")]]
            frame = frame.assign(procedure=one_hot.idxmax(axis=1).str.removeprefix("procedure_"))
        keys = frame.loc[committed, COMMITMENT_KEYS].astype({"is_senate": int, "is_sponsor": int})  # only those
        found = np.full(len(frame), np.nan)
        found[committed] = keys.merge(self.rates, on=COMMITMENT_KEYS, how="left")["rate"].to_numpy(dtype=float)
        return found

    def save(self, path: Path) -> None:
        records = self.rates.to_dict(orient="records")
        write_atomic(path, lambda tmp: tmp.write_text(json.dumps(records, indent=1, default=float) + "\n"))


def load_commitment(path: Path) -> CommitmentRates:
    try:
        records = json.loads(Path(path).read_text())
        return CommitmentRates(pd.DataFrame(records, columns=COMMITMENT_KEYS + ["yea", "votes", "rate"]))
    except (OSError, ValueError) as exc:
        raise ModelError(f"commitment rates {path} cannot be read ({exc}): run `dvc repro` first") from exc
