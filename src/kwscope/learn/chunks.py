"""One chunk of the embedding pass, as a worker runs it: decode the chunk's clips (the fast 16-bit
reader first), bring them to 16 kHz and embed them (:mod:`.embedding`), or, for the CNN, compute
their one-second log-mel spectrograms (:mod:`.spectrograms`)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.base import single_threaded_blas
from ..io import wav as _wav
from ..io.audio import AudioError, read_clip
from ..io.sources import locate, open_rows
from .embedding import EmbeddingConfig, embed_batch, prepare_clip
from .spectrograms import spectrogram_batch, spectrogram_frames

#: What a chunk computes: the pooled embedding (logreg, mlp) or the spectrogram (cnn).
KINDS = ("embedding", "spectrogram")

__all__ = ["EmbedTask", "EmbedResult", "embed_chunk"]


@dataclass(frozen=True)
class EmbedTask:
    """One chunk: picklable, self-contained (no manifest, no open files)."""

    chunk_id: int
    root: str
    paths: tuple[str, ...]
    config: EmbeddingConfig
    # Rows whose audio is in a Parquet shard: the shard ("" for a file) and its row, per file.
    sources: tuple[str, ...] = ()
    source_rows: tuple[int, ...] = ()
    audio_column: str = "audio"
    kind: str = "embedding"  # one of KINDS

    def row_shape(self) -> tuple[int, ...]:
        """Shape of one clip's result."""
        if self.kind == "spectrogram":
            return (self.config.n_mels, spectrogram_frames(self.config))
        return (self.config.dim,)

    def row_dtype(self) -> type:
        return np.float16 if self.kind == "spectrogram" else np.float32

    def cache_key(self, sizes: list, mtimes: list) -> str:
        """The config, and each file's location, size and mtime."""
        tag = "learn-embed" if self.kind == "embedding" else f"learn-{self.kind}-v1"
        h = hashlib.sha256((tag + "\0" + self.config.config_hash()).encode())
        for p, s, m in zip(self.paths, sizes, mtimes):
            h.update(f"\0{self.root}/{p}\0{s}\0{m}".encode())
        for src, row in zip(self.sources, self.source_rows):
            h.update(f"\0{src}#{row}".encode())
        return h.hexdigest()

    def locations(self) -> list:
        if not self.sources:
            return [locate(self.root, p) for p in self.paths]
        return open_rows(self.root, list(self.paths), list(self.sources), list(self.source_rows),
                         column=self.audio_column)


@dataclass
class EmbedResult:
    """A chunk's embeddings: ``X`` ``(n, dim)`` float32 (NaN rows where ``ok`` is False), ``ok``
    bool, ``errors`` the reason a clip could not be read (empty when it could)."""

    chunk_id: int
    X: np.ndarray
    ok: np.ndarray
    errors: np.ndarray
    from_cache: bool = False

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as fh:
            np.savez(fh, X=self.X, ok=self.ok, errors=self.errors)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, chunk_id: int) -> "EmbedResult":
        with np.load(path, allow_pickle=False) as z:
            return cls(chunk_id, z["X"], z["ok"], z["errors"], from_cache=True)


def _decode(loc, config: EmbeddingConfig) -> np.ndarray:
    """One clip at the embedding's rate; raises :class:`AudioError` when it cannot be read."""
    if isinstance(loc, AudioError):
        raise loc
    raw = _wav.read_pcm16_mono(loc)
    if raw is not None:
        x, sr = raw
        x = x.astype(np.float32) * np.float32(1 / 32768)
    else:
        # Read at most max_seconds at the highest rate a file could have.
        clip = read_clip(loc, max_samples=int(config.max_seconds * 192000))
        x, sr = clip.samples, clip.sample_rate
    if x.shape[0] == 0:
        raise AudioError(str(loc), "no samples")
    return prepare_clip(x, int(sr), config)


def embed_chunk(task: EmbedTask) -> EmbedResult:
    """Embed one chunk (the engine's task function; top-level, picklable). A clip that cannot be
    read gets a NaN row and its reason; it never stops the chunk."""
    n = len(task.paths)
    ok = np.zeros(n, bool)
    errors = [""] * n
    clips, rows = [], []
    for i, loc in enumerate(task.locations()):
        try:
            clips.append(_decode(loc, task.config))
        except AudioError as exc:
            errors[i] = exc.reason
            continue
        except Exception as exc:  # a decoder's own failure: reported for this clip only
            errors[i] = f"{type(exc).__name__}: {exc}"
            continue
        rows.append(i)
        ok[i] = True
    X = np.full((n,) + task.row_shape(), np.nan, task.row_dtype())
    if clips:
        with single_threaded_blas():
            X[rows] = (spectrogram_batch if task.kind == "spectrogram" else embed_batch)(clips, task.config)
    return EmbedResult(task.chunk_id, X, ok, np.array(errors, dtype=str))
