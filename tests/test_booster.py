"""models/booster.py: XGBoost's library called directly gives the xgboost package's predictions, TreeSHAP
contributions and importances bit for bit, round-trips XGBoost's JSON, and names every bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from models.booster import Booster
from models.errors import ModelError
from pipeline.config import FEATURES_DIR, MODELS_DIR


def _trained(rng: np.random.Generator) -> tuple[xgb.Booster, np.ndarray, np.ndarray]:
    x = rng.normal(size=(400, 4))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take the learned default branch
    y = (np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) + rng.normal(size=400) > 0).astype(int)
    margin = rng.normal(size=400)
    matrix = xgb.DMatrix(pd.DataFrame(x, columns=list("abcd")), label=y, base_margin=margin, missing=np.nan)
    trained = xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": 1}, matrix, num_boost_round=20)
    return trained, x, margin


@pytest.mark.unit
def test_same_predictions_contributions_and_gain_as_the_package(tmp_path):
    trained, x, margin = _trained(np.random.default_rng(3))
    booster = Booster.from_trained(trained)
    reference = xgb.DMatrix(pd.DataFrame(x, columns=list("abcd")), base_margin=margin, missing=np.nan)
    np.testing.assert_array_equal(booster.predict(x, margin), trained.predict(reference))
    np.testing.assert_array_equal(booster.predict(x, margin, "margin"), trained.predict(reference, output_margin=True))
    contributions = booster.predict(x, margin, "contributions")
    np.testing.assert_array_equal(contributions, trained.predict(reference, pred_contribs=True))
    assert contributions.shape == (400, 5)  # the bias last
    assert booster.gain(list("abcd")) == pytest.approx(trained.get_score(importance_type="gain"), rel=0, abs=0)
    # round trip through XGBoost's JSON, with an attribute
    booster.set_attribute("features", json.dumps(list("abcd")))
    booster.save(tmp_path / "model.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]  # no temporary file left behind
    again = Booster.load(tmp_path / "model.json")
    assert json.loads(again.attribute("features")) == list("abcd") and again.attribute("absent") is None
    np.testing.assert_array_equal(again.predict(x, margin), booster.predict(x, margin))
    assert again.num_features == 4
    assert booster.predict(x[:0]).shape == (0,) and booster.predict(x[:0], kind="contributions").shape == (0, 5)


@pytest.mark.unit
def test_bad_input_is_named(tmp_path):
    booster = Booster.from_trained(_trained(np.random.default_rng(4))[0])
    assert booster.feature_names == list("abcd")
    booster.check_features(list("abcd"))
    with pytest.raises(ModelError, match=r"trained on columns \['a', 'b', 'c', 'd'\], not \['d', 'c', 'b', 'a'\]"):
        booster.check_features(list("dcba"))  # the library reads columns by position: a swap would go unnoticed
    with pytest.raises(ModelError, match="prediction kind 'leaf' is not one of value, margin, contributions"):
        booster.predict(np.zeros((2, 4)), kind="leaf")
    with pytest.raises(ModelError, match=r"could not set the base margins .*: Check failed") as failed:
        booster.predict(np.zeros((2, 4)), np.zeros(3))  # one margin per row
    assert "Stack trace" not in str(failed.value) and ".cc:" not in str(failed.value)
    with pytest.raises(ModelError, match="3 columns, the model 4 features"):
        booster.predict(np.zeros((2, 3)))  # the library alone would read the fourth column as missing
    with pytest.raises(ModelError, match="2-d float array, not int64"):
        booster.predict(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ModelError, match="2-d float array"):
        booster.predict(np.zeros(4))
    with pytest.raises(ModelError, match="missing"):
        Booster.load(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"learner": ')
    with pytest.raises(ModelError, match=f"could not read the model file {broken}"):
        Booster.load(broken)


@pytest.mark.pipeline
def test_the_pipeline_models_equal_the_package_on_the_forecast_rows():
    """The general model and the NATO booster of data/models, on every forecast row of the pipeline: the
    library's predictions and TreeSHAP contributions are the package's, bit for bit."""
    from models import support_model

    model = support_model.load(MODELS_DIR)
    frame = pd.read_parquet(FEATURES_DIR / "forecast.parquet")
    general = xgb.Booster()
    general.load_model(MODELS_DIR / "context_booster.json")
    matrix = xgb.DMatrix(frame[model.context.features].astype(np.float32), missing=np.nan)
    np.testing.assert_array_equal(model.context.booster_yea(frame), general.predict(matrix).astype(float))
    np.testing.assert_array_equal(
        model.context.contributions(frame).to_numpy(), general.predict(matrix, pred_contribs=True)[:, :-1]
    )
    frame = frame.assign(context_p_yea=model.context.predict_yea(frame))
    nato = xgb.Booster()
    nato.load_model(MODELS_DIR / "booster.json")
    features, margin = model.inputs(frame)
    matrix = xgb.DMatrix(features, base_margin=margin, missing=np.nan)
    np.testing.assert_array_equal(model.raw_alliance(frame), nato.predict(matrix))
    np.testing.assert_array_equal(
        model.booster.predict(features.to_numpy(), margin, "contributions"), nato.predict(matrix, pred_contribs=True)
    )
    assert len(frame) > 1000


@pytest.mark.pipeline
def test_a_model_whose_feature_list_is_out_of_order_is_refused(tmp_path):
    """calibration.json lists the columns in the order the caller builds them; a list out of the booster's
    order would feed every column to the wrong split."""
    from models import support_model

    for name in support_model.MODEL_FILES:
        (tmp_path / name).write_bytes((MODELS_DIR / name).read_bytes())
    meta = json.loads((tmp_path / "calibration.json").read_text())
    meta["features"] = meta["features"][1:] + meta["features"][:1]
    (tmp_path / "calibration.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="booster.json was trained on columns"):
        support_model.load(tmp_path)
