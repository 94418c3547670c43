"""A trained XGBoost model, run through XGBoost's own C library (its documented C API, called with ctypes).

Training uses the xgboost package; everything that only predicts (the pipeline's scoring, the backtest, every
forecast) goes through ``Booster``. Importing the xgboost package imports scikit-learn and SciPy's statistics,
about a second of every command's start; the library itself loads in milliseconds. Same library, same model
file: predictions and TreeSHAP contributions equal the package's bit for bit (tests/test_booster.py).
The model is read and written as XGBoost's own JSON, never a pickle.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np

from models.errors import ModelError
from pipeline.tables import write_atomic

PREDICTION_TYPES = {"value": 0, "margin": 1, "contributions": 2}  # XGBoost's own codes (c_api.h)

_LIBRARY: ctypes.CDLL | None = None


LIBRARY_NAMES = {"linux": "libxgboost.so", "darwin": "libxgboost.dylib", "win32": "xgboost.dll"}


def library() -> ctypes.CDLL:
    """XGBoost's shared library: where the installed package keeps it (found, not imported), else the
    environment's lib folder (conda-forge installs it there)."""
    global _LIBRARY
    if _LIBRARY is None:
        spec = importlib.util.find_spec("xgboost")
        folders = [Path(folder, "lib") for folder in (spec.submodule_search_locations or [])] if spec else []
        folders += [Path(sys.prefix, "lib"), Path(sys.prefix, "Library", "bin")]
        name = LIBRARY_NAMES.get(sys.platform, "libxgboost.so")
        found = [folder / name for folder in folders if (folder / name).is_file()]
        if not found:
            raise ModelError(f"XGBoost's library {name} is in none of {', '.join(map(str, folders))}")
        try:
            lib = ctypes.cdll.LoadLibrary(str(found[0]))
        except OSError as exc:
            raise ModelError(f"XGBoost's library {found[0]} cannot be loaded: {exc}") from exc
        lib.XGBGetLastError.restype = ctypes.c_char_p
        _LIBRARY = lib
    return _LIBRARY


def _check(code: int, doing: str) -> None:
    """A failed call of the library as a ModelError: its message without the time, source line and stack."""
    if code != 0:
        message = library().XGBGetLastError().decode(errors="replace").split("Stack trace:")[0]
        message = re.sub(r"\[[\d:]+\] \S+?:\d+: ", "", message).strip()
        raise ModelError(f"XGBoost could not {doing}: {message}")


def _interface(array: np.ndarray) -> bytes:
    """NumPy's array interface as XGBoost reads it (a pointer, the shape and the element type)."""
    return json.dumps(
        {"data": [array.ctypes.data, True], "shape": list(array.shape), "typestr": array.dtype.str, "version": 3}
    ).encode()


class Booster:
    """One XGBoost model held by the library. ``predict`` takes the features as a float array whose columns
    are in the model's order (callers select them by name: models/dataset.py ``feature_matrix``)."""

    def __init__(self, source: str = "a new model") -> None:
        self.source = source  # the model file, or what trained it: named in every error
        self._handle = ctypes.c_void_p()
        _check(library().XGBoosterCreate(None, ctypes.c_uint64(0), ctypes.byref(self._handle)), "create a model")

    def __del__(self) -> None:
        if _LIBRARY is not None and getattr(self, "_handle", None):
            _LIBRARY.XGBoosterFree(self._handle)

    @classmethod
    def load(cls, path: Path) -> Booster:
        """A model file XGBoost wrote (JSON or UBJ, told apart by the library from the content)."""
        if not Path(path).is_file():
            raise ModelError(f"model file {path} is missing")
        booster = cls(str(path))
        _check(library().XGBoosterLoadModel(booster._handle, str(path).encode()), f"read the model file {path}")
        return booster

    @classmethod
    def from_trained(cls, trained) -> Booster:
        """The model the xgboost package just trained (an ``xgboost.Booster``), passed over as its JSON."""
        raw = bytes(trained.save_raw(raw_format="json"))
        booster = cls("the model just trained")
        _check(
            library().XGBoosterLoadModelFromBuffer(booster._handle, raw, ctypes.c_uint64(len(raw))),
            "read a trained model",
        )
        return booster

    def save(self, path: Path) -> None:
        """XGBoost's JSON, written to a temporary file and renamed (``pipeline.tables.write_atomic``)."""
        length, data = ctypes.c_uint64(), ctypes.POINTER(ctypes.c_char)()
        _check(
            library().XGBoosterSaveModelToBuffer(
                self._handle, b'{"format": "json"}', ctypes.byref(length), ctypes.byref(data)
            ),
            f"write the model file {path}",
        )
        model_json = ctypes.string_at(data, length.value)  # a copy: the library owns ``data``
        write_atomic(Path(path), lambda tmp: tmp.write_bytes(model_json))

    @property
    def num_features(self) -> int:
        count = ctypes.c_uint64()
        _check(library().XGBoosterGetNumFeature(self._handle, ctypes.byref(count)), "count the model's features")
        return count.value

    @property
    def feature_names(self) -> list[str]:
        """The column names the model was trained on (empty when it was trained on a bare array)."""
        count, names = ctypes.c_uint64(), ctypes.POINTER(ctypes.c_char_p)()
        _check(
            library().XGBoosterGetStrFeatureInfo(
                self._handle, b"feature_name", ctypes.byref(count), ctypes.byref(names)
            ),
            f"read the feature names of {self.source}",
        )
        return [names[i].decode() for i in range(count.value)]

    def check_features(self, features: list[str]) -> None:
        """The caller's column order must be the model's: the library reads columns by position only."""
        stored = self.feature_names
        if stored and stored != list(features):
            raise ModelError(f"{self.source} was trained on columns {stored}, not {list(features)}")

    def attribute(self, key: str) -> str | None:
        value, success = ctypes.c_char_p(), ctypes.c_int()
        _check(
            library().XGBoosterGetAttr(self._handle, key.encode(), ctypes.byref(value), ctypes.byref(success)),
            f"read the model attribute {key!r}",
        )
        return value.value.decode() if success.value else None

    def set_attribute(self, key: str, value: str) -> None:
        _check(library().XGBoosterSetAttr(self._handle, key.encode(), value.encode()), f"set attribute {key!r}")

    def predict(self, x: np.ndarray, base_margin: np.ndarray | None = None, kind: str = "value") -> np.ndarray:
        """P(label) per row (``value``), its log-odds (``margin``), or the TreeSHAP contributions per feature with
        the bias last (``contributions``). NaN is missing. ``base_margin``: each row's starting log-odds."""
        if kind not in PREDICTION_TYPES:
            raise ModelError(f"prediction kind {kind!r} is not one of {', '.join(PREDICTION_TYPES)}")
        lib = library()
        x = np.ascontiguousarray(x)
        if x.ndim != 2 or x.dtype.kind != "f":
            raise ModelError(f"model input must be a 2-d float array, not {x.dtype} with shape {x.shape}")
        if x.shape[1] != self.num_features:  # the library would read missing columns as missing values
            raise ModelError(f"input to {self.source} has {x.shape[1]} columns, the model {self.num_features} features")
        if len(x) == 0:  # the library has nothing to return (and warns)
            return np.zeros((0, self.num_features + 1) if kind == "contributions" else 0, dtype=np.float32)
        matrix = ctypes.c_void_p()
        created = lib.XGDMatrixCreateFromDense(_interface(x), b'{"missing": NaN}', ctypes.byref(matrix))
        _check(created, f"read the input to {self.source}")
        try:
            if base_margin is not None:
                margin = np.ascontiguousarray(base_margin)
                margins_set = lib.XGDMatrixSetInfoFromInterface(matrix, b"base_margin", _interface(margin))
                _check(margins_set, f"set the base margins of the input to {self.source}")
            config = {"type": PREDICTION_TYPES[kind], "training": False, "iteration_begin": 0, "iteration_end": 0}
            shape, dims = ctypes.POINTER(ctypes.c_uint64)(), ctypes.c_uint64()
            result = ctypes.POINTER(ctypes.c_float)()
            _check(
                lib.XGBoosterPredictFromDMatrix(
                    self._handle,
                    matrix,
                    json.dumps(config | {"strict_shape": False}).encode(),
                    ctypes.byref(shape),
                    ctypes.byref(dims),
                    ctypes.byref(result),
                ),
                f"predict with {self.source}",
            )
            out_shape = [int(shape[i]) for i in range(dims.value)]
            # the library owns ``result`` until its next call on this model: copy it out
            return np.ctypeslib.as_array(result, shape=(int(np.prod(out_shape)),)).reshape(out_shape).copy()
        finally:
            lib.XGDMatrixFree(matrix)

    def gain(self, features: list[str]) -> dict[str, float]:
        """Mean gain of the splits on each feature (features never split on are left out)."""
        config = json.dumps({"importance_type": "gain", "feature_names": features}).encode()
        count, dims = ctypes.c_uint64(), ctypes.c_uint64()
        names, shape = ctypes.POINTER(ctypes.c_char_p)(), ctypes.POINTER(ctypes.c_uint64)()
        scores = ctypes.POINTER(ctypes.c_float)()
        _check(
            library().XGBoosterFeatureScore(
                self._handle,
                config,
                ctypes.byref(count),
                ctypes.byref(names),
                ctypes.byref(dims),
                ctypes.byref(shape),
                ctypes.byref(scores),
            ),
            "compute feature importance",
        )
        return {names[i].decode(): float(scores[i]) for i in range(count.value)}
