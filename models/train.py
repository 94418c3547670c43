"""DVC stage `train`: fit the calibrated support model on every catalogued vote up to ``as_of``, save it as
JSON, and log it to MLflow (params, git commit, DVC data hashes, model with signature) as a registered version.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from models import context_model, support_model, tracking
from models.dataset import with_context
from pipeline.config import DataConfig, load_params, stage_arguments
from pipeline.errors import debug_requested, run_stage
from pipeline.tables import write_json

log = logging.getLogger("natocast.train")


def flat_params(params: dict) -> dict[str, str]:
    """Nested parameters as MLflow's flat ``a.b.c`` names; lists as JSON."""
    row = pd.json_normalize(params, sep=".").iloc[0]
    return {key: json.dumps(value) if isinstance(value, list) else str(value) for key, value in row.items()}


def main(argv: list[str] | None = None) -> None:
    """DVC stage `train`: the NATO support model on every training vote, logged and registered in MLflow."""
    args = stage_arguments("train the support model", "features", "models", argv=argv)
    general_dir = args.models / "general"
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    started = time.perf_counter()
    params = load_params()
    config = DataConfig.from_params(params)
    model_params = support_model.model_settings(params)
    training = pd.read_parquet(args.features / "training.parquet")
    training = training[training["date"] <= config.as_of]
    training = with_context(training, pd.read_parquet(general_dir / "context_out_of_time.parquet"))
    context = context_model.load(general_dir / "context_booster.json")
    model = support_model.train(training, model_params, context)
    model.save(args.models)

    run = log_training_run(model, training, params, model_params, config, args.models)
    write_json(run | {"seconds": round(time.perf_counter() - started, 2)}, args.models / "run.json")
    log.info("%d rows, run %s, version %s", len(training), run["run_id"], run["registered_version"])


def log_training_run(
    model: support_model.SupportModel,
    training: pd.DataFrame,
    params: dict,
    model_params: dict,
    config: DataConfig,
    model_dir: Path,
) -> dict:
    """Log the run (parameters, data hashes, the model files' fingerprint) and register the model in MLflow;
    return what run.json records of it."""
    experiment_id = tracking.use_experiment(model_params["experiment"])
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"as of {config.as_of:%Y-%m-%d}") as run:
        data = {"as_of": str(config.as_of.date()), "congresses": [config.first_congress, config.last_congress]}
        mlflow.log_params(flat_params({"model": model_params, "features": params["features"], "data": data}))
        found = support_model.fingerprint(model_dir)
        mlflow.set_tags(
            {"git_commit": tracking.git_commit(), tracking.FINGERPRINT_TAG: found, **tracking.dvc_data_hashes()}
        )
        # floats throughout: any feature may be missing at prediction time, which integers cannot express
        example = training[model.input_columns].head(5).astype(float)
        signature = infer_signature(
            example,
            pd.DataFrame({"p_yea": model.predict_yea(example), "p_alliance_side": model.predict_alliance(example)}),
        )
        info = tracking.log_model(model_dir, support_model.MODEL_FILES, example, signature, model_params["name"])
        mlflow.log_metrics({"train_rows": len(training), "train_measures": training["measure_id"].nunique()})
    return {
        "run_id": run.info.run_id,
        "experiment_id": experiment_id,
        "registered_version": info.registered_model_version,
        "fingerprint": found,
        "tracking_uri": tracking.tracking_uri(),
    }


if __name__ == "__main__":
    sys.exit(run_stage("train", main, debug_requested(sys.argv[1:])))  # bad input: one line, status 2
