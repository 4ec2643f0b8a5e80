"""What is hard to learn, from out-of-fold predictions: accuracy overall, per label and per
speaker, the confusion matrix and the label pairs most often confused."""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy_tables", "confusion", "confused_pairs"]


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``C[i, j]``: clips filed under class ``i`` that the model predicts as ``j`` (counts)."""
    C = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(C, (y, pred), 1)
    return C


def confused_pairs(C: np.ndarray, classes, *, top: int = 10) -> list[dict]:
    """The largest off-diagonal cells of ``C``: ``label`` heard as ``heard_as`` in ``n`` clips, the
    ``share`` of ``label``'s clips (0-1), most first."""
    off = C.copy()
    np.fill_diagonal(off, 0)
    i, j = np.nonzero(off)
    order = np.lexsort((j, i, -off[i, j]))[:top]
    totals = C.sum(axis=1)
    return [{"label": str(classes[a]), "heard_as": str(classes[b]), "n": int(off[a, b]),
             "share": float(off[a, b] / totals[a])} for a, b in zip(i[order], j[order])]


def accuracy_tables(y: np.ndarray, pred: np.ndarray, classes, speakers: np.ndarray | None) -> dict:
    """Accuracy (0-1, out-of-fold) overall, per label (with the label it is most often heard as),
    per speaker (``None`` when speakers are unknown), and the majority-label accuracy (chance)."""
    right = pred == y
    per_label = []
    for c, name in enumerate(classes):
        m = y == c
        wrong = pred[m & ~right]
        most = np.bincount(wrong, minlength=len(classes)).argmax() if wrong.size else None
        per_label.append({"label": str(name), "n": int(m.sum()), "correct": int(right[m].sum()),
                          "accuracy": float(right[m].mean()) if m.any() else None,
                          "most_heard_as": None if most is None else str(classes[most])})
    per_speaker = None
    if speakers is not None:
        spk = np.array(["" if s is None or s != s else str(s) for s in speakers], dtype=object)
        known = spk != ""
        if known.any():
            names, inv = np.unique(spk[known], return_inverse=True)
            n = np.bincount(inv)
            ok = np.bincount(inv, weights=right[known].astype(float))
            order = np.lexsort((names, ok / n))  # worst first
            per_speaker = [{"speaker": str(names[i]), "n": int(n[i]), "correct": int(ok[i]),
                            "accuracy": float(ok[i] / n[i])} for i in order]
    counts = np.bincount(y, minlength=len(classes))
    return {
        "accuracy": float(right.mean()) if right.size else None,
        "n_correct": int(right.sum()),
        "majority_accuracy": float(counts.max() / counts.sum()) if counts.sum() else None,
        "per_label": per_label,
        "per_speaker": per_speaker,
    }
