"""The support model, its baselines and metrics, and the MLflow round trip."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from models import support_model, tracking
from models.baselines import BASELINES
from models.dataset import alliance_side, yea_probability
from models.metrics import defectors_found, expected_calibration_error, score, within_party_auc
from pipeline.config import FEATURES_DIR, METRICS_DIR, MODELS_DIR, PROJECT_ROOT, load_params
from pipeline.errors import DataError


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    path = FEATURES_DIR / "training.parquet"
    if not path.exists():
        pytest.fail("data/features/training.parquet is missing: the test command runs `dvc repro` first")
    return pd.read_parquet(path)


@pytest.fixture(scope="module")
def params() -> dict:
    return support_model.model_settings(load_params())


def test_alliance_side_target_and_back():
    voted_yea = pd.Series([1, 0, 1, 0])
    orientation = pd.Series([1, 1, -1, -1])
    assert alliance_side(voted_yea, orientation).tolist() == [1, 0, 0, 1]
    assert yea_probability(np.array([0.9, 0.9]), pd.Series([1, -1])).tolist() == pytest.approx([0.9, 0.1])


def test_training_is_deterministic_for_a_seed(training, params):
    sample = training[training["date"] < "2020-01-01"]
    first = support_model.train(sample, params).predict_yea(sample.head(500))
    second = support_model.train(sample, params).predict_yea(sample.head(500))
    np.testing.assert_array_equal(first, second)


def test_saved_model_round_trips_through_json(training, params, tmp_path):
    sample = training[training["date"] < "2020-01-01"]
    model = support_model.train(sample, params)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["booster.json", "calibration.json"]
    json.loads((tmp_path / "booster.json").read_text())  # XGBoost's own JSON, not a pickle
    again = support_model.load(tmp_path)
    np.testing.assert_array_equal(model.predict_yea(sample), again.predict_yea(sample))
    assert again.calibration.method == params["calibration"]


def test_missing_model_files_are_named(tmp_path):
    with pytest.raises(DataError, match=r"booster\.json is missing"):
        support_model.load(tmp_path)


def test_no_training_rows_is_a_clear_error(training, params):
    with pytest.raises(DataError, match="no training rows"):
        support_model.train(training.head(0), params)


def test_model_knows_massie_from_pelosi_on_a_hostile_measure(training, params):
    """On the Greene amendment striking Ukraine aid (-1), trained only on votes before it."""
    before = training[training["date"] < "2023-07-13"]
    model = support_model.train(before, params)
    greene = training[training["measure_id"] == "h303-118.2023"].set_index("bioguide_id")
    p = pd.Series(model.predict_yea(greene), index=greene.index)
    assert p["M001184"] > 0.3 > p["P000197"]  # Massie likelier to vote Yea than Pelosi
    assert greene.loc["M001184", "voted_yea"] == 1 and greene.loc["P000197", "voted_yea"] == 0


def test_baselines_give_probabilities(training, params):
    train = training[training["date"] < "2022-01-01"]
    test = training[(training["date"] >= "2022-01-01") & (training["date"] < "2023-01-01")]
    for name, baseline in BASELINES.items():
        p = baseline(train, test, tuple(load_params()["evaluate"]["baseline_clip"]))
        assert len(p) == len(test) and np.all((p > 0) & (p < 1)), name


def test_metrics_on_hand_made_votes():
    frame = pd.DataFrame(
        {
            "measure_id": ["m"] * 6,
            "party": ["R", "R", "R", "D", "D", "D"],
            "voted_yea": [1, 1, 0, 1, 1, 1],
            "p_yea": [0.9, 0.8, 0.3, 0.9, 0.9, 0.9],
        }
    )
    assert within_party_auc(frame, "R") == 1.0
    assert np.isnan(within_party_auc(frame, "D"))  # no Nay among Democrats: undefined
    assert defectors_found(frame) == (1.0, 1)
    tied = frame.assign(p_yea=0.5)
    assert defectors_found(tied) == (pytest.approx(1 / 3), 1)  # ties: chance credit, not row order
    metrics = score(frame)
    assert metrics["accuracy"] == 1.0 and metrics["votes"] == 6
    assert expected_calibration_error(np.array([0.5, 0.5]), np.array([1, 0])) == 0.0
    assert expected_calibration_error(np.array([0.9, 0.9]), np.array([0, 0])) == pytest.approx(0.9)


def test_metrics_file_reports_bars_and_all_methods():
    metrics = json.loads((METRICS_DIR / "metrics.json").read_text())
    for method in ("xgboost", "party_line", "ideology_logistic", "shrunk_share"):
        for scope in ("pooled", "house", "senate"):
            assert {"log_loss", "brier", "roc_auc", "within_party_auc_R", "ece"} <= set(metrics[method][scope])
    assert set(metrics["bars"]) >= {"pooled.ece_at_most_0.03", "all_met"}
    by_cut = json.loads((METRICS_DIR / "backtest_by_cut.json").read_text())
    assert {"cut_2019", "cut_2022", "cut_2024"} <= set(by_cut["xgboost"])


def test_bootstrap_parts_give_the_backtest_figures_and_intervals_hold_them():
    """Each bootstrapped metric is a ratio of sums over roll calls: with every roll call drawn once it is the
    backtest's own figure (the same as ``score``), and the written interval holds that figure."""
    from models.evaluate import methods_of
    from models.intervals import resample_counts
    from models.metrics import BOOTSTRAPPED, measure_parts, resampled

    backtest = pd.read_parquet(MODELS_DIR / "backtest.parquet")
    written = json.loads((METRICS_DIR / "intervals.json").read_text())
    chambers = backtest.groupby("measure_id")["chamber"].first().sort_index()
    for method in methods_of(backtest):
        frame = backtest.assign(p_yea=backtest[f"p_{method}"])
        parts = measure_parts(frame, chambers.index)
        for scope, votes in [("pooled", frame), *frame.groupby("chamber")]:
            mask = np.ones(len(chambers)) if scope == "pooled" else (chambers == scope).to_numpy(float)
            figures = score(votes)
            for metric in BOOTSTRAPPED:
                once = resampled(parts[metric], mask[None, :])[0]
                assert once == pytest.approx(figures[metric], rel=1e-9, abs=1e-12), (method, scope, metric)
                low, high = written["intervals"][method][scope][metric]
                assert low <= round(once, 4) <= high, (method, scope, metric)
    counts = resample_counts(chambers, 50, 13)
    for chamber in ("house", "senate"):  # every resample keeps each chamber's number of roll calls
        assert (counts[:, (chambers == chamber).to_numpy()].sum(axis=1) == (chambers == chamber).sum()).all()
    assert (resample_counts(chambers, 50, 13) == counts).all() and not (
        resample_counts(chambers, 50, 14) == counts
    ).all()


def test_intervals_report_paired_differences_and_the_share_of_resamples_meeting_each_bar():
    """The House's lowest log loss and the pooled bars are read against the bootstrap: the shares are those of the
    resamples, not a 0/1 of the point figures (a resample of the same roll calls scores every method)."""
    from models.intervals import roll_call_bootstrap

    backtest = pd.read_parquet(MODELS_DIR / "backtest.parquet")
    settings = load_params()["evaluate"]["bootstrap"]
    spread = roll_call_bootstrap(backtest, ["xgboost", "shrunk_share"], settings | {"draws": 400})
    difference = spread["log_loss_minus_baseline"]["house"]["shrunk_share"]
    house = backtest[backtest["chamber"] == "house"]
    point = (
        score(house.assign(p_yea=house["p_xgboost"]))["log_loss"]
        - score(house.assign(p_yea=house["p_shrunk_share"]))["log_loss"]
    )
    assert difference["interval"][0] <= point <= difference["interval"][1]
    assert 0 < difference["share_lower"] < 1  # the House's two best methods are within a resample of each other
    shares = spread["share_of_resamples_meeting_bar"]
    assert set(shares) == {"log_loss_at_most_0.2", "within_party_auc_R_at_least_0.85", "party_level_error_at_most_0.1"}
    assert all(0 <= share <= 1 for share in shares.values())
    assert json.loads((METRICS_DIR / "intervals.json").read_text())["draws"] == settings["draws"]


def test_the_logged_model_loads_in_a_new_process_outside_the_project(tmp_path):
    """The newest registered version, as a user of the registry gets it: loaded by MLflow from its own copy of the
    code (with params.yaml) in a process started elsewhere, it predicts; its requirements name the xgboost
    package whose library runs the model (MLflow cannot infer that from the imports)."""
    import importlib.metadata

    params = load_params()["model"]
    run = json.loads((MODELS_DIR / "run.json").read_text())
    uri = f"models:/{params['name']}/{run['registered_version']}"
    local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model")))
    requirements = (local / "requirements.txt").read_text().split()
    pinned = {f"{name}=={importlib.metadata.version(name)}" for name in ("xgboost", "pandas", "PyYAML")}
    assert pinned <= set(requirements)
    assert not any(line.startswith("natocast") for line in requirements)  # this project is not on any index
    assert (local / "code" / "params.yaml").exists()
    code = (
        "import json, sys, mlflow, pandas as pd\n"
        f"model = mlflow.pyfunc.load_model({uri!r})\n"
        "example = pd.DataFrame(**json.loads(open(sys.argv[1]).read()))\n"
        "print(json.dumps([len(model.predict(example)), sys.modules['models.booster'].__file__]))\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(local / "input_example.json")],
        cwd=tmp_path,
        env=environment | {"MLFLOW_TRACKING_URI": run["tracking_uri"]},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows, booster_code = json.loads(done.stdout.strip().splitlines()[-1])
    assert rows == len(json.loads((local / "input_example.json").read_text())["data"]) > 0
    # the model's own copy of the code (in the artifact store), not the project's
    assert booster_code.endswith("code/models/booster.py")
    assert booster_code != str(PROJECT_ROOT / "models" / "booster.py")


def test_the_backtest_is_logged_to_the_run_that_made_the_model_files():
    """When DVC restores data/models from its run cache, run.json (untracked) still names the last model trained:
    evaluate then finds the run by the files' fingerprint, or logs and promotes nothing."""
    from models.evaluate import run_of_model_files

    name = load_params()["model"]["name"]
    tracking.use_experiment(load_params()["model"]["experiment"])
    run = json.loads((MODELS_DIR / "run.json").read_text())
    found = support_model.fingerprint(MODELS_DIR)
    assert run["fingerprint"] == found and run_of_model_files(run, found, name) == run
    stale = run | {"run_id": "a-later-run", "registered_version": 10_000, "fingerprint": "0123456789"}
    recovered = run_of_model_files(stale, found, name)
    assert recovered["run_id"] == run["run_id"] and recovered["registered_version"] == run["registered_version"]
    assert run_of_model_files(stale, "not-a-model", name) is None
    assert run_of_model_files({}, found, name)["run_id"] == run["run_id"]  # no run.json at all


def test_champion_reloads_with_identical_predictions(training):
    """The registry's champion, loaded through MLflow's pyfunc, predicts what the saved JSON model does."""
    params = load_params()["model"]
    tracking.use_experiment(params["experiment"])
    pyfunc = mlflow.pyfunc.load_model(tracking.champion_uri(params["name"]))
    local = support_model.load(MODELS_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        champion = support_model.load(tracking.download_champion(params["name"], Path(tmp)))
    sample = training.sample(300, random_state=1)
    inputs = sample[local.input_columns].astype(float)  # numeric inputs: the booster's, the general model's
    from_pyfunc = pyfunc.predict(inputs)["p_yea"].to_numpy()
    np.testing.assert_allclose(from_pyfunc, champion.predict_yea(sample), rtol=0, atol=1e-7)
    run = json.loads((MODELS_DIR / "run.json").read_text())
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(params["name"], tracking.CHAMPION)
    if version.run_id == run["run_id"]:  # the newest run is the champion: the same model as data/models
        np.testing.assert_allclose(from_pyfunc, local.predict_yea(sample), rtol=0, atol=1e-7)
    logged = client.get_run(version.run_id)
    assert "git_commit" in logged.data.tags and "backtest_log_loss" in logged.data.metrics
    assert any(key.startswith("dvc.data/") for key in logged.data.tags)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_tracking_against_a_real_mlflow_server(tmp_path, training, params):
    """MLFLOW_TRACKING_URI pointing at `mlflow server` on 127.0.0.1: log, register, crown and reload."""
    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [
            str(mlflow_bin),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    old = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        uri = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        os.environ["MLFLOW_TRACKING_URI"] = uri
        assert tracking.tracking_uri() == uri
        sample = training[training["date"] < "2019-01-01"]
        model = support_model.train(sample, params)
        model.save(tmp_path / "model")
        experiment = tracking.use_experiment("natocast-server-test")
        example = sample[model.input_columns].head(3).astype(float)
        with mlflow.start_run(experiment_id=experiment):
            tracking.log_model(tmp_path / "model", support_model.MODEL_FILES, example, None, "natocast-server-test")
            mlflow.log_metric("backtest_log_loss", 0.5)
        tracking.crown_champion("natocast-server-test", "backtest_log_loss", experiment)
        reloaded = mlflow.pyfunc.load_model(tracking.champion_uri("natocast-server-test"))
        np.testing.assert_allclose(reloaded.predict(example)["p_yea"].to_numpy(), model.predict_yea(example), atol=1e-7)
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
        mlflow.set_tracking_uri(tracking.tracking_uri())
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp_path / "artifacts", ignore_errors=True)


def test_a_metric_undefined_in_some_resamples_is_left_out_of_its_interval_and_its_share_alike():
    """The Republican AUC is undefined in a resample that draws no roll call splitting the Republicans: such a draw
    neither meets nor misses the bar (it counted as missing it, while the interval left it out), and where no roll
    call splits them there is no interval, no share and no MLflow metric, rather than a share of 0."""
    from models.evaluate import flat_metrics, methods_of, metrics_table
    from models.intervals import resample_counts, roll_call_bootstrap
    from models.metrics import measure_parts, resampled

    backtest = pd.read_parquet(MODELS_DIR / "backtest.parquet")
    chambers = backtest.groupby("measure_id")["chamber"].first().sort_index()
    splits = measure_parts(backtest.assign(p_yea=backtest["p_xgboost"]), chambers.index)["within_party_auc_R"][1] > 0
    unsplit, split = chambers.index[~splits], chambers.index[splits]
    assert len(unsplit) >= 4 and len(split) >= 20  # facts of the backtest: 5 roll calls where no Republican broke ranks
    settings = {"draws": 400, "seed": 13, "level": 0.9}
    key = "within_party_auc_R_at_least_0.85"
    chamber = chambers[unsplit].mode()[0]  # one split roll call among the unsplit ones of its chamber
    one = backtest[
        backtest["measure_id"].isin([*unsplit[chambers[unsplit] == chamber], split[chambers[split] == chamber][0]])
    ]
    ones = one.groupby("measure_id")["chamber"].first().sort_index()
    values = resampled(
        measure_parts(one.assign(p_yea=one["p_xgboost"]), ones.index)["within_party_auc_R"],
        resample_counts(ones, settings["draws"], settings["seed"]),
    )
    assert 0.1 < np.isnan(values).mean() < 0.9  # some resamples miss the one split roll call
    share = roll_call_bootstrap(one, ["xgboost"], settings)["share_of_resamples_meeting_bar"][key]
    assert share == np.mean(values[~np.isnan(values)] >= 0.85)
    none = backtest[backtest["measure_id"].isin(unsplit)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spread = roll_call_bootstrap(none, methods_of(none), settings)
    assert np.isnan(spread["intervals"]["xgboost"]["pooled"]["within_party_auc_R"]).all()
    assert np.isnan(spread["share_of_resamples_meeting_bar"][key])
    flat = flat_metrics(metrics_table(none, 10), methods_of(none), spread)
    assert "xgboost.pooled.log_loss.low" in flat and "xgboost.pooled.within_party_auc_R.low" not in flat
    assert all(np.isfinite(v) for v in flat.values())
