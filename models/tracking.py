"""MLflow plumbing in one place: where runs go, what each run records, and the champion in the registry."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path

import mlflow
import yaml
from mlflow import MlflowClient

from pipeline.config import PROJECT_ROOT
from pipeline.errors import DataError
from pipeline.redact import redact

CHAMPION = "champion"
MODEL_CODE = Path(__file__).with_name("mlflow_model.py")


def _secret_tracking_uri() -> str:
    """The tracking URI with its credentials: only ever handed to MLflow, never printed or written."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the project's own ``sqlite:///mlflow.db``; any password or token in
    it shown as ``***`` (this is the form to print, log or write, e.g. into data/models/run.json)."""
    return redact(_secret_tracking_uri())


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def _redacting_excepthook(kind, value, tb) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))


def install_redaction() -> None:
    """Mask credentials in what MLflow logs and in uncaught tracebacks of any process using this module."""
    for logger in (logging.getLogger(), logging.getLogger("mlflow")):
        if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
            logger.addFilter(_RedactingFilter())
        for handler in logger.handlers:
            if not any(isinstance(f, _RedactingFilter) for f in handler.filters):
                handler.addFilter(_RedactingFilter())
    sys.excepthook = _redacting_excepthook


install_redaction()


def use_experiment(name: str) -> str:
    """Point MLflow at the tracking server and the experiment (created with artifacts under mlruns/). A failure
    is a DataError naming the redacted URI (MLflow's own message would carry the credentials)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(_secret_tracking_uri())
    client = MlflowClient()
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            location = None
            if _secret_tracking_uri().startswith("sqlite:"):
                location = (PROJECT_ROOT / "mlruns").as_uri()
            return client.create_experiment(name, artifact_location=location)
    except Exception as exc:  # any failure of the tracking server: re-raised without its chain (it holds the URI)
        raise DataError(f"MLflow tracking at {tracking_uri()} failed: {redact(exc)}") from None
    return experiment.experiment_id


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dvc_data_hashes() -> dict[str, str]:
    """md5 of every stage output and dependency recorded in dvc.lock (what data this run saw)."""
    lock = PROJECT_ROOT / "dvc.lock"
    if not lock.exists():
        return {}
    stages = yaml.safe_load(lock.read_text()).get("stages", {})
    hashes = {}
    for stage in stages.values():
        for entry in stage.get("deps", []) + stage.get("outs", []):
            if "md5" in entry and not entry["path"].endswith(".py"):
                hashes[f"dvc.{entry['path']}"] = entry["md5"]
    return hashes


# What the logged model imports to run (models/support_model.py and the pipeline modules it reads).
MODEL_REQUIREMENTS = ("mlflow", "numpy", "pandas", "pyarrow", "PyYAML", "xgboost")


def log_model(model_dir: Path, files: tuple[str, ...], input_example, signature, registered_name: str):
    """Log the calibrated model as a pyfunc from code and register a new version of it. The code travels with
    params.yaml (pipeline/config.py reads it on import). Its requirements are named, not inferred: inference
    would list this project (not an installable package) and miss the xgboost package, whose library runs the
    model without being imported."""
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(MODEL_CODE),
        artifacts={Path(file).stem: str(model_dir / file) for file in files if (model_dir / file).exists()},
        code_paths=[str(PROJECT_ROOT / "models"), str(PROJECT_ROOT / "pipeline"), str(PROJECT_ROOT / "params.yaml")],
        pip_requirements=[f"{name}=={importlib.metadata.version(name)}" for name in MODEL_REQUIREMENTS],
        signature=signature,
        input_example=input_example,
        registered_model_name=registered_name,
    )


def crown_champion(registered_name: str, metric: str, experiment_id: str) -> tuple[str, float]:
    """Give the alias ``champion`` to the registered version whose run has the lowest ``metric``."""
    client = MlflowClient()
    best_version, best_value = None, float("inf")
    for version in client.search_model_versions(f"name='{registered_name}'"):
        if not version.run_id:
            continue
        value = client.get_run(version.run_id).data.metrics.get(metric)
        if value is not None and value < best_value:
            best_version, best_value = version.version, value
    if best_version is None:
        raise DataError(f"no registered version of {registered_name} has the metric {metric}")
    client.set_registered_model_alias(registered_name, CHAMPION, best_version)
    return best_version, best_value


def champion_uri(registered_name: str) -> str:
    return f"models:/{registered_name}@{CHAMPION}"


def download_champion(registered_name: str, destination: Path) -> Path:
    """The folder holding the champion's model files (booster.json, calibration.json, ...), downloaded from the
    registry."""
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=champion_uri(registered_name), dst_path=str(destination)
        )
    except mlflow.exceptions.MlflowException as exc:
        raise DataError(f"no {CHAMPION} of {registered_name} in {tracking_uri()}: run `dvc repro` first") from exc
    found = sorted(Path(local).rglob("booster.json"))
    if not found:
        raise DataError(f"the {CHAMPION} of {registered_name} has no booster.json artifact")
    return found[0].parent


def champion_info(registered_name: str) -> dict:
    """Who the champion is: MLflow version, run id and name, and the version's description."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(registered_name, CHAMPION)
    except mlflow.exceptions.MlflowException as exc:
        raise DataError(f"no {CHAMPION} of {registered_name} in {tracking_uri()}: run `dvc repro` first") from exc
    run_name = client.get_run(version.run_id).info.run_name if version.run_id else ""
    return {
        "uri": champion_uri(registered_name),
        "version": str(version.version),
        "run_id": version.run_id or "",
        "run_name": run_name or "",
        "description": version.description or "",
    }


def in_experiment() -> bool:
    """True inside `dvc exp run` (DVC sets these variables for the stages an experiment runs)."""
    return bool(os.environ.get("DVC_EXP_BASELINE_REV") or os.environ.get("DVC_EXP_NAME"))


def committed_params(section: str) -> dict | None:
    """``params.yaml``'s section as committed at git HEAD; None when there is no git history to ask."""
    try:
        text = subprocess.run(
            ["git", "show", "HEAD:params.yaml"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return (yaml.safe_load(text) or {}).get(section)


def promotion_decision(model_params: dict) -> tuple[bool, str]:
    """Whether this pipeline run may move the champion, and why. Only the pipeline's own run on the committed
    parameters does: never `dvc exp run`, never params edited but not committed (a model trained on them is
    logged and registered, but the reports and the command line keep the champion)."""
    if in_experiment():
        return False, "a `dvc exp run` experiment never moves the champion"
    committed = committed_params("model")
    if committed is not None and committed != model_params:
        return False, "params.yaml's model section differs from the committed one"
    return True, "the pipeline's run on the committed parameters"


FINGERPRINT_TAG = "model_fingerprint"  # the train stage's run: support_model.fingerprint of the files it logged


def version_with_fingerprint(registered_name: str, fingerprint: str) -> dict | None:
    """The newest registered version whose (active) run logged model files with this fingerprint ({run_id,
    registered_version, fingerprint}), or None."""
    client = MlflowClient()
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.{FINGERPRINT_TAG} = '{fingerprint}'",
        run_view_type=mlflow.entities.ViewType.ACTIVE_ONLY,
        output_format="list",
    )
    versions = [
        version
        for run in runs
        for version in client.search_model_versions(f"name='{registered_name}' and run_id='{run.info.run_id}'")
    ]
    if not versions:
        return None
    newest = max(versions, key=lambda version: int(version.version))
    return {"run_id": newest.run_id, "registered_version": int(newest.version), "fingerprint": fingerprint}


def champion_fingerprint(registered_name: str) -> str | None:
    """The fingerprint of the model files the champion's run logged (its ``FINGERPRINT_TAG``); None when there
    is no champion or its run has no such tag."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(registered_name, CHAMPION)
        return client.get_run(version.run_id).data.tags.get(FINGERPRINT_TAG) if version.run_id else None
    except mlflow.exceptions.MlflowException:  # no champion, or its run deleted: nothing to compare with
        return None


def has_champion(registered_name: str) -> bool:
    try:
        MlflowClient().get_model_version_by_alias(registered_name, CHAMPION)
        return True
    except mlflow.exceptions.MlflowException:
        return False


def promote(registered_name: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(registered_name, CHAMPION, version)


def describe_version(registered_name: str, version: str, description: str) -> None:
    MlflowClient().update_model_version(registered_name, version, description=description)


def run_name(as_of: str, model_params: dict) -> str:
    """'2025-12-31 depth 2, 100 trees, lr 0.05, platt': date and the parameters that tell runs apart."""
    xgb = model_params.get("xgboost", {})
    return (
        f"{as_of} depth {xgb.get('max_depth')}, {xgb.get('n_estimators')} trees, lr {xgb.get('learning_rate')}, "
        f"{model_params.get('calibration')}, {len(model_params.get('features', []))} features"
    )
