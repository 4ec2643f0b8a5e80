"""The root of kwscope's exception families; the CLI turns any of them into one line, exit 2."""

from __future__ import annotations

__all__ = ["KwscopeError"]


class KwscopeError(Exception):
    """Base class of every error kwscope raises on purpose (bad input, bad arguments)."""
