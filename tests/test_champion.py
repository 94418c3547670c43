"""One model in use: `dvc exp run` never moves the champion; the pipeline's own run on committed params does."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from models import tracking
from pipeline.config import PROJECT_ROOT, load_params


def test_experiments_and_uncommitted_params_never_promote(monkeypatch):
    committed = tracking.committed_params("model")
    assert committed is not None, "the project is a git checkout"
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    assert tracking.promotion_decision(committed) == (True, "the pipeline's run on the committed parameters")
    changed = committed | {"xgboost": committed["xgboost"] | {"max_depth": 3}}
    allowed, why = tracking.promotion_decision(changed)
    assert not allowed and "differs from the committed" in why
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0" * 40)
    allowed, why = tracking.promotion_decision(committed)
    assert not allowed and "dvc exp run" in why


def test_run_names_say_date_and_parameters():
    name = tracking.run_name("2025-12-31", load_params()["model"])
    assert name.startswith("2025-12-31 depth ") and "trees" in name and "lr " in name


def _copy_project(destination: Path) -> None:
    """A git repository holding the working tree's files plus the pipeline's outputs and MLflow store, beside a
    link to the snapshot (dvc.yaml reads ../shared/data)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    project = destination / "project"
    for name in listed:
        source = PROJECT_ROOT / name
        if source.is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, project / name)
    for folder in ("data", "plots", "reports", "mlruns"):
        shutil.copytree(PROJECT_ROOT / folder, project / folder, symlinks=True)
    shutil.copy2(PROJECT_ROOT / "mlflow.db", project / "mlflow.db")
    (destination / "shared").symlink_to(PROJECT_ROOT.parent / "shared")
    with sqlite3.connect(project / "mlflow.db") as db:  # new runs write artifacts into the copy, not here
        db.execute("UPDATE experiments SET artifact_location = ?", ((project / "mlruns").as_uri(),))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=project, check=True)


@pytest.mark.pipeline
def test_dvc_exp_run_does_not_move_the_champion(tmp_path):
    _copy_project(tmp_path)
    project = tmp_path / "project"
    name = load_params()["model"]["name"]
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    before = client.get_model_version_by_alias(name, tracking.CHAMPION).version
    versions = len(client.search_model_versions(f"name='{name}'"))
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    run = subprocess.run(
        ["dvc", "exp", "run", "-S", "model.xgboost.max_depth=3"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    said = run.stdout + run.stderr  # the stage logs to stderr
    assert "champion unchanged: a `dvc exp run` experiment never moves the champion" in said
    after = client.get_model_version_by_alias(name, tracking.CHAMPION).version
    assert after == before
    added = client.search_model_versions(f"name='{name}'")
    assert len(added) == versions + 1  # the experiment's model is logged and registered, just not promoted
    newest = max(added, key=lambda v: int(v.version))
    assert "depth 3" in newest.description and "log loss" in newest.description


def test_retraining_the_same_model_files_leaves_the_champion(tmp_path, monkeypatch):
    """A code change that changes no output retrains the same model files as a new version: the champion stays
    on the version holding them (DVC then skips the predict stage, whose record and reports name that version);
    other files move it. In a store of its own."""
    import mlflow

    from models import evaluate

    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    previous = mlflow.get_tracking_uri()
    params = load_params()
    name = params["model"]["name"]
    table = {"xgboost": {"pooled": {"log_loss": 0.2, "within_party_auc_R": 0.8, "ece": 0.02}}}
    try:
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'store.db'}")
        client = MlflowClient()
        experiment = client.create_experiment("test", artifact_location=tmp_path.as_uri())
        client.create_registered_model(name)

        def registered(fingerprint: str) -> dict:
            run = client.create_run(experiment, tags={tracking.FINGERPRINT_TAG: fingerprint})
            made = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
            return {"run_id": run.info.run_id, "registered_version": made.version, "fingerprint": fingerprint}

        def promote(run: dict) -> str:
            return evaluate.describe_and_promote(params, run, "test", table, ["xgboost"], 10)

        assert tracking.champion_fingerprint(name) is None
        assert promote(registered("aaaa")).startswith("version 1 is the champion (the pipeline's run on the committed")
        assert tracking.champion_fingerprint(name) == "aaaa"
        assert promote(registered("aaaa")) == "champion unchanged: it already holds these model files (aaaa)"
        assert str(client.get_model_version_by_alias(name, tracking.CHAMPION).version) == "1"
        assert promote(registered("bbbb")).startswith("version 3 is the champion")
        assert tracking.champion_fingerprint(name) == "bbbb"
    finally:
        mlflow.set_tracking_uri(previous)
