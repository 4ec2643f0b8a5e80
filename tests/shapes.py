"""Dataset shapes built from the FSDD recordings for the tests (nothing committed but this code):
each function lays FSDD clips out as one real-world shape and returns what it must read as."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

WORDS = "zero one two three four five six seven eight nine".split()


def fsdd_sample(fsdd_dir: Path, every: int = 25) -> list[tuple[Path, str, str, int]]:
    """``(file, digit, speaker, take)`` of every ``every``-th FSDD recording, sorted by name."""
    out = []
    for f in sorted(fsdd_dir.glob("*.wav"))[::every]:
        digit, speaker, take = f.stem.split("_")
        out.append((f, digit, speaker, int(take)))
    return out


def place(src: Path, dst: Path) -> None:
    """A link to the FSDD file (a copy where links are not allowed)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def speaker_folders(root: Path, sample) -> dict:
    """``<speaker>/<speaker>-<word>-<take>.wav``."""
    for f, digit, speaker, take in sample:
        place(f, root / speaker / f"{speaker}-{WORDS[int(digit)]}-{take}.wav")
    return {"labels": sorted({WORDS[int(d)] for _, d, _, _ in sample}),
            "speakers": {s for _, _, s, _ in sample}}


def label_word_names(root: Path, sample, n_noise: int = 4) -> dict:
    """Flat ``<digit>_<word>_<NNNN>.wav`` (``3_three_0012.wav``) and noise as ``-1_<NNNN>.wav``."""
    for k, (f, digit, _, _) in enumerate(sample):
        place(f, root / f"{digit}_{WORDS[int(digit)]}_{k:04d}.wav")
    rng = np.random.default_rng(0)
    for k in range(n_noise):
        sf.write(root / f"-1_{9000 + k:04d}.wav", rng.normal(0, 0.01, 4000).astype(np.float32), 8000, subtype="PCM_16")
    return {"labels": sorted({d for _, d, _, _ in sample} | {"-1"})}


def repository_root(root: Path, sample, n_long: int = 2) -> dict:
    """``dataset/<word>/<speaker><take>_nohash_0.wav``, a ``raw/`` folder of minute-long source
    recordings, and the docs and code a repository holds."""
    for f, digit, speaker, take in sample:
        place(f, root / "dataset" / WORDS[int(digit)] / f"{speaker}{take}_nohash_0.wav")
    clips = [sf.read(f, dtype="float32")[0] for f, *_ in sample[:40]]
    (root / "raw").mkdir(parents=True)
    for k in range(n_long):
        y = np.tile(np.concatenate(clips), 3)[: 8000 * 60]
        sf.write(root / "raw" / f"session{k}.wav", y, 8000, subtype="PCM_16")
    (root / "README.md").write_text("# my keyword set\n")
    (root / "scripts").mkdir()
    (root / "scripts" / "record.py").write_text("print('recording')\n")
    return {"labels": sorted({WORDS[int(d)] for _, d, _, _ in sample}),
            "speakers": {f"{s}{t}" for _, _, s, t in sample}}


def split_folders(root: Path, sample) -> dict:
    """``<split>/<word>/<speaker>_<take>.wav`` with the split spelled ``training``/``valid``/``testing``."""
    want = {}
    for f, digit, speaker, take in sample:
        split = "testing" if take < 5 else ("valid" if take < 10 else "training")
        place(f, root / split / WORDS[int(digit)] / f"{speaker}_{take}.wav")
        want[f"{split}/{WORDS[int(digit)]}/{speaker}_{take}.wav"] = {"testing": "test", "valid": "validation",
                                                                    "training": "train"}[split]
    return want


def csv_manifest(root: Path, sample, name: str = "metadata.csv") -> dict:
    """Hugging Face ``audiofolder``-style: ``metadata.csv`` with ``file_name,label,speaker_id``."""
    rows = []
    for f, digit, speaker, take in sample:
        place(f, root / "clips" / f.name)
        rows.append({"file_name": f"clips/{f.name}", "label": WORDS[int(digit)], "speaker_id": speaker})
    with open(root / name, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["file_name", "label", "speaker_id"])
        w.writeheader()
        w.writerows(rows)
    return {row["file_name"]: row for row in rows}


def common_voice_tsv(root: Path, sample, split: str = "dev") -> dict:
    """Common Voice-style ``<split>.tsv`` (``client_id``, ``path`` as a bare name, ``sentence``)
    beside a ``clips/`` folder."""
    rows = []
    for f, digit, speaker, take in sample:
        place(f, root / "clips" / f.name)
        rows.append({"client_id": f"c{speaker}", "path": f.name, "sentence": WORDS[int(digit)], "up_votes": "2"})
    with open(root / f"{split}.tsv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    return {f"clips/{r['path']}": r for r in rows}


def nemo_jsonl(root: Path, sample, missing: str | None = None) -> dict:
    """NeMo-style JSON lines (``audio_filepath``, ``text``, ``duration``); ``missing`` adds a
    line naming a file that is not there."""
    want = {}
    with open(root / "manifest.jsonl", "w", encoding="utf-8") as fh:
        for f, digit, speaker, take in sample:
            place(f, root / "wav" / speaker / f.name)
            rel = f"wav/{speaker}/{f.name}"
            fh.write(json.dumps({"audio_filepath": rel, "text": WORDS[int(digit)], "duration": 0.5}) + "\n")
            want[rel] = WORDS[int(digit)]
        if missing:
            fh.write(json.dumps({"audio_filepath": missing, "text": "ghost"}) + "\n")
    return want


def hf_parquet(root: Path, sample, *, row_group_size: int = 16, class_label: bool = True) -> dict:
    """Hugging Face Parquet shards ``data/<split>-00000-of-00001.parquet`` written with pyarrow:
    ``audio`` a ``{bytes, path}`` struct, ``label`` a ``ClassLabel`` (numbers plus the names in
    the schema's ``huggingface`` metadata), ``speaker_id`` a string; split by FSDD's rule."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = WORDS
    want = {}
    (root / "data").mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        sel = [s for s in sample if (s[3] < 5) == (split == "test")]
        labels = [int(d) if class_label else WORDS[int(d)] for _, d, _, _ in sel]
        table = pa.table({
            "audio": pa.array([{"bytes": f.read_bytes(), "path": f.name} for f, *_ in sel],
                              pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            "label": pa.array(labels),
            "speaker_id": pa.array([s for _, _, s, _ in sel]),
        })
        if class_label:
            feats = {"audio": {"sampling_rate": 8000, "_type": "Audio"},
                     "label": {"names": names, "_type": "ClassLabel"},
                     "speaker_id": {"dtype": "string", "_type": "Value"}}
            table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": feats}}).encode()})
        pq.write_table(table, root / "data" / f"{split}-00000-of-00001.parquet", row_group_size=row_group_size)
        for f, digit, speaker, take in sel:
            want[f.name] = {"label": WORDS[int(digit)], "speaker": speaker, "split": split}
    (root / "README.md").write_text("---\ndataset_info: {}\n---\n")
    return want
