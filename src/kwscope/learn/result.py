"""The baseline's result, :class:`Baseline`: what was learned from which clips and how it was
validated, the out-of-fold predictions, accuracy tables, confusions, likely mislabels and
ambiguous clips; as a JSON-able description, as files in an output folder, and as findings."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Baseline", "issue_rows", "ISSUES_HOW"]

#: How the likely mislabels are found and ranked (said in the JSON and the report).
ISSUES_HOW = ("clips the baseline hears as another label (cleanlab find_label_issues, predicted != given), "
              "ranked by self-confidence (the out-of-fold probability of the label given, lowest first); "
              "confident_learning marks those cleanlab's confident learning (prune_by_noise_rate) flags too")


def issue_rows(table: pd.DataFrame, rows: np.ndarray, confident: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Ranked issue records (rank from 1): path, label given, label heard, the model's probability
    of each (0-1), speaker, fold, and (likely mislabels) whether confident learning flags it too."""
    sub = table.iloc[rows]
    out = []
    for rank, (p, lab, spk, fold, heard, pg, ph) in enumerate(zip(
            sub["path"], sub["label"], sub["speaker"], sub["fold"], sub["heard_as"], sub["p_given"],
            sub["p_heard"]), start=1):
        rec = {"rank": rank, "path": str(p), "label": str(lab), "heard_as": str(heard),
               "p_given": round(float(pg), 4), "p_heard": round(float(ph), 4),
               "speaker": None if spk is None or spk != spk else str(spk), "fold": int(fold)}
        if confident is not None:
            rec["confident_learning"] = bool(confident[rank - 1])
        out.append(rec)
    return out


@dataclass
class Baseline:
    """What ``kwscope learn`` found (see the module docstring).

    ``table`` has one row per clip learned from (``path, label, speaker, fold, heard_as, p_given,
    p_heard, correct``) in manifest order, and ``probs[i]`` is row ``i``'s out-of-fold probability
    vector over ``classes``. ``mislabels`` and ``ambiguous`` are positions in ``table``, ranked.
    """

    root: str
    layout: str
    classes: list[str]
    table: pd.DataFrame
    probs: np.ndarray
    folds: dict[str, Any]  # k, grouped, how
    model: dict[str, Any]  # name, description, seed
    accuracy: dict[str, Any]  # accuracy_tables()
    confusion: np.ndarray
    confused_pairs: list[dict[str, Any]]
    mislabels: np.ndarray
    confident: np.ndarray  # per likely mislabel: confident learning flags it too
    ambiguous: np.ndarray
    n_files: int = 0  # manifest rows
    left_out: dict[str, Any] = field(default_factory=dict)  # why rows were not learned from
    unreadable: list[dict[str, str]] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    embedding: dict[str, Any] = field(default_factory=dict)  # config and pass info

    @property
    def n_clips(self) -> int:
        return len(self.table)

    def mislabel_records(self, top: int | None = None) -> list[dict[str, Any]]:
        return issue_rows(self.table, self.mislabels[:top], self.confident[:top])

    def ambiguous_records(self, top: int | None = None) -> list[dict[str, Any]]:
        return issue_rows(self.table, self.ambiguous[:top])

    def headline(self) -> str:
        """One sentence: the accuracy, that it is a baseline, and how it was validated."""
        acc = self.accuracy.get("accuracy")
        centred = ", centred per speaker" if self.embedding.get("centred_by_speaker") else ""
        return (f"Baseline accuracy {acc:.1%} on {self.n_clips:,} clips ({len(self.classes)} labels; "
                f"{self.model['name']}: {self.model['description']}{centred}), out-of-fold by {self.folds['how']}. "
                f"A floor for what the data supports, not a tuned model; always saying the most common label "
                f"scores {self.accuracy.get('majority_accuracy', 0):.1%}.")

    def to_dict(self) -> dict[str, Any]:
        """The whole result as JSON types (every likely mislabel and ambiguous clip, ranked)."""
        return {
            "root": self.root,
            "layout": self.layout,
            "headline": self.headline(),
            "n_files": self.n_files,
            "n_clips": self.n_clips,
            "classes": list(self.classes),
            "folds": dict(self.folds),
            "model": dict(self.model),
            "accuracy": self.accuracy["accuracy"],
            "n_correct": self.accuracy["n_correct"],
            "majority_accuracy": self.accuracy["majority_accuracy"],
            "per_label": self.accuracy["per_label"],
            "per_speaker": self.accuracy["per_speaker"],
            "confusion": {"labels": list(self.classes), "counts": self.confusion.tolist(),
                          "rows": "label given", "columns": "label predicted"},
            "confused_pairs": self.confused_pairs,
            "n_mislabels": int(self.mislabels.size),
            "n_confident_learning": int(self.confident.sum()),
            "issues_how": ISSUES_HOW,
            "mislabels": self.mislabel_records(),
            "n_ambiguous": int(self.ambiguous.size),
            "ambiguous": self.ambiguous_records(),
            "left_out": self.left_out,
            "unreadable": self.unreadable,
            "embedding": self.embedding,
            "timings_s": self.timings_s,
        }

    def findings(self) -> list[dict[str, Any]]:
        """Findings for the report (``kind, severity, count, title, detail, unit``)."""
        out = []
        acc = self.accuracy.get("accuracy")
        out.append({"kind": "baseline", "severity": "info", "count": self.n_clips,
                    "title": f"baseline accuracy {acc:.1%} ({'speaker-grouped' if self.folds['grouped'] else 'NOT speaker-grouped'} "
                             f"{self.folds['k']}-fold)",
                    "detail": f"{self.model['name']} on {self.n_clips:,} clips; a floor, not a tuned model",
                    "unit": "files"})
        n = int(self.mislabels.size)
        if n:
            top = self.mislabel_records(3)
            names = ", ".join(f"{r['path']} ({r['label']} heard as {r['heard_as']})" for r in top)
            out.append({"kind": "likely_mislabels", "severity": "warn", "count": n,
                        "title": f"{n:,} clip{'s' if n != 1 else ''} the baseline hears as another label "
                                 f"({int(self.confident.sum()):,} flagged by confident learning)",
                        "detail": "likeliest mislabels: " + names + (" ..." if n > 3 else ""), "unit": "files"})
        if self.confused_pairs:
            p = self.confused_pairs[0]
            out.append({"kind": "confused_labels", "severity": "info", "count": p["n"],
                        "title": f"“{p['label']}” heard as “{p['heard_as']}” in {p['n']:,} clips",
                        "detail": f"{p['share']:.1%} of “{p['label']}”: the pair the baseline confuses most",
                        "unit": "files"})
        return out

    def write(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``predictions.parquet`` (one row a clip, with a ``p_<label>`` column a label),
        ``probabilities.npz`` (``probs``, ``classes``, ``paths``, ``fold``), ``label_issues.csv``
        (ranked likely mislabels, then ambiguous clips) and ``learn.json`` (:meth:`to_dict`)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        pred = self.table.copy()
        for j, c in enumerate(self.classes):
            pred[f"p_{c}"] = self.probs[:, j].astype(np.float32)
        written["predictions"] = _atomic(out / "predictions.parquet", lambda p: pred.to_parquet(p, index=False))
        written["probabilities"] = _atomic(out / "probabilities.npz", lambda p: np.savez_compressed(
            p, probs=self.probs.astype(np.float32), classes=np.array(self.classes, dtype=str),
            paths=self.table["path"].astype(str).to_numpy(dtype=str), fold=self.table["fold"].to_numpy()))
        issues = pd.DataFrame([{"kind": "likely_mislabel", **r} for r in self.mislabel_records()]
                              + [{"kind": "ambiguous", **r} for r in self.ambiguous_records()],
                              columns=["kind", "rank", "path", "label", "heard_as", "p_given", "p_heard", "speaker", "fold",
                                       "confident_learning"])
        written["label_issues"] = _atomic(out / "label_issues.csv", lambda p: issues.to_csv(p, index=False))
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        written["json"] = _atomic(out / "learn.json", lambda p: Path(p).write_text(text, encoding="utf-8"))
        return written


def _atomic(path: Path, write) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    write(tmp)
    os.replace(tmp, path)
    return path
