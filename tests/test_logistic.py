"""models.logistic: the penalised logistic fits (DW-NOMINATE baseline, context scale, Platt) reach scikit-learn's
optimum and give the same digits whichever BLAS kernels the CPU selects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.baselines import _ideology_design, _party
from models.dataset import alliance_side
from models.logistic import fit_logistic

ROOT = Path(__file__).resolve().parent.parent
TRAINING = ROOT / "data" / "features" / "training.parquet"


@pytest.fixture(scope="module")
def ideology_rows() -> tuple[np.ndarray, np.ndarray]:
    """The baseline's design and target on the real catalogued votes before 2022 (the 2022 cut's training rows)."""
    if not TRAINING.exists():
        pytest.fail("data/features/training.parquet is missing: the test command runs `dvc repro` first")
    train = pd.read_parquet(TRAINING)
    train = train[train["date"] < "2022-01-01"]
    fill = train.groupby(_party(train))[["nominate_dim1", "nominate_dim2"]].mean().fillna(0.0)
    return _ideology_design(train, fill), alliance_side(train["voted_yea"], train["orientation"])


def test_the_fit_is_scikit_learns_optimum_on_real_votes(ideology_rows):
    """lbfgs run to a tolerance far below its default (1e-4, where it used to stop) lands on the same optimum."""
    from sklearn.linear_model import LogisticRegression

    design, target = ideology_rows
    coefs, intercept = fit_logistic(design, target, l2=1.0)
    reference = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(design, target)
    np.testing.assert_allclose(coefs, reference.coef_[0], rtol=1e-6, atol=1e-6)
    assert intercept == pytest.approx(reference.intercept_[0], rel=1e-6)
    stopped_early = LogisticRegression(C=1.0, max_iter=1000).fit(design, target)  # the old baseline's fit
    assert np.max(np.abs(stopped_early.coef_[0] - coefs)) > 1e-4  # it had not reached the optimum


def test_a_one_column_fit_recovers_a_known_map_and_the_penalty_shrinks_it():
    rng = np.random.default_rng(7)
    x = rng.normal(0, 2, 30_000)
    y = (rng.random(x.size) < 1 / (1 + np.exp(-(0.6 * x + 1.2)))).astype(int)
    (slope,), intercept = fit_logistic(x.reshape(-1, 1), y, l2=1e-6)
    assert slope == pytest.approx(0.6, abs=0.03) and intercept == pytest.approx(1.2, abs=0.05)
    (shrunk,), _ = fit_logistic(x.reshape(-1, 1), y, l2=1e5)
    assert 0 < shrunk < slope / 2  # the penalty acts on the slope


def test_separable_data_converge_to_a_finite_fit():
    """All Yea above zero and all Nay below: without the penalty the slope would run off to infinity."""
    x = np.linspace(-3, 3, 200).reshape(-1, 1)
    (slope,), intercept = fit_logistic(x, (x[:, 0] > 0).astype(int), l2=1.0)
    assert np.isfinite(slope) and slope > 1 and abs(intercept) < 1e-6


@pytest.mark.parametrize(
    ("design", "target"),
    [(np.zeros((3, 2)), np.zeros(4)), (np.zeros(3), np.zeros(3)), (np.zeros((0, 2)), np.zeros(0))],
)
def test_mismatched_or_empty_input_is_named(design, target):
    with pytest.raises(ValueError, match=r"fit_logistic: design .* and target .* do not match"):
        fit_logistic(design, target, l2=1.0)


@pytest.mark.parametrize(
    ("design", "target"),
    [
        (np.array([[0.0], [np.inf], [1.0]]), np.array([0, 1, 1])),  # the log-odds of a probability of exactly 1
        (np.array([[0.0], [np.nan], [1.0]]), np.array([0, 1, 1])),
        (np.array([[0.0], [0.5], [1.0]]), np.array([0, 2, 1])),
    ],
)
def test_a_value_the_fit_cannot_use_is_an_error_not_a_zero_fit(design, target):
    """Unguarded, an infinite log-odds made every step's loss NaN and the fit returned all zeros without a word."""
    with pytest.raises(
        ValueError,
        match=r"fit_logistic: 1 of 3 rows have a missing or infinite value or a target other than 0/1 \(first: row 1\)",
    ):
        fit_logistic(design, target, l2=1.0)


FIT_IN_A_CHILD = """
import json, sys
import numpy as np, pandas as pd
from models.baselines import _ideology_design, _party
from models.dataset import alliance_side
from models.logistic import fit_logistic
train = pd.read_parquet(sys.argv[1])
train = train[train["date"] < "2022-01-01"]
fill = train.groupby(_party(train))[["nominate_dim1", "nominate_dim2"]].mean().fillna(0.0)
target = alliance_side(train["voted_yea"], train["orientation"])
coefs, intercept = fit_logistic(_ideology_design(train, fill), target, 1.0)
print(json.dumps([float(c).hex() for c in coefs] + [float(intercept).hex()]))
"""


@pytest.mark.skipif(
    "avx512f" not in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else True,
    reason="OpenBLAS's SkylakeX kernels need a CPU with AVX-512",
)
def test_the_fit_is_the_same_with_haswell_and_skylakex_blas_kernels():
    """Intel AVX-512 machines run OpenBLAS's SkylakeX kernels, AMD's its Haswell ones; scikit-learn's lbfgs fit gave
    baseline probabilities 8e-14 apart on the two, enough to change backtest.parquet's hash."""
    fits = []
    for kernels in ("Haswell", "SkylakeX"):
        environment = {**os.environ, "OPENBLAS_CORETYPE": kernels}
        child = [sys.executable, "-c", FIT_IN_A_CHILD, str(TRAINING)]
        result = subprocess.run(child, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        fits.append(json.loads(result.stdout))
    assert fits[0] == fits[1]


BACKTEST_CUT_IN_A_CHILD = """
import sys
import pandas as pd
from models import support_model
from models.dataset import with_context
from models.evaluate import backtest
from pipeline.config import MODELS_DIR, load_params
params = load_params()
context = pd.read_parquet(MODELS_DIR / "general" / "context_out_of_time.parquet")
training = with_context(pd.read_parquet(sys.argv[1]), context)
clip = tuple(params["evaluate"]["baseline_clip"])
backtest(training, [2019], support_model.model_settings(params), clip).to_parquet(sys.argv[2])
"""


def test_the_backtest_file_is_the_same_without_numpys_avx512_code(tmp_path):
    """NumPy's exp and log round the last bit otherwise with AVX-512 than without: unrounded, 49 DW-NOMINATE
    probabilities of backtest.parquet (2019's cut among them) differed between the two, and its hash with them."""
    backtest_file = ROOT / "data" / "models" / "backtest.parquet"
    if not backtest_file.exists():
        pytest.fail("data/models/backtest.parquet is missing: the test command runs `dvc repro` first")
    no_avx512 = "X86_V4 AVX512_ICL AVX512_SPR"  # the names NumPy 2.4 accepts; X86_V4 takes AVX-512 away
    environment = {**os.environ, "NPY_DISABLE_CPU_FEATURES": no_avx512}
    child = [sys.executable, "-c", BACKTEST_CUT_IN_A_CHILD, str(TRAINING), str(tmp_path / "cut.parquet")]
    result = subprocess.run(child, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    stored = pd.read_parquet(backtest_file)
    stored = stored[stored["cut"] == 2019].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cut.parquet"), stored, check_exact=True)


def test_a_target_of_one_class_is_an_error_naming_the_fit():
    """With one class the intercept runs off to infinity: unguarded, the fit came back as whatever 37-100 steps
    reached (intercept 36.7 or -101) without a word, and the DW-NOMINATE baseline said 0.99 for everyone."""
    x = np.linspace(-1, 1, 50).reshape(-1, 1)
    with pytest.raises(ValueError, match="the DW-NOMINATE baseline: the target has one class only"):
        fit_logistic(x, np.ones(50), l2=1.0, what="the DW-NOMINATE baseline")


def test_a_fit_that_does_not_converge_is_an_error(monkeypatch):
    """Two Newton steps do not reach this optimum: the fit says so rather than returning where it stopped."""
    monkeypatch.setattr("models.logistic.MAX_STEPS", 2)
    x = np.linspace(-3, 3, 200).reshape(-1, 1)
    with pytest.raises(ValueError, match="the Platt calibration: the logistic fit did not converge in 2 Newton steps"):
        fit_logistic(x, (x[:, 0] > 0).astype(int), l2=1e-6, what="the Platt calibration")


@pytest.mark.parametrize("l2", [float("nan"), -1.0, float("inf")])
def test_a_penalty_that_is_not_finite_and_non_negative_is_an_error(l2):
    """A NaN penalty made every loss NaN: the fit returned all zeros, silently."""
    x = np.linspace(-1, 1, 50).reshape(-1, 1)
    with pytest.raises(ValueError, match="fit_logistic: the L2 penalty must be finite and >= 0"):
        fit_logistic(x, (x[:, 0] > 0.3).astype(int), l2=l2)


def test_values_too_large_for_the_fit_are_an_error():
    """x * x overflows the curvature: unguarded, the fit came back all zeros (with a RuntimeWarning only)."""
    x = np.linspace(-1, 1, 40).reshape(-1, 1) * 1e200
    with pytest.raises(ValueError, match="fit_logistic: the design's values are too large for a logistic fit"):
        fit_logistic(x, (x[:, 0] > 0).astype(int), l2=1.0)


def test_a_fit_without_a_unique_optimum_is_an_error_naming_the_fit():
    """Unpenalised (l2=0), a column of zeros leaves its coefficient free: numpy's bare 'Singular matrix' before."""
    with pytest.raises(ValueError, match="the context scale: the logistic fit has no unique optimum"):
        fit_logistic(np.zeros((40, 1)), np.arange(40) % 2, l2=0.0, what="the context scale")


def test_a_target_that_is_not_one_dimensional_is_named():
    """A (n, 1) target passed the length check and failed in a broadcast deep in the solver."""
    with pytest.raises(ValueError, match=r"fit_logistic: design \(40, 1\) and target \(40, 1\) do not match"):
        fit_logistic(np.zeros((40, 1)), np.zeros((40, 1)), l2=1.0)
