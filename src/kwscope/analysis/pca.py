"""The exact streaming PCA behind the anomaly map: float64 sums of ``x`` and ``x x^T`` gathered a
batch at a time (see :mod:`kwscope.analysis.anomalies`), then ``eigh`` of the correlation matrix."""

from __future__ import annotations

import numpy as np

__all__ = ["StreamingPCA"]


class StreamingPCA:
    """PCA of standardized features from streamed batches, exact (no approximation).

    Duck-types scikit-learn: ``partial_fit(X)`` per batch, then ``transform(X)``. Equivalent to
    ``PCA(n_components).fit(StandardScaler().fit_transform(X_all))`` (population std; a constant
    feature gets scale 1) up to floating-point summation order and the sign of each component
    (kwscope makes each component's largest loading positive).

    Attributes (after the first ``transform`` or :meth:`finalize`)
    ---------------------------------------------------------------
    n_samples_seen_ : int
    mean_, scale_ : np.ndarray [shape=(features,)]
    components_ : np.ndarray [shape=(n_components, features)]
        In the standardized space.
    explained_variance_, explained_variance_ratio_ : np.ndarray [shape=(n_components,)]
    """

    def __init__(self, n_components: int = 3):
        self.n_components = n_components
        self._n = 0
        self._shift: np.ndarray | None = None
        self._s1: np.ndarray | None = None
        self._s2: np.ndarray | None = None
        self._fitted = False

    def partial_fit(self, X: np.ndarray) -> "StreamingPCA":
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (samples, features), got shape={X.shape}")
        if X.shape[0] == 0:
            return self
        if self._shift is None:
            self._shift = X.mean(axis=0)
            self._s1 = np.zeros(X.shape[1])
            self._s2 = np.zeros((X.shape[1], X.shape[1]))
        D = X - self._shift
        self._s1 += D.sum(axis=0)
        self._s2 += D.T @ D
        self._n += X.shape[0]
        self._fitted = False
        return self

    def finalize(self) -> "StreamingPCA":
        if self._n == 0:
            raise ValueError("StreamingPCA saw no samples")
        n = self._n
        dmean = self._s1 / n
        cov = self._s2 / n - np.outer(dmean, dmean)  # population covariance
        var = np.clip(np.diag(cov), 0, None)
        scale = np.sqrt(var)
        # StandardScaler treats (near-)constant features as scale 1.
        scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(self._shift + dmean))] = 1.0
        corr = cov / np.outer(scale, scale)
        corr *= n / max(n - 1, 1)  # PCA's unbiased variance
        w, v = np.linalg.eigh(corr)
        order = np.argsort(w)[::-1][: self.n_components]
        comps = v[:, order].T
        signs = np.sign(comps[np.arange(comps.shape[0]), np.argmax(np.abs(comps), axis=1)])
        signs[signs == 0] = 1
        self.n_samples_seen_ = n
        self.mean_ = self._shift + dmean
        self.scale_ = scale
        self.components_ = comps * signs[:, None]
        self.explained_variance_ = np.clip(w[order], 0, None)
        total = float(np.clip(w, 0, None).sum())
        self.explained_variance_ratio_ = self.explained_variance_ / total if total > 0 else self.explained_variance_
        self._fitted = True
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if not self._fitted:
            self.finalize()
        # ((X - mean) / scale) @ C.T, with the standardization folded into the projection: one
        # product and no (m, features) float64 temporaries.
        W = (self.components_ / self.scale_).T
        return np.asarray(X, dtype=np.float64) @ W - self.mean_ @ W
