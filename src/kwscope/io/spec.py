"""What the user said about a dataset's shape: ``--layout``, ``--columns``, and a ``kwscope.yaml``
(or ``--layout-file``) with the layout, label renames and excluded folders, validated in one line."""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from .patterns import LayoutError, compile_pattern, is_pattern

__all__ = ["LayoutSpec", "LAYOUT_FILE", "COLUMN_ROLES", "as_spec", "parse_columns", "read_layout_file"]

#: The file DATA may hold to describe itself.
LAYOUT_FILE = "kwscope.yaml"
#: What ``--columns`` may name: the manifest's column for each.
COLUMN_ROLES = ("path", "label", "speaker", "take", "split")
_KEYS = ("layout", "labels", "exclude", "columns")
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
    origin
        Where the spec came from (a file name), for messages; not part of what it means.
    """

    layout: str = "auto"
    labels: tuple[tuple[str, str], ...] = ()
    exclude: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()
    origin: str = ""

    def key(self) -> str:
        """A stable text of what the spec means (cache keys)."""
        return json.dumps([self.layout, list(self.labels), list(self.exclude), list(self.columns)])

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

    def with_overrides(self, *, layout: str | None = None, columns: tuple = ()) -> "LayoutSpec":
        """This spec with the command line's ``--layout`` (unless ``auto``) and ``--columns`` on top."""
        out = self
        if layout is not None and layout != "auto":
            out = replace(out, layout=layout)
        if columns:
            out = replace(out, columns=tuple({**dict(out.columns), **dict(columns)}.items()))
        return out


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


def read_layout_file(path: str | os.PathLike) -> LayoutSpec:
    """Read a ``kwscope.yaml`` (``yaml.safe_load``: plain data only, nothing executed).

    Raises
    ------
    LayoutError
        One line naming the file and the key that is wrong.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LayoutError(f"{path}: cannot read the layout file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise LayoutError(f"{path}: the layout file is not UTF-8 text") from None
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
    return LayoutSpec(
        layout=layout.strip(),
        labels=tuple((str(k), str(v)) for k, v in labels.items()),
        exclude=tuple(e.strip().strip("/").replace("\\", "/") for e in exclude),
        columns=tuple((str(k), v) for k, v in columns.items()),
        origin=str(path),
    )
