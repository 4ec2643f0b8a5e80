"""Likely mislabels and ambiguous clips from out-of-fold probabilities.

Likely mislabels are cleanlab's confident learning (``cleanlab.filter.find_label_issues``: the
confident joint of given and predicted labels, pruned by noise rate), ranked by self-confidence
(the probability the model gives the label the clip was filed under; lowest first). Ambiguous
clips are the others on which the model gives no label a majority (top probability under 0.5),
ranked by cleanlab's normalized entropy (most uncertain first).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["find_issues", "AMBIGUOUS_BELOW"]

#: A clip is ambiguous when no label gets this probability (and it is not a likely mislabel).
AMBIGUOUS_BELOW = 0.5


def find_issues(y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mislabels, ambiguous)``: row indices, each ranked (most likely / most uncertain first).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=int]
        Given class index of each clip (every class ``0 .. K-1`` present).
    probs : np.ndarray [shape=(n, K)]
        Out-of-fold probabilities (rows sum to 1).
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_normalized_entropy

    y = np.asarray(y, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n, k = probs.shape
    if n == 0 or k < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab's notes on tiny classes; the output counts them
        ranked = np.asarray(find_label_issues(y, probs, return_indices_ranked_by="self_confidence", n_jobs=1),
                            dtype=np.int64)
    flagged = np.zeros(n, bool)
    flagged[ranked] = True
    candidates = np.flatnonzero(~flagged & (probs.max(axis=1) < AMBIGUOUS_BELOW))
    entropy = get_normalized_entropy(np.clip(probs[candidates], 1e-12, 1.0))
    ambiguous = candidates[np.lexsort((candidates, -entropy))]
    return ranked, ambiguous
