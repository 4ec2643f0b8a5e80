"""The per-file arrays of the pass (compact spectra, fingerprints) spilled to a temporary folder
in manifest order, streamed back in blocks after the pass."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Iterator

import numpy as np


class ProfileSpill:
    """The per-file arrays of the pass (compact spectra, fingerprints), written to a temporary
    folder in manifest order so the parent's memory does not grow with the dataset.

    After the pass, :meth:`blocks` streams them back in blocks (the second look that PCA
    coordinates and label distances need) and :meth:`fingerprints_at` reads chosen rows.
    Use as a context manager; the folder is removed on exit.
    """

    def __init__(self, n_bins: int, fp_len: int, *, directory: str | os.PathLike | None = None):
        self.n_bins, self.fp_len = n_bins, fp_len
        self._dir = tempfile.mkdtemp(prefix="kwscope-spill-", dir=directory)
        self._spec = open(os.path.join(self._dir, "spectra.f32"), "wb")
        self._fp = open(os.path.join(self._dir, "fingerprints.f16"), "wb")
        self.n_rows = 0

    def __enter__(self) -> "ProfileSpill":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def append(self, spectra: np.ndarray, fingerprints: np.ndarray) -> None:
        self._spec.write(np.ascontiguousarray(spectra, np.float32).tobytes())
        self._fp.write(np.ascontiguousarray(fingerprints, np.float16).tobytes())
        self.n_rows += spectra.shape[0]

    def close(self) -> None:
        for fh in (self._spec, self._fp):
            if not fh.closed:
                fh.close()

    def blocks(self, block_rows: int = 8192) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield ``(first_row, spectra (m, bins) float32, fingerprints (m, fp_len) float16)``."""
        self.close()
        with open(self._spec.name, "rb") as fs, open(self._fp.name, "rb") as ff:
            for start in range(0, self.n_rows, block_rows):
                m = min(block_rows, self.n_rows - start)
                spec = np.fromfile(fs, np.float32, m * self.n_bins).reshape(m, self.n_bins)
                fp = np.fromfile(ff, np.float16, m * self.fp_len).reshape(m, self.fp_len)
                yield start, spec, fp

    def fingerprints_at(self, rows: np.ndarray) -> np.ndarray:
        """Fingerprints of the given rows, ``(len(rows), fp_len)`` float16."""
        self.close()
        rows = np.asarray(rows, np.int64)
        if rows.size == 0 or self.n_rows == 0:
            return np.zeros((rows.size, self.fp_len), np.float16)
        mm = np.memmap(self._fp.name, np.float16, "r", shape=(self.n_rows, self.fp_len))
        try:
            return np.array(mm[rows])
        finally:
            del mm

    def cleanup(self) -> None:
        self.close()
        shutil.rmtree(self._dir, ignore_errors=True)
