"""A speaker-disjoint re-split of a dataset (``kwscope split``): every speaker in one of train,
validation and test, the requested percentages of files, balanced across labels, and the official
split kept wherever it was already speaker-disjoint. Written as Speech Commands'
``validation_list.txt`` / ``testing_list.txt``.

How speakers are placed:

1. a speaker whose files are all in one official split keeps it while that split has room: with
   half this speaker's files it stays within its target share of all files, and within
   :data:`KEEP_SLACK_PCT` points of its share of each label the speaker said (seeded order);
2. every other speaker (leaking across splits, without a split, or left over from 1.) is placed,
   largest first, in the split where it lowers most the chi-square cost
   ``sum over splits and labels of (count - target)^2 / target``, so the split's share of every
   label stays near the requested percentage.

Files without a speaker are each a group of their own (they cannot leak). The finest step is one
speaker: on FSDD's six speakers of 500 files each, 80/10/10 becomes 4/1/1 speakers (66.7/16.7/16.7 %).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import KwscopeError
from ..io.layouts import check_split_percentages
from ..io.sources import NoiseSlice
from ..io.spec import SPLIT_LIST_FILES

__all__ = ["SPLITS", "SplitError", "SplitPlan", "plan_split", "write_split_lists"]

SPLITS = ("train", "validation", "test")
#: A kept official assignment may take a split this many percentage points over its share of a label.
KEEP_SLACK_PCT = 2.0
_LIST_OF = {"validation": SPLIT_LIST_FILES[0], "test": SPLIT_LIST_FILES[1]}


class SplitError(KwscopeError):
    """Percentages that make no split, or a dataset with nothing to split."""


@dataclass
class SplitPlan:
    """The re-split and what it changed (``to_dict()`` is ``kwscope split --json``).

    ``assignment`` maps each recording (path relative to the dataset) to its new split;
    percentages are of files (%), counts are files unless named speakers.
    """

    root: str
    requested_pct: dict[str, float]
    achieved_pct: dict[str, float]
    n_files: int
    n_speakers: int
    n_speakerless_files: int
    speakers_per_split: dict[str, int]
    files_per_split: dict[str, int]
    per_label: dict[str, dict]
    kept_speakers: int
    kept_files: int
    moved_files: int
    moves: list[dict]
    leaking_before: int
    leaking_after: int
    finest_step_pct: float
    seed: int
    assignment: dict[str, str] = field(repr=False, default_factory=dict)

    def lists(self) -> dict[str, list[str]]:
        """``{"validation": [paths], "test": [paths]}``, sorted (as Speech Commands' lists are)."""
        out: dict[str, list[str]] = {"validation": [], "test": []}
        for path, split in self.assignment.items():
            if split in out:
                out[split].append(path)
        return {k: sorted(v) for k, v in out.items()}

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("assignment")
        d["n_listed"] = {k: len(v) for k, v in self.lists().items()}
        return d


def plan_split(manifest: pd.DataFrame, *, validation_percentage: float = 10.0, testing_percentage: float = 10.0,
               seed: int = 0, keep_official: bool = True) -> SplitPlan:
    """The speaker-disjoint split of the manifest's speech recordings (see the module's text).

    ``keep_official=False`` places every speaker by the cost (step 2 only): the best balance
    across labels, whatever the official split was.

    Raises
    ------
    LayoutError
        For percentages outside ``0 <= v, t`` and ``v + t < 100``
        (:func:`kwscope.io.layouts.check_split_percentages`, the one check of every command).
    SplitError
        For no labelled speech recordings.
    """
    check_split_percentages(validation_percentage, testing_percentage)
    pct = {"train": 100.0 - validation_percentage - testing_percentage, "validation": float(validation_percentage),
           "test": float(testing_percentage)}
    sources = manifest["source"].fillna("").astype(str) if "source" in manifest.columns else None
    rows = manifest[(manifest["category"] == "speech") & manifest["label"].notna()]
    if sources is not None:  # _silence_ clips of a task are no files: nothing to list
        rows = rows[~sources[rows.index].str.startswith(NoiseSlice.PREFIX)]
    if rows.empty:
        raise SplitError(f"{manifest.attrs.get('root', 'DATA')}: no labelled speech recordings to split")
    paths = rows["path"].astype(str).to_numpy()
    labels_of = rows["label"].astype(str).to_numpy()
    official = rows["split"].astype(object).where(rows["split"].notna(), None).to_numpy()
    speaker = rows["speaker"].astype(object).where(rows["speaker"].notna(), None).to_numpy()
    group_of = np.array([f"spk\0{s}" if s is not None else f"file\0{p}" for s, p in zip(speaker, paths)], object)
    labels = sorted(set(labels_of))
    lab_idx = {l: i for i, l in enumerate(labels)}
    groups = sorted(set(group_of))
    g_idx = {g: i for i, g in enumerate(groups)}
    gi = np.array([g_idx[g] for g in group_of])
    li = np.array([lab_idx[l] for l in labels_of])
    counts = np.zeros((len(groups), len(labels)))
    np.add.at(counts, (gi, li), 1)
    sizes = counts.sum(axis=1)
    split_sets = pd.Series(list(official), dtype=object).groupby(gi).agg(lambda x: set(x))
    official_of: list[str | None] = []
    leaking_before = 0
    for g in range(len(groups)):
        splits = split_sets[g]
        if len(splits) == 1 and None not in splits:
            official_of.append(next(iter(splits)))
        else:
            official_of.append(None)
            leaking_before += len(splits - {None}) > 1
    active = [s for s in SPLITS if pct[s] > 0]
    label_totals = counts.sum(axis=0)
    target = {s: label_totals * pct[s] / 100 for s in active}
    total_target = {s: len(paths) * pct[s] / 100 for s in active}
    have = {s: np.zeros(len(labels)) for s in active}
    placed: dict[int, str] = {}
    slack = label_totals * KEEP_SLACK_PCT / 100
    rng = np.random.default_rng(int(seed))

    for g in rng.permutation(len(groups)):  # 1. keep the official split while it has room
        s = official_of[g] if keep_official else None
        said = counts[g] > 0
        if s in have and have[s].sum() + sizes[g] / 2 <= total_target[s] \
                and np.all(have[s][said] + counts[g][said] / 2 <= target[s][said] + slack[said]):
            have[s] += counts[g]
            placed[int(g)] = s
    kept_speakers = sum(1 for g in placed if groups[g].startswith("spk\0"))
    kept_files = int(sum(sizes[g] for g in placed))
    pool = [int(g) for g in rng.permutation(len(groups)) if int(g) not in placed]
    pool.sort(key=lambda g: -sizes[g])  # stable: ties stay in the seeded order
    for g in pool:  # 2. the rest by the chi-square cost, largest first
        x = counts[g]
        best, best_delta = None, np.inf
        for s in active:
            delta = _add_cost(x, have[s], target[s], 1)
            if delta < best_delta:
                best, best_delta = s, delta
        have[best] += x
        placed[g] = best
    _refine(pool, counts, placed, have, target, active)

    new_split = np.array([placed[g] for g in gi], object)
    moved = official != new_split
    moves = []
    before = pd.DataFrame({"g": gi, "s": [s or "none" for s in official]}).groupby(["g", "s"]).size()
    for g in sorted({int(g) for g in gi[moved]}, key=lambda g: (-sizes[g], groups[g])):
        if not groups[g].startswith("spk\0"):
            continue
        moves.append({"speaker": groups[g].split("\0", 1)[1], "from": {str(k): int(v) for k, v in before[g].items()},
                      "to": placed[g], "n_files": int(sizes[g])})
    n = len(paths)
    files = {s: int((new_split == s).sum()) for s in SPLITS}
    per_label = {}
    for l, i in lab_idx.items():
        mine = li == i
        total = int(mine.sum())
        per_label[l] = {"n_files": total, **{f"{s}_pct": round(100.0 * int((new_split[mine] == s).sum()) / total, 2)
                                              for s in SPLITS}}
    spk_groups = [g for g in range(len(groups)) if groups[g].startswith("spk\0")]
    return SplitPlan(
        root=str(manifest.attrs.get("root", "")),
        requested_pct=pct,
        achieved_pct={s: round(100.0 * files[s] / n, 2) for s in SPLITS},
        n_files=n,
        n_speakers=len(spk_groups),
        n_speakerless_files=int(sum(1 for s in speaker if s is None)),
        speakers_per_split={s: sum(1 for g in spk_groups if placed[g] == s) for s in SPLITS},
        files_per_split=files,
        per_label=per_label,
        kept_speakers=kept_speakers,
        kept_files=kept_files,
        moved_files=int(moved.sum()),
        moves=moves,
        leaking_before=leaking_before,
        leaking_after=int((pd.Series(list(new_split))[[g.startswith("spk\0") for g in group_of]]
                           .groupby(gi[[g.startswith("spk\0") for g in group_of]]).nunique() > 1).sum()),
        finest_step_pct=round(100.0 * float(max(sizes[g] for g in spk_groups)) / n, 2) if spk_groups else round(100.0 / n, 2),
        seed=int(seed),
        assignment=dict(zip(paths.tolist(), new_split.tolist())),
    )


def _add_cost(x: np.ndarray, have: np.ndarray, t: np.ndarray, sign: int) -> float:
    """Change of the chi-square cost of one split when ``x`` is added (sign 1) or removed (-1)."""
    ok = t > 0
    delta = float(np.sum((x[ok] ** 2 + sign * 2 * x[ok] * (have[ok] - t[ok])) / t[ok]))
    return delta + sign * float(np.sum(x[~ok])) * 1e9  # a label the split should not hold


def _refine(pool: list[int], counts: np.ndarray, placed: dict, have: dict, target: dict, active: list,
            passes: int = 20) -> None:
    """Move placed pool groups between splits while a move lowers the total chi-square cost
    (the greedy places each group once, early ones before the later ones are known)."""
    for _ in range(passes):
        improved = False
        for g in pool:
            a, x = placed[g], counts[g]
            out_cost = _add_cost(x, have[a] - x, target[a], 1)  # what having g in a costs
            best, best_gain = None, 1e-9
            for b in active:
                if b != a:
                    gain = out_cost - _add_cost(x, have[b], target[b], 1)
                    if gain > best_gain:
                        best, best_gain = b, gain
            if best is not None:
                have[a] -= x
                have[best] += x
                placed[g] = best
                improved = True
        if not improved:
            return


def write_split_lists(plan: SplitPlan, out_dir: str | os.PathLike) -> dict[str, dict]:
    """Write ``validation_list.txt`` and ``testing_list.txt`` into ``out_dir`` (created).

    A list already there is first kept as ``<name>.orig`` (once: an existing ``.orig``, the
    first original, is never overwritten). Each file is written whole, then renamed into place.

    Returns
    -------
    dict
        ``{split: {"path", "n_paths", "backup"}}`` (``backup`` is ``""`` when none was made).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, paths in plan.lists().items():
        target = out / _LIST_OF[split]
        backup = target.with_name(target.name + ".orig")
        made = ""
        if target.is_file() and not backup.exists():
            backup.write_bytes(target.read_bytes())
            made = str(backup)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(p + "\n" for p in paths), encoding="utf-8")
        os.replace(tmp, target)
        written[split] = {"path": str(target), "n_paths": len(paths), "backup": made}
    return written
