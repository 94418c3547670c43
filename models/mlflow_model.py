"""MLflow "model from code": the pyfunc wrapper MLflow stores as this source file, not as a pickle.

Its artifacts are the model's JSON files (models/support_model.py ``MODEL_FILES``); ``predict`` takes the feature
columns plus ``orientation`` and returns P(Yea) and P(alliance side) per row.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd


class CalibratedSupportModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from models.support_model import load

        directory = Path(context.artifacts["booster"]).parent
        self.model = load(directory)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        p_alliance = self.model.predict_alliance(model_input)
        p_yea = self.model.predict_yea(model_input)
        return pd.DataFrame({"p_yea": p_yea, "p_alliance_side": p_alliance}, index=model_input.index)


mlflow.models.set_model(CalibratedSupportModel())
