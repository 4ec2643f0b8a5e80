"""A small dataset whose label and file names are hostile: HTML comment openers, script tags,
quotes, terminal escape sequences and newlines (shared by the report, browser and terminal tests)."""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import numpy as np

from conftest import tone, write_wav

#: Label folders: each breaks something when shown raw (a page's JSON, its markup, a terminal).
HOSTILE_LABELS = (
    "<!--",
    "<script>window.__pwned=1<",
    "a\"b'c&d",
    "esc\x1b]0;pwned\x07title",
    "rtl\u202egnp.exe\u200f",
    "two\nlines",
    "plain",
)
#: File names (inside the label folders), with the same kinds of text.
HOSTILE_FILES = (
    "<!--x.wav",
    "row\nforged  | 99 | fake.wav",
    "bell\x07\x1b[31mred\x1b[0m.wav",
    "<img src=x onerror=alert(1)>.wav",
)


def hostile_dataset(root: Path, *, files_per_label: int = 4) -> Path:
    """Write ``files_per_label`` 1-s 16-kHz clips (a tone a label, varied per file) into each of
    :data:`HOSTILE_LABELS`, named by :data:`HOSTILE_FILES` then ``takeN.wav``. The second file of
    each label is clipped (so it is listed as an outlier) and the third of the last label is not
    audio at all (so it is listed as broken): each hostile name appears in every kind of table."""
    rng = np.random.default_rng(7)
    for j, label in enumerate(HOSTILE_LABELS):
        for i in range(files_per_label):
            name = HOSTILE_FILES[i] if i < len(HOSTILE_FILES) else f"take{i}.wav"
            y = np.zeros(16000, np.float32)
            y[2000:12000] = tone(250.0 * (j + 1) * (1 + 0.03 * i), seconds=10000 / 16000) * np.hanning(10000)
            y += rng.normal(0, 0.003, 16000).astype(np.float32)
            if i == 1:
                y = np.clip(y * 8, -1, 1)
            if i == 2 and j == len(HOSTILE_LABELS) - 1:
                (root / label).mkdir(parents=True, exist_ok=True)
                (root / label / name).write_bytes(b"RIFF\x00\x00 not audio")
                continue
            write_wav(root / label / name, y)
    return root


#: Labels only a manifest can carry (a folder name holds no "/"): a script end tag among them.
MANIFEST_LABELS = (
    "</script><script>window.__pwned=1</script>",
    "<!--<script>",
    "x\r\nforged | 9 | row",
    "\x1b[2J\x1b[Hcleared",
    "\u202eright-to-left",
)


def hostile_manifest(root: Path, *, files_per_label: int = 3) -> Path:
    """A CSV manifest ``root/metadata.csv`` (``file_name,label,speaker_id``) naming
    ``files_per_label`` clips of each of :data:`MANIFEST_LABELS`, speakers hostile too; the clips
    lie in ``root/clips`` under hostile file names. Returns the manifest's path."""
    rng = np.random.default_rng(11)
    rows = []
    for j, label in enumerate(MANIFEST_LABELS):
        for i in range(files_per_label):
            name = f"{HOSTILE_FILES[(i + j) % len(HOSTILE_FILES)][:-4]}-{j}-{i}.wav"
            y = np.zeros(16000, np.float32)
            y[1000:13000] = tone(300.0 * (j + 1) * (1 + 0.05 * i), seconds=12000 / 16000) * np.hanning(12000)
            y += rng.normal(0, 0.003, 16000).astype(np.float32)
            if i == 1:
                y = np.clip(y * 8, -1, 1)
            write_wav(root / "clips" / name, y)
            rows.append({"file_name": f"clips/{name}", "label": label,
                         "speaker_id": f"spk\x1b[31m{i}</script>"})
    with open(root / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["file_name", "label", "speaker_id"])
        w.writeheader()
        w.writerows(rows)
    return root / "metadata.csv"


def has_control_characters(text: str) -> list[str]:
    """The control and format characters in ``text`` other than the newlines between lines (what
    a terminal would obey or reorder by: ESC, BEL, CR, bidirectional overrides and marks, ...)."""
    return [c for c in text if c != "\n" and (ord(c) < 32 or 0x7F <= ord(c) < 0xA0
                                               or unicodedata.category(c) in ("Cf", "Zl", "Zp"))]
