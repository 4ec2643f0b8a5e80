"""What a model would learn from a dataset: a baseline classifier trained with speaker-grouped
cross-validation on per-clip embeddings, and what its out-of-fold probabilities say -- accuracy
overall, per label and per speaker, confusions, likely mislabels (cleanlab) and ambiguous clips.

Modules, in the order they import each other: ``embedding`` (a clip's pooled log-mel embedding,
pure numpy on :mod:`kwscope.dsp`), ``chunks`` (the worker's task), ``embeddings`` (the pass over a
manifest on the engine, cached), ``folds``, ``models``, ``oof`` (out-of-fold probabilities),
``issues`` (cleanlab), ``summary`` (accuracy and confusions), ``result`` (:class:`Baseline`) and
``run`` (:func:`learn`, :func:`cached_baseline`). This module itself stays light (standard library
only): the CLI reads the preload list before it imports anything heavy.
"""

#: Modules an embedding worker uses, imported once in the fork server
#: (:func:`kwscope.engine.startup.warm_worker_pool`).
LEARN_PASS_MODULES = ("numpy", "scipy.fft", "scipy.signal", "soundfile", "soxr", "kwscope.learn.chunks")

__all__ = ["learn", "cached_baseline", "LEARN_PASS_MODULES"]


def __getattr__(name):  # learn / cached_baseline, imported on first use (scikit-learn is heavy)
    if name in ("learn", "cached_baseline"):
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
