"""The TensorFlow Speech Recognition Challenge's 12 classes (``--task tf-challenge``): a way of
reading a Speech Commands-shaped dataset, so every command (stats, features, learn, report) sees
the same rows.

What it does follows ``prepare_data_index`` and ``get_data`` of TensorFlow's
``tensorflow/examples/speech_commands/input_data.py``:

- the ten words ``yes no up down left right on off stop go`` keep their names; every other word
  becomes ``_unknown_``; ``_background_noise_`` is no word;
- in each split, with ``n`` the recordings of the ten words there,
  ``ceil(n * silence_percentage / 100)`` ``_silence_`` clips are added and
  ``ceil(n * unknown_percentage / 100)`` of the split's other-word recordings, shuffled, are kept
  (the rest are left out of the task);
- a ``_silence_`` clip is one clip length (1 s) of a ``_background_noise_`` recording chosen at
  random, from an offset drawn from ``[0, n_samples - length)``, at a volume drawn from
  ``uniform(0, 1)``; without background recordings it is digital silence, as TensorFlow's are then.

Draws come from ``numpy.random.default_rng(seed)`` (TensorFlow uses Python's ``random`` seeded
59185, so the picks are TensorFlow's in number and rule, not the same files). A silence row is no
file: its ``source`` is a :class:`~kwscope.io.sources.NoiseSlice` that every reader cuts.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .audio import AudioError, probe
from .layouts import BACKGROUND_NOISE, LayoutError
from .sources import NoiseSlice, locate

__all__ = ["CHALLENGE_WORDS", "SILENCE_LABEL", "UNKNOWN_LABEL", "CHALLENGE_LABELS", "apply_task", "challenge_counts"]

CHALLENGE_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE_LABEL = "_silence_"
UNKNOWN_LABEL = "_unknown_"
#: The 12 classes in TensorFlow's order (prepare_words_list: silence, unknown, then the words).
CHALLENGE_LABELS = (SILENCE_LABEL, UNKNOWN_LABEL) + CHALLENGE_WORDS
_SPLIT_ORDER = ("validation", "test", "train")  # TensorFlow's order of the sets


def challenge_counts(n_words: int, *, silence_percentage: float = 10.0,
                     unknown_percentage: float = 10.0) -> tuple[int, int]:
    """``(silence, unknown)`` clips a split gets for ``n_words`` recordings of the ten words."""
    return (int(math.ceil(n_words * silence_percentage / 100)),
            int(math.ceil(n_words * unknown_percentage / 100)))


def apply_task(df: pd.DataFrame, *, silence_percentage: float = 10.0, unknown_percentage: float = 10.0,
               seed: int = 0, clip_seconds: float = 1.0) -> pd.DataFrame:
    """The manifest ``df`` read as the challenge's 12 classes (a new frame; ``attrs`` kept, a note
    and ``task`` / ``task_counts`` added).

    Rows of the ten words are kept as they are; the other words' rows are relabelled
    ``_unknown_`` and, per split, all but ``ceil(n * unknown_percentage / 100)`` of them (chosen
    by a seeded shuffle) left out; ``_silence_`` rows are added per split. Rows that are not
    speech (background noise, long recordings) are kept unchanged. Rows without a split count
    as one group of their own.
    """
    rng = np.random.default_rng(int(seed))
    speech = (df["category"] == "speech") & df["label"].notna()
    words = speech & df["label"].isin(CHALLENGE_WORDS)
    present = set(df.loc[words, "label"])
    if not present:
        found = sorted(str(x) for x in df.loc[speech, "label"].unique())
        shown = ", ".join(found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")
        raise LayoutError(f"{df.attrs.get('root', 'DATA')}: --task tf-challenge needs some of the words "
                          f"{' '.join(CHALLENGE_WORDS)}; the labels are {shown or 'none'}")
    missing = [w for w in CHALLENGE_WORDS if w not in present]
    others = speech & ~words
    split_key = df["split"].astype(object).where(df["split"].notna(), None)
    groups = [s for s in _SPLIT_ORDER if (split_key == s).any()]
    groups += sorted({s for s in split_key.dropna().unique() if s not in _SPLIT_ORDER})
    if (speech & split_key.isna()).any():
        groups.append(None)
    noise = _noise_sources(df, clip_seconds)
    keep = ~others.to_numpy()
    silence_rows: list[dict] = []
    counts: dict[str, dict[str, int]] = {}
    for split in groups:
        in_split = (split_key.isna() if split is None else split_key == split).to_numpy()
        n_words = int((words.to_numpy() & in_split).sum())
        n_silence, n_unknown = challenge_counts(n_words, silence_percentage=silence_percentage,
                                                unknown_percentage=unknown_percentage)
        candidates = np.flatnonzero(others.to_numpy() & in_split)
        chosen = rng.permutation(candidates)[:n_unknown]
        keep[chosen] = True
        start = len(silence_rows)
        for _ in range(n_silence):
            silence_rows.append(_silence_row(noise, rng, len(silence_rows), split))
        counts[split or "none"] = {"words": n_words, "unknown": int(len(chosen)), "unknown_available": int(len(candidates)),
                                   "silence": len(silence_rows) - start}
    out = df[keep].copy()
    out.loc[others[keep], "label"] = UNKNOWN_LABEL
    if silence_rows:
        extra = pd.DataFrame(silence_rows, columns=df.columns)
        for c in df.columns:
            extra[c] = extra[c].astype(df[c].dtype) if str(df[c].dtype) != "object" else extra[c]
        out = pd.concat([out, extra], ignore_index=True)
    order = np.lexsort((out["path"].astype(str).to_numpy(), out["label"].fillna("\uffff").astype(str).to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    out.attrs["task"] = "tf-challenge"
    out.attrs["task_counts"] = counts
    notes = [_note(counts, noise, seed, int(others.sum()))]
    if missing:  # TensorFlow stops here ("Expected to find ..."); kwscope reads what there is
        notes.append(f"task tf-challenge: no recordings of {', '.join(missing)} ({12 - len(missing)} of the 12 "
                     "labels present)")
    out.attrs["layout_notes"] = list(df.attrs.get("layout_notes", [])) + notes
    return out


def _noise_sources(df: pd.DataFrame, clip_seconds: float) -> dict:
    """The background recordings a silence clip can be cut from (long enough, readable), with the
    fallback rate for digital silence."""
    root = str(df.attrs.get("root", ""))
    rows = df[(df["category"] == "background_noise") & (df["status"] == "ok")].sort_values("path")
    usable, skipped = [], []
    for _, r in rows.iterrows():
        rate, n = r["sample_rate"], r["n_samples"]
        mtime = r["mtime_ns"]
        if pd.isna(rate) or pd.isna(n):  # listed without headers (features): read this one's
            try:
                info = probe(locate(root, str(r["path"])))
            except AudioError as exc:
                skipped.append(f"{r['path']} ({exc.reason})")
                continue
            rate, n = info.sample_rate, info.n_samples
        rate, n = int(rate), int(n)
        length = int(round(clip_seconds * rate))
        if n <= length:  # TensorFlow raises "Background sample is too short!"; kwscope skips it
            skipped.append(f"{r['path']} ({n} samples, a clip needs more than {length})")
            continue
        usable.append((str(r["path"]), rate, n, length, None if pd.isna(mtime) else int(mtime)))
    speech_rates = df.loc[df["category"] == "speech", "sample_rate"].dropna()
    fallback = int(speech_rates.median()) if len(speech_rates) else 16000
    return {"usable": usable, "skipped": skipped, "fallback_rate": fallback, "clip_seconds": clip_seconds}


def _silence_row(noise: dict, rng: np.random.Generator, i: int, split) -> dict:
    if noise["usable"]:
        file, rate, n, length, mtime = noise["usable"][int(rng.integers(len(noise["usable"])))]
        offset = int(rng.integers(0, n - length))
        volume = round(float(rng.uniform(0.0, 1.0)), 6)
        stem = file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    else:
        rate = noise["fallback_rate"]
        file, length, offset, volume, mtime, stem = "", int(round(noise["clip_seconds"] * rate)), 0, 0.0, None, "zeros"
    piece = NoiseSlice(file, offset, length, volume, rate)
    return {
        "path": f"{SILENCE_LABEL}/{i:05d}_{stem}.wav", "label": SILENCE_LABEL, "speaker": None, "take": None,
        "split": split, "category": "speech", "sample_rate": rate, "channels": 1, "n_samples": length,
        "duration_s": length / rate, "subtype": "FLOAT", "format": "WAV", "format_note": "",
        "size_bytes": 4 * length, "mtime_ns": mtime, "status": "ok", "error": "",
        "source": piece.source(), "source_row": offset,
    }


def _note(counts: dict, noise: dict, seed: int, n_others: int) -> str:
    per = "; ".join(f"{s}: {c['words']:,} word clips + {c['unknown']:,} of {c['unknown_available']:,} other-word "
                    f"clips as {UNKNOWN_LABEL} + {c['silence']:,} {SILENCE_LABEL}" for s, c in counts.items())
    if noise["usable"]:
        src = (f"{SILENCE_LABEL} cut from {len(noise['usable'])} {BACKGROUND_NOISE} recordings at volume "
               f"uniform(0, 1)")
    else:
        src = f"no usable {BACKGROUND_NOISE} recordings: {SILENCE_LABEL} clips are digital silence"
    skipped = f"; skipped {', '.join(noise['skipped'])}" if noise["skipped"] else ""
    return (f"task tf-challenge (TensorFlow input_data.py proportions, seed {seed}): 12 labels; "
            f"{n_others:,} clips of other words read as {UNKNOWN_LABEL}; {per}; {src}{skipped}")
