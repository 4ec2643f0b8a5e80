"""Likely mislabels and ambiguous clips from out-of-fold probabilities, with cleanlab.

Likely mislabels are the clips the baseline hears as another label than the one they are filed
under (``cleanlab.filter.find_label_issues(filter_by="predicted_neq_given")``), ranked by
cleanlab's self-confidence (the probability of the label given; lowest first). Each is also
marked when cleanlab's confident learning (``filter_by="prune_by_noise_rate"``, its default:
the confident joint of given and true labels, pruned by the estimated noise rates) flags it too.

Why both: confident learning estimates how many clips of each (given, true) pair are wrong from
the model's confident predictions; with a baseline that confuses some pairs systematically and
mislabels scattered at random, it keeps the systematic confusions and drops scattered mislabels
the model is less sure of. On FSDD with 1% of clips planted in a wrong label folder
(``benchmarks/bench_learn.py``, five plantings), the top 2 x planted of the self-confidence
ranking held 82% of the planted clips on average; the top of confident learning's own list 66%.

Ambiguous clips are the others on which no label gets a majority (top probability under 0.5),
ranked by cleanlab's normalized entropy (most uncertain first).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["find_issues", "AMBIGUOUS_BELOW"]

#: A clip is ambiguous when no label gets this probability (and it is not a likely mislabel).
AMBIGUOUS_BELOW = 0.5


def find_issues(y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mislabels, confident, ambiguous)``.

    ``mislabels`` and ``ambiguous`` are row indices, ranked (most likely / most uncertain
    first); ``confident[j]`` is True when confident learning also flags ``mislabels[j]``.

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
    empty = np.zeros(0, np.int64)
    if n == 0 or k < 2:
        return empty, np.zeros(0, bool), empty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab's notes on tiny classes; the output counts them
        ranked = np.asarray(find_label_issues(y, probs, filter_by="predicted_neq_given",
                                              return_indices_ranked_by="self_confidence", n_jobs=1), np.int64)
        cl = np.asarray(find_label_issues(y, probs, filter_by="prune_by_noise_rate", n_jobs=1), bool)
    flagged = np.zeros(n, bool)
    flagged[ranked] = True
    candidates = np.flatnonzero(~flagged & (probs.max(axis=1) < AMBIGUOUS_BELOW))
    entropy = get_normalized_entropy(np.clip(probs[candidates], 1e-12, 1.0))
    ambiguous = candidates[np.lexsort((candidates, -entropy))]
    return ranked, cl[ranked], ambiguous
