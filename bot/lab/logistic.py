"""Small logistic models fitted exactly (Newton's method) and cross-validated by question group:
what the card-fit and the answer-confidence calibrations share."""
from __future__ import annotations

import numpy as np

FOLDS = 5
L2 = 1.0


def fit(X: np.ndarray, y: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float]:
    """(coefficients, bias) of an L2-regularised logistic regression (the bias is not shrunk)."""
    A = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(A.shape[1])
    reg = np.eye(A.shape[1]) * l2
    reg[-1, -1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-A @ w))
        grad = A.T @ (p - y) + reg @ w
        hess = A.T @ (A * (p * (1 - p))[:, None]) + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def predict(X: np.ndarray, coef: np.ndarray, bias: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(X @ coef + bias)))


def out_of_fold(X: np.ndarray, y: np.ndarray, group: np.ndarray, folds: int = FOLDS) -> tuple[np.ndarray, np.ndarray]:
    """(fold of each row, out-of-fold probability of each row): every row is predicted by a model
    fitted on the other folds; rows of one question share a fold."""
    fold = group % folds
    oof = np.zeros(len(y))
    for f in range(folds):
        coef, bias = fit(X[fold != f], y[fold != f])
        oof[fold == f] = predict(X[fold == f], coef, bias)
    return fold, oof
