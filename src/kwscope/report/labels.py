"""Which labels the report's per-label views show: all of them up to a limit, else the largest
(most recordings) with one summary of the rest ("+ 960 more labels (4,800 files)").

A keyword set can have thousands of words; a chip, a bar, an example card, a mean-spectrum panel
and a violin for each would make the page and its figures grow without bound. Every per-label
view shows :attr:`LabelView.shown` and names what it leaves out with :meth:`LabelView.more_text`;
the full per-label table is always in the JSON description (``summary.recordings_per_label``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["LabelView", "label_view"]


@dataclass(frozen=True)
class LabelView:
    """The labels shown, in the summary's order, and what the rest hold.

    Attributes
    ----------
    shown : tuple of str
        Labels each per-label view shows (the ``limit`` with most recordings; ties by name).
    n_labels : int
        Labels in the dataset.
    n_more : int
        Labels left out of the per-label views (``n_labels - len(shown)``).
    files_more : int
        Recordings of those labels.
    limit : int
        The limit applied.
    """

    shown: tuple[str, ...]
    n_labels: int
    n_more: int
    files_more: int
    limit: int

    @property
    def capped(self) -> bool:
        return self.n_more > 0

    def more_text(self) -> str:
        """``"+ 960 more labels (4,800 files)"``, or ``""`` when every label is shown."""
        if not self.n_more:
            return ""
        return (f"+ {self.n_more:,} more label{'' if self.n_more == 1 else 's'} "
                f"({self.files_more:,} file{'' if self.files_more == 1 else 's'})")

    def shown_text(self) -> str:
        """``"the 40 largest of 1,000 labels"``, or ``"all 12 labels"``."""
        if not self.n_more:
            return f"all {self.n_labels:,} label{'' if self.n_labels == 1 else 's'}"
        return f"the {len(self.shown):,} largest of {self.n_labels:,} labels"

    def to_dict(self) -> dict:
        return {"shown": list(self.shown), "n_labels": self.n_labels, "n_more": self.n_more,
                "files_more": self.files_more, "limit": self.limit}


def label_view(labels: Sequence[str], counts: Mapping[str, int], limit: int) -> LabelView:
    """Pick the labels the per-label views show.

    Parameters
    ----------
    labels : Sequence[str]
        Every label, in display order (the summary's).
    counts : Mapping[str, int]
        Recordings per label.
    limit : int
        Most labels shown (at least 1).
    """
    labels = [str(lb) for lb in labels]
    limit = max(1, int(limit))
    if len(labels) <= limit:
        return LabelView(tuple(labels), len(labels), 0, 0, limit)
    ranked = sorted(labels, key=lambda lb: (-int(counts.get(lb, 0) or 0), lb))
    keep = set(ranked[:limit])
    shown = tuple(lb for lb in labels if lb in keep)
    files_more = sum(int(counts.get(lb, 0) or 0) for lb in labels if lb not in keep)
    return LabelView(shown, len(labels), len(labels) - len(shown), files_more, limit)
