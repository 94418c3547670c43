"""Calibration, metrics and the general model's save/load on tiny frames (unit tests: no pipeline run)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from models import context_model
from models.errors import ModelError
from models.metrics import expected_calibration_error, headline_score, party_level_error, reliability_table
from models.support_model import Calibration
from pipeline.errors import DataError

pytestmark = pytest.mark.unit


def test_calibration_with_one_class_is_the_identity():
    calibration = Calibration.fit("platt", np.array([0.2, 0.7]), np.array([1, 1]))
    assert calibration.method == "identity"
    np.testing.assert_array_equal(calibration.apply(np.array([0.2, 0.7])), [0.2, 0.7])
    assert Calibration.fit("none", np.array([0.2, 0.7]), np.array([0, 1])).method == "identity"


def test_platt_recovers_a_known_logistic_map():
    """Outcomes drawn with P = sigmoid(2 logit(raw) - 1) give back coef 2 and intercept -1."""
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.02, 0.98, 40000)
    truth = 1 / (1 + np.exp(-(2 * np.log(raw / (1 - raw)) - 1)))
    calibration = Calibration.fit("platt", raw, (rng.random(raw.size) < truth).astype(int))
    assert calibration.coef == pytest.approx(2, abs=0.05) and calibration.intercept == pytest.approx(-1, abs=0.05)
    np.testing.assert_allclose(calibration.apply(raw[:100]), truth[:100], atol=0.02)


def test_isotonic_is_monotone_and_fits_the_steps():
    raw = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    target = np.array([0, 0, 1, 0, 1, 1, 1, 1])
    calibration = Calibration.fit("isotonic", raw, target)
    fitted = calibration.apply(raw)
    assert (np.diff(fitted) >= 0).all()
    assert fitted[3] == pytest.approx(0.5) and fitted[-1] == pytest.approx(1 - 1e-6)  # 0.3 and 0.4 pooled
    assert calibration.apply(np.array([0.0, 1.0])).tolist() == [fitted[0], fitted[-1]]  # clipped outside


def test_unknown_calibration_method_is_named():
    with pytest.raises(DataError, match="'beta' is not platt, isotonic or none"):
        Calibration.fit("beta", np.array([0.2, 0.7]), np.array([0, 1]))


def test_reliability_table_bins():
    p = np.array([0.05, 0.15, 0.12, 0.95])
    y = np.array([0, 1, 0, 1])
    table = reliability_table(p, y, bins=10).set_index("bin")
    assert table.loc[1, "votes"] == 2 and table.loc[1, "mean_forecast"] == pytest.approx(0.135)
    assert table.loc[1, "observed_rate"] == 0.5 and table.loc[9, "observed_rate"] == 1.0
    # ECE: bin 0 |0-0.05|*1/4, bin 1 |0.5-0.135|*2/4, bin 9 |1-0.95|*1/4
    assert expected_calibration_error(p, y, 10) == pytest.approx(0.05 / 4 + 0.365 / 2 + 0.05 / 4)


def test_party_level_error_and_headline_score():
    frame = pd.DataFrame(
        {
            "measure_id": ["m"] * 4 + ["n"] * 2,
            "party": ["R", "R", "D", "D", "R", "I"],
            "voted_yea": [1, 0, 1, 1, 0, 1],
            "p_yea": [0.9, 0.5, 0.8, 0.6, 0.2, 0.5],
        }
    )
    # (m,R): |0.7-0.5| (m,D): |0.7-1| (n,R): |0.2-0|; I is not a party line
    assert party_level_error(frame) == pytest.approx((0.2 + 0.3 + 0.2) / 3)
    assert np.isnan(party_level_error(frame[frame["party"] == "I"]))
    score = headline_score(frame)
    assert (score["votes"], score["measures"]) == (6, 2)
    y, p = frame["voted_yea"].to_numpy(), frame["p_yea"].to_numpy()
    assert score["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert score["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


GENERAL_PARAMS = {
    "max_rows": 1000,
    "seed": 3,
    "nthread": 1,
    "min_measures": 2,
    "commitment_pseudo_votes": 4,
    "xgboost": {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.3},
}


def _general_rows(n: int = 400) -> pd.DataFrame:
    """Sponsors' party-mates vote Yea far more often: a signal a small booster must pick up."""
    rng = np.random.default_rng(5)
    same_party = rng.integers(0, 2, n)
    distance = rng.normal(size=n)
    yea = (rng.random(n) < np.where(same_party == 1, 0.9, 0.2)).astype(int)
    return pd.DataFrame(
        {
            "same_party": same_party.astype(float),
            "distance": np.where(rng.random(n) < 0.1, np.nan, distance),
            "voted_yea": yea,
            "measure_id": np.arange(n) // 10,
            "congress": np.where(np.arange(n) < n // 2, 117, 118),
            "date": pd.Timestamp("2021-06-01") + pd.to_timedelta(np.where(np.arange(n) < n // 2, 0, 800), unit="D"),
            # nobody on record behind these measures: the commitment table has nothing to say
            "is_senate": 0,
            "procedure": "passage",
            "is_sponsor": 0,
            "is_cosponsor": 0,
            "same_party_as_sponsor": same_party.astype(float),
        }
    )


def test_commitment_rates_are_shrunk_and_smoothed_cell_rates():
    """Cosponsors (not sponsors) of the sponsor's party, House passage: 9 Yea of 10; the chamber x procedure
    prior over all committed votes is 10 of 12; with 4 pseudo-votes and one Yea and one Nay added:
    (9 + 4 * 10/12 + 1) / (10 + 4 + 2)."""
    rows = pd.DataFrame(
        {
            "is_senate": 0,
            "procedure": "passage",
            "is_sponsor": [0] * 10 + [1, 1] + [0] * 3,
            "is_cosponsor": [1] * 10 + [0, 0] + [0] * 3,
            "same_party_as_sponsor": 1.0,
            "voted_yea": [1] * 9 + [0] + [1, 0] + [0] * 3,
        }
    )
    rates = context_model.CommitmentRates.fit(rows, pseudo_votes=4)
    found = rates.lookup(rows)
    assert found[0] == pytest.approx((9 + 4 * 10 / 12 + 1) / 16)
    assert found[10] == pytest.approx((1 + 4 * 10 / 12 + 1) / (2 + 4 + 2))
    assert np.isnan(found[12:]).all()  # not on record behind the measure: no commitment rate


def test_general_model_learns_and_round_trips_through_json(tmp_path):
    rows = _general_rows()
    model = context_model.fit(rows, ["same_party", "distance"], GENERAL_PARAMS)
    p = model.predict_yea(rows)
    assert p[rows["same_party"] == 1].mean() > 0.75 > 0.35 > p[rows["same_party"] == 0].mean()
    path = tmp_path / "general.json"
    model.save(path)
    assert json.loads(path.read_text())["learner"]  # XGBoost's JSON, not a pickle
    loaded = context_model.load(path)
    assert loaded.features == ["same_party", "distance"]
    np.testing.assert_array_equal(loaded.predict_yea(rows), p)
    contributions = loaded.contributions(rows.head(5))
    assert list(contributions.columns) == ["same_party", "distance"]


def test_general_model_bad_input(tmp_path):
    with pytest.raises(ModelError, match="no general-model rows"):
        context_model.fit(_general_rows().iloc[:0], ["same_party"], GENERAL_PARAMS)
    with pytest.raises(ModelError, match=r"missing: run `dvc repro` first"):
        context_model.load(tmp_path / "absent.json")
    model = context_model.fit(_general_rows(), ["same_party", "distance"], GENERAL_PARAMS)
    with pytest.raises(ModelError, match=r"lacks column\(s\) distance"):
        model.predict_yea(_general_rows().drop(columns="distance"))
    plain = tmp_path / "plain.json"
    xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(np.eye(2), label=[0, 1]), 1).save_model(str(plain))
    with pytest.raises(ModelError, match="not a general model"):
        context_model.load(plain)


def test_general_models_by_congress_see_only_earlier_rows():
    rows = _general_rows()
    models = context_model.fit_by_congress(rows, [117, 118], ["same_party", "distance"], GENERAL_PARAMS)
    assert list(models) == [118]  # nothing before the 117th began: no model, no look-ahead
    p = context_model.out_of_time_yea(rows, models)
    assert np.isnan(p[rows["congress"] == 117]).all() and np.isfinite(p[rows["congress"] == 118]).all()
    earlier = rows[rows["date"] < context_model.congress_start(118)]
    direct = context_model.fit(earlier, ["same_party", "distance"], GENERAL_PARAMS).predict_yea(rows)
    np.testing.assert_array_equal(p[rows["congress"] == 118], direct[rows["congress"] == 118])


def _general_file(tmp_path, interleaved: bool = False) -> tuple[pd.DataFrame, object]:
    """``_general_rows`` with the general rows' light columns, written in row groups of 64 rows (``interleaved``:
    the two congresses' rows alternating)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _general_rows().assign(
        bioguide_id=lambda f: "M" + (np.arange(len(f)) % 37).astype(str),
        measure_id=lambda f: "m" + f["measure_id"].astype(str),
        chamber="house",
        party=lambda f: np.where(f["same_party"] == 1, "R", "D"),
        sponsor_is_republican=1.0,
    )
    if interleaved:
        half = len(rows) // 2  # the 117th's rows are the first half
        rows = rows.iloc[np.column_stack([np.arange(half), np.arange(half, len(rows))]).ravel()]
        rows = rows.reset_index(drop=True)
    path = tmp_path / "general.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), path, row_group_size=64)
    return rows, path


def test_general_rows_read_by_row_group_are_the_rows(tmp_path):
    from models.general import GeneralRows

    rows, path = _general_file(tmp_path)
    general = GeneralRows(path, pd.Timestamp("2030-01-01"))
    assert general.file.num_row_groups == 7 and len(general.light) == len(rows)
    positions = np.random.default_rng(1).permutation(len(rows))[:150]  # across every row group, in any order
    expected = rows.iloc[positions][["distance", "same_party"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(general.take(positions, ["distance", "same_party"]), expected)
    seen = np.concatenate([p for p, frame in general.groups(["distance"])])
    assert sorted(seen) == list(range(len(rows)))
    # fitted from the light columns and the rows drawn, models equal those fitted on the whole frame
    params = GENERAL_PARAMS | {"max_rows": 150}
    features = ["same_party", "distance"]
    streamed = context_model.fit_by_congress(general.light, [117, 118], features, params, general.take)
    whole = context_model.fit_by_congress(rows, [117, 118], features, params)
    np.testing.assert_array_equal(streamed[118].predict_yea(rows), whole[118].predict_yea(rows))


def test_general_rows_after_the_date_are_left_out(tmp_path):
    from models.general import GeneralRows

    rows, path = _general_file(tmp_path, interleaved=True)
    general = GeneralRows(path, pd.Timestamp("2022-01-01"))  # every other row is the 118th's, dated 2023-08-11
    kept = rows[rows["date"] <= pd.Timestamp("2022-01-01")].reset_index(drop=True)
    assert len(general.light) == len(kept) == 200
    pd.testing.assert_frame_equal(general.light[["measure_id", "voted_yea"]], kept[["measure_id", "voted_yea"]])
    for positions, frame in general.groups(["distance", "congress"]):
        pd.testing.assert_frame_equal(frame, kept.iloc[positions][["distance", "congress"]].reset_index(drop=True))
    pd.testing.assert_frame_equal(
        general.take(np.arange(200)[::-1], ["distance"]), kept[["distance"]][::-1].reset_index(drop=True)
    )
    assert sum(len(frame) for _, frame in general.groups(["distance"])) == 200


def test_a_general_rows_file_that_cannot_be_read_is_named(tmp_path):
    from models.general import GeneralRows

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not a table")
    with pytest.raises(DataError, match="broken.parquet: cannot read the general rows"):
        GeneralRows(broken, pd.Timestamp("2025-12-31"))
    _, path = _general_file(tmp_path)
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(path).drop(["voted_yea"]), broken)  # a column missing
    with pytest.raises(DataError, match=r"broken.parquet: no column voted_yea in the general rows"):
        GeneralRows(broken, pd.Timestamp("2025-12-31"))
    general = GeneralRows(path, pd.Timestamp("2025-12-31"))
    for read in (
        lambda: general.take(np.arange(3), ["distance", "prior_stage_yea"]),
        lambda: next(general.groups(["prior_stage_yea"])),
    ):
        with pytest.raises(DataError, match="general.parquet: no column prior_stage_yea in the general rows"):
            read()
