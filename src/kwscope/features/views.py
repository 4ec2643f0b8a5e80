"""What loading a raw feature store applies -- ``(x - mean) / scale`` then frame stacking -- and the
lazy views that apply it row by row to a store read from disk on access (``load_features(mmap=True)``)."""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np

__all__ = ["LoadTransform", "FeatureArray", "FeatureList", "npy_layout"]

#: Rows read and transformed together when iterating or materialising (bounded memory).
_BLOCK_BYTES = 32 << 20


class LoadTransform:
    """Steps 5-6 as loading applies them to raw features ``(..., frames, coeffs)``.

    ``x = raw.astype(float32); x -= float32(mean); x /= float32(scale)`` (when ``mean`` is given),
    then row ``t`` of the result is ``x[..., t*hop : t*hop + stack, :]`` flattened frame-major
    (when ``stack > 1``). These are the very float32 operations of
    :meth:`kwscope.FeaturePipeline.transform_features`, so the same bits.

    Parameters
    ----------
    mean, scale : np.ndarray [shape=(coeffs,)] or None
        Normalization statistics (``stats.npz``); ``None``: no normalization.
    stack, hop : int
        Frames stacked into one row, and frames between the starts of consecutive rows.
    raw_dtype : np.dtype
        The stored dtype: kept as it is when nothing is applied.
    """

    def __init__(self, mean: np.ndarray | None, scale: np.ndarray | None, stack: int, hop: int,
                 raw_dtype: np.dtype):
        self.mean = None if mean is None else np.asarray(mean).astype(np.float32)
        self.scale = None if scale is None else np.asarray(scale).astype(np.float32)
        self.stack, self.hop = int(stack), int(hop)
        self.raw_dtype = np.dtype(raw_dtype)

    @property
    def identity(self) -> bool:
        """True when loading returns the stored values as they are."""
        return self.mean is None and self.stack == 1

    @property
    def dtype(self) -> np.dtype:
        return self.raw_dtype if self.identity else np.dtype(np.float32)

    def frames(self, raw_frames: int) -> int:
        """Rows a clip of ``raw_frames`` frames has after stacking (0 when too few)."""
        if self.stack == 1:
            return raw_frames
        if raw_frames < self.stack:
            return 0
        return (raw_frames - self.stack) // self.hop + 1

    def coeffs(self, raw_coeffs: int) -> int:
        return raw_coeffs * self.stack

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Apply to ``(frames, coeffs)`` or ``(n, frames, coeffs)``; returns a new array."""
        if self.identity:
            return np.array(raw, copy=True)
        x = np.asarray(raw).astype(np.float32, copy=True)
        if self.mean is not None:
            x -= self.mean
            x /= self.scale
        if self.stack > 1:
            frames = self.frames(x.shape[-2])
            if frames == 0:
                return np.zeros(x.shape[:-2] + (0, self.coeffs(x.shape[-1])), np.float32)
            windows = np.lib.stride_tricks.sliding_window_view(x, self.stack, axis=-2)[..., ::self.hop, :, :]
            x = np.ascontiguousarray(windows.swapaxes(-1, -2)).reshape(x.shape[:-2] + (frames, -1))
        return x


def npy_layout(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` of a C-order ``.npy`` file, from its header alone."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(fh)
        if fortran:
            raise ValueError("Fortran-ordered array")
        return tuple(shape), np.dtype(dtype), fh.tell()


class _RowFile:
    """Positioned reads of whole rows of one ``.npy`` file (no memory map: mapped pages would
    count in the reader's RSS as they are touched). Reopened after pickling or forking."""

    def __init__(self, path: str):
        self.path = path
        self.shape, self.dtype, self.offset = npy_layout(path)
        self.row_values = int(np.prod(self.shape[1:], dtype=np.int64))
        self._fd: int | None = None
        self._pid = -1

    def _handle(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new array ``(stop - start, *shape[1:])``."""
        out = np.empty((max(0, stop - start),) + self.shape[1:], self.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8)) if out.size else memoryview(b"")
        done, base = 0, self.offset + start * self.row_values * self.dtype.itemsize
        while done < len(view):
            got = os.preadv(self._handle(), [view[done:]], base + done)
            if got <= 0:
                raise OSError(f"{self.path}: shorter than its header says")
            done += got
        return out

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.__init__(state["path"])

    def __del__(self):
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)


class FeatureArray:
    """A fixed-length store's features ``(n, frames, coeffs)``, read from ``features.npy`` on
    access and transformed as loading does (:class:`LoadTransform`): constant memory whatever
    the store's size.

    ``X[i]`` is a ``(frames, coeffs)`` array, ``X[a:b]`` / ``X[[i, j]]`` / a boolean mask give
    ``(k, frames, coeffs)`` arrays, further indexes apply to the result (``X[i, :10]``);
    iterating yields ``(frames, coeffs)`` arrays (read in blocks of about 32 MiB);
    :meth:`batches` yields ``(start, block)``; ``np.asarray(X)`` reads everything into memory.
    ``raw`` is the stored array as a read-only memory map. Picklable (for DataLoader workers).
    """

    def __init__(self, path: str | os.PathLike, transform: LoadTransform):
        self._file = _RowFile(os.fspath(path))
        self.transform = transform
        n, frames, coeffs = self._file.shape
        self.shape = (n, transform.frames(frames), transform.coeffs(coeffs))
        self.dtype = transform.dtype
        self.ndim = 3

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def raw(self) -> np.memmap:
        """The stored (raw) features, memory-mapped read-only."""
        return np.load(self._file.path, mmap_mode="r", allow_pickle=False)

    def _rows(self, start: int, stop: int) -> np.ndarray:
        return self.transform(self._file.read(start, stop))

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        n = self.shape[0]
        if isinstance(key, (int, np.integer)):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"row {int(key)} is out of range for {n} rows")
            out = self._rows(i, i + 1)[0]
            return out[rest] if rest else out
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                out = self._rows(start, max(start, stop))
            else:
                out = self._take(np.arange(start, stop, step))
        elif key is Ellipsis:
            out = self.to_numpy()
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                if idx.shape != (n,):
                    raise IndexError(f"boolean index of shape {idx.shape} for {n} rows")
                idx = np.flatnonzero(idx)
            elif not np.issubdtype(idx.dtype, np.integer):
                raise IndexError(f"rows are indexed by integers, slices or a boolean mask, not {idx.dtype}")
            idx = np.where(idx < 0, idx + n, idx)
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise IndexError(f"row index out of range for {n} rows")
            out = self._take(idx.reshape(-1)).reshape(idx.shape + self.shape[1:])
        return out[(slice(None),) + rest] if rest else out

    def _take(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx),) + self.shape[1:], self.dtype)
        for j, i in enumerate(idx):
            out[j] = self._rows(int(i), int(i) + 1)[0]
        return out

    def _block_rows(self) -> int:
        per_row = max(1, self._file.row_values * 4 * max(1, self.transform.stack))
        return max(1, _BLOCK_BYTES // per_row)

    def batches(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, X[start:start + rows])`` over the store; ``rows`` default: about 32 MiB."""
        step = rows or self._block_rows()
        for start in range(0, self.shape[0], step):
            yield start, self._rows(start, min(self.shape[0], start + step))

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, block in self.batches():
            yield from block

    def to_numpy(self) -> np.ndarray:
        """Every row, transformed, in one array (memory: the whole result)."""
        out = np.empty(self.shape, self.dtype)
        for start, block in self.batches():
            out[start:start + len(block)] = block
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.to_numpy()
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return (f"FeatureArray(shape={self.shape}, dtype={self.dtype}, file={self._file.path!r}, "
                f"stored={self._file.dtype})")


class FeatureList:
    """A variable-length store's features: a sequence of ``(frames_i, coeffs)`` arrays, clip ``i``
    read from its part file (``features/part-K.npy``) on access and transformed as loading does.

    ``X[i]`` is one clip's array, ``X[a:b]`` a list of them; iterating reads clip by clip;
    ``list(X)`` reads everything.
    """

    def __init__(self, parts: dict[int, str], part: np.ndarray, start: np.ndarray, n_frames: np.ndarray,
                 transform: LoadTransform):
        self._files = {k: _RowFile(p) for k, p in parts.items()}
        self._part, self._start, self._n = part, start, n_frames
        self.transform = transform
        self.dtype = transform.dtype

    def __len__(self) -> int:
        return len(self._part)

    def _clip(self, i: int) -> np.ndarray:
        s = int(self._start[i])
        return self.transform(self._files[int(self._part[i])].read(s, s + int(self._n[i])))

    def __getitem__(self, key):
        if isinstance(key, slice):
            return [self._clip(i) for i in range(*key.indices(len(self)))]
        i = int(key)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"clip {int(key)} is out of range for {len(self)} clips")
        return self._clip(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._clip(i)

    def __repr__(self) -> str:
        return f"FeatureList({len(self)} clips, dtype={self.dtype}, {len(self._files)} part files)"
