"""``--model cnn``: a small 2-D CNN on the clips' log-mel spectrograms (:mod:`.spectrograms`),
trained through PyTorch fold by fold on the same speaker-grouped folds as the other models, so
that every clip's probability vector comes from a network that never saw it.

The network (:func:`make_network`, about 25,000 weights, in the spirit of keyword spotting's
"tiny conv" and DS-CNN-S): four 3x3 convolutions of 8, 16, 32 and 64 channels (the first three
with stride 2), each with batch normalization and ReLU, global average pooling, dropout and one
linear layer. Trained with AdamW (learning rate 3e-3, weight decay 1e-3, one-cycle schedule),
batches of 64, each training clip shifted at random by up to 10 frames (100 ms) in time and
masked as SpecAugment does (two bands of up to 5 mel bands and two spans of up to 10 frames set
to 0, the standardized mean); the epochs are set from the training size (:func:`epochs_for`).

Deterministic on one machine: the seed fixes each fold's weights, shuffles and shifts;
``torch.use_deterministic_algorithms`` is on and the thread count is fixed while it trains.
PyTorch is an optional extra (``pip install 'kwscope[torch]'``): :func:`require_torch` says so.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from .folds import Folds, LearnError

__all__ = ["TORCH_MISSING", "require_torch", "make_network", "epochs_for", "fit_fold_cnn",
           "cnn_out_of_fold_probabilities", "CNN_DESCRIPTION"]

TORCH_MISSING = "model='cnn' needs PyTorch: pip install 'kwscope[torch]'"
CNN_DESCRIPTION = ("small 2-D CNN (4 conv layers of 8-64 channels, global pooling, about 25,000 weights) on "
                   "per-clip standardized 40 x 101 log-mel spectrograms (1 s), trained with PyTorch")
_BATCH = 64
_MAX_SHIFT = 10  # frames
_MASKS, _MAX_BANDS, _MAX_FRAMES = 2, 5, 10  # SpecAugment: masks of each kind, and their widest
_PREDICT_BATCH = 512


def require_torch():
    """The ``torch`` module, or :class:`LearnError` saying how to install it."""
    try:
        import torch
    except ImportError:
        raise LearnError(TORCH_MISSING) from None
    return torch


def epochs_for(n_train: int) -> int:
    """Passes over the training clips: about 100,000 clips seen, at least 2 and at most 40 passes
    (FSDD's 2,400 training clips a fold: 40; 9,600: 10; 40,000 or more: 2), so a fold costs
    about the same from 2,500 to 50,000 clips. On FSDD's fold 0, 20, 40 and 80 passes gave
    0.848, 0.896 and 0.907 accuracy."""
    return int(min(40, max(2, round(100_000 / max(1, n_train)))))


def make_network(n_mels: int, n_classes: int):
    """The CNN (see the module docstring): input ``(batch, 1, n_mels, frames)``, output logits."""
    torch = require_torch()
    nn = torch.nn

    def block(i, o, stride):
        return [nn.Conv2d(i, o, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(*block(1, 8, 2), *block(8, 16, 2), *block(16, 32, 2), *block(32, 64, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(64, n_classes))


@contextmanager
def _torch_state(threads: int):
    """Fixed threads and deterministic algorithms while training; the caller's settings after."""
    torch = require_torch()
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True)
    try:
        yield torch
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def _batch(S: np.ndarray, rows: np.ndarray, rng: np.random.Generator | None):
    """Rows of ``S`` as a float32 tensor ``(m, 1, n_mels, frames)``; with ``rng`` (training),
    each shifted in time at random (the frames moved in are the clip's own edge values) and
    masked (SpecAugment: ``_MASKS`` bands and ``_MASKS`` spans of frames set to 0)."""
    import torch

    x = S[rows].astype(np.float32)
    if rng is not None:
        m, F, T = x.shape
        shifts = np.clip(rng.integers(-_MAX_SHIFT, _MAX_SHIFT + 1, m), 1 - T, T - 1)
        widths_f = np.minimum(rng.integers(0, _MAX_BANDS + 1, (m, _MASKS)), F)
        widths_t = np.minimum(rng.integers(0, _MAX_FRAMES + 1, (m, _MASKS)), T)
        starts_f = (rng.random((m, _MASKS)) * (F - widths_f + 1)).astype(np.int64)
        starts_t = (rng.random((m, _MASKS)) * (T - widths_t + 1)).astype(np.int64)
        for j, s in enumerate(shifts):
            if s > 0:
                x[j, :, s:] = x[j, :, :T - s].copy()
                x[j, :, :s] = x[j, :, s:s + 1]
            elif s < 0:
                x[j, :, :T + s] = x[j, :, -s:].copy()
                x[j, :, T + s:] = x[j, :, T + s - 1:T + s]
            for k in range(_MASKS):
                x[j, starts_f[j, k]:starts_f[j, k] + widths_f[j, k], :] = 0.0
                x[j, :, starts_t[j, k]:starts_t[j, k] + widths_t[j, k]] = 0.0
    return torch.from_numpy(x[:, None])


def fit_fold_cnn(S: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, n_classes: int, *,
                 seed: int = 0, epochs: int | None = None, threads: int = 1) -> tuple[np.ndarray, dict]:
    """Train the CNN on ``S[train]`` (labels ``y``: class indices) and return the ``(len(test),
    n_classes)`` softmax probabilities of ``S[test]`` (rows in ``test``'s order) and what it did.

    Parameters
    ----------
    S : np.ndarray [shape=(n, n_mels, frames)]
        Normalized spectrograms (:func:`kwscope.learn.spectrograms.normalize_spectrograms`).
    seed
        Seeds the weights, the order of the clips, their shifts and masks (the same seed, the
        same result).
    epochs
        Passes over the training clips (default :func:`epochs_for`).
    threads
        PyTorch threads while training (fixed: the result is that of this thread count).
    """
    train, test = np.asarray(train, np.int64), np.asarray(test, np.int64)
    if train.size == 0:
        raise LearnError("a fold with no training clips")
    epochs = epochs_for(train.size) if epochs is None else int(epochs)
    with _torch_state(threads) as torch:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        net = make_network(S.shape[1], n_classes)
        opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
        steps = epochs * -(-train.size // _BATCH)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
        target = torch.from_numpy(np.asarray(y, np.int64))
        net.train()
        losses = []
        for _ in range(epochs):
            order = train[rng.permutation(train.size)]
            total = 0.0
            for a in range(0, order.size, _BATCH):
                rows = order[a:a + _BATCH]
                xb = _batch(S, rows, rng)
                loss = torch.nn.functional.cross_entropy(net(xb), target[rows])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * rows.size
            losses.append(round(total / train.size, 4))
        net.eval()
        out = np.zeros((test.size, n_classes), np.float64)
        with torch.no_grad():
            for a in range(0, test.size, _PREDICT_BATCH):
                rows = test[a:a + _PREDICT_BATCH]
                x = torch.from_numpy(S[rows].astype(np.float32)[:, None])
                out[a:a + rows.size] = torch.softmax(net(x).double(), dim=1).numpy()
    return out, {"epochs": epochs, "train_loss": losses}


def cnn_out_of_fold_probabilities(S: np.ndarray, y: np.ndarray, folds: Folds, n_classes: int, *, seed: int = 0,
                                  threads: int = 1, epochs: int | None = None) -> tuple[np.ndarray, dict]:
    """Every clip's out-of-fold probability vector from the CNN, fold after fold (fold ``f`` seeded
    with ``seed + f``); the dict has ``seconds_per_fold``, ``epochs`` and ``train_loss`` per fold."""
    probs = np.zeros((S.shape[0], n_classes), np.float64)
    info = {"seconds_per_fold": [], "epochs": [], "train_loss": [], "threads": int(threads)}
    for f, (train, test) in enumerate(folds.splits()):
        t = time.perf_counter()
        p, fit = fit_fold_cnn(S, y, train, test, n_classes, seed=seed + f, epochs=epochs, threads=threads)
        probs[test] = p
        info["seconds_per_fold"].append(round(time.perf_counter() - t, 3))
        info["epochs"].append(fit["epochs"])
        info["train_loss"].append(fit["train_loss"][-1] if fit["train_loss"] else None)
    return probs, info
