"""``learn``: what a model would learn from a dataset -- index it, embed every clip on the engine,
fit the baseline fold by fold, and derive accuracy, confusions, likely mislabels and ambiguous
clips from the out-of-fold probabilities; with the finished :class:`Baseline` cached (opt-in)
so that ``kwscope report`` can show it without training again (:func:`cached_baseline`)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.caches import cached_index
from ..settings import RunSettings
from .embedding import EmbeddingConfig, center_by_speaker
from .spectrograms import normalize_spectrograms
from .embeddings import clip_embeddings, embedding_keys
from .folds import LearnError, make_folds
from .issues import find_issues
from .models import check_model, describe_model
from .oof import out_of_fold_probabilities
from .result import Baseline
from .summary import accuracy_tables, confused_pairs, confusion

__all__ = ["learn", "cached_baseline", "LearnError"]

_RESULT_CACHE = "learn-results-v1"


def _manifest(data, settings: RunSettings) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        manifest = data.reset_index(drop=True)
        manifest.attrs.update(data.attrs)
        return manifest
    return cached_index(data, layout=settings.layout, cache_dir=settings.cache_dir)


def _learnable(manifest: pd.DataFrame, k: int) -> tuple[np.ndarray, dict]:
    """Rows the baseline learns from (readable speech clips of labels with at least ``k`` clips)."""
    speech = manifest["label"].notna().to_numpy().copy()
    if "category" in manifest.columns:
        speech &= (manifest["category"].astype(str) == "speech").to_numpy()
    ok = (manifest["status"].astype(str) == "ok").to_numpy()
    labels = manifest["label"].astype(str).to_numpy()
    counts = pd.Series(labels[speech & ok]).value_counts()
    small = sorted(str(lab) for lab, c in counts.items() if c < k)
    use = speech & ok & ~np.isin(labels, small)
    left_out = {"not_speech": int((~speech).sum()), "unreadable_at_index": int((speech & ~ok).sum()),
                "small_labels": {lab: int(counts[lab]) for lab in small},
                "why": f"labels with fewer than {k} clips (one a fold) are left out; background noise "
                       "and unlabelled files are not learned from"}
    return use, left_out


def _key(manifest: pd.DataFrame, config: EmbeddingConfig, *, folds: int, model: str, seed: int,
         epochs: int | None = None, features=None) -> str:
    parts = [_RESULT_CACHE, str(manifest.attrs.get("root", "")), folds, model, seed, config.to_dict()]
    if epochs is not None:
        parts.append(epochs)
    if features is not None:  # the store, as it is now (a rewritten store is another input)
        stamp = [os.stat(Path(features) / f).st_mtime_ns if (Path(features) / f).exists() else None
                 for f in ("store.json", "manifest.parquet")]
        parts.append(["store", os.path.realpath(features), stamp])
    h = hashlib.sha256(json.dumps(parts).encode())
    for key in embedding_keys(manifest, config):
        h.update(key.encode())
    ident = manifest[[c for c in ("path", "label", "speaker", "category", "status") if c in manifest.columns]]
    h.update(pd.util.hash_pandas_object(ident.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()


def _result_path(cache_dir, key: str) -> Path:
    return Path(cache_dir) / _RESULT_CACHE / f"{key}.pkl"


def cached_baseline(data, *, settings: RunSettings | None = None, folds: int = 5, model: str = "logreg",
                    seed: int = 0) -> Baseline | None:
    """The baseline ``learn`` cached for exactly this input and these parameters, or None (no cache
    folder, never learned, or anything changed). Costs an index lookup and one ``stat`` a file."""
    settings = settings or RunSettings()
    if settings.cache_dir is None:
        return None
    manifest = _manifest(data, settings)
    return _load(_result_path(settings.cache_dir, _key(manifest, EmbeddingConfig(), folds=folds, model=model,
                                                        seed=seed)))


def _load(path: Path) -> Baseline | None:
    if not path.is_file():
        return None
    try:  # a pickle: the cache folder must be as trusted as the user's own files (it is the user's)
        with open(path, "rb") as fh:
            result = pickle.load(fh)
        return result if isinstance(result, Baseline) else None
    except Exception:  # damaged or from another version
        return None


def learn(data, *, settings: RunSettings | None = None, folds: int = 5, model: str = "logreg",
          seed: int = 0, epochs: int | None = None, features=None) -> Baseline:
    """Train the baseline with cross-validation and say what it found.

    Parameters
    ----------
    data
        A dataset folder, a manifest file, or a manifest from :func:`kwscope.index_dataset`; or a
        feature store made by ``kwscope features`` (read as ``features``, on the folder it names).
    settings
        Where the embedding pass runs (workers, Dask scheduler), the layout, progress, and the
        cache folder (per-chunk embeddings and the finished baseline; ``None``: no cache). The
        folds are fitted in this process on up to ``workers`` threads.
    folds
        Cross-validation folds, grouped by speaker when speakers are known.
    model
        ``logreg`` (default), ``mlp`` (:mod:`kwscope.learn.models`) or ``cnn`` (needs PyTorch:
        :mod:`kwscope.learn.cnn`, on the clips' spectrograms instead of their embeddings).
    seed
        Seed of the folds and of the model.
    epochs
        ``cnn`` only: passes over the training clips (default from the training size,
        :func:`kwscope.learn.cnn.epochs_for`).
    features
        A ``kwscope features`` store of this dataset to read the features from instead of
        decoding the audio (:mod:`kwscope.learn.from_store`: refused, saying why, when it does
        not match).

    Raises
    ------
    LearnError
        Fewer than 2 labels to learn, or one speaker only, or an unknown model, or ``cnn``
        without PyTorch, or a store that does not match.
    """
    if epochs is not None and (model != "cnn" or epochs < 1):
        raise LearnError(f"epochs={epochs!r}: only model='cnn' takes epochs, 1 or more")
    check_model(model)  # fails now, before the pass: an unknown model, or cnn without PyTorch
    from .from_store import is_store, match_store, store_inputs, store_root

    if features is None and is_store(data):  # DATA is a store: learn from the dataset it was made from
        features, data = data, store_root(data)
    settings = settings or RunSettings()
    t0 = time.perf_counter()
    manifest = _manifest(data, settings)
    config = EmbeddingConfig()
    path = None
    if settings.cache_dir is not None:
        path = _result_path(settings.cache_dir, _key(manifest, config, folds=folds, model=model, seed=seed,
                                                       epochs=epochs, features=features))
        hit = _load(path)
        if hit is not None:
            hit.timings_s = {**hit.timings_s, "from_cache": True, "total": round(time.perf_counter() - t0, 3)}
            return hit
    use, left_out = _learnable(manifest, folds)
    t_index = time.perf_counter()
    sub = manifest[use].reset_index(drop=True)
    sub.attrs.update(manifest.attrs)
    kind = "spectrogram" if model == "cnn" else "embedding"
    if features is not None:
        match = match_store(features, sub)
        emb = store_inputs(match, kind=kind)
        config = match.embedding_config()
    else:
        emb = clip_embeddings(sub, config=config, settings=settings, kind=kind)
    t_embed = time.perf_counter()
    unreadable = [{"path": p, "error": e} for p, e, k in zip(sub["path"].astype(str), emb.errors, emb.ok) if not k]
    X = emb.X if emb.ok.all() else emb.X[emb.ok]  # no copy of the spectrograms when every clip was read
    del emb.X
    sub = sub[emb.ok].reset_index(drop=True)
    labels = sub["label"].astype(str).to_numpy()
    classes, y = np.unique(labels, return_inverse=True)
    if classes.size < 2:
        raise LearnError(f"{classes.size} label(s) with at least {folds} readable clips in "
                         f"{manifest.attrs.get('root', data)}: a classifier needs 2 or more")
    speakers = sub["speaker"].to_numpy(dtype=object) if "speaker" in sub.columns else np.full(len(sub), None)
    X = normalize_spectrograms(X, speakers) if model == "cnn" else center_by_speaker(X, speakers)
    input_text = _input_text(model, X.shape[1:])
    fold = make_folds(labels, speakers, k=folds, seed=seed)
    t_folds = time.perf_counter()
    threads = settings.workers or len(os.sched_getaffinity(0))
    if model == "cnn":
        from .cnn import cnn_out_of_fold_probabilities

        probs, fit_info = cnn_out_of_fold_probabilities(X, y, fold, classes.size, seed=seed, threads=threads,
                                                        epochs=epochs)
    else:
        probs, fit_info = out_of_fold_probabilities(X, y, fold, classes.size, model=model, seed=seed,
                                                    threads=1 if settings.scheduler else threads)
    del X
    t_fit = time.perf_counter()
    pred = probs.argmax(axis=1)
    table = pd.DataFrame({
        "path": sub["path"].astype(str), "label": labels, "speaker": sub["speaker"] if "speaker" in sub else None,
        "fold": fold.fold, "heard_as": classes[pred], "p_given": probs[np.arange(len(y)), y],
        "p_heard": probs[np.arange(len(y)), pred], "correct": pred == y,
    })
    mislabels, confident, ambiguous = find_issues(y, probs)
    t_issues = time.perf_counter()
    C = confusion(y, pred, classes.size)
    acc = accuracy_tables(y, pred, classes, speakers if fold.grouped else None)
    result = Baseline(
        root=str(manifest.attrs.get("root", data)), layout=str(manifest.attrs.get("layout", "")),
        classes=[str(c) for c in classes], table=table, probs=probs,
        folds={"k": fold.k, "grouped": fold.grouped, "how": fold.how, "seed": seed},
        model={"name": model, "description": describe_model(model), "seed": seed},
        accuracy=acc, confusion=C, confused_pairs=confused_pairs(C, classes), mislabels=mislabels,
        confident=confident, ambiguous=ambiguous, n_files=len(manifest), left_out=left_out, unreadable=unreadable,
        embedding={"config": config.to_dict(), "input": input_text,
                   "dim": config.dim if model != "cnn" else None,
                   "source": "feature store" if features is not None else "audio", "centred_by_speaker": bool(fold.grouped),
                   **emb.info},
    )
    t_end = time.perf_counter()
    result.timings_s = {"index": round(t_index - t0, 3), "embed": round(t_embed - t_index, 3),
                        "folds": round(t_folds - t_embed, 3), "fit": round(t_fit - t_folds, 3),
                        "issues": round(t_issues - t_fit, 3), "summary": round(t_end - t_issues, 3),
                        "total": round(t_end - t0, 3), **fit_info}
    if path is not None:
        _store(path, result)
    return result


def _input_text(model: str, shape: tuple[int, ...]) -> str:
    """What the model was fed, in words (``shape``: one clip's input)."""
    if model == "cnn":
        return (f"{shape[0]} x {shape[1]} log-mel spectrogram a clip (bands x frames, float16), standardized "
                "per clip, each speaker's mean band profile subtracted")
    return f"{shape[0]}-value pooled log-mel embedding, each speaker's mean subtracted"


def _store(path: Path, result: Baseline) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache never stops the run
