"""Path-pattern layouts (``{speaker}/{_}-{label}-{take}.wav``): a pattern compiled once to a regular
expression that reads label, speaker, take and split from a path relative to DATA."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import KwscopeError

__all__ = ["LayoutError", "PatternError", "PATTERN_FIELDS", "SPLIT_ALIASES", "compile_pattern", "is_pattern", "normalize_split",
           "PatternMatch", "CompiledPattern"]

#: The fields a pattern may name; ``{_}`` is ignored and may repeat.
PATTERN_FIELDS = ("label", "speaker", "take", "split", "_")

#: Split names as datasets spell them -> kwscope's three.
SPLIT_ALIASES = {
    "train": "train", "training": "train", "trn": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "development": "validation",
    "test": "test", "testing": "test", "eval": "test", "evaluation": "test", "tst": "test",
}

_TOKEN = re.compile(r"\{([^{}]*)\}|\*|[{}]")


class LayoutError(KwscopeError):
    """The dataset cannot be read with the requested layout (re-exported by :mod:`kwscope.io.layouts`)."""


class PatternError(LayoutError):
    """A layout pattern that cannot be used (unknown field, a field named twice, ...)."""


def is_pattern(layout: str) -> bool:
    """True when ``layout`` is a path pattern rather than a layout name (it contains ``{``)."""
    return "{" in layout


def normalize_split(value: str | None) -> str | None:
    """``validation``/``valid``/``val``/``dev`` -> ``validation``, ``test``/``testing``/``eval`` -> ``test``,
    ``train``/``training`` -> ``train`` (case-insensitive); other values are kept as written."""
    if value is None or value == "":
        return None
    return SPLIT_ALIASES.get(value.strip().lower(), value)


@dataclass(frozen=True)
class PatternMatch:
    """What a pattern read from one path (``None`` for a field the pattern does not name)."""

    label: str | None
    speaker: str | None
    take: int | None
    split: str | None


class CompiledPattern:
    """A pattern compiled to one regular expression, matched against whole relative paths.

    Parameters
    ----------
    pattern
        The pattern text: literal text (matched as written), the fields ``{label}``, ``{speaker}``,
        ``{take}`` (a number), ``{split}``, ``{_}`` (any text, ignored, may repeat) and ``*`` (any
        text within one path segment). Every field matches text within one segment (no ``/``).
    """

    def __init__(self, pattern: str):
        if not isinstance(pattern, str) or not pattern.strip():
            raise PatternError(f"layout pattern {pattern!r} is empty")
        self.pattern = pattern
        text = pattern.strip().lstrip("/")
        parts, seen, pos = [], set(), 0
        for m in _TOKEN.finditer(text):
            parts.append(re.escape(text[pos:m.start()]))
            pos = m.end()
            tok = m.group(0)
            if tok == "*":
                parts.append(r"[^/]*")
                continue
            if tok in "{}":
                raise PatternError(f"layout pattern {pattern!r}: unbalanced {tok!r} at position {m.start() + 1}")
            name = m.group(1).strip()
            if name not in PATTERN_FIELDS:
                raise PatternError(f"layout pattern {pattern!r}: unknown field {{{name}}}; "
                                   f"use {', '.join('{' + f + '}' for f in PATTERN_FIELDS)} or *")
            if name == "_":
                parts.append(r"[^/]+?")
                continue
            if name in seen:
                raise PatternError(f"layout pattern {pattern!r}: {{{name}}} appears twice")
            seen.add(name)
            parts.append(rf"(?P<{name}>\d+)" if name == "take" else rf"(?P<{name}>[^/]+?)")
        parts.append(re.escape(text[pos:]))
        self.fields = frozenset(seen)
        self.regex = re.compile("".join(parts))

    def match(self, relpath: str) -> PatternMatch | None:
        """The fields of ``relpath`` (``/`` separators, relative to DATA), or None if it does not match."""
        m = self.regex.fullmatch(relpath)
        if m is None:
            return None
        g = m.groupdict()
        take = g.get("take")
        return PatternMatch(g.get("label"), g.get("speaker"), int(take) if take is not None else None,
                            normalize_split(g.get("split")))

    def __repr__(self) -> str:
        return f"CompiledPattern({self.pattern!r})"


def compile_pattern(pattern: str) -> CompiledPattern:
    """Compile a layout pattern (see :class:`CompiledPattern`); raises :class:`PatternError`."""
    return CompiledPattern(pattern)
