"""Duplicate recordings: exact copies and near-duplicates, within and across labels and splits.

- **exact**: the same decoded samples (SHA-1 of the float32 mono samples, so a WAV and a FLAC
  of the same 16-bit audio match).
- **near**: the same recording after a gain change, added faint noise or re-encoding.
  ``similarity`` is the cosine of two fingerprints (log band energies on a 48 x 16 grid of 20-ms
  cells, floored 30 dB under the loudest cell, differenced along time and frequency; see
  :mod:`kwscope.analysis.profiles.fingerprints`), aligned at the clips' starts. On FSDD,
  different takes of one digit by one speaker stay at or under 0.8, a copy with another gain and
  noise 30 dB down scores 0.97 or more; the default threshold is 0.9. Candidate pairs come from
  locality-sensitive hashing: the workers' 256-bit SimHash signatures cut into 16 bands of 16
  bits; pairs sharing a band, and close in Hamming distance, are compared exactly, so the work is
  close to linear in the number of files. Clips without speech have no fingerprint.

Pairs are joined into groups (connected components): the unit every headline counts, beside the
files in them. A group whose files are in different splits is leakage (``cross_split``): the
same recording is both trained on and tested on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .profiles import ProfileSpill

__all__ = ["DuplicateFinder", "DuplicateReport"]


_FILTER_BLOCK = 65536  # candidate pairs Hamming-filtered at once (two 32-byte signatures each)
_VERIFY_BLOCK = 4096  # pairs whose fingerprints are compared at once (2 x 705 float32 each)


def _popcount(a: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a).sum(axis=1, dtype=np.int64)


class DuplicateFinder:
    """Collects digests and SimHash signatures during the pass; finds the pairs afterwards.

    Memory: a digest (20 bytes) and a signature (32 bytes) a file; fingerprints stay in the
    :class:`~kwscope.analysis.profiles.ProfileSpill` and only candidate pairs' are read back.

    Parameters
    ----------
    near_threshold : float
        Cosine similarity of fingerprints from which two clips are near-duplicates.
    band_bits : int
        Signature bits per LSH band (a multiple of 8).
    max_bucket : int
        LSH buckets larger than this are not expanded into pairs in that band (degenerate
        fingerprints); true near-duplicates still meet in other bands.
    """

    def __init__(self, *, near_threshold: float = 0.9, band_bits: int = 16, max_bucket: int = 200):
        if band_bits % 8:
            raise ValueError(f"band_bits={band_bits} must be a multiple of 8")
        self.near_threshold = near_threshold
        self.band_bits, self.max_bucket = band_bits, max_bucket
        self._digest_rows: list[np.ndarray] = []
        self._digests: list[np.ndarray] = []
        self._sigs: list[np.ndarray] = []
        self._valid: list[np.ndarray] = []

    def add(self, rows: np.ndarray, ok: np.ndarray, digests: np.ndarray, signatures: np.ndarray,
            valid: np.ndarray) -> None:
        """One chunk, in manifest order: its ``rows``, decoded mask, ``(m, 20)`` digests,
        ``(m, bytes)`` signatures, and which fingerprints are usable (speech found)."""
        self._digest_rows.append(np.asarray(rows)[ok])
        self._digests.append(np.ascontiguousarray(digests[ok], np.uint8))
        self._sigs.append(np.asarray(signatures, np.uint8))
        self._valid.append(np.asarray(valid, bool))

    def find(self, spill: ProfileSpill, paths: np.ndarray, labels: np.ndarray, splits: np.ndarray,
             *, max_pairs: int | None = 5000) -> "DuplicateReport":
        """Pair up duplicates and join the pairs into groups. Rows index ``paths``/``labels``/``splits``
        (manifest order, which is path order). Pairs are kept as arrays; only the listed ones (at
        most ``max_pairs`` pairs and as many groups) become dicts; every count is complete."""
        ex_a, ex_b = [], []
        group_of: dict[int, int] = {}
        for group in self._exact_groups():
            for other in group:
                group_of[other] = group[0]
            ex_a.extend([group[0]] * (len(group) - 1))
            ex_b.extend(group[1:])
        near = self._near_pairs(spill)
        if near[0].size and group_of:
            ga = np.array([group_of.get(int(x), -1) for x in near[0]])
            gb = np.array([group_of.get(int(x), -2) for x in near[1]])
            keep = ga != gb  # an exact pair already
            near = tuple(v[keep] for v in near)
        a = np.concatenate([np.asarray(ex_a, np.int64), near[0]])
        b = np.concatenate([np.asarray(ex_b, np.int64), near[1]])
        sim = np.concatenate([np.ones(len(ex_a)), near[2]])
        kind_near = np.concatenate([np.zeros(len(ex_a), bool), np.ones(near[0].size, bool)])
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        sp_lo = [_opt(splits[i]) for i in lo.tolist()]  # only the rows in a pair (usually few)
        sp_hi = [_opt(splits[i]) for i in hi.tolist()]
        cross = np.array([x is not None and y is not None and x != y for x, y in zip(sp_lo, sp_hi)], bool)
        order = np.lexsort((hi, lo, -sim, ~cross, kind_near))
        if max_pairs is not None:
            order = order[:max_pairs]
        pairs = [{"kind": "near" if kind_near[k] else "exact", "paths": [str(paths[lo[k]]), str(paths[hi[k]])],
                  "labels": [_opt(labels[lo[k]]), _opt(labels[hi[k]])], "splits": [sp_lo[k], sp_hi[k]],
                  "similarity": float(sim[k]), "cross_split": bool(cross[k])} for k in order.tolist()]
        groups, counts = _groups(lo, hi, sim, kind_near, paths, labels, splits, max_groups=max_pairs)
        return DuplicateReport(pairs=pairs, n_exact_pairs=len(ex_a), n_near_pairs=int(near[0].size),
                               n_cross_split=int(cross.sum()), near_threshold=self.near_threshold,
                               truncated=len(pairs) < a.size, groups=groups, **counts)

    def _exact_groups(self) -> list[list[int]]:
        """Rows with identical digests, each group in row order (sorting, no per-file objects)."""
        if not self._digests:
            return []
        rows = np.concatenate(self._digest_rows)
        digests = np.concatenate(self._digests)
        if rows.size < 2:
            return []
        keys = digests.view(np.dtype((np.void, digests.shape[1]))).ravel()
        order = np.lexsort((rows, keys))  # by digest, then row
        k = keys[order]
        same = np.flatnonzero(k[1:] == k[:-1])
        if not same.size:
            return []
        starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
        ends = np.concatenate((starts[1:], [k.size]))
        return [rows[order[a:b]].tolist() for a, b in zip(starts, ends) if b - a > 1]

    def _near_pairs(self, spill: ProfileSpill) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows_a, rows_b, similarity)`` of the near-duplicate pairs."""
        none = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        if not self._sigs:
            return none
        valid = np.concatenate(self._valid)
        rows = np.flatnonzero(valid)
        if rows.size < 2:
            return none
        sigs = np.concatenate(self._sigs)[rows]
        n_bits = sigs.shape[1] * 8
        # Hamming prefilter at the angle of cos = near_threshold - 0.05, with 3 sigma of slack.
        theta = np.arccos(np.clip(self.near_threshold - 0.05, -1, 1)) / np.pi
        limit = n_bits * theta + 3 * np.sqrt(n_bits * theta * (1 - theta))
        cand = self._candidates(sigs, limit)
        if cand.size == 0:
            return none
        a_all, b_all = rows[cand[:, 0]], rows[cand[:, 1]]
        keep_a, keep_b, keep_s = [], [], []
        for start in range(0, a_all.size, _VERIFY_BLOCK):  # bounded memory: a block of pairs at a time
            a, b = a_all[start:start + _VERIFY_BLOCK], b_all[start:start + _VERIFY_BLOCK]
            uniq, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
            fps = spill.fingerprints_at(uniq).astype(np.float32)
            norms = np.linalg.norm(fps, axis=1)
            norms[norms == 0] = np.inf
            fps /= norms[:, None]
            ia, ib = inv[: a.size], inv[a.size:]
            sims = np.einsum("ij,ij->i", fps[ia], fps[ib])
            hit = sims >= self.near_threshold
            keep_a.append(a[hit])
            keep_b.append(b[hit])
            keep_s.append(np.round(sims[hit].astype(np.float64), 4))
        return np.concatenate(keep_a), np.concatenate(keep_b), np.concatenate(keep_s)

    def _candidates(self, sigs: np.ndarray, limit: float | None = None) -> np.ndarray:
        """Index pairs ``(i, j)``, ``i < j``, of signatures sharing at least one band (and, with
        ``limit``, at most ``limit`` bits apart), unique, sorted. Pairs are filtered band by band
        in blocks, so memory follows the survivors, not the collisions."""
        per_band = self.band_bits // 8
        n = sigs.shape[0]
        found = []
        for band in range(sigs.shape[1] // per_band):
            raw = np.ascontiguousarray(sigs[:, band * per_band:(band + 1) * per_band])
            keys = np.zeros(n, np.uint64)
            for k in range(per_band):
                keys = (keys << np.uint64(8)) | raw[:, k].astype(np.uint64)
            order = np.argsort(keys, kind="stable")
            sk = keys[order]
            # bucket sizes, to leave out degenerate buckets
            starts = np.flatnonzero(np.concatenate(([True], sk[1:] != sk[:-1])))
            sizes = np.diff(np.concatenate((starts, [n])))
            ok = np.repeat(sizes, sizes) <= self.max_bucket
            d = 1
            while d < min(n, self.max_bucket):
                same = np.flatnonzero((sk[d:] == sk[:-d]) & ok[d:])
                if not same.size:
                    break
                for blk in range(0, same.size, _FILTER_BLOCK):
                    pos = same[blk:blk + _FILTER_BLOCK]
                    i, j = order[pos], order[pos + d]
                    if limit is not None:
                        close = _popcount(np.bitwise_xor(sigs[i], sigs[j])) <= limit
                        i, j = i[close], j[close]
                    if i.size:
                        found.append(np.unique(np.minimum(i, j).astype(np.int64) * n + np.maximum(i, j)))
                d += 1
        if not found:
            return np.zeros((0, 2), np.int64)
        code = np.unique(np.concatenate(found))
        return np.stack([code // n, code % n], axis=1)


def _groups(lo: np.ndarray, hi: np.ndarray, sim: np.ndarray, kind_near: np.ndarray, paths: np.ndarray,
            labels: np.ndarray, splits: np.ndarray, *, max_groups: int | None) -> tuple[list[dict], dict[str, int]]:
    """The pairs joined into groups (connected components: a copy made 50 times is one group of 50
    files, not 49 pairs), the groups spanning splits first, then the largest, then by first path;
    and the complete counts of groups and of the files in them."""
    counts = {"n_groups": 0, "n_files": 0, "n_exact_groups": 0, "n_near_groups": 0, "n_cross_split_groups": 0,
              "n_cross_split_files": 0}
    if lo.size == 0:
        return [], counts
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows, inv = np.unique(np.concatenate([lo, hi]), return_inverse=True)
    a, b = inv[: lo.size], inv[lo.size:]
    n = rows.size
    _, comp = connected_components(coo_matrix((np.ones(a.size), (a, b)), shape=(n, n)), directed=False)
    n_comp = int(comp.max()) + 1
    edge_comp = comp[a]
    weakest = np.ones(n_comp)
    np.minimum.at(weakest, edge_comp, sim)
    has_near = np.zeros(n_comp, bool)
    has_near[edge_comp[kind_near]] = True
    has_exact = np.zeros(n_comp, bool)
    has_exact[edge_comp[~kind_near]] = True
    members = [[] for _ in range(n_comp)]
    for r, c in zip(rows.tolist(), comp.tolist()):  # rows ascending: members in path order
        members[c].append(r)
    groups = []
    for c, rs in enumerate(members):
        sp = [_opt(splits[r]) for r in rs]
        known = {x for x in sp if x is not None}
        labs = [_opt(labels[r]) for r in rs]
        kind = "mixed" if has_near[c] and has_exact[c] else "near" if has_near[c] else "exact"
        groups.append({"kind": kind, "size": len(rs), "paths": [str(paths[r]) for r in rs], "labels": labs,
                       "splits": sp, "similarity": float(weakest[c]), "cross_split": len(known) > 1,
                       "label_conflict": len(set(labs)) > 1})
    groups.sort(key=lambda g: (not g["cross_split"], -g["size"], g["paths"][0]))
    counts.update(n_groups=len(groups), n_files=int(n),
                  n_exact_groups=sum(g["kind"] == "exact" for g in groups),
                  n_near_groups=sum(g["kind"] != "exact" for g in groups),
                  n_cross_split_groups=sum(g["cross_split"] for g in groups),
                  n_cross_split_files=sum(g["size"] for g in groups if g["cross_split"]))
    return (groups if max_groups is None else groups[:max_groups]), counts


def _opt(v: Any) -> str | None:
    return None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)


@dataclass
class DuplicateReport:
    """Duplicates as groups, and the pairs that join them.

    ``groups``: ``{"kind": "exact"|"near"|"mixed", "size": files, "paths": [...], "labels": [...],
    "splits": [...], "similarity": the weakest link (1.0 when identical), "cross_split": bool,
    "label_conflict": bool}``, in path order within a group; groups spanning splits first, then
    the largest. A recording copied 50 times is one group of 50 files.

    ``pairs``: ``{"kind": "exact"|"near", "paths": [a, b], "labels": [..], "splits": [..],
    "similarity": float, "cross_split": bool}``, exact first, then cross-split, then most similar;
    an exact group of ``k`` files gives ``k - 1`` pairs, each linking a copy to the group's first
    path.

    Counts are complete even when the lists are cut (``truncated``): pairs (``n_exact_pairs``,
    ``n_near_pairs``, ``n_cross_split`` pairs across splits), groups (``n_groups``,
    ``n_exact_groups``, ``n_near_groups`` -- near or mixed --, ``n_cross_split_groups``) and files
    in groups (``n_files``, ``n_cross_split_files``).
    """

    pairs: list[dict[str, Any]]
    n_exact_pairs: int = 0
    n_near_pairs: int = 0
    n_cross_split: int = 0
    near_threshold: float = 0.9
    truncated: bool = False
    groups: list[dict[str, Any]] = field(default_factory=list)
    n_groups: int = 0
    n_files: int = 0
    n_exact_groups: int = 0
    n_near_groups: int = 0
    n_cross_split_groups: int = 0
    n_cross_split_files: int = 0

    def headline(self) -> str:
        """``"4 groups, 56 files"``: what a person reads first."""
        return f"{_count(self.n_groups, 'group')}, {_count(self.n_files, 'file')}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        rows = [{"kind": p["kind"], "path_a": p["paths"][0], "path_b": p["paths"][1], "label_a": p["labels"][0],
                 "label_b": p["labels"][1], "split_a": p["splits"][0], "split_b": p["splits"][1],
                 "similarity": p["similarity"], "cross_split": p["cross_split"]} for p in self.pairs]
        return pd.DataFrame(rows, columns=["kind", "path_a", "path_b", "label_a", "label_b", "split_a", "split_b",
                                           "similarity", "cross_split"])

    def _repr_html_(self) -> str:
        head = (f"<p>Duplicates: {self.headline()} ({self.n_cross_split_groups} groups across splits: leakage); "
                f"{self.n_exact_pairs} exact and {self.n_near_pairs} near-duplicate pair(s)</p>")
        return head + self.to_frame().to_html(index=False, escape=True)


def _count(n: int, unit: str) -> str:
    return f"{n:,} {unit}{'' if n == 1 else 's'}"
