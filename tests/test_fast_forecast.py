"""The fast forecast path (issue 12, items 2 and 3): a forecast from the member state equals the forecast from
features recomputed on the tables cut at the date, the model comes from data/models only when it is the champion,
and the command line does not import MLflow. On the real snapshot and the pipeline's outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import DESCRIBED

from features import member_state
from features.build import Context, build_features, forecast_measures, forecast_pairs
from features.registry import build_registry, load_additions
from forecasts import api, predict, reasons
from models import support_model
from pipeline.config import FEATURES_DIR, MODELS_DIR, PROJECT_ROOT, DataConfig, load_params
from pipeline.errors import DataError
from pipeline.tables import cut_as_of, read_table

REGISTRY_BILLS = ("119hr6508", "119s2174", "119s3262", "119s2914", "119hr5793", "116hr676")


class SlowWay:
    """The forecast as the command line made it before the member state: every table cut at the date, a full
    Context, build_features over the bill's sitting members."""

    def __init__(self, as_of: pd.Timestamp):
        self.params = load_params()
        self.as_of = as_of
        self.tables = {name: read_table(name) for name in member_state.TABLES}
        self.cut = cut_as_of(self.tables, as_of)
        catalog = pd.read_parquet(FEATURES_DIR / "catalog.parquet")
        self.catalog = catalog[catalog["date"] <= as_of]
        registry, cosponsorships = self.registry([])
        self.ctx = Context(self.cut, registry, cosponsorships, self.catalog, self.params["features"])

    def registry(self, additions: list[dict]):
        return build_registry(
            self.cut["bills"],
            self.cut["cosponsorships"],
            self.tables["members"],
            load_additions() + additions,
            "the bill description",
        )

    def features(self, bill_id: str, additions: list[dict]) -> pd.DataFrame:
        registry, cosponsorships = self.registry(additions)
        ctx = Context.__new__(Context)  # the full context with this call's registry (as the CLI built it)
        ctx.__dict__.update(self.ctx.__dict__)
        ctx.registry, ctx.cosponsorships = registry, cosponsorships
        from features.build import bill_sponsors

        ctx.bill_sponsors = bill_sponsors(self.cut["bills"], registry)
        chosen = registry[registry["bill_id"] == bill_id]
        return build_features(ctx, forecast_pairs(ctx, forecast_measures(chosen, self.as_of), self.cut["terms"]))

    def forecast(self, bill_id: str, additions: list[dict], forecaster: api.Forecaster) -> dict:
        model, _, scale = forecaster.model()
        registry, _ = self.registry(additions)
        forecasts, counts = predict.forecast_bills(
            model,
            self.features(bill_id, additions),
            self.cut["votes"],
            self.catalog,
            registry,
            scale,
            self.tables["members"],
            self.params["features"]["named_sponsors"],
        )
        return counts[0] | {"forecasts": forecasts}


def assert_same_features(slow: pd.DataFrame, fast: pd.DataFrame) -> None:
    assert list(slow.columns) == list(fast.columns) and len(slow) == len(fast)
    for column in slow.columns:
        a, b = slow[column], fast[column]
        if a.dtype.kind in "fiub" and b.dtype.kind in "fiub":
            np.testing.assert_allclose(
                a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=column
            )
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), column


def assert_same_forecast(slow: dict, fast: dict) -> None:
    a = slow["forecasts"].reset_index(drop=True)
    b = fast["forecasts"].reset_index(drop=True)
    assert a["bioguide_id"].tolist() == b["bioguide_id"].tolist()
    np.testing.assert_allclose(a["probability"], b["probability"], rtol=1e-9, atol=1e-12)
    for column in ("reasons_for", "reasons_against", "last_alliance_vote", "is_sponsor", "is_cosponsor", "voting"):
        assert a[column].astype(str).tolist() == b[column].astype(str).tolist(), column
    for key in ("members", "committed", "interval_90", "likely_supporters", "swing", "thresholds", "label"):
        assert slow[key] == fast[key], key
    assert slow["expected_supporters"] == pytest.approx(fast["expected_supporters"], abs=0.01)
    assert slow["p_pass"] == pytest.approx(fast["p_pass"], abs=1e-3)


@pytest.fixture(scope="module")
def forecaster() -> api.Forecaster:
    return api.Forecaster()


@pytest.fixture(scope="module")
def pipeline_date() -> pd.Timestamp:
    return DataConfig.from_params(load_params()).as_of


@pytest.fixture(scope="module")
def slow(pipeline_date) -> SlowWay:
    return SlowWay(pipeline_date)


def test_the_pipeline_writes_the_state_of_its_date(pipeline_date):
    meta = json.loads((member_state.STATE_DIR / "meta.json").read_text())
    assert meta["as_of"] == f"{pipeline_date:%Y-%m-%d}" and meta["key"] == member_state.input_key(load_params())
    state = member_state.load(member_state.STATE_DIR, load_params())
    rows = state.frames["rows"]
    seated = rows.drop_duplicates(["chamber", "bioguide_id"])["chamber"].value_counts()
    assert seated["senate"] == 100 and 430 <= seated["house"] <= 441
    # every sitting member once per (orientation, domain); no vote on or after the measure's day
    assert (rows.groupby(["chamber", "orientation", "domain"]).size().unstack().nunique(axis=1) == 1).all()
    assert state.frames["votes"]["vote_days"].max() < state.meta["day"]


@pytest.mark.parametrize("bill_id", REGISTRY_BILLS)
def test_registry_bill_from_the_state_equals_the_recomputed_forecast(bill_id, forecaster, slow, pipeline_date):
    state = forecaster.state(pipeline_date)
    registry, cosponsorships = state.registry([])
    fast = state.features(forecast_measures(registry[registry["bill_id"] == bill_id], pipeline_date), registry,
                          cosponsorships)  # fmt: skip
    assert_same_features(slow.features(bill_id, []), fast)
    assert_same_forecast(slow.forecast(bill_id, [], forecaster), forecaster.forecast(bill_id))


def test_described_bill_from_the_state_equals_the_recomputed_forecast(forecaster, slow):
    fast = forecaster.forecast(DESCRIBED)
    assert_same_forecast(slow.forecast(DESCRIBED["bill_id"], [DESCRIBED], forecaster), fast)
    members = fast["forecasts"].set_index("bioguide_id")
    assert members.loc["M001184", "is_sponsor"] == 1 and members.loc["L000596", "is_cosponsor"] == 1


def test_a_bill_voted_on_before_carries_its_last_stage_in_the_state_as_in_the_recomputed_forecast(forecaster, slow):
    """The stopgap H.R. 5371 passed the Senate on 2025-11-10 (s618-119.2025, 60-40, after cloture votes the same
    day); a new Senate vote on it, described by the user, starts from each senator's vote there."""
    bill = {
        "bill_id": "119hr5371",
        "chamber": "senate",
        "introduced": "2025-09-16",
        "stance": 1,
        "stance_reason": "given in the test",
        "sponsor": "C001053",
        "procedure": "passage",
        "title": "Continuing Appropriations and Extensions Act, 2026",
    }
    fast = forecaster.forecast(bill)
    assert_same_forecast(slow.forecast(bill["bill_id"], [bill], forecaster), fast)
    features = slow.features(bill["bill_id"], [bill]).set_index("bioguide_id")
    passage = read_table("votes", rollcalls=["s618-119.2025"]).set_index("bioguide_id")["position"].astype(str)
    expected = passage.map({"yea": 1.0, "nay": 0.0}).reindex(features.index)
    np.testing.assert_array_equal(features["prior_stage_yea"].to_numpy(), expected.to_numpy())
    assert features["prior_stage_yea"].sum() == 60 and features["prior_stage_yea"].notna().sum() == 100


def test_another_date_is_computed_once_cached_and_equals_the_recomputed_forecast(tmp_path, monkeypatch):
    as_of = pd.Timestamp("2025-10-01")
    monkeypatch.setattr(member_state, "CACHE_DIR", tmp_path / "cache")
    (tmp_path / "cache" / "2025-10-01-0123456789abcdef").mkdir(parents=True)  # a state of other inputs: removed
    first = api.Forecaster()
    result = first.forecast("119s2914", as_of)
    cached = list((tmp_path / "cache").iterdir())
    assert [p.name for p in cached] == [f"2025-10-01-{member_state.input_key(load_params())}"]
    assert not [p for p in (tmp_path / "cache").glob(".*")]  # no staging folder left behind
    second = api.Forecaster()
    state, source = member_state.state_as_of(second.params, as_of)
    assert source == str(cached[0])
    assert_same_forecast(result, second.forecast("119s2914", as_of))
    slow = SlowWay(as_of)
    assert_same_forecast(slow.forecast("119s2914", [], second), result)
    assert result["forecasts"].set_index("bioguide_id").loc["S001181", "is_cosponsor"] == 1  # Shaheen, 2025-09-22


def test_the_cache_key_follows_the_inputs():
    params = load_params()
    changed = json.loads(json.dumps(params))
    changed["features"]["window_days"] = 365
    assert member_state.input_key(params) == member_state.input_key(load_params())
    assert member_state.input_key(params) != member_state.input_key(changed)


def test_agreement_counted_for_one_date_equals_the_dated_history(slow, pipeline_date):
    """``agreement_with`` counts the window's votes directly when every pair has the same date (a forecast) and
    goes through the dated event history otherwise (training): the same shares, to the bit, on the real tables."""
    from features.build import agreement_with, prepare_pairs

    registry, _ = slow.registry([])
    chosen = registry[registry["bill_id"] == "119hr6508"]
    measures = forecast_measures(chosen, pipeline_date)
    pairs = prepare_pairs(slow.ctx, forecast_pairs(slow.ctx, measures, slow.cut["terms"]))
    earlier = pairs.assign(day=pairs["day"] - 30)
    for sponsor in ("M001184", "L000596", "P000197"):  # Massie, Luna, Pelosi
        one_date = agreement_with(slow.ctx, sponsor, pairs)
        dated = agreement_with(slow.ctx, sponsor, pd.concat([pairs, earlier], ignore_index=True)).iloc[: len(pairs)]
        np.testing.assert_array_equal(one_date.to_numpy(), dated.to_numpy())
        assert one_date.notna().sum() > 400 and one_date.between(0, 1).sum() == one_date.notna().sum()
    massie = agreement_with(slow.ctx, "M001184", pairs).set_axis(pairs["bioguide_id"])
    assert massie["M001184"] == 1.0 and massie["L000596"] > massie["P000197"]  # himself; Luna over Pelosi


def test_the_state_answers_only_for_its_own_day(forecaster, pipeline_date):
    state = forecaster.state(pipeline_date)
    ctx = member_state.StateContext(state, *state.registry([]))
    codes = np.array([0, 1])
    with pytest.raises(DataError, match="its own day"):
        ctx.loyalty.sums_before(codes, np.array([state.meta["day"] - 1] * 2), state.params["window_days"])
    registry, cosponsorships = state.registry([])
    earlier = forecast_measures(registry[registry["bill_id"] == "119hr6508"], pipeline_date - pd.Timedelta(days=1))
    with pytest.raises(DataError, match="cannot serve"):
        state.features(earlier, registry, cosponsorships)


def test_bad_input_gets_the_same_errors(forecaster):
    with pytest.raises(DataError, match="did you mean 119hr6508"):
        forecaster.forecast("119hr6580")
    with pytest.raises(DataError, match="outside the data"):
        forecaster.forecast("119hr6508", "2030-01-01")
    with pytest.raises(DataError, match="takes no side"):
        forecaster.forecast("119s2151")


def test_the_model_comes_from_data_models_only_when_it_is_the_champion(tmp_path, monkeypatch):
    params = load_params()["model"]
    model, info, note = predict.load_model(params)
    record = json.loads(predict.CHAMPION_RECORD.read_text())
    assert note is None and info["fingerprint"] == record["fingerprint"] == support_model.fingerprint(MODELS_DIR)
    assert info["version"] == record["version"] and info["run_name"]
    wrong = tmp_path / "champion.json"
    wrong.write_text(json.dumps(record | {"fingerprint": "0000000000"}))
    monkeypatch.setattr(predict, "CHAMPION_RECORD", wrong)
    from_mlflow, mlflow_info, note = predict.load_model(params)
    assert "not the champion 0000000000" in note and "loaded from MLflow" in note
    assert mlflow_info["version"] == record["version"]
    frame = pd.read_parquet(FEATURES_DIR / "forecast.parquet").head(50)
    np.testing.assert_allclose(model.predict_yea(frame), from_mlflow.predict_yea(frame))
    monkeypatch.setattr(predict, "CHAMPION_RECORD", tmp_path / "missing.json")
    assert "no champion recorded" in predict.load_model(params)[2]


def test_the_fast_path_does_not_import_mlflow_xgboost_sklearn_or_scipy():
    """MLflow, the xgboost package (which imports scikit-learn and SciPy's statistics), scikit-learn and SciPy are
    seconds of a command's start: a forecast reads the model through XGBoost's library and needs none of them."""
    code = (
        "import sys; from forecasts import cli, forecast; forecast('119hr6508'); forecast('119s2174'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'xgboost', 'sklearn', 'scipy'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_without_reasons_the_probabilities_and_count_are_the_same(forecaster):
    full, quick = forecaster.forecast(DESCRIBED), forecaster.forecast(DESCRIBED, reasons=False)
    np.testing.assert_array_equal(full["forecasts"]["probability"], quick["forecasts"]["probability"])
    assert {k: v for k, v in full.items() if k != "forecasts"} == {k: v for k, v in quick.items() if k != "forecasts"}
    assert (quick["forecasts"]["reasons_for"] == "").all() and full["forecasts"]["reasons_for"].str.len().gt(0).any()


def test_family_sums_are_the_column_loops_sums_bit_for_bit():
    rng = np.random.default_rng(7)
    values = rng.normal(size=(40, 30)) * 10.0 ** rng.integers(-6, 3, size=30)  # magnitudes far apart
    names = [f"family {i}" for i in rng.integers(0, 6, size=30)]
    families, sums = reasons.family_sums(values, names)
    assert families == list(dict.fromkeys(names))
    for row, total in zip(values, sums, strict=True):
        groups: dict[str, float] = {}
        for name, value in zip(names, row.tolist(), strict=True):
            groups[name] = groups.get(name, 0.0) + value
        assert list(groups) == families and list(groups.values()) == total.tolist()


def test_reasons_computed_beside_the_count_equal_the_serial_forecast(forecaster, pipeline_date):
    """forecast_bills runs the contributions in a thread while it simulates the count: the same columns, values
    and reasons as ``predict.forecast`` computing everything in turn."""
    state = forecaster.state(pipeline_date)
    registry, cosponsorships = state.registry([DESCRIBED])
    chosen = registry[registry["bill_id"] == DESCRIBED["bill_id"]]
    features = state.features(forecast_measures(chosen, pipeline_date), registry, cosponsorships)
    model, _, scale = forecaster.model()
    named = forecaster.params["features"]["named_sponsors"]
    threaded, counts = predict.forecast_bills(
        model, features, state.frames["alliance_votes"], state.frames["catalog"], registry, scale,
        state.frames["members_full"], named, True, 2000,
    )  # fmt: skip
    serial = predict.forecast(model, features, named)
    pd.testing.assert_frame_equal(threaded.drop(columns="last_alliance_vote"), serial, check_exact=True)
    assert threaded["reasons_for"].str.len().gt(0).any() and counts[0]["committed"] == 3
    assert threaded.set_index("bioguide_id").loc["M001184", "reasons_for"].startswith("sponsor of this bill")


def test_a_forecaster_gives_the_same_forecast_whatever_it_forecast_before(forecaster):
    """The state's feature context is built once and shared by every call: a described bill (its own registry,
    sponsor and cosponsors) leaves nothing behind for the next bill."""
    fresh = api.Forecaster()
    alone = fresh.forecast("119hr6508")
    forecaster.forecast(DESCRIBED)
    after = forecaster.forecast("119hr6508")
    pd.testing.assert_frame_equal(alone["forecasts"], after["forecasts"], check_exact=True)
    assert {k: v for k, v in alone.items() if k != "forecasts"} == {k: v for k, v in after.items() if k != "forecasts"}
    described = fresh.forecast(DESCRIBED)
    pd.testing.assert_frame_equal(described["forecasts"], forecaster.forecast(DESCRIBED)["forecasts"], check_exact=True)


def test_the_api_takes_an_id_and_a_date_in_the_forms_a_user_has(forecaster, pipeline_date):
    """The id as the command line takes it ('119HR6508', 'H.R.6508' with its congress), a described bill's id in
    capitals, and the date as a datetime.date, a datetime at midnight or a tz-aware Timestamp: the same forecast."""
    import datetime

    plain = forecaster.forecast("119hr6508", reasons=False)
    for bill in ("119HR6508", "119 H.R. 6508"):
        assert forecaster.forecast(bill, reasons=False)["expected_supporters"] == plain["expected_supporters"]
    day = pipeline_date.date()
    for as_of in (day, datetime.datetime(day.year, day.month, day.day), pd.Timestamp(day, tz="UTC")):
        dated = forecaster.forecast("119hr6508", as_of, reasons=False)
        assert (
            dated["as_of"] == f"{pipeline_date:%Y-%m-%d}"
            and dated["expected_supporters"] == plain["expected_supporters"]
        )
    described = forecaster.forecast(DESCRIBED | {"bill_id": "119HR9999"}, reasons=False)
    assert described["bill_id"] == "119hr9999" and described["members"] == plain["members"]


def test_the_api_names_a_wrong_argument(forecaster, pipeline_date):
    """A wrong type or a time of day is one clear error, not a TypeError from inside pandas."""
    for bill in (6508, None, ["119hr6508"]):
        with pytest.raises(TypeError, match=r"bill: an id like '119hr6508' \(str\) or a described bill \(dict\)"):
            forecaster.forecast(bill)
    with pytest.raises(DataError, match="the bill description: bill_id must be an id like 119hr9999, not 9999"):
        forecaster.forecast(DESCRIBED | {"bill_id": 9999})
    with pytest.raises(DataError, match="has a time of day"):
        forecaster.forecast("119hr6508", pipeline_date - pd.Timedelta(hours=12))
    with pytest.raises(DataError, match="is not a date"):
        forecaster.forecast("119hr6508", True)


def test_what_a_forecast_returns_is_the_callers_to_edit(forecaster):
    """Editing a returned forecast (its model record, its member table) changes nothing in the next one."""
    first = forecaster.forecast("119hr6508", reasons=False)
    fingerprint = first["model"]["fingerprint"]
    first["model"]["fingerprint"] = "edited"
    first["forecasts"]["probability"] = 0.0
    second = forecaster.forecast("119hr6508", reasons=False)
    assert second["model"]["fingerprint"] == fingerprint != "edited"
    assert second["forecasts"]["probability"].gt(0).all()


def test_a_forecaster_keeps_a_bounded_number_of_states_in_memory(monkeypatch):
    """Forecasts over many dates (each week of a year, say) do not pile up member states in memory: beyond
    STATES_KEPT the least recently used is dropped, and read again from the disk cache, the same, when asked."""
    monkeypatch.setattr(api, "STATES_KEPT", 1)
    fresh = api.Forecaster()
    first = fresh.forecast("119s2914", "2025-10-01", reasons=False)
    fresh.forecast("119s2914", "2025-10-04", reasons=False)
    assert len(fresh._states) == 2 and pd.Timestamp("2025-10-01") not in fresh._states  # the pipeline's and one
    again = fresh.forecast("119s2914", "2025-10-01", reasons=False)
    pd.testing.assert_frame_equal(first["forecasts"], again["forecasts"], check_exact=True)
    assert set(fresh._memos) <= set(fresh._states)
