"""The warm forecast's shortcuts change no output (issue 12, "<= 0.2 s warm through the Python API"): TreeSHAP
grouped by the way rows go through each tree (models/booster.py, ``Booster.contributions``) equals XGBoost's own
TreeSHAP bit for bit, on small models the xgboost package trains here and on the pipeline's models, and a
forecast through the Python API is the same, column by column and value by value, as with XGBoost's TreeSHAP of
every member."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from conftest import DESCRIBED

from models import booster as booster_module
from models.booster import Booster, SplitDecisions, number_ways
from models.errors import ModelError


def _data(rng: np.random.Generator, rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Features like a forecast's: flags, a few levels, continuous scores, missing values; a noisy label."""
    x = np.column_stack(
        [
            rng.integers(0, 2, rows),  # a party flag
            rng.integers(0, 2, rows),  # sponsorship
            rng.integers(0, 5, rows),  # a count
            rng.normal(size=rows),  # an ideology score
            rng.uniform(size=rows),  # a share
            rng.normal(size=rows).round(1),  # ties
        ]
    ).astype(float)
    x[rng.random(x.shape) < 0.08] = np.nan  # missing values take each split's default side
    y = (np.nan_to_num(x[:, 3]) + x[:, 0] - np.nan_to_num(x[:, 4]) + rng.normal(size=rows) > 0.3).astype(int)
    return x, y


def _plain(booster: Booster, x: np.ndarray) -> np.ndarray:
    """XGBoost's own TreeSHAP of every row and tree, the bias left out."""
    return booster.predict(x, kind="contributions")[..., :-1]


@pytest.mark.unit
@pytest.mark.parametrize("depth", [1, 3, 6])
def test_grouped_contributions_equal_xgboost_bit_for_bit(depth):
    rng = np.random.default_rng(depth)
    x, y = _data(rng)
    trained = xgb.train(
        {"objective": "binary:logistic", "max_depth": depth, "eta": 0.3, "seed": 2},
        xgb.DMatrix(x, label=y, missing=np.nan),
        num_boost_round=40,
    )
    booster = Booster.from_trained(trained)
    grouped = booster.contributions(x)
    assert isinstance(booster._decisions, SplitDecisions)  # the grouping ran, not the plain fallback
    assert grouped.dtype == np.float32 and grouped.shape == (len(x), x.shape[1])
    np.testing.assert_array_equal(grouped, _plain(booster, x))
    np.testing.assert_array_equal(grouped, trained.predict(xgb.DMatrix(x, missing=np.nan), pred_contribs=True)[:, :-1])
    # rows do share ways: fewer rows evaluated per tree than there are rows
    way, _ = number_ways(booster._decisions.ways(x.astype(np.float32)))
    assert way.max() + 1 < len(x)
    # float32 input, a few rows, one row, a single thread: the same values
    np.testing.assert_array_equal(booster.contributions(x.astype(np.float32)), grouped)
    np.testing.assert_array_equal(booster.contributions(x[5:9]), _plain(booster, x[5:9]))
    np.testing.assert_array_equal(booster.contributions(x[:1]), _plain(booster, x[:1]))
    booster.use_threads(1)
    np.testing.assert_array_equal(booster.contributions(x), grouped)
    assert booster.contributions(x[:0]).shape == (0, x.shape[1])


@pytest.mark.unit
def test_rows_in_chunks_and_infinite_inputs(monkeypatch):
    """More rows than one chunk of the grouping give the same values; an input holding +-inf (or a float64 beyond
    float32's range) gets XGBoost's own refusal, even where the grouping would never show it that value."""
    rng = np.random.default_rng(7)
    x, y = _data(rng, rows=900)
    x[:, 2] = 1.0  # a column no tree splits on
    trained = xgb.train({"objective": "binary:logistic", "max_depth": 4, "seed": 2}, xgb.DMatrix(x, label=y), 30)
    booster = Booster.from_trained(trained)
    monkeypatch.setattr(booster_module, "CHUNK_ROWS", 128)
    np.testing.assert_array_equal(booster.contributions(x), _plain(booster, x))
    for column, value in ((2, np.inf), (0, -np.inf), (3, 1e300)):
        bad = x.copy()
        bad[7, column] = value
        with pytest.raises(ModelError, match="inf"):
            booster.contributions(bad)


@pytest.mark.unit
def test_trees_of_one_leaf_and_models_the_grouping_does_not_cover():
    rng = np.random.default_rng(11)
    x, y = _data(rng)
    matrix = xgb.DMatrix(x, label=y, missing=np.nan)
    first = xgb.train({"objective": "binary:logistic", "max_depth": 4, "seed": 1}, matrix, num_boost_round=10)
    # rounds whose every split is pruned (gamma): trees of one leaf among the others
    pruned = xgb.train({"objective": "binary:logistic", "gamma": 1e9}, matrix, num_boost_round=3, xgb_model=first)
    booster = Booster.from_trained(pruned)
    trees = json.loads(booster.to_json())["learner"]["gradient_booster"]["model"]["trees"]
    assert len(trees) == 13 and sum(tree["left_children"] == [-1] for tree in trees) == 3
    np.testing.assert_array_equal(booster.contributions(x), _plain(booster, x))
    assert isinstance(booster._decisions, SplitDecisions)
    # only leaves: nothing to group (every feature's contribution is 0)
    leaves = Booster.from_trained(xgb.train({"objective": "binary:logistic", "gamma": 1e9}, matrix, num_boost_round=3))
    np.testing.assert_array_equal(leaves.contributions(x), _plain(leaves, x))
    assert leaves._decisions is None and not leaves.contributions(x).any()
    # three classes: each class's trees interleave; the library's own TreeSHAP answers, per class
    labels = rng.integers(0, 3, len(x))
    classes = Booster.from_trained(
        xgb.train(
            {"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
            xgb.DMatrix(x, label=labels, missing=np.nan),
            num_boost_round=5,
        )
    )
    assert classes.contributions(x).shape == (len(x), 3, x.shape[1]) and classes._decisions is None


@pytest.mark.unit
def test_ways_are_numbered_per_tree_with_a_row_taking_each():
    keys = np.array([[5, 3, 5, 5, 3], [1, 1, 1, 1, 1], [9, 8, 7, 8, 9]], dtype=np.uint64)  # trees x rows
    way, representative = number_ways(keys)
    np.testing.assert_array_equal(way, [[1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [2, 1, 0, 1, 2]])
    assert representative.shape == (3, 3)  # as many ways as the tree with the most
    for tree in range(3):
        for number in range(way[tree].max() + 1):
            assert way[tree, representative[tree, number]] == number  # the representative takes that way
    assert set(representative[1]) == {0}  # a tree of one way repeats its first row


@pytest.mark.pipeline
def test_the_pipeline_models_grouped_contributions_equal_xgboost_on_every_forecast_row():
    from models import support_model
    from pipeline.config import FEATURES_DIR, MODELS_DIR

    model = support_model.load(MODELS_DIR, threads=1)
    frame = pd.read_parquet(FEATURES_DIR / "forecast.parquet")
    general = model.context.booster
    x = frame[model.context.features].to_numpy(dtype=np.float32, na_value=np.nan)
    np.testing.assert_array_equal(general.contributions(x), _plain(general, x))
    for _, bill in frame.groupby("measure_id"):  # one bill at a time, as a forecast asks
        rows = bill[model.context.features].to_numpy(dtype=np.float32, na_value=np.nan)
        np.testing.assert_array_equal(general.contributions(rows), _plain(general, rows))
    features, _ = model.inputs(frame.assign(context_p_yea=model.context.predict_yea(frame)))
    nato = features.to_numpy()
    np.testing.assert_array_equal(model.booster.contributions(nato), _plain(model.booster, nato))
    assert len(frame) > 1000


@pytest.fixture(scope="module")
def forecaster():
    from forecasts import api

    return api.Forecaster()


@pytest.mark.pipeline
@pytest.mark.parametrize("bill", ["119hr6508", "119s2174", DESCRIBED], ids=["119hr6508", "119s2174", "described"])
def test_a_warm_forecast_equals_the_forecast_with_xgboosts_treeshap_of_every_member(bill, forecaster, monkeypatch):
    """The whole output of the Python API (every member's probability, flags and reasons in words, the count, its
    distribution and thresholds) as a second call in a process gives it, against the same call with XGBoost's
    TreeSHAP of every member and tree (the computation before the grouping)."""
    forecaster.forecast("119hr6508")  # warm: the state, the model and its stacks loaded
    grouped = forecaster.forecast(bill)
    with monkeypatch.context() as patched:
        patched.setattr(Booster, "contributions", _plain)
        plain = forecaster.forecast(bill)
    members = grouped.pop("forecasts")
    pd.testing.assert_frame_equal(members, plain.pop("forecasts"), check_exact=True)
    assert grouped == plain
    assert members["reasons_for"].str.len().gt(0).mean() > 0.5 and members["reasons_against"].str.len().gt(0).any()


@pytest.mark.pipeline
@pytest.mark.parametrize("bill_id", ["119hr6508", "119s2174"])
def test_a_warm_forecast_equals_the_predict_stages_published_forecasts(bill_id, forecaster):
    """What the predict stage published (reports/forecasts.parquet: every registry bill at once, from the feature
    table built on the whole tables) is what a second call of the Python API gives for the bill alone: the same
    members, probabilities (to the six decimals published), flags, reasons and last alliance votes."""
    from forecasts.predict import FORECAST_COLUMNS
    from pipeline.config import PROJECT_ROOT

    forecaster.forecast("119s2914")  # warm, on another bill
    members = forecaster.forecast(bill_id)["forecasts"]
    published = pd.read_parquet(PROJECT_ROOT / "reports" / "forecasts.parquet")
    published = published[published["bill_id"] == bill_id].reset_index(drop=True)
    ours = members.assign(probability=members["probability"].round(6))[FORECAST_COLUMNS].reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, published, check_exact=True, check_dtype=False)
    # the Senate's 100, or the House's 433 members and 6 delegates sitting on 2025-12-31
    assert len(published) in (100, 439) and published["reasons_for"].str.len().gt(0).any()


@pytest.mark.unit
@pytest.mark.parametrize(("members", "draws"), [(437, 20000), (100, 1501), (3, 1)])
def test_the_simulated_count_does_not_depend_on_how_the_draws_are_chunked(members, draws):
    """``simulate_supporters`` fills its buffers a chunk of draws at a time: the counts are those of all draws at
    once, from the same stream of random numbers (shocks first, then each draw's uniforms, member by member)."""
    from forecasts.whip import CLIP, simulate_supporters

    p = np.random.default_rng(members).uniform(size=members)
    p[0] = 1.0  # clipped
    rng = np.random.default_rng(5)
    shocks = 1.7 * rng.standard_normal(draws)
    odds_against = (1 - np.clip(p, CLIP, 1 - CLIP)) / np.clip(p, CLIP, 1 - CLIP)
    uniform = rng.random((draws, members))
    expected = np.count_nonzero(uniform * (np.multiply.outer(np.exp(-shocks), odds_against) + 1) < 1, axis=1)
    np.testing.assert_array_equal(simulate_supporters(p, 1.7, draws, seed=5), expected)
