"""Out-of-fold probabilities: for each fold a fresh model is fitted on the other folds' clips and
predicts the held-out clips, so every clip's probability vector comes from a model that never saw
it (nor, with speaker-grouped folds, its speaker).

Folds are fitted concurrently on threads, each with one BLAS thread (numpy and scipy release the
GIL in the products that dominate a fit; the folds do not share state), so the result does not
depend on the number of threads.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .folds import Folds
from .models import make_model

__all__ = ["out_of_fold_probabilities", "fit_fold"]


def fit_fold(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, n_classes: int, *,
             model: str = "logreg", seed: int = 0) -> np.ndarray:
    """Fit ``model`` on ``X[train]`` (labels ``y``: class indices) and return ``(len(test), n_classes)``
    probabilities of ``X[test]``; a class absent from the training rows gets probability 0."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    clf = make_model(model, seed=seed, n_train=int(train.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter bounds the time; the fit is still good
        clf.fit(X[train], y[train])
    out = np.zeros((test.size, n_classes), np.float64)
    out[:, clf.classes_] = clf.predict_proba(X[test])
    return out


def out_of_fold_probabilities(X: np.ndarray, y: np.ndarray, folds: Folds, n_classes: int, *,
                              model: str = "logreg", seed: int = 0, threads: int = 1) -> tuple[np.ndarray, dict]:
    """Every clip's out-of-fold probability vector.

    Parameters
    ----------
    X : np.ndarray [shape=(n, dim)]
        Embeddings.
    y : np.ndarray [shape=(n,), dtype=int]
        Class index of each clip (``0 .. n_classes - 1``).
    folds : Folds
        Where each clip is held out.
    model, seed
        The classifier (:func:`kwscope.learn.models.make_model`) and its seed.
    threads
        Folds fitted at once.

    Returns
    -------
    (np.ndarray [shape=(n, n_classes), dtype=float64], dict)
        The probabilities (rows sum to 1) and timings: ``seconds_per_fold``.
    """
    from threadpoolctl import threadpool_limits

    probs = np.zeros((X.shape[0], n_classes), np.float64)
    splits = list(folds.splits())

    def one(split):
        t = time.perf_counter()
        train, test = split
        return test, fit_fold(X, y, train, test, n_classes, model=model, seed=seed), time.perf_counter() - t

    with threadpool_limits(limits=1):
        if threads > 1 and len(splits) > 1:
            with ThreadPoolExecutor(max_workers=min(threads, len(splits))) as pool:
                results = list(pool.map(one, splits))
        else:
            results = [one(s) for s in splits]
    for test, p, _ in results:
        probs[test] = p
    return probs, {"seconds_per_fold": [round(s, 3) for _, _, s in results]}
