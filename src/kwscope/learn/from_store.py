"""``learn`` on a feature store that ``kwscope features`` made (``--features OUT``, or DATA being the
store itself): when the store matches -- log-mel features (kind ``mel``) of fixed length, made
from this dataset's folder, holding every clip ``learn`` would learn from with the same size and
modification time -- its raw features are read (``load_features(OUT, mmap=True)``, block by
block) instead of decoding the audio again; a store that does not match is refused in one line
saying why.

From the store, the CNN is fed the stored spectrogram as it is (any number of frames: the
network pools globally), and the embedding is pooled from it (:func:`.pool_embedding`) over the
frames within 40 dB of the clip's loudest, as the embedding's VAD does on the samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .embedding import EmbeddingConfig, pool_embedding
from .embeddings import Embeddings
from .folds import LearnError

__all__ = ["StoreMatch", "is_store", "store_root", "match_store", "store_inputs"]

#: Frames within this many dB of a clip's loudest frame are its speech region (as the VAD's top_db).
_SPEECH_TOP_DB = 40.0


def is_store(path) -> bool:
    """True when ``path`` is a folder holding a ``kwscope features`` store (``store.json``)."""
    return isinstance(path, (str, os.PathLike)) and (Path(path) / "store.json").is_file()


def store_root(out) -> str:
    """The dataset folder a store was made from (its ``store.json``)."""
    from ..features.store import read_store_info

    info = read_store_info(out) or {}
    root = (info.get("data") or {}).get("root")
    if not root:
        raise LearnError(f"{out}: the feature store does not say which dataset it was made from")
    return str(root)


@dataclass
class StoreMatch:
    """A store that matches the clips to learn from: ``rows[i]`` is the store row of clip ``i``
    (``-1``: the store skipped it, ``errors[i]`` says why); ``why`` is one sentence."""

    path: str
    config: dict
    rows: np.ndarray
    errors: np.ndarray
    why: str
    features: object  # the store's FeatureArray (raw, read on access)
    info: dict = field(default_factory=dict)

    def embedding_config(self) -> EmbeddingConfig:
        """The front end the store used, as an :class:`EmbeddingConfig` (frames in seconds)."""
        c = self.config
        win = round(float(c["window_ms"]) * int(c["sample_rate"]) / 1000)
        return EmbeddingConfig(sample_rate=int(c["sample_rate"]), n_mels=int(c["n_mels"]),
                               n_fft=int(c.get("n_fft") or win), win_length=win,
                               hop_length=round(float(c["step_ms"]) * int(c["sample_rate"]) / 1000),
                               top_db=float(c["top_db"]) if c.get("top_db") is not None else 80.0)

    def to_dict(self) -> dict:
        return {"path": self.path, "why": self.why, "kind": self.config.get("kind"),
                "config_hash": self.info.get("config_hash")}


def _same_folder(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def match_store(out, sub: pd.DataFrame) -> StoreMatch:
    """Check that the store ``out`` holds the features of the clips ``sub`` (the rows to learn
    from; ``sub.attrs["root"]`` their folder) and map them to its rows.

    Raises
    ------
    LearnError
        One line saying why the store does not match: not a store or incomplete, another kind
        than ``mel``, variable length, made from another folder, clips missing from it, or files
        changed since it was made.
    """
    from ..features.store import StoreError, load_errors, load_features, read_store_info

    out = str(out)
    try:
        info = read_store_info(out)
        if info is not None and int(info.get("format_version", 1)) < 2:
            raise LearnError(f"{out}: a format-1 store (normalized when written); rerun kwscope features with "
                             "--overwrite")
        X, stored = load_features(out, normalize=False, stack=False, mmap=True)
    except StoreError as exc:
        raise LearnError(str(exc)) from None
    info = stored.attrs["kwscope"]
    cfg = info.get("config", {})
    kind = cfg.get("kind")
    if kind != "mel":
        raise LearnError(f"{out}: a store of kind {kind!r}; learn reads log-mel stores "
                         "(kwscope features --kind mel)")
    if not info.get("fixed_length", True) or cfg.get("duration_s") is None:
        raise LearnError(f"{out}: a variable-length store (duration_s: null); learn reads fixed-length stores")
    root = str((info.get("data") or {}).get("root", ""))
    data_root = str(sub.attrs.get("root", ""))
    if not root or not data_root or not _same_folder(root, data_root):
        raise LearnError(f"{out}: made from {root or 'an unnamed folder'}, not from {data_root or 'this manifest'}")
    where = pd.Series(np.arange(len(stored)), index=stored["path"].astype(str))
    where = where[~where.index.duplicated()]
    paths = sub["path"].astype(str)
    rows = where.reindex(paths).fillna(-1).to_numpy(np.int64)
    errors = np.full(len(sub), "", dtype=object)
    missing = np.flatnonzero(rows < 0)
    if missing.size:
        skipped = load_errors(out)
        reasons = dict(zip(skipped["path"].astype(str), skipped["error"].astype(str))) if len(skipped) else {}
        unknown = [i for i in missing if paths.iloc[i] not in reasons]
        if unknown:
            raise LearnError(f"{out}: {len(unknown):,} of the {len(sub):,} clips to learn from are not in the store "
                             f"(e.g. {paths.iloc[unknown[0]]!r}): it was made from other files; rerun kwscope "
                             "features on this dataset")
        for i in missing:
            errors[i] = f"skipped by the feature store: {reasons[paths.iloc[i]]}"
    have = rows >= 0
    checked = []
    for col in ("size_bytes", "mtime_ns"):
        if col in sub.columns and col in stored.columns:
            a = pd.to_numeric(sub[col], errors="coerce").to_numpy(np.float64)[have]
            b = pd.to_numeric(stored[col], errors="coerce").to_numpy(np.float64)[rows[have]]
            known = ~np.isnan(a) & ~np.isnan(b)  # compared where both sides know it
            if not known.any():
                continue
            changed = np.flatnonzero(known & (a != b))
            if changed.size:
                first = paths[have].iloc[int(changed[0])]
                raise LearnError(f"{out}: {changed.size:,} files changed since the store was made ({col} differs, "
                                 f"e.g. {first!r}); rerun kwscope features to update it")
            checked.append({"size_bytes": "sizes", "mtime_ns": "modification times"}[col])
    why = (f"kind mel ({cfg.get('n_mels')} bands, {cfg.get('window_ms'):g}-ms windows every {cfg.get('step_ms'):g} ms, "
           f"{cfg.get('sample_rate')} Hz, {cfg.get('duration_s'):g} s), made from this folder, and holding all "
           f"{int(have.sum()):,} readable clips to learn from (same paths"
           + "".join(f", {c}" for c in checked) + ")")
    if missing.size:
        why += f"; {missing.size:,} clips the store skipped are left out as unreadable"
    return StoreMatch(out, cfg, rows, errors.astype(str), why, X, info)


def _speech_region(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last frame within ``_SPEECH_TOP_DB`` of each clip's loudest (``D``:
    ``(m, n_mels, T)`` dB)."""
    level = 10 * np.log10(np.maximum(np.power(10.0, D.astype(np.float64) / 10).sum(axis=1), 1e-20))
    loud = level >= level.max(axis=1, keepdims=True) - _SPEECH_TOP_DB
    T = D.shape[-1]
    fa = loud.argmax(axis=1)
    fb = T - loud[:, ::-1].argmax(axis=1)
    return fa.astype(np.int64), np.maximum(fb, fa + 1).astype(np.int64)


def store_inputs(match: StoreMatch, *, kind: str) -> Embeddings:
    """The model's inputs read from the store, clip ``i`` from row ``match.rows[i]``: the pooled
    embedding (``kind='embedding'``, ``(n, dim)`` float32) or the spectrogram (``'spectrogram'``,
    ``(n, n_mels, frames)`` float16); NaN rows where the store skipped the clip."""
    import time

    t0 = time.perf_counter()
    X = match.features
    config = match.embedding_config()
    n = match.rows.size
    _, frames, coeffs = X.shape
    if kind == "spectrogram":
        out = np.full((n, coeffs, frames), np.nan, np.float16)
    else:
        out = np.full((n, config.dim), np.nan, np.float32)
    order = np.argsort(match.rows, kind="stable")
    order = order[match.rows[order] >= 0]
    srows = match.rows[order]
    for start, block in X.batches():
        a, b = np.searchsorted(srows, [start, start + len(block)])
        if a == b:
            continue
        D = np.swapaxes(block[srows[a:b] - start], 1, 2)  # (m, n_mels, frames)
        if kind == "spectrogram":
            out[order[a:b]] = D
        else:
            fa, fb = _speech_region(D)
            out[order[a:b]] = pool_embedding(D, fa, fb, config)
    ok = match.rows >= 0
    info = {"chunks": 0, "cache_hits": 0, "files": n, "seconds": round(time.perf_counter() - t0, 3),
            "store": match.to_dict()}
    return Embeddings(out, ok, match.errors, config, info)
