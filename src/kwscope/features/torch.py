"""A PyTorch ``Dataset`` over a feature store (optional: PyTorch is imported only when used).

    >>> from kwscope.torch_dataset import FeatureDataset
    >>> ds = FeatureDataset("features/", split="train")          # doctest: +SKIP
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True)  # doctest: +SKIP

Importing this module never needs PyTorch; creating a :class:`FeatureDataset` without it raises
:class:`TorchMissingError` saying how to install it.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..errors import KwscopeError

__all__ = ["FeatureDataset", "TorchMissingError"]

_INSTALL_HINT = "pip install 'kwscope[torch]' (or see https://pytorch.org for your platform)"


class TorchMissingError(KwscopeError, ImportError):
    """PyTorch is not installed but a PyTorch adapter was used."""


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise TorchMissingError(f"kwscope.torch_dataset.FeatureDataset needs PyTorch, which is not "
                                f"installed ({exc}); {_INSTALL_HINT}") from None
    return torch


class FeatureDataset:
    """Map-style dataset over the rows of a feature store (works with ``torch.utils.data.DataLoader``).

    Parameters
    ----------
    out
        A store written by ``kwscope features`` / :func:`kwscope.extract_features`.
    split
        Keep only rows of this split (``"train"``, ``"validation"``, ``"test"``); ``None``: all.
    target
        Manifest column used as the label (``None``: items are features only).
    classes
        Class names in index order; default: the sorted distinct values of ``target`` in the whole
        store (so train and test datasets of one store agree).
    normalize, stack
        What loading applies, as :func:`kwscope.load_features`: by default each item is
        normalized with the store's train-split statistics and its frames stacked per the config.

    Items are ``(features, class_index)``: a float32 tensor ``(frames, coeffs)`` and an int64
    tensor, or the features alone when ``target`` is ``None``. Nothing is loaded up front: item
    ``i`` is read from the store and transformed when it is asked for (constant memory).
    """

    def __init__(self, out: str | os.PathLike, *, split: str | None = None, target: str | None = "label",
                 classes: Sequence[str] | None = None, normalize: bool = True, stack: bool = True):
        _import_torch()
        from .store import load_features

        self._load = {"normalize": normalize, "stack": stack}
        X, manifest = load_features(out, mmap=True, **self._load)
        self._out = os.fspath(out)
        if target is not None and target not in manifest.columns:
            raise KwscopeError(f"target={target!r} is not a manifest column; choose one of "
                               f"{', '.join(manifest.columns)}")
        rows = np.arange(len(manifest))
        if split is not None:
            rows = rows[(manifest["split"] == split).to_numpy(bool)]
        self._X = X
        self.manifest = manifest.iloc[rows].reset_index(drop=True)
        self._rows = rows
        self.target = target
        if target is not None:
            values = manifest[target].astype(str)
            self.classes = list(classes) if classes is not None else sorted(values.unique())
            lookup = {c: i for i, c in enumerate(self.classes)}
            mine = values.iloc[rows]
            unknown = sorted(set(mine) - set(lookup))
            if unknown:
                raise KwscopeError(f"{target} values not in classes: {', '.join(unknown[:5])}")
            self._targets = np.array([lookup[v] for v in mine], np.int64)
        else:
            self.classes = None

    @property
    def X(self):
        """The store's features as a lazy view (read and transformed on access; picklable, so
        DataLoader workers reopen the file themselves)."""
        if self._X is None:  # a format-1 store's memory map, dropped when pickled
            from .store import load_features

            self._X = load_features(self._out, mmap=True, **self._load)[0]
        return self._X

    def __getstate__(self):
        state = dict(self.__dict__)
        if isinstance(state["_X"], np.memmap):
            state["_X"] = None  # a memory map would be pickled as a full copy
        return state

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int):
        torch = _import_torch()
        features = torch.from_numpy(np.asarray(self.X[int(self._rows[i])], dtype=np.float32))
        if self.target is None:
            return features
        return features, torch.tensor(self._targets[i], dtype=torch.int64)
