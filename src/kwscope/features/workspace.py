"""The store folder while a run writes it: the plan of a store (its files in order), one run at a
time (a lock), claiming a new store, wiping a replaced one, forgetting a chunk, and the
preallocated ``.npy`` output file."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from .config import PipelineConfig
from .store import (
    CONFIG_FILE, ERRORS_FILE, FEATURES_FILE, FORMAT, FORMAT_VERSION, MANIFEST_FILE, STATS_FILE,
    STORE_FILE, WORK_DIR, StoreError, atomic_write_bytes, atomic_write_json,
)
from .tasks import _DTYPE, _done_path, _in_place_path, _meta_path, _raw_path

if TYPE_CHECKING:  # pandas is imported only in the parent: workers stay light
    import pandas as pd


class _Plan:
    """The indexed files in the order (and so the chunks) every run of this store uses."""

    def __init__(self, index: pd.DataFrame, ok: pd.DataFrame, fit: np.ndarray, fingerprint: str):
        self.index, self.ok, self.fit, self.fingerprint = index, ok, fit, fingerprint

    @classmethod
    def of(cls, index: pd.DataFrame, cfg: PipelineConfig) -> "_Plan":
        in_shards = "source" in index.columns and bool((index["source"].fillna("") != "").any())
        # Rows in Parquet shards are taken in shard order: a chunk then reads few row groups.
        order = ["source", "source_row", "path"] if in_shards else "path"
        index = index.sort_values(order, kind="stable", ignore_index=True)
        ok = index[index["status"] == "ok"].reset_index(drop=True)
        split = ok["split"]
        has_split = bool(split.notna().any())
        fit = (split == "train").to_numpy(bool) if has_split else np.ones(len(ok), bool)
        digest = hashlib.sha256()
        digest.update(json.dumps({"layout": index.attrs.get("layout")}).encode())
        cols = ["path", "split", "status", "size_bytes", "mtime_ns"] + (["source", "source_row"] if in_shards else [])
        listing = index[cols].astype(object).where(index[cols].notna(), None)
        digest.update(json.dumps(listing.to_numpy().tolist(), default=int).encode())
        return cls(index, ok, fit, digest.hexdigest())

    def sources(self) -> tuple[list, list]:
        """Each ok row's Parquet shard and row there (two empty lists when every row is a file)."""
        if "source" not in self.ok.columns or not (self.ok["source"].fillna("") != "").any():
            return [], []
        return (self.ok["source"].fillna("").astype(str).tolist(),
                self.ok["source_row"].fillna(-1).astype("int64").tolist())


def _mismatch(info: dict, cfg: PipelineConfig, plan: _Plan) -> str | None:
    if info.get("config_hash") != cfg.config_hash():
        return (f"it holds features of another pipeline config (hash {str(info.get('config_hash'))[:12]}, "
                f"this one {cfg.config_hash()[:12]})")
    if info.get("plan", {}).get("fingerprint") != plan.fingerprint:
        return "DATA changed since it was written (files added, removed or modified, or another layout)"
    return None


@contextlib.contextmanager
def _locked(out: Path):
    """One run at a time per store (an advisory lock on the folder, released even on SIGKILL)."""
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: exists and is not a folder")
    out.mkdir(exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"{out}: another `kwscope features` run is writing this store") from None
        yield
    finally:
        os.close(fd)


_STORE_NAMES = (MANIFEST_FILE, STORE_FILE, ERRORS_FILE, STATS_FILE, FEATURES_FILE, CONFIG_FILE)


def _wipe(out: Path) -> None:
    """Remove a store's own files (the manifest first, so readers see it incomplete at once)."""
    for name in _STORE_NAMES:
        try:
            (out / name).unlink()
        except FileNotFoundError:
            pass
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)


def _claim(out: Path, cfg: PipelineConfig, plan: _Plan, chunk_size: int) -> None:
    """Start a new store in ``out`` (which must be empty but for leftovers of an unborn store)."""
    others = sorted(p.name for p in out.iterdir() if p.name != WORK_DIR)
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise StoreError(f"{out}: not empty and not a kwscope feature store ({shown}); "
                         "choose a new or empty folder")
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kwscope_version": __version__,
        "state": "running",
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "data": {"root": plan.index.attrs.get("root"), "layout": plan.index.attrs.get("layout"),
                 "layout_evidence": plan.index.attrs.get("layout_evidence", "")},
        "plan": {"chunk_size": int(chunk_size), "fingerprint": plan.fingerprint,
                 "n_listed": len(plan.index), "n_planned": len(plan.ok)},
        "created_unix": time.time(),
    }
    atomic_write_json(out / STORE_FILE, info)
    atomic_write_bytes(out / CONFIG_FILE, cfg.to_yaml().encode())


def _forget_chunk(work: str, k: int) -> None:
    """Drop everything known of chunk ``k``: the next pass computes it again from its audio."""
    for path in (_meta_path(work, k), _raw_path(work, k), _done_path(work, k),
                 _in_place_path(work, k), _in_place_path(work, k, started=True)):
        Path(path).unlink(missing_ok=True)


def _open_partial(path: Path, shape: tuple[int, ...], *, on_new) -> int:
    """A preallocated ``.npy`` file: reuse it when its header matches, else make a new one
    (calling ``on_new()`` first: whatever the old file held is gone).

    Returns the byte offset of its data.
    """
    if path.exists():
        try:
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                got_shape, fortran, dtype = read_header(fh)
                offset = fh.tell()
            size = path.stat().st_size
            if tuple(got_shape) == shape and not fortran and dtype == _DTYPE \
                    and size == offset + int(np.prod(shape)) * _DTYPE.itemsize:
                return offset
        except (OSError, ValueError):
            pass
    on_new()
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    header = {"descr": np.lib.format.dtype_to_descr(_DTYPE), "fortran_order": False, "shape": shape}
    with open(tmp, "wb") as fh:
        np.lib.format.write_array_header_2_0(fh, header) if _needs_v2(header) else \
            np.lib.format.write_array_header_1_0(fh, header)
        offset = fh.tell()
        size = offset + int(np.prod(shape)) * _DTYPE.itemsize
        fh.truncate(size)
        _reserve(fh.fileno(), size, path)
    os.replace(tmp, path)
    return offset


def _reserve(fd: int, size: int, path: Path) -> None:
    """Allocate the file's blocks now (Linux ``fallocate``), where the filesystem can.

    Writing into a hole makes the filesystem allocate blocks write by write: on ext4 that took
    writes from ~3 GB/s down to ~0.5-1 GB/s, a third of a feature run. Reserving also fails early
    and clearly when the disk is too small. Where there is no ``fallocate`` (another OS, a
    filesystem without it) the file simply stays sparse: no emulation by writing zeros.
    """
    import ctypes
    import ctypes.util
    import errno

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fallocate = libc.fallocate
    except (OSError, AttributeError):
        return
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if fallocate(fd, 0, 0, size) != 0:
        err = ctypes.get_errno()
        if err == errno.ENOSPC:
            raise StoreError(f"{path.parent}: not enough disk space for {size / 2**30:.1f} GiB of features")


def _needs_v2(header: dict) -> bool:
    return len(repr(header)) > 60000
