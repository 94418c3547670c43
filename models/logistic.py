"""Penalised logistic regression by Newton's method, solved to the optimum and kept to 12 decimal places.

scikit-learn's solvers stop at a tolerance (lbfgs: 1e-4) and sum through BLAS, whose order depends on the CPU
(OpenBLAS's SkylakeX kernels on Intel AVX-512, Haswell's on AMD): where they stop then differs by more than the last
digit, so the DW-NOMINATE baseline's probabilities differed between machines. Newton's method converges to the
optimum itself, its gradient is summed by NumPy (pairwise, the same order on every CPU), and rounding to 12 decimal
places takes away what is left. (Not 12 significant digits: a coefficient that is zero at the optimum, a column
that carries nothing, comes out as noise of 1e-29 or so, which that would keep.) The objective is scikit-learn's:
the log loss summed over rows plus ``l2 / 2`` times the squared coefficients (``l2 = 1 / C``; the intercept is not
penalised).
"""

from __future__ import annotations

import numpy as np

from models.logodds import expit

MAX_STEPS = 100
DECIMALS = 12  # the coefficients are log-odds per unit of features of order 1


def fit_logistic(
    design: np.ndarray, target: np.ndarray, l2: float, what: str = "fit_logistic"
) -> tuple[np.ndarray, float]:
    """Coefficients (one per column of ``design``) and intercept minimising the penalised log loss. ``what`` names
    the fit in an error (a fit without an optimum, or that does not reach it, is an error, not a result)."""
    columns, target = _checked(design, target, l2, what)
    penalty = np.full(columns.shape[1], float(l2))
    penalty[-1] = 0.0
    weights = np.zeros(columns.shape[1])
    loss = _penalised_loss(columns, target, weights, penalty)
    for _ in range(MAX_STEPS):
        step = _newton_step(columns, target, weights, penalty, what)
        weights, loss, moved = _damped(columns, target, weights, step, penalty, loss)
        if moved and np.max(np.abs(step)) <= 1e-12 * (1.0 + np.max(np.abs(weights))):
            settled = np.round(weights, DECIMALS) + 0.0  # + 0.0: no negative zero
            return settled[:-1], float(settled[-1])
        if not moved:
            break
    raise ValueError(f"{what}: the logistic fit did not converge in {MAX_STEPS} Newton steps (weights {weights})")


def _checked(design: np.ndarray, target: np.ndarray, l2: float, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The design with a column of ones for the intercept, and the target as floats; an error for what has no fit."""
    design = np.asarray(design, dtype=float)
    target = np.asarray(target, dtype=float)
    if design.ndim != 2 or target.ndim != 1 or len(design) != len(target) or not len(target):
        raise ValueError(f"{what}: design {design.shape} and target {target.shape} do not match")
    bad_rows = np.flatnonzero(~np.isfinite(design).all(axis=1) | ~np.isin(target, (0.0, 1.0)))
    if len(bad_rows):
        raise ValueError(
            f"{what}: {len(bad_rows)} of {len(target)} rows have a missing or infinite value or a target other "
            f"than 0/1 (first: row {bad_rows[0]})"
        )
    if not (np.isfinite(l2) and l2 >= 0):
        raise ValueError(f"{what}: the L2 penalty must be finite and >= 0, not {l2}")
    if len(np.unique(target)) < 2:
        raise ValueError(f"{what}: the target has one class only, so the fit has no optimum (the intercept runs off)")
    return np.column_stack([design, np.ones(len(design))]), target


def _sum_columns(values: np.ndarray) -> np.ndarray:
    """Each column's sum, column by column (NumPy's pairwise order, not BLAS's)."""
    return np.array([values[:, column].sum() for column in range(values.shape[1])])


def _newton_step(
    columns: np.ndarray, target: np.ndarray, weights: np.ndarray, penalty: np.ndarray, what: str
) -> np.ndarray:
    linear = _linear(columns, weights)
    probability = expit(linear)
    gradient = _sum_columns(columns * (probability - target)[:, None]) + penalty * weights
    curvature = (probability * (1.0 - probability))[:, None]
    with np.errstate(over="ignore"):  # checked below
        hessian = np.array(
            [_sum_columns(columns * (curvature * columns[:, [row]])) for row in range(columns.shape[1])]
        ) + np.diag(penalty)
    if not (np.isfinite(hessian).all() and np.isfinite(gradient).all()):
        raise ValueError(f"{what}: the design's values are too large for a logistic fit (its curvature overflows)")
    try:
        return np.linalg.solve(hessian, -gradient)
    except np.linalg.LinAlgError as error:  # no unique optimum: a column all zero, or columns collinear, with l2=0
        raise ValueError(f"{what}: the logistic fit has no unique optimum ({error}; columns collinear?)") from error


def _damped(columns, target, weights, step, penalty, loss) -> tuple[np.ndarray, float, bool]:
    """Take the Newton step, halved while the loss rises (far from the optimum a full step can overshoot); near it the
    loss changes by less than its rounding, which is not a rise."""
    for _ in range(30):
        candidate = weights + step
        candidate_loss = _penalised_loss(columns, target, candidate, penalty)
        if candidate_loss <= loss + 1e-10 * abs(loss):
            return candidate, candidate_loss, True
        step = step / 2.0
    return weights, loss, False


def linear_predictor(design: np.ndarray, coefs: np.ndarray, intercept: float) -> np.ndarray:
    """``intercept + design @ coefs``, column by column: a BLAS matrix product sums in an order that depends on the
    CPU."""
    linear = np.full(len(design), float(intercept))
    for column, coef in enumerate(coefs):
        linear += coef * design[:, column]
    return linear


def _linear(columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The linear predictor of the fit's columns (the last one the intercept's ones)."""
    return linear_predictor(columns[:, :-1], weights[:-1], weights[-1])


def _penalised_loss(columns: np.ndarray, target: np.ndarray, weights: np.ndarray, penalty: np.ndarray) -> float:
    linear = _linear(columns, weights)
    per_row = np.logaddexp(0.0, linear) - target * linear  # -log-likelihood, stable for large |linear|
    return float(per_row.sum() + 0.5 * (penalty * weights * weights).sum())
