"""What the user said about a dataset's shape: ``--layout``, ``--columns``, ``--task``,
``--split-lists``, and a ``kwscope.yaml`` (or ``--layout-file``) with the layout, label renames,
excluded folders, the task and the split lists, validated in one line."""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from .patterns import LayoutError, compile_pattern, is_pattern

__all__ = ["LayoutSpec", "LAYOUT_FILE", "COLUMN_ROLES", "TASKS", "TASK_OPTIONS", "SPLIT_LIST_FILES", "as_spec",
           "check_task", "parse_columns", "read_layout_file"]

#: The file DATA may hold to describe itself.
LAYOUT_FILE = "kwscope.yaml"
#: What ``--columns`` may name: the manifest's column for each.
COLUMN_ROLES = ("path", "label", "speaker", "take", "split")
_KEYS = ("layout", "labels", "exclude", "columns", "task", "split_lists", "include_hidden")
#: Ways of reading a dataset as a task (:mod:`kwscope.io.challenge`): ``""`` reads it as it is.
TASKS = ("tf-challenge",)
#: A task's settings and their defaults (TensorFlow's input_data.py: 10 % silence, 10 % unknown).
TASK_OPTIONS = {"silence_percentage": 10.0, "unknown_percentage": 10.0, "seed": 0}
_GLOB = set("*?[")


@dataclass(frozen=True)
class LayoutSpec:
    """How to read a dataset's shape.

    Attributes
    ----------
    layout
        ``auto``, a layout name (``speech-commands``, ``fsdd``, ``folders``) or a path pattern.
    labels
        Label renames, ``(old, new)`` pairs, applied after the layout read the label.
    exclude
        Folders (``raw``: everything under it) or globs (``*.mp3``, ``docs/*``) relative to DATA.
    columns
        Manifest columns by role (``path``, ``label``, ``speaker``, ``take``, ``split``), ``(role, column)``.
    task
        ``""`` (the dataset as it is) or a name in :data:`TASKS`: ``tf-challenge`` reads it as the
        TensorFlow Speech Recognition Challenge's 12 classes (:mod:`kwscope.io.challenge`).
    task_options
        The task's settings, ``(name, value)`` pairs from :data:`TASK_OPTIONS`.
    split_lists
        A folder holding ``validation_list.txt`` / ``testing_list.txt`` (paths relative to the
        dataset, one a line; e.g. written by ``kwscope split``): they give every recording's
        split, whatever the layout (``""``: the layout's own split).
    include_hidden
        Also index hidden files and folders (names starting with ``.``, macOS AppleDouble ``._*``
        included), which are skipped and counted by default.
    origin
        Where the spec came from (a file name), for messages; not part of what it means.
    """

    layout: str = "auto"
    labels: tuple[tuple[str, str], ...] = ()
    exclude: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()
    task: str = ""
    task_options: tuple[tuple[str, float], ...] = ()
    split_lists: str = ""
    include_hidden: bool = False
    origin: str = ""

    def key(self) -> str:
        """A stable text of what the spec means (cache keys); the split lists count by their size
        and mtime, so a rewritten list is a new key."""
        parts: list = [self.layout, list(self.labels), list(self.exclude), list(self.columns)]
        if self.task:
            parts.append([self.task, sorted(self.task_options)])
        if self.split_lists:
            parts.append([self.split_lists] + [_stat_text(Path(self.split_lists) / name) for name in SPLIT_LIST_FILES])
        if self.include_hidden:
            parts.append("include_hidden")
        return json.dumps(parts)

    def task_settings(self) -> dict:
        """The task's settings, defaults filled in."""
        return {**TASK_OPTIONS, **dict(self.task_options)}

    def rename(self, label: str | None) -> str | None:
        """The label after the renames."""
        if label is None or not self.labels:
            return label
        return dict(self.labels).get(label, label)

    def excluded(self, relpath: str) -> bool:
        """True when ``relpath`` (``/`` separators) is under an excluded folder or matches a glob."""
        for entry in self.exclude:
            if _GLOB & set(entry):
                if fnmatch.fnmatchcase(relpath, entry):
                    return True
            elif relpath == entry or relpath.startswith(entry + "/"):
                return True
        return False

    def column_map(self) -> dict[str, str]:
        return dict(self.columns)

    def with_overrides(self, *, layout: str | None = None, columns: tuple = (), task: str = "",
                       task_options: tuple = (), split_lists: str = "") -> "LayoutSpec":
        """This spec with the command line's ``--layout`` (unless ``auto``), ``--columns``,
        ``--task`` and ``--split-lists`` on top."""
        out = self
        if layout is not None and layout != "auto":
            out = replace(out, layout=layout)
        if columns:
            out = replace(out, columns=tuple({**dict(out.columns), **dict(columns)}.items()))
        if task:
            out = replace(out, task=check_task(task, task_options), task_options=tuple(task_options))
        if split_lists:
            out = replace(out, split_lists=split_lists)
        return out


#: The split list files (Speech Commands' names), by the split they list.
SPLIT_LIST_FILES = ("validation_list.txt", "testing_list.txt")


def _stat_text(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def check_task(task: str, options=(), *, where: str = "--task") -> str:
    """``task`` when it is a known task with valid settings.

    Raises
    ------
    LayoutError
        For an unknown task, an unknown setting, or a percentage outside 0-100.
    """
    if task not in TASKS:
        raise LayoutError(f"{where} {task!r}: unknown task; tasks are {', '.join(TASKS)}")
    for name, value in dict(options).items():
        if name not in TASK_OPTIONS:
            raise LayoutError(f"{where}: unknown setting {name!r} of task {task} (known: {', '.join(TASK_OPTIONS)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LayoutError(f"{where}: {name}={value!r} must be a number")
        if name.endswith("_percentage") and not 0 <= value <= 100:
            raise LayoutError(f"{where}: {name}={value!r} must be a percentage from 0 to 100")
        if name == "seed" and (value != int(value) or value < 0):
            raise LayoutError(f"{where}: seed={value!r} must be a non-negative integer")
    return task


def as_spec(layout: "str | LayoutSpec | None") -> LayoutSpec:
    """A :class:`LayoutSpec` from what callers pass as ``layout`` (a name, a pattern, a spec)."""
    if layout is None:
        return LayoutSpec()
    if isinstance(layout, LayoutSpec):
        return layout
    if isinstance(layout, str):
        return LayoutSpec(layout=layout)
    raise LayoutError(f"layout={layout!r} must be a layout name, a path pattern or a LayoutSpec")


def parse_columns(text: str | None) -> tuple[tuple[str, str], ...]:
    """``"path=wav,label=word"`` -> ``(("path", "wav"), ("label", "word"))``.

    Raises
    ------
    LayoutError
        For an entry without ``=``, an unknown role, or a role named twice.
    """
    if not text:
        return ()
    out: dict[str, str] = {}
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        role, sep, column = entry.partition("=")
        role, column = role.strip(), column.strip()
        if not sep or not column:
            raise LayoutError(f"--columns {text!r}: {entry!r} must be ROLE=COLUMN (e.g. path=audio_filepath)")
        if role not in COLUMN_ROLES:
            raise LayoutError(f"--columns {text!r}: unknown role {role!r}; roles are {', '.join(COLUMN_ROLES)}")
        if role in out:
            raise LayoutError(f"--columns {text!r}: {role} named twice")
        out[role] = column
    return tuple(out.items())


#: The largest kwscope.yaml read, in bytes (label renames of thousands of labels fit many times).
_MAX_LAYOUT_FILE_BYTES = 4 << 20


def read_layout_file(path: str | os.PathLike) -> LayoutSpec:
    """Read a ``kwscope.yaml`` (``yaml.safe_load``: plain data only, nothing executed).

    Raises
    ------
    LayoutError
        One line naming the file and the key that is wrong.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_LAYOUT_FILE_BYTES + 1)
    except OSError as exc:
        raise LayoutError(f"{path}: cannot read the layout file ({exc.strerror or exc})") from None
    if len(data) > _MAX_LAYOUT_FILE_BYTES:
        raise LayoutError(f"{path}: not a layout file (over {_MAX_LAYOUT_FILE_BYTES >> 20} MiB; a kwscope.yaml "
                          "is a short YAML file)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LayoutError(f"{path}: the layout file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}); a kwscope.yaml is YAML text") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise LayoutError(f"{path}: not valid YAML{at}") from None
    if doc is None:
        return LayoutSpec(origin=str(path))
    if not isinstance(doc, dict):
        raise LayoutError(f"{path}: must be a mapping with the keys {', '.join(_KEYS)}")
    unknown = [str(k) for k in doc if k not in _KEYS]
    if unknown:
        raise LayoutError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
    layout = doc.get("layout", "auto")
    if not isinstance(layout, str) or not layout.strip():
        raise LayoutError(f"{path}: 'layout' must be a layout name or a path pattern, e.g. '{{label}}/{{_}}.wav'")
    if is_pattern(layout):
        try:
            compile_pattern(layout)
        except LayoutError as exc:
            raise LayoutError(f"{path}: 'layout': {exc}") from None
    labels = doc.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, (str, int)) and isinstance(v, (str, int))
                                               for k, v in labels.items()):
        raise LayoutError(f"{path}: 'labels' must map old label names to new ones (old: new)")
    exclude = doc.get("exclude") or []
    if isinstance(exclude, str):
        exclude = [exclude]
    if not isinstance(exclude, list) or not all(isinstance(e, str) and e.strip() for e in exclude):
        raise LayoutError(f"{path}: 'exclude' must be a list of folders or globs relative to DATA")
    columns = doc.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise LayoutError(f"{path}: 'columns' must map roles ({', '.join(COLUMN_ROLES)}) to column names")
    bad = [str(k) for k in columns if k not in COLUMN_ROLES]
    if bad:
        raise LayoutError(f"{path}: 'columns': unknown role {bad[0]!r}; roles are {', '.join(COLUMN_ROLES)}")
    task, task_options = _read_task(path, doc.get("task"))
    split_lists = doc.get("split_lists") or ""
    if not isinstance(split_lists, str):
        raise LayoutError(f"{path}: 'split_lists' must be a folder holding {' and '.join(SPLIT_LIST_FILES)}")
    if split_lists:
        split_lists = str((path.parent / split_lists).resolve())
    include_hidden = doc.get("include_hidden", False)
    if not isinstance(include_hidden, bool):
        raise LayoutError(f"{path}: 'include_hidden' must be true or false")
    return LayoutSpec(
        layout=layout.strip(),
        labels=tuple((str(k), str(v)) for k, v in labels.items()),
        exclude=tuple(e.strip().strip("/").replace("\\", "/") for e in exclude),
        columns=tuple((str(k), v) for k, v in columns.items()),
        task=task,
        task_options=task_options,
        split_lists=split_lists,
        include_hidden=include_hidden,
        origin=str(path),
    )


def _read_task(path: Path, value) -> tuple[str, tuple]:
    """``task: tf-challenge`` or ``task: {name: tf-challenge, silence_percentage: 5, seed: 1}``."""
    if value is None or value == "":
        return "", ()
    if isinstance(value, str):
        return check_task(value, where=f"{path}: 'task'"), ()
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise LayoutError(f"{path}: 'task' must be a task name ({', '.join(TASKS)}) or a mapping with 'name'")
    options = tuple((str(k), v) for k, v in value.items() if k != "name")
    return check_task(value["name"], options, where=f"{path}: 'task'"), options
