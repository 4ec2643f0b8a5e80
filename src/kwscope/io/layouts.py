"""Dataset layouts: how a file's path names its label, speaker, take and split.

- ``speech-commands``: ``<label>/<speaker>_nohash_<take>.wav``; ``_background_noise_/`` is a
  category of its own; splits from ``validation_list.txt`` / ``testing_list.txt`` when present,
  otherwise TensorFlow's hash split (a speaker always lands in one split).
- ``fsdd``: ``{label}_{speaker}_{take}.wav``; takes 0-4 are test, the rest train, unless DATA
  holds split lists (``validation_list.txt`` / ``testing_list.txt``, e.g. from ``kwscope split``).
- ``folders``: ``<label>/...`` with unknown speakers and no split.
- a path pattern (any value with ``{``), e.g. ``{speaker}/{_}-{label}-{take}.wav``
  (:mod:`kwscope.io.patterns`); files it does not match are listed, not dropped.

Choosing one from the files (``auto``) is :func:`kwscope.io.detect.detect_layout`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .patterns import LayoutError, compile_pattern, is_pattern

__all__ = [
    "LAYOUTS",
    "BACKGROUND_NOISE",
    "LayoutError",
    "FileKeys",
    "hash_split",
    "check_split_percentages",
    "Layout",
    "PatternLayout",
    "make_layout",
    "read_split_lists",
]

LAYOUTS = ("speech-commands", "fsdd", "folders")
BACKGROUND_NOISE = "_background_noise_"

_NOHASH = re.compile(r"_nohash_.*$")
_SC_NAME = re.compile(r"^(?P<speaker>[^/]+?)_nohash_(?P<take>\d+)(?:\.[^/]*)?$")
_FSDD_NAME = re.compile(r"^(?P<label>[^_/]+)_(?P<speaker>[^_/]+)_(?P<take>\d+)\.[A-Za-z0-9]+$")
# TensorFlow's speech_commands input_data.which_set constant.
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1


@dataclass(frozen=True)
class FileKeys:
    """What a layout reads from one file's relative path."""

    label: str | None
    speaker: str | None
    take: int | None
    split: str | None  # "train", "validation", "test" or None (not part of a split)
    category: str  # "speech", "background_noise" or "long_recording"


def check_split_percentages(validation_percentage, testing_percentage) -> None:
    """Refuse split percentages that leave no training split, before any work.

    The one check of ``--validation-percentage`` / ``--testing-percentage`` (index, features,
    split, the Python API alike): each a number, ``0 <= value``, and ``v + t < 100`` (percent
    of files). Accepted, 150 or -10 ended in a misleading "no training clip could be read".

    Raises
    ------
    LayoutError
        One line naming the setting, its value and the rule.
    """
    values = (("--validation-percentage", validation_percentage), ("--testing-percentage", testing_percentage))
    for name, value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
                or value in (float("inf"), float("-inf")):
            raise LayoutError(f"{name} {value!r} must be a number: a percentage of files")
        if value < 0:
            raise LayoutError(f"{name} {value:g} must be a percentage of files, 0 or more")
        if value >= 100:
            raise LayoutError(f"{name} {value:g} must be under 100 (a percentage of files; train needs the rest)")
    if validation_percentage + testing_percentage >= 100:
        raise LayoutError(f"--validation-percentage {validation_percentage:g} + --testing-percentage "
                          f"{testing_percentage:g} = {validation_percentage + testing_percentage:g} must stay "
                          "under 100 (train needs the rest)")


def hash_split(name: str, *, validation_percentage: float = 10.0, testing_percentage: float = 10.0) -> str:
    """TensorFlow's Speech Commands split: SHA-1 of the file name with ``_nohash_...`` removed.

    Every clip of one speaker gets the same split, so no speaker leaks between splits.
    """
    base = name.rsplit("/", 1)[-1]
    percentage = _hash_percentage(_NOHASH.sub("", base))
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "test"
    return "train"


@functools.lru_cache(maxsize=1 << 16)
def _hash_percentage(hash_name: str) -> float:
    # Cached: every clip of a speaker shares its hash name, so a dataset hashes once a speaker.
    digest = int(hashlib.sha1(hash_name.encode("utf-8")).hexdigest(), 16)
    return (digest % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)


class Layout:
    """Base class: ``keys(relpath)`` maps a ``/``-separated path relative to DATA to :class:`FileKeys`."""

    name = "layout"

    def keys(self, relpath: str) -> FileKeys:  # pragma: no cover - abstract
        raise NotImplementedError


class SpeechCommandsLayout(Layout):
    name = "speech-commands"

    def __init__(self, root: Path, *, validation_percentage: float = 10.0, testing_percentage: float = 10.0):
        self.validation_percentage = validation_percentage
        self.testing_percentage = testing_percentage
        self.listed = read_split_lists(root)
        self.has_lists = bool(self.listed)

    def keys(self, relpath: str) -> FileKeys:
        parts = relpath.split("/")
        label = parts[0] if len(parts) > 1 else None
        if label == BACKGROUND_NOISE:
            return FileKeys(label, None, None, None, "background_noise")
        m = _SC_NAME.match(parts[-1])
        speaker = m["speaker"] if m else None
        take = int(m["take"]) if m else None
        if self.has_lists:
            split = self.listed.get(relpath, "train")
        else:
            split = hash_split(
                parts[-1],
                validation_percentage=self.validation_percentage,
                testing_percentage=self.testing_percentage,
            )
        return FileKeys(label, speaker, take, split, "speech")


class FsddLayout(Layout):
    name = "fsdd"

    def __init__(self, root: Path | None = None):
        self.listed = read_split_lists(root) if root is not None else {}

    def keys(self, relpath: str) -> FileKeys:
        m = _FSDD_NAME.match(relpath.rsplit("/", 1)[-1])
        if not m:
            return FileKeys(None, None, None, None, "speech")
        take = int(m["take"])
        if self.listed:  # split lists in DATA (e.g. from kwscope split) win over the takes
            split = self.listed.get(relpath, "train")
        else:
            split = "test" if take <= 4 else "train"
        return FileKeys(m["label"], m["speaker"], take, split, "speech")


def read_split_lists(folder, *, required: bool = False) -> dict[str, str]:
    """``{relative path: "validation" or "test"}`` from ``validation_list.txt`` /
    ``testing_list.txt`` in ``folder`` (Speech Commands' format: one path a line); empty when
    there are none. ``required``: a folder with neither file is a :class:`LayoutError`."""
    listed: dict[str, str] = {}
    found = 0
    for split, fname in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        list_path = folder / fname
        try:
            if not list_path.is_file():
                continue
            text = list_path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise LayoutError(f"{list_path}: cannot read the split list ({exc.strerror or exc})") from None
        found += 1
        for line in text.splitlines():
            line = line.strip().replace("\\", "/")
            if line:
                listed[line] = split
    if required and not found:
        raise LayoutError(f"{folder}: no validation_list.txt or testing_list.txt there (split lists)")
    return listed


class FoldersLayout(Layout):
    name = "folders"

    def keys(self, relpath: str) -> FileKeys:
        parts = relpath.split("/")
        label = parts[0] if len(parts) > 1 else None
        if label == BACKGROUND_NOISE:
            return FileKeys(label, None, None, None, "background_noise")
        return FileKeys(label, None, None, None, "speech")


class PatternLayout(Layout):
    """A path pattern (:class:`kwscope.io.patterns.CompiledPattern`); ``keys`` is None for a path
    it does not match (the index lists those as "not matched by the layout")."""

    def __init__(self, pattern: str):
        self.compiled = compile_pattern(pattern)
        self.name = pattern

    def keys(self, relpath: str) -> FileKeys | None:
        m = self.compiled.match(relpath)
        if m is None:
            if relpath.split("/", 1)[0] == BACKGROUND_NOISE:
                return FileKeys(BACKGROUND_NOISE, None, None, None, "background_noise")
            return None
        if m.label == BACKGROUND_NOISE:
            return FileKeys(m.label, None, None, None, "background_noise")
        return FileKeys(m.label, m.speaker, m.take, m.split, "speech")


def make_layout(
    name: str, root: Path, *, validation_percentage: float = 10.0, testing_percentage: float = 10.0
) -> Layout:
    """Build a layout by name (one of :data:`LAYOUTS`) or from a path pattern (a value with ``{``)."""
    if is_pattern(name):
        return PatternLayout(name)
    if name == "speech-commands":
        return SpeechCommandsLayout(
            root, validation_percentage=validation_percentage, testing_percentage=testing_percentage
        )
    if name == "fsdd":
        return FsddLayout(root)
    if name == "folders":
        return FoldersLayout()
    raise LayoutError(f"unknown layout {name!r}; choose auto, one of {', '.join(LAYOUTS)}, "
                      "or a path pattern such as '{label}/{_}.wav'")
