"""Cross-validation folds for the baseline: grouped by speaker (no speaker on both sides of a fold)
and stratified by label, seeded; plainly stratified when the layout knows no speakers, and said.

Clips whose speaker is unknown in a dataset that names the others' are each a group of their own
(they cannot be proven apart from anyone) and are counted in :attr:`Folds.how`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import KwscopeError

__all__ = ["Folds", "LearnError", "make_folds"]


class LearnError(KwscopeError):
    """The baseline cannot be trained on this data (too few labels, clips or speakers, ...)."""


@dataclass
class Folds:
    """``fold[i]`` is the fold in which clip ``i`` is held out (``0 .. k - 1``)."""

    fold: np.ndarray  # (n,) int64
    k: int
    grouped: bool  # True: grouped by speaker
    how: str  # one sentence: how the folds were made, and what was guessed

    def splits(self):
        """``(train_rows, test_rows)`` of each fold, in fold order."""
        for f in range(self.k):
            yield np.flatnonzero(self.fold != f), np.flatnonzero(self.fold == f)


def make_folds(labels, speakers, *, k: int = 5, seed: int = 0) -> Folds:
    """Assign each clip a fold.

    Parameters
    ----------
    labels : array-like [shape=(n,)]
        Label of each clip.
    speakers : array-like [shape=(n,)]
        Speaker of each clip; ``None``/NaN/empty where unknown. All unknown: stratified folds.
    k : int
        Folds asked; fewer when there are fewer speakers (said in ``how``).
    seed : int
        Seed of the shuffled assignment (the same seed gives the same folds).

    Raises
    ------
    LearnError
        Fewer than 2 clips, or only one speaker.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = np.asarray(labels).astype(str)
    n = y.shape[0]
    if k < 2:
        raise LearnError(f"folds={k} must be at least 2")
    if n < 2:
        raise LearnError(f"{n} clip(s) to learn from: at least 2 are needed")
    spk = np.array(["" if s is None or s != s else str(s) for s in speakers], dtype=object)
    unknown = spk == ""
    fold = np.full(n, -1, np.int64)
    with warnings.catch_warnings():
        # "The least populated class in y has only 1 members": said in the output, not as a warning.
        warnings.simplefilter("ignore", UserWarning)
        if unknown.all():
            k_eff = max(2, min(k, int(np.unique(y, return_counts=True)[1].max())))
            cv = StratifiedKFold(n_splits=min(k_eff, n), shuffle=True, random_state=seed)
            for f, (_, test) in enumerate(cv.split(np.zeros(n), y)):
                fold[test] = f
            how = (f"{cv.n_splits}-fold cross-validation stratified by label; NOT grouped by speaker: the layout "
                   "names no speakers, so a speaker may be on both sides of a fold and the accuracy may be "
                   "optimistic")
            return Folds(fold, cv.n_splits, False, how)
        groups = spk.copy()
        groups[unknown] = [f"\0unknown-{i}" for i in np.flatnonzero(unknown)]
        n_speakers = len(set(spk[~unknown]))
        n_groups = len(set(groups))
        if n_groups < 2:
            raise LearnError(f"all {n} clips are of one speaker: speaker-grouped folds need at least 2 speakers")
        k_eff = min(k, n_groups)
        cv = StratifiedGroupKFold(n_splits=k_eff, shuffle=True, random_state=seed)
        for f, (_, test) in enumerate(cv.split(np.zeros(n), y, groups)):
            fold[test] = f
    how = f"{k_eff}-fold cross-validation grouped by speaker ({n_speakers:,} speakers, none on both sides of a fold)"
    if k_eff < k:
        how += f"; {k} folds asked, {k_eff} made: there are only {n_groups} speakers"
    if unknown.any():
        how += f"; {int(unknown.sum()):,} clips without a known speaker are each a group of their own"
    # Empty folds (more folds than StratifiedGroupKFold could fill) are dropped and renumbered.
    used = np.unique(fold)
    if used.size < k_eff:
        fold = np.searchsorted(used, fold)
        k_eff = int(used.size)
    return Folds(fold, k_eff, True, how)
