"""Choosing a layout from the files (``--layout auto``), with the evidence and the doubt: a layout
is picked only when most names fit it, one whose "speakers" are implausible gives way to one
without speakers, a dataset living in one subfolder of DATA is found, and recordings far longer
than the rest are set apart."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .layouts import _FSDD_NAME, _SC_NAME, BACKGROUND_NOISE
from .patterns import SPLIT_ALIASES

__all__ = ["Detection", "detect_layout", "find_dataset_folder", "long_recordings"]

# A recording this many times the median length (or size), and at least LONG_MIN_S, stands apart.
LONG_FACTOR = 20.0
LONG_MIN_S = 10.0
_SEP = re.compile(r"[-_]")


@dataclass
class Detection:
    """What ``auto`` chose: ``layout`` (a name or a path pattern), the ``evidence`` in one line,
    and ``notes`` (doubts, what was rejected and how to override it)."""

    layout: str
    evidence: str
    notes: list[str] = field(default_factory=list)


def _n(k: int) -> str:
    return f"{k:,}"


def _stem_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, "." + ext) if dot and stem else (name, "")


def detect_layout(relpaths: Sequence[str]) -> Detection:
    """Guess the layout of audio files from their relative paths (``/`` separators).

    Tried in turn: Speech Commands names (``<label>/<speaker>_nohash_<n>``), split folders
    (``train/<label>/...``), speaker folders whose file names repeat the folder and carry the
    label (``<speaker>/<speaker>-<label>-<take>``), FSDD names (``<label>_<speaker>_<take>``;
    rejected when its speakers are implausible), label folders, and flat names whose first
    field is a small vocabulary. The first whose evidence holds wins.
    """
    paths = list(relpaths)
    if not paths:
        return Detection("folders", "folders: no recordings to judge by")
    n = len(paths)
    nested = [p for p in paths if "/" in p]
    names = [p.rsplit("/", 1)[-1] for p in paths]

    sc = sum(1 for p in nested if _SC_NAME.match(p.rsplit("/", 1)[-1]))
    if nested and sc >= 0.5 * len(nested):
        return Detection("speech-commands", f"speech-commands: {_n(sc)} of {_n(len(nested))} files in folders are "
                                            "<label>/<speaker>_nohash_<n>")

    found = _split_folders(paths) or _speaker_folders(paths)
    if found:
        return found

    fsdd = [_FSDD_NAME.match(name) for name in names]
    n_fsdd = sum(1 for m in fsdd if m)
    if n_fsdd >= 0.8 * n:
        doubt = _implausible_speakers([(m["label"], m["speaker"]) for m in fsdd if m])
        if doubt is None:
            return Detection("fsdd", f"fsdd: {_n(n_fsdd)} of {_n(n)} names match label_speaker_take")
        return Detection("{label}_*", f"label first in the name: {_n(n_fsdd)} of {_n(n)} names look like "
                                      f"label_speaker_take, but {doubt}; read without speakers",
                         [f"if the middle field is a speaker after all, pass --layout '{{label}}_{{speaker}}_{{take}}"
                          f"{_common_ext(names)}'"])

    if len(nested) >= 0.5 * n:
        folders = Counter(p.split("/", 1)[0] for p in nested)
        det = Detection("folders", f"folders: {_n(len(nested))} of {_n(n)} files in {_n(len(folders))} label folders")
        repeat = sum(1 for p in nested if _SEP.split(p.rsplit("/", 1)[-1])[0] == p.split("/", 1)[0])
        if len(folders) > 1 and repeat >= 0.8 * len(nested):
            det.notes.append("the file names repeat their folder's name, as speaker folders do; if the folders are "
                             "speakers, name the label's place with a pattern, e.g. --layout '{speaker}/{_}-{label}.wav'")
        return det

    flat = _flat_labels(names)
    if flat:
        return flat
    return Detection("folders", f"folders: {_n(n)} files and no label in their names or folders "
                                "(pass --layout with a pattern, e.g. '{label}_{_}.wav')")


def _common_ext(names: Sequence[str]) -> str:
    exts = {_stem_ext(nm)[1] for nm in names}
    return exts.pop() if len(exts) == 1 else ".*"


def _implausible_speakers(pairs: list[tuple[str, str]]) -> str | None:
    """Why these (label, speaker) pairs do not look like speakers, or None if they do."""
    labels_of: dict[str, set] = defaultdict(set)
    for label, speaker in pairs:
        labels_of[speaker].add(label)
    labels = {label for label, _ in pairs}
    same = sum(1 for label, speaker in pairs if label == speaker)
    if same >= 0.5 * len(pairs):
        return f"{_n(same)} of {_n(len(pairs))} 'speakers' equal the label"
    if len(labels_of) >= 3 and len(labels) >= 2 and all(len(v) == 1 for v in labels_of.values()):
        sp, labs = next(iter(sorted(labels_of.items())))
        return (f"every one of its {_n(len(labels_of))} 'speakers' recorded one label only "
                f"(e.g. {sp!r} only {next(iter(labs))!r})")
    shared = set(labels_of) & labels
    if len(labels_of) >= 3 and len(shared) >= 0.5 * len(labels_of):
        return f"{_n(len(shared))} of its {_n(len(labels_of))} 'speakers' are also label values"
    return None


def _split_folders(paths: list[str]) -> Detection | None:
    """``{split}/{label}/...``: every top folder is a split name and holds label folders."""
    tops = Counter(p.split("/", 1)[0] for p in paths)
    if not tops or "" in tops or any("/" not in p for p in paths):
        return None
    if not all(t.lower() in SPLIT_ALIASES for t in tops):
        return None
    deep = sum(1 for p in paths if p.count("/") == 2)
    if deep < 0.8 * len(paths):
        return None
    inner = [p.split("/", 1)[1] for p in paths if p.count("/") == 2]
    if sum(1 for p in inner if _SC_NAME.match(p.rsplit("/", 1)[-1])) >= 0.5 * len(inner):
        pattern = "{split}/{label}/{speaker}_nohash_{take}*"
    else:
        pattern = "{split}/{label}/*"
    return Detection(pattern, f"split folders: {_n(deep)} of {_n(len(paths))} files are "
                              f"<split>/<label>/<name> under {', '.join(sorted(tops))}")


def _speaker_folders(paths: list[str]) -> Detection | None:
    """``{speaker}/{_}-{label}-{take}``: names repeat their folder, the label varies across folders."""
    one_deep = [p for p in paths if p.count("/") == 1]
    if len(one_deep) < 0.8 * len(paths) or len(one_deep) < 4:
        return None
    for sep in "-_":
        fits, labels_in = 0, defaultdict(set)
        n_tokens = Counter()
        for p in one_deep:
            folder, name = p.split("/")
            tokens = _stem_ext(name)[0].split(sep)
            if len(tokens) in (2, 3) and tokens[0] == folder and (len(tokens) == 2 or tokens[2].isdigit()):
                fits += 1
                labels_in[tokens[1]].add(folder)
                n_tokens[len(tokens)] += 1
        folders = {p.split("/")[0] for p in one_deep}
        if fits < 0.8 * len(one_deep) or len(folders) < 2 or len(labels_in) < 2:
            continue
        shared = sum(1 for f in labels_in.values() if len(f) > 1)
        if shared < 0.5 * len(labels_in):
            continue  # "labels" each in one folder: not a vocabulary shared by speakers
        ext = _common_ext([p.rsplit("/", 1)[-1] for p in one_deep])
        three = n_tokens[3] >= n_tokens[2]
        pattern = f"{{speaker}}/{{_}}{sep}{{label}}{sep}{{take}}{ext}" if three else f"{{speaker}}/{{_}}{sep}{{label}}{ext}"
        return Detection(pattern, f"speaker folders: {_n(fits)} of {_n(len(paths))} files are "
                                  f"<speaker>/<speaker>{sep}<label>{sep + '<take>' if three else ''} "
                                  f"({_n(len(folders))} folders repeat their name in their files' names; "
                                  f"{_n(len(labels_in))} labels shared across them)")
    return None


def _flat_labels(names: list[str]) -> Detection | None:
    """``{label}_*``: flat names whose first field takes few values, each many times."""
    for sep in "_-":
        first = [_stem_ext(nm)[0].split(sep, 1) for nm in names]
        fitting = [parts[0] for parts in first if len(parts) == 2 and parts[0]]
        if len(fitting) < 0.8 * len(names):
            continue
        vocab = Counter(fitting)
        if 2 <= len(vocab) <= max(2, len(names) // 4) and min(vocab.values()) >= 2:
            return Detection(f"{{label}}{sep}*", f"label first in the name: {_n(len(fitting))} of {_n(len(names))} "
                                                 f"names start with one of {_n(len(vocab))} values and '{sep}'",
                             ["speakers unknown: the names carry none that could be told apart from takes"])
    return None


def find_dataset_folder(relpaths: Sequence[str], size_of: Callable[[str], int | None]) -> tuple[str, list[dict]]:
    """The subfolder of DATA that holds the dataset, when it is not DATA itself.

    A folder is chosen when it holds at least two thirds of the recordings, nested in folders of
    their own (``dataset/<label>/<file>``), and what lies outside it is either a few files (under
    a tenth) or recordings far longer than the dataset's (a folder of source recordings).

    Returns
    -------
    (str, list of dict)
        The folder (``""``: DATA itself) and what was left out: ``{"folder", "n_files", "why"}``.
    """
    n = len(relpaths)
    groups: dict[str, list[str]] = defaultdict(list)
    for p in relpaths:
        groups[p.split("/", 1)[0] if "/" in p else ""].append(p)
    main = max((g for g in groups if g), key=lambda g: len(groups[g]), default=None)
    if main is None or len(groups[main]) < 2 / 3 * n or main.lower() in SPLIT_ALIASES or main == BACKGROUND_NOISE:
        return "", []
    inside = groups[main]
    if sum(1 for p in inside if p.count("/") >= 2) < 0.8 * len(inside):
        return "", []
    main_size = _median_size(inside, size_of)
    left_out, outside = [], 0
    for g, files in sorted(groups.items()):
        if g == main:
            continue
        outside += len(files)
        size = _median_size(files, size_of)
        if main_size and size and size >= LONG_FACTOR * main_size:
            why = f"long recordings (median {_size(size)} a file, the dataset's {_size(main_size)})"
        else:
            why = "recordings outside the dataset folder"
        left_out.append({"folder": g or "(top level)", "n_files": len(files), "why": why})
    few = outside < 0.1 * n
    if not all(d["why"].startswith("long") for d in left_out) and not few:
        return "", []
    return main, left_out


def _median_size(paths: list[str], size_of) -> float | None:
    sample = paths[:: max(1, len(paths) // 200)][:200]
    sizes = [s for s in (size_of(p) for p in sample) if s]
    return float(np.median(sizes)) if sizes else None


def _size(b: float) -> str:
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if b >= k:
            return f"{b / k:.1f} {unit}"
    return f"{b:.0f} B"


def long_recordings(durations: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, str]:
    """Which recordings are far longer than the rest: ``(mask, why)``.

    By duration (seconds, NaN unknown) where most are known, else by size in bytes: at least
    :data:`LONG_FACTOR` times the median and (by duration) :data:`LONG_MIN_S`, and at most a
    tenth of the files -- minutes of source audio among one-second clips, not a dataset of
    mixed lengths.
    """
    n = len(durations)
    mask = np.zeros(n, bool)
    if n < 10:
        return mask, ""
    dur = np.asarray(durations, float)
    known = np.isfinite(dur)
    if known.sum() >= 0.5 * n:
        med = float(np.median(dur[known]))
        mask = known & (dur >= max(LONG_FACTOR * med, LONG_MIN_S))
        why = f"{LONG_FACTOR:g}x the median length ({med:.2f} s) or more"
    else:
        sz = np.asarray(sizes, float)
        ok = np.isfinite(sz) & (sz > 0)
        if ok.sum() < 0.5 * n:
            return np.zeros(n, bool), ""
        med = float(np.median(sz[ok]))
        mask = ok & (sz >= LONG_FACTOR * med)
        why = f"{LONG_FACTOR:g}x the median file size ({_size(med)}) or more"
    if mask.sum() > 0.1 * n:
        return np.zeros(n, bool), ""
    return mask, why
