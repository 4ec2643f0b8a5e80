"""The store folder while a run writes it: the plan (its files in order), one run at a time (a
lock), claiming and wiping a store, the disk space it needs, and the preallocated ``.npy`` file
whose row slots the workers fill (and whose skipped files' slots the last rows fill)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from .config import PipelineConfig
from .store import (
    CONFIG_FILE, ERRORS_FILE, FEATURES_FILE, FORMAT, FORMAT_VERSION, MANIFEST_FILE, PARTS_DIR, STATS_FILE,
    STORE_FILE, WORK_DIR, StoreError, atomic_write_bytes, atomic_write_json,
)
from .tasks import _meta_path, _part_path
from .views import npy_layout

if TYPE_CHECKING:  # pandas is imported only in the parent: workers stay light
    import pandas as pd


#: ``store.json``'s ``plan.content_check`` of a store that records each row's content hash as its
#: worker read it (:mod:`kwscope.features.hashes`), checked against the files when it is found again.
ROW_HASHES = "row hashes, as read"


class _Plan:
    """The indexed files in the order (and so the chunks) every run of this store uses."""

    def __init__(self, index: pd.DataFrame, ok: pd.DataFrame, fit: np.ndarray, fingerprint: str):
        self.index, self.ok, self.fit, self.fingerprint = index, ok, fit, fingerprint

    @classmethod
    def of(cls, index: pd.DataFrame, cfg: PipelineConfig) -> "_Plan":
        # Rows in Parquet shards are taken in shard order: a chunk then reads few row groups.
        order = ["source", "source_row", "path"] if _in_shards(index) else "path"
        index = index.sort_values(order, kind="stable", ignore_index=True)
        ok = index[index["status"] == "ok"].reset_index(drop=True)
        split = ok["split"]
        has_split = bool(split.notna().any())
        fit = (split == "train").to_numpy(bool) if has_split else np.ones(len(ok), bool)
        return cls(index, ok, fit, _fingerprint(index))

    def sources(self) -> tuple[list, list]:
        """Each ok row's Parquet shard and row there (two empty lists when every row is a file)."""
        if "source" not in self.ok.columns or not (self.ok["source"].fillna("") != "").any():
            return [], []
        return (self.ok["source"].fillna("").astype(str).tolist(),
                self.ok["source_row"].fillna(-1).astype("int64").tolist())


def _in_shards(index: pd.DataFrame) -> bool:
    return "source" in index.columns and bool((index["source"].fillna("") != "").any())


def _fingerprint(index: pd.DataFrame, hashes: list | None = None) -> str:
    """A digest of the layout and the listing (path, split, status, size, mtime, and a shard's
    name and row). ``hashes``: with a content-hash column too, as kwscope keyed a store before
    it recorded row hashes (``_legacy_fingerprint``)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"layout": index.attrs.get("layout")}).encode())
    cols = ["path", "split", "status", "size_bytes", "mtime_ns"] + (["source", "source_row"] if _in_shards(index) else [])
    listing = index[cols].astype(object).where(index[cols].notna(), None)
    if hashes is not None:
        listing = listing.assign(content_hash=hashes)
    digest.update(json.dumps(listing.to_numpy().tolist(), default=int).encode())
    return digest.hexdigest()


def _legacy_fingerprint(index: pd.DataFrame, hashes: list[str]) -> str:
    """The fingerprint of a store whose plan says ``content_hashed`` but has no ``content_check``:
    the index's content hashes were in it (a file's, None for other rows)."""
    files = (index["size_bytes"].notna() & (index["source"].fillna("") == "")).to_numpy()
    return _fingerprint(index, [h or None if f else None for h, f in zip(hashes, files)])


def content_digest(hashes) -> str:
    """One digest of the planned rows' content hashes, in plan order (``store.json``'s record)."""
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def _mismatch(info: dict, cfg: PipelineConfig, plan: _Plan) -> str | None:
    """Why the store in ``info`` is not this run's, from its description and the listing alone
    (the files' contents are checked next: :func:`_content_changed`)."""
    if int(info.get("format_version", 1)) != FORMAT_VERSION:
        return (f"it holds a store of format {info.get('format_version', 1)} (an older kwscope: normalized "
                f"features), not format {FORMAT_VERSION} (raw features, normalized on load)")
    if info.get("config_hash") != cfg.config_hash():
        return (f"it holds features of another pipeline config (hash {str(info.get('config_hash'))[:12]}, "
                f"this one {cfg.config_hash()[:12]})")
    recorded = info.get("plan", {})
    if recorded.get("content_check") != ROW_HASHES and not recorded.get("content_hashed", False):
        return ("it was written by an older kwscope, whose plan did not record the files' content "
                "hashes, so a file changed since cannot be told apart")
    if recorded.get("content_check") == ROW_HASHES and recorded.get("fingerprint") != plan.fingerprint:
        return _CHANGED
    return None


_CHANGED = ("DATA changed since it was written (files added, removed or modified -- a file's content "
            "too, with its size and mtime kept -- or another layout)")


def _content_changed(out: Path, info: dict, plan: _Plan, hashes: list[str], now: list[str]) -> str | None:
    """Why the store does not hold what the files hold now (``hashes``: each row of
    ``plan.index`` hashed now, :func:`kwscope.features.hashes.hash_rows`; ``now``: those of
    ``plan.ok``), or None.

    A complete store compares its digest of every planned row's hash; a store being written (or
    published but for its manifest), each finished chunk's record; a store keyed the older way,
    its whole fingerprint.
    """
    recorded = info.get("plan", {})
    if recorded.get("content_check") != ROW_HASHES:
        return None if recorded.get("fingerprint") == _legacy_fingerprint(plan.index, hashes) else _CHANGED
    if info.get("state") == "complete" and (out / MANIFEST_FILE).is_file():
        if recorded.get("content_digest") == content_digest(now):
            return None
        return _changed_files(out, plan, now)
    work, size = str(out / WORK_DIR), int(recorded["chunk_size"])
    for k in range(-(-len(now) // size)):
        try:
            with np.load(_meta_path(work, k), allow_pickle=False) as meta:
                then = meta["hdr_content_hash"].tolist()
        except (OSError, KeyError, ValueError):  # not done (or torn): computed again anyway
            continue
        a = k * size
        changed = [plan.ok["path"].iloc[a + j] for j, (x, y) in enumerate(zip(then, now[a:a + size])) if x != y]
        if changed:
            return _content_reason(changed)
    return None


def _changed_files(out: Path, plan: _Plan, now: list[str]) -> str:
    """The reason for a complete store, naming the files whose hash its manifest holds."""
    import pandas as pd

    try:
        then = pd.read_parquet(out / MANIFEST_FILE, columns=["path", "content_hash"])
    except (OSError, ValueError, KeyError):
        return _CHANGED
    recorded = dict(zip(then["path"], then["content_hash"]))
    changed = [p for p, h in zip(plan.ok["path"], now) if p in recorded and (recorded[p] or "") != h]
    return _content_reason(changed) if changed else _CHANGED


def _content_reason(changed: list[str]) -> str:
    shown = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
    return (f"DATA changed since it was written: the content of {len(changed):,} "
            f"file{'s' if len(changed) != 1 else ''} ({shown}) is not what the store read, "
            "with size and mtime kept")


@contextlib.contextmanager
def _locked(out: Path):
    """One run at a time per store (an advisory lock on the folder, released even on SIGKILL)."""
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: exists and is not a folder")
    try:
        out.mkdir(exist_ok=True)
        fd = os.open(out, os.O_RDONLY)
    except OSError as exc:
        raise StoreError(f"{out}: cannot create the store's folder ({exc.strerror or exc})") from None
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
    shutil.rmtree(out / PARTS_DIR, ignore_errors=True)


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
                 "content_check": ROW_HASHES,
                 "n_listed": len(plan.index), "n_planned": len(plan.ok)},
        "created_unix": time.time(),
    }
    atomic_write_json(out / STORE_FILE, info)
    atomic_write_bytes(out / CONFIG_FILE, cfg.to_yaml().encode())


def _forget_chunk(work: str, k: int) -> None:
    """Drop everything known of chunk ``k``: the next pass computes it again from its audio."""
    for path in (_meta_path(work, k), _part_path(work, k)):
        Path(path).unlink(missing_ok=True)


# --------------------------------------------------------------------------- disk space


def _human(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return path


def _file_size_limit() -> int | None:
    """This process's largest writable file (``ulimit -f``) in bytes, or None when unlimited."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def check_space(out: Path, cfg: PipelineConfig, plan: _Plan, *, reusable: int = 0) -> None:
    """Refuse, before any work, a store that cannot fit: over the file-size limit, or over the
    free space of ``out``'s filesystem (``reusable``: bytes of an earlier partial file the run
    will use as it is). Fixed length: exact; variable length: estimated from the files' sizes.

    Raises
    ------
    StoreError
        One line with the real numbers and the setting that sizes the store (``duration_s``).
    """
    n = len(plan.ok)
    item = np.dtype(cfg.stored_dtype).itemsize
    if cfg.length_samples is not None:
        frames = cfg.frames_for(cfg.length_samples)
        need = 128 + n * frames * cfg.n_coeffs * item
        what = f"{n:,} clips x {frames:,} frames x {cfg.n_coeffs} coefficients x {item} bytes"
        limit = _file_size_limit()
        if limit is not None and need > limit:
            raise StoreError(f"duration_s={cfg.duration_s}: the features file would be {_human(need)} ({what}), "
                             f"over this process's file-size limit of {_human(limit)} (ulimit -f); "
                             f"allowed: duration_s <= {_longest(cfg, n, limit):g} s for these files, or "
                             f"{'dtype: float16, ' if cfg.stored_dtype == 'float32' else ''}fewer files")
    else:
        sizes = plan.ok["size_bytes"].to_numpy(dtype=np.float64, na_value=np.nan) if "size_bytes" in plan.ok else []
        if not len(sizes) or np.isnan(sizes).any():
            return
        need = float(sizes.sum()) / 2 / cfg.frame_step_samples * cfg.n_coeffs * item  # as 16-bit PCM at the target rate
        what = "estimated from the files' sizes as 16-bit audio"
    need -= reusable
    folder = out if out.exists() else out.parent
    free = shutil.disk_usage(folder).free
    if need > free:
        hint = (f"; allowed on this disk: duration_s <= {_longest(cfg, n, free + reusable):g} s for these files"
                if cfg.length_samples is not None else "")
        raise StoreError(f"{out}: the features need {_human(need)} ({what}), {_human(free)} free on "
                         f"{_mount_point(folder)}{hint}")


def _longest(cfg: PipelineConfig, n: int, budget: int) -> float:
    """Longest ``duration_s`` whose store of ``n`` clips fits in ``budget`` bytes."""
    per_clip = max(0, budget - 128) // max(1, n) // (cfg.n_coeffs * np.dtype(cfg.stored_dtype).itemsize)
    if per_clip < 1:
        return 0.0
    if cfg.kind == "micro":  # whole windows
        fe = cfg.micro_frontend()
        samples = (per_clip - 1) * fe.step_samples + fe.window_samples
    elif cfg.kind == "logspec":
        samples = (per_clip - 1) * cfg.hop_samples + cfg.window_samples
    else:  # centred frames
        samples = (per_clip - 1) * cfg.hop_samples + cfg.fft_length - 2 * (cfg.fft_length // 2)
    return max(0.0, math.floor(samples / cfg.sample_rate * 100) / 100)  # rounded down: it does fit


# --------------------------------------------------------------------------- the row-slot file


def _open_partial(path: Path, shape: tuple[int, ...], dtype: np.dtype, *, on_new) -> int:
    """A preallocated ``.npy`` file: reuse it when its header matches, else make a new one
    (calling ``on_new()`` first: whatever the old file held is gone).

    Returns the byte offset of its data. A failed reservation (a full disk) leaves no file.
    """
    dtype = np.dtype(dtype)
    if path.exists():
        try:
            got_shape, got_dtype, offset = npy_layout(path)
            size = path.stat().st_size
            if tuple(got_shape) == shape and got_dtype == dtype and size == offset + int(np.prod(shape)) * dtype.itemsize:
                return offset
        except (OSError, ValueError):
            pass
    on_new()
    path.unlink(missing_ok=True)  # its blocks are free before the new file reserves its own
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(_npy_header(shape, dtype))
            offset = fh.tell()
            size = offset + int(np.prod(shape)) * dtype.itemsize
            _reserve(fh.fileno(), size, path)
            fh.truncate(size)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # what fallocate reserved in part goes with it
        raise
    return offset


def _npy_header(shape: tuple[int, ...], dtype: np.dtype, length: int | None = None) -> bytes:
    """The ``.npy`` header bytes of a C-order array; padded to ``length`` bytes when given (to
    rewrite a header in place: a smaller shape needs no more room)."""
    import io

    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    data = buf.getvalue()
    if length is None or length == len(data):
        return data
    if length < len(data) or length - 10 > 0xFFFF:
        raise ValueError(f"a .npy header for shape {shape} does not fit in {length} bytes")
    text = data[10:].rstrip(b"\n ")
    text = text + b" " * (length - 10 - len(text) - 1) + b"\n"
    return data[:8] + (length - 10).to_bytes(2, "little") + text


def compact_rows(path: Path, offset: int, row_bytes: int, moves: list[tuple[int, int]],
                 shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Fill skipped files' row slots with the last rows (``moves``: (from slot, to slot)), then make
    the file ``shape`` (fewer rows): header rewritten in place, tail cut off.

    Every step can be repeated: the rows moved from lie beyond the new end and are not
    overwritten, so a rerun after a kill moves the same bytes again.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        for src, dst in moves:
            data = os.pread(fd, row_bytes, offset + src * row_bytes)
            if len(data) != row_bytes:
                raise StoreError(f"{path}: shorter than planned (the store's work files do not match; "
                                 "rerun with --overwrite)")
            view, done = memoryview(data), 0
            while done < row_bytes:
                done += os.pwrite(fd, view[done:], offset + dst * row_bytes + done)
        os.pwrite(fd, _npy_header(shape, dtype, length=offset), 0)
        os.ftruncate(fd, offset + int(np.prod(shape)) * np.dtype(dtype).itemsize)
    finally:
        os.close(fd)


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
            free = shutil.disk_usage(path.parent).free
            raise StoreError(f"{path.parent}: the features need {_human(size)}, {_human(free)} free on "
                             f"{_mount_point(path.parent)}")
        if err == errno.EFBIG:
            raise StoreError(f"{path.parent}: the features file would be {_human(size)}, over this "
                             "process's file-size limit (ulimit -f) or the filesystem's")


def _slots(rows: list[np.ndarray], bounds: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """What each row slot of the file holds after the workers: a file (its position in the plan)
    or -1, and its chunk. Chunk ``k`` writes its clips one after the other from slot ``a_k``."""
    n_files = bounds[-1][1] if bounds else 0
    slot_file = np.full(n_files, -1, np.int64)
    slot_chunk = np.zeros(n_files, np.int32)
    for k, ((a, _), r) in enumerate(zip(bounds, rows)):
        slot_file[a:a + len(r)] = r
        slot_chunk[a:a + len(r)] = k
    return slot_file, slot_chunk


def tail_moves(rows: list[np.ndarray], bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(from slot, to slot): the rows beyond the last kept slot fill the empty slots before it, in
    order, so that the file ends after its last row without being copied.

    ``rows[k]``: plan positions of chunk ``k``'s clips with features; ``bounds[k]``: its files."""
    slot_file, _ = _slots(rows, bounds)
    n_rows = int((slot_file >= 0).sum())
    holes = np.flatnonzero(slot_file[:n_rows] < 0)
    tail = np.flatnonzero(slot_file[n_rows:] >= 0) + n_rows
    return list(zip(tail.tolist(), holes.tolist()))


def row_order(rows: list[np.ndarray], bounds: list[tuple[int, int]], *, slots: bool) -> tuple[np.ndarray, np.ndarray]:
    """The plan positions (and chunks) of the store's rows in order: with row ``slots`` (fixed
    length) as the file holds them after :func:`tail_moves`; else (variable length: each chunk's
    part file) in chunk order."""
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    if not slots:
        return (np.concatenate(rows).astype(np.int64),
                np.repeat(np.arange(len(rows), dtype=np.int32), [len(r) for r in rows]))
    slot_file, slot_chunk = _slots(rows, bounds)
    for src, dst in tail_moves(rows, bounds):
        slot_file[dst], slot_chunk[dst] = slot_file[src], slot_chunk[src]
    n_rows = int(sum(len(r) for r in rows))
    return slot_file[:n_rows], slot_chunk[:n_rows]
