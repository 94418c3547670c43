"""A trained XGBoost model, run through XGBoost's own C library (its documented C API, called with ctypes).

Training uses the xgboost package; everything that only predicts (the pipeline's scoring, the backtest, every
forecast) goes through ``Booster``. Importing the xgboost package imports scikit-learn and SciPy's statistics,
about a second of every command's start; the library itself loads in milliseconds. Same library, same model
file: predictions and TreeSHAP contributions equal the package's bit for bit (tests/test_booster.py).
The model is read and written as XGBoost's own JSON, never a pickle.

``Booster.contributions`` gives the same TreeSHAP values as ``predict(kind="contributions")`` for a fraction of
the work: a tree's contributions for a row depend on the row only through the way it goes at each of the tree's
splits, and hundreds of members share a few dozen ways through any one tree (``SplitDecisions``).
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import re
import sys
import threading
from dataclasses import dataclass
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
        self._decisions: SplitDecisions | None = None  # built on the first ``contributions`` call...
        self._decisions_built = False  # ...and left None for a model the grouping does not cover
        self._building = threading.Lock()
        self.threads = 0  # OpenMP threads to read inputs and predict; 0: XGBoost's default (every core)
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
        return cls.from_json(bytes(trained.save_raw(raw_format="json")), "the model just trained")

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> Booster:
        """A model from XGBoost's JSON in memory."""
        booster = cls(source)
        _check(
            library().XGBoosterLoadModelFromBuffer(booster._handle, raw, ctypes.c_uint64(len(raw))),
            f"read {source}",
        )
        return booster

    def to_json(self) -> bytes:
        """The model as XGBoost's JSON."""
        length, data = ctypes.c_uint64(), ctypes.POINTER(ctypes.c_char)()
        _check(
            library().XGBoosterSaveModelToBuffer(
                self._handle, b'{"format": "json"}', ctypes.byref(length), ctypes.byref(data)
            ),
            f"write {self.source} as JSON",
        )
        return ctypes.string_at(data, length.value)  # a copy: the library owns ``data``

    def save(self, path: Path) -> None:
        """XGBoost's JSON, written to a temporary file and renamed (``pipeline.tables.write_atomic``)."""
        model_json = self.to_json()
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

    def use_threads(self, threads: int) -> None:
        """Read inputs and predict with ``threads`` OpenMP threads (0: XGBoost's default, every core). A
        forecast's calls are milliseconds of work: a second thread mostly waits for its share, and where the other
        core is busy (the forecast's other half runs there, other users share the machine) every parallel region
        waits until the descheduled thread runs again, up to a time slice each (a 1 ms call took 20 ms, measured).
        """
        _check(library().XGBoosterSetParam(self._handle, b"nthread", str(threads).encode()), "set its threads")
        self.threads = threads
        if self._decisions is not None:
            for stack in self._decisions.stacks:
                stack.booster.use_threads(threads)

    def set_attribute(self, key: str, value: str) -> None:
        _check(library().XGBoosterSetAttr(self._handle, key.encode(), value.encode()), f"set attribute {key!r}")

    def predict(self, x: np.ndarray, base_margin: np.ndarray | None = None, kind: str = "value") -> np.ndarray:
        """P(label) per row (``value``), its log-odds (``margin``), or the TreeSHAP contributions per feature with
        the bias last (``contributions``). NaN is missing. ``base_margin``: each row's starting log-odds."""
        if kind not in PREDICTION_TYPES:
            raise ModelError(f"prediction kind {kind!r} is not one of {', '.join(PREDICTION_TYPES)}")
        lib = library()
        x = self._checked(x)
        if len(x) == 0:  # the library has nothing to return (and warns)
            return np.zeros((0, self.num_features + 1) if kind == "contributions" else 0, dtype=np.float32)
        matrix = ctypes.c_void_p()
        reading = json.dumps({"missing": float("nan")} | ({"nthread": self.threads} if self.threads else {}))
        created = lib.XGDMatrixCreateFromDense(_interface(x), reading.encode(), ctypes.byref(matrix))
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

    def _checked(self, x: np.ndarray) -> np.ndarray:
        """The input as a contiguous 2-d float array with one column per feature of the model."""
        x = np.ascontiguousarray(x)
        if x.ndim != 2 or x.dtype.kind != "f":
            raise ModelError(f"model input must be a 2-d float array, not {x.dtype} with shape {x.shape}")
        if x.shape[1] != self.num_features:  # the library would read missing columns as missing values
            raise ModelError(f"input to {self.source} has {x.shape[1]} columns, the model {self.num_features} features")
        return x

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions per feature, the bias left out: ``predict(x, kind="contributions")[:, :-1]`` bit
        for bit, each tree evaluated once per distinct way the rows go through it (``SplitDecisions``)."""
        x = self._checked(x)
        with self._building:  # one build, even when two threads make the first call together
            if not self._decisions_built:
                self._decisions = SplitDecisions.of(self, np.asarray(x[:CHUNK_ROWS], dtype=np.float32))
                self._decisions_built = True
                if self._decisions is not None and self.threads:
                    for stack in self._decisions.stacks:
                        stack.booster.use_threads(self.threads)
        # XGBoost refuses an input holding +-inf (also a float64 beyond float32's range), where the grouping would
        # hand it only some rows and columns: such an input goes to XGBoost whole, to get its error
        with np.errstate(over="ignore"):  # a value beyond float32's range is the inf looked for
            infinite = bool(np.isinf(np.asarray(x, dtype=np.float32)).any())
        if self._decisions is None or len(x) == 0 or infinite:
            return self.predict(x, kind="contributions")[..., :-1]
        return np.concatenate(
            [self._decisions.contributions(x[first : first + CHUNK_ROWS]) for first in range(0, len(x), CHUNK_ROWS)]
        )

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


MAX_SPLITS_PER_TREE = 64  # a tree's decisions are packed into one 64-bit key per row
CHUNK_ROWS = 8192  # rows grouped at once: the decisions take some 20 KB a row (a forecast has a few hundred)
STACKS = 8  # the trees are evaluated in this many stacked models (see ``SplitDecisions``)


@dataclass
class StackedTrees:
    """Some of a model's trees side by side, each reading its own block of columns (a copy of the features it
    splits on): one row of ``booster`` carries a different row of the data for each tree, and each tree's
    contributions come back in its own block."""

    trees: np.ndarray  # the model's tree numbers, in the stack's order
    block_start: np.ndarray  # per tree of the stack, and one past the last: its first column
    column_tree: np.ndarray  # per column: the tree reading it (its place in ``trees``)
    column_feature: np.ndarray  # per column: the feature it copies
    booster: Booster

    @classmethod
    def of(cls, model: dict, trees: np.ndarray, used: list[np.ndarray], source: str) -> StackedTrees:
        """The stack of ``trees`` (numbers in ``model``, XGBoost's JSON as a dict); ``used``: per tree of the
        model, the features it splits on."""
        widths = [len(used[tree]) for tree in trees]
        block_start = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
        width = str(int(block_start[-1]))
        every_tree = model["learner"]["gradient_booster"]["model"]["trees"]
        chosen = []
        for place, tree in enumerate(trees):
            column = {int(feature): int(block_start[place]) + i for i, feature in enumerate(used[tree])}
            inner = np.asarray(every_tree[tree]["left_children"]) != -1
            indices = every_tree[tree]["split_indices"]
            chosen.append(
                every_tree[tree]  # the tree as it is (shared, not copied), but for what tells its place
                | {
                    "id": place,
                    # a leaf's split index is never read: column 0 will do
                    "split_indices": [column[i] if split else 0 for i, split in zip(indices, inner, strict=True)],
                    "tree_param": every_tree[tree]["tree_param"] | {"num_feature": width},
                }
            )
        stacked_model = model["learner"]["gradient_booster"]["model"] | {
            "trees": chosen,
            "tree_info": [0] * len(chosen),
            "iteration_indptr": list(range(len(chosen) + 1)),
            "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": str(len(chosen))},
        }
        learner = model["learner"] | {
            "gradient_booster": model["learner"]["gradient_booster"] | {"model": stacked_model},
            "learner_model_param": model["learner"]["learner_model_param"] | {"num_feature": width},
            "feature_names": [],
            "feature_types": [],
        }
        booster = Booster.from_json(json.dumps(model | {"learner": learner}).encode(), f"{source} (trees stacked)")
        return cls(
            trees=np.asarray(trees, dtype=np.int64),
            block_start=block_start,
            column_tree=np.repeat(np.arange(len(trees)), widths),
            column_feature=np.concatenate([used[tree] for tree in trees]).astype(np.int64),
            booster=booster,
        )

    def contributions(self, x: np.ndarray, way: np.ndarray, representative: np.ndarray) -> np.ndarray:
        """Ways x columns: each tree's contributions for each of its ways (``number_ways``), in its block."""
        ways = int(way[self.trees].max()) + 1
        rows = representative[self.trees, :ways]  # the stack's trees x ways: rows of ``x``
        return self.booster.predict(x[rows[self.column_tree].T, self.column_feature], kind="contributions")


@dataclass
class SplitDecisions:
    """TreeSHAP grouped by the way rows go through each tree, exactly as XGBoost computes it.

    XGBoost's TreeSHAP (``CalculateContributions``) reads a row only to decide, at each split of a tree, whether
    it goes left (``value < threshold``; a missing value goes to the split's default side): a tree's
    contributions are a function of those decisions alone. Rows that decide alike at every split of a tree share
    its contributions, and a forecast's few hundred members take a few dozen ways through any one tree. So each
    tree is evaluated once per distinct way, in ``StackedTrees``: a stacked row carries one way of every tree
    of the stack. A stack evaluates as many rows as its tree with the most ways has, so trees that take about
    as many ways share a stack: ordered by their ways through the first rows asked about (``of``; which trees
    take many ways hardly changes from bill to bill, and only the speed depends on it). The contributions are then
    added tree by tree in float32, the order and precision of XGBoost's own sum (``PredictContributionKernel``;
    a tree adds exactly zero to the features it does not split on), which makes the totals XGBoost's bit for bit.
    """

    condition_feature: np.ndarray  # per distinct split condition of any tree: the feature it reads
    condition_threshold: np.ndarray  # float32, as XGBoost holds it
    condition_default_left: np.ndarray  # where a missing value goes
    key_bits: np.ndarray  # trees x bits of a key, flattened: the condition deciding each bit (past the last: none)
    key_words: int  # bytes of a key: 8 bits each, up to 64
    used: list[np.ndarray]  # per tree: the features it splits on, ascending: its block of stacked columns
    stacks: list[StackedTrees]
    features: int

    @classmethod
    def of(cls, booster: Booster, x: np.ndarray) -> SplitDecisions | None:
        """The splits of a booster's trees and their stacks, trees grouped by their ways through the rows ``x``
        (float32); None for a model this does not cover (not one tree per round of a single output, categorical
        splits, more splits in a tree than a key holds, no splits, or a threshold whose float32 value its JSON
        digits leave in doubt)."""
        model = json.loads(booster.to_json())
        gradient_booster = model["learner"]["gradient_booster"]
        if gradient_booster.get("name") != "gbtree" or any(gradient_booster["model"]["tree_info"]):
            return None  # DART weighs its trees; several outputs interleave them
        trees = gradient_booster["model"]["trees"]
        splits: dict[str, list[np.ndarray]] = {"feature": [], "threshold": [], "default_left": []}
        for tree in trees:
            inner = np.asarray(tree["left_children"]) != -1
            if any(tree["split_type"]) or inner.sum() > MAX_SPLITS_PER_TREE:
                return None
            splits["feature"].append(np.asarray(tree["split_indices"], dtype=np.int64)[inner])
            splits["threshold"].append(np.asarray(tree["split_conditions"], dtype=np.float64)[inner])
            splits["default_left"].append(np.asarray(tree["default_left"], dtype=bool)[inner])
        counts = np.array([len(features) for features in splits["feature"]], dtype=np.int64)
        threshold = _float32_exactly(np.concatenate(splits["threshold"])) if counts.sum() else None
        if threshold is None:
            return None
        conditions = distinct_conditions(
            np.concatenate(splits["feature"]), threshold, np.concatenate(splits["default_left"])
        )
        (feature, threshold, default_left), condition_of_split = conditions
        key_words = -(-int(counts.max()) // 8)
        key_bits = np.full((len(trees), 8 * key_words), len(feature))  # unused bits read an always-false row
        key_bits[np.repeat(np.arange(len(trees)), counts), _positions(counts)] = condition_of_split
        used = [np.unique(features) for features in splits["feature"]]
        decisions = cls(
            condition_feature=feature,
            condition_threshold=threshold,
            condition_default_left=default_left,
            key_bits=key_bits.ravel(),
            key_words=key_words,
            used=used,
            stacks=[],
            features=int(model["learner"]["learner_model_param"]["num_feature"]),
        )
        ways = number_ways(decisions.ways(x))[0].max(axis=1) + 1 if len(x) else np.ones(len(trees), dtype=np.int64)
        split_trees = np.flatnonzero(counts)  # a tree of one leaf adds only to the bias
        widths = np.array([len(features) for features in used])
        ordered = split_trees[np.lexsort((widths[split_trees], ways[split_trees]))]
        decisions.stacks = [
            StackedTrees.of(model, np.sort(part), used, booster.source)
            for part in np.array_split(ordered, min(STACKS, len(ordered)))
        ]
        return decisions

    def ways(self, x: np.ndarray) -> np.ndarray:
        """Per tree and row, a key naming the row's decisions at every split of the tree (one bit per split)."""
        values = x.T[self.condition_feature]  # conditions x rows
        left = np.zeros((len(values) + 1, len(x)), dtype=bool)  # the last row: never left (unused bits)
        np.less(values, self.condition_threshold[:, None], out=left[:-1])  # a missing value is never less...
        left[:-1] |= np.isnan(values) & self.condition_default_left[:, None]  # ...it goes to the default side
        trees = len(self.used)
        bits = left[self.key_bits].reshape(trees, self.key_words, 8, len(x))
        # 8 decisions as the bytes (0 or 1) of a 64-bit word; word j shifted by j bits fills bit j of every byte
        words = np.ascontiguousarray(bits.transpose(0, 3, 1, 2)).view(np.uint64)[..., 0]  # trees x rows x words
        keys = words[..., 0].copy()
        for word in range(1, self.key_words):
            keys |= words[..., word] << np.uint64(word)
        return keys

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """The rows' contributions per feature (float32, no bias), as ``Booster.contributions`` documents."""
        x = np.ascontiguousarray(x, dtype=np.float32)  # what XGBoost reads: it holds features as float32
        way, representative = number_ways(self.ways(x))
        blocks = [None] * len(self.used)  # per tree: its contributions for each of its ways
        for stack in self.stacks:
            values = stack.contributions(x, way, representative)
            for place, tree in enumerate(stack.trees):
                blocks[tree] = values[:, stack.block_start[place] : stack.block_start[place + 1]]
        total = np.zeros((len(x), self.features), dtype=np.float32)
        for tree, features in enumerate(self.used):  # tree by tree, in float32: XGBoost's order of additions
            if blocks[tree] is not None:
                total[:, features] += blocks[tree][way[tree]]
        return total


def distinct_conditions(
    feature: np.ndarray, threshold: np.ndarray, default_left: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The distinct (feature, threshold, default side) conditions and, per split, the index of its condition."""
    keys = np.rec.fromarrays([feature, threshold, default_left])
    distinct, inverse = np.unique(keys, return_inverse=True)
    return (distinct.f0.astype(np.int64), distinct.f1.astype(np.float32), distinct.f2.astype(bool)), inverse.ravel()


def _positions(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., n - 1 for each count n, concatenated: each split's position within its tree."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def number_ways(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(way, representative) from trees x rows keys: each row's way through each tree, numbered 0, 1, ... per tree,
    and trees x ways: a row taking that way (a tree with fewer ways than another repeats its first way's row)."""
    order = np.argsort(keys, axis=1, kind="stable")
    ordered = np.take_along_axis(keys, order, axis=1)
    starts = np.ones(ordered.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    rank = np.cumsum(starts, axis=1) - 1
    way = np.empty_like(rank)
    np.put_along_axis(way, order, rank, axis=1)
    representative = np.repeat(order[:, :1], rank[:, -1].max() + 1, axis=1)
    tree, position = np.nonzero(starts)
    representative[tree, rank[tree, position]] = order[tree, position]
    return way, representative


def _float32_exactly(threshold: np.ndarray) -> np.ndarray | None:
    """The thresholds as XGBoost's float32, from the JSON's digits read as float64; None when a value lies so
    close to halfway between two float32 values that reading it through float64 could round it the wrong way."""
    rounded = threshold.astype(np.float32)
    gap = np.minimum(
        np.nextafter(rounded, np.float32(np.inf)) - rounded, rounded - np.nextafter(rounded, np.float32(-np.inf))
    ).astype(np.float64)
    error = np.abs(threshold - rounded.astype(np.float64))
    if not np.all(np.isfinite(rounded) & (error < 0.5 * gap * (1 - 2.0**-20))):
        return None
    return rounded
