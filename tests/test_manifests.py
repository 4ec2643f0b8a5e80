"""Manifest inputs: CSV/TSV/JSON lines/Parquet files and Hugging Face Parquet shards whose audio
is in the file, through ``stats``, ``features``, ``anomalies`` and ``report`` like a folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kwscope.cli import main
from kwscope.io.index import index_dataset, write_manifest
from kwscope.io.sources import AudioBytes, AudioError, open_rows
import shapes


@pytest.fixture(scope="module")
def sample(fsdd_dir):
    return shapes.fsdd_sample(fsdd_dir, every=25)


@pytest.fixture(scope="module")
def hf_dir(sample, tmp_path_factory):
    root = tmp_path_factory.mktemp("hf") / "fsdd-parquet"
    want = shapes.hf_parquet(root, sample)
    return root, want


def _stats(*args) -> dict:
    res = CliRunner().invoke(main, ["stats", "--json", *map(str, args)])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_csv_manifest_audiofolder_style(tmp_path, sample):
    want = shapes.csv_manifest(tmp_path, sample)
    doc = _stats(tmp_path / "metadata.csv")
    assert doc["layout"] == "manifest" and doc["n_broken"] == 0 and doc["n_files"] == len(sample)
    assert doc["layout_info"]["evidence"] == (f"manifest metadata.csv: {len(sample)} rows; "
                                              "columns path=file_name, label=label, speaker=speaker_id")
    df = index_dataset(tmp_path / "metadata.csv")
    got = {p: (lab, spk) for p, lab, spk in zip(df.path, df.label, df.speaker)}
    assert got == {p: (r["label"], r["speaker_id"]) for p, r in want.items()}
    assert df.attrs["root"] == str(tmp_path.resolve()) and (df.sample_rate == 8000).all()


def test_common_voice_tsv_split_from_name_and_clips_folder(tmp_path, sample):
    want = shapes.common_voice_tsv(tmp_path, sample, split="dev")
    df = index_dataset(tmp_path / "dev.tsv")
    assert (df.status == "ok").all() and set(df.path) == set(want)
    assert (df.split == "validation").all()
    assert dict(zip(df.path, df.speaker)) == {p: r["client_id"] for p, r in want.items()}
    assert dict(zip(df.path, df.label)) == {p: r["sentence"] for p, r in want.items()}
    assert any("clips/" in n for n in df.attrs["layout_notes"])


def test_jsonl_manifest_missing_file_is_an_error_row(tmp_path, sample):
    want = shapes.nemo_jsonl(tmp_path, sample[:10], missing="wav/nobody/ghost.wav")
    doc = _stats(tmp_path / "manifest.jsonl")
    assert doc["n_files"] == 11 and doc["n_broken"] == 1
    assert doc["broken_files"][0]["path"] == "wav/nobody/ghost.wav"
    assert "file not found" in doc["broken_files"][0]["error"]
    assert doc["labels"] == sorted(set(want.values()) | {"ghost"})  # a broken row keeps its label
    # the speakers come from the paths' folders only when a pattern says so
    assert doc["speakers"]["known"] is False
    doc = _stats(tmp_path / "manifest.jsonl", "--layout", "wav/{speaker}/{_}.wav")
    assert doc["speakers"]["n_speakers"] == len({s for _, _, s, _ in sample[:10]} | {"nobody"})


def test_columns_override_and_unknown_column(tmp_path, sample):
    rows = [{"recording": f"clips/{f.name}", "kw": shapes.WORDS[int(d)], "who": s} for f, d, s, _ in sample[:8]]
    for f, *_ in sample[:8]:
        shapes.place(f, tmp_path / "clips" / f.name)
    pd.DataFrame(rows).to_csv(tmp_path / "list.csv", index=False)
    res = CliRunner().invoke(main, ["stats", str(tmp_path / "list.csv")])
    assert res.exit_code == 2 and "--columns path=COLUMN" in res.stderr
    doc = _stats(tmp_path / "list.csv", "--columns", "path=recording,label=kw,speaker=who")
    assert doc["n_broken"] == 0 and set(doc["labels"]) == {r["kw"] for r in rows}
    assert doc["speakers"]["n_speakers"] == len({r["who"] for r in rows})
    res = CliRunner().invoke(main, ["stats", str(tmp_path / "list.csv"), "--columns", "path=nope"])
    assert res.exit_code == 2 and "no column 'nope'" in res.stderr


def test_manifest_paths_are_only_opened_never_run(tmp_path, sample):
    f = sample[0][0]
    shapes.place(f, tmp_path / "a.wav")
    lines = [{"path": "a.wav", "label": "x"}, {"path": "s3://bucket/b.wav", "label": "x"},
             {"path": "$(touch pwned).wav", "label": "x"}, {"path": "a.wav", "label": "x"},
             {"path": str(f), "label": "abs"}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    df = index_dataset(tmp_path / "m.jsonl").set_index("path")
    assert df.loc["a.wav", "status"] == "ok" and df.loc[str(f), "status"] == "ok"
    assert "URLs in a manifest are not read" in df.loc["s3://bucket/b.wav", "error"]
    assert "file not found" in df.loc["$(touch pwned).wav", "error"]
    assert "listed twice" in df.loc["a.wav (row 4)", "error"]
    assert not (tmp_path / "pwned").exists()


def test_hugging_face_parquet_labels_speakers_splits(hf_dir):
    root, want = hf_dir
    doc = _stats(root)
    assert doc["n_files"] == len(want) and doc["n_broken"] == 0
    assert doc["layout_info"]["data_kind"] == "parquet"
    assert doc["layout_info"]["evidence"].startswith(f"Parquet, 2 shards: {len(want)} rows, {len(want)} recordings as bytes")
    assert doc["labels"] == sorted({w["label"] for w in want.values()})  # ClassLabel numbers -> names
    assert doc["splits"]["train"] == sum(1 for w in want.values() if w["split"] == "train")
    df = index_dataset(root)
    assert {p: (lab, spk, sp) for p, lab, spk, sp in zip(df.path, df.label, df.speaker, df.split)} == {
        p: (w["label"], w["speaker"], w["split"]) for p, w in want.items()}
    assert set(df.source) == {"data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"}
    assert (df.sample_rate == 8000).all() and (df.format == "WAV").all()
    one = index_dataset(root / "data" / "test-00000-of-00001.parquet")
    assert set(one.split) == {"test"} and len(one) == sum(1 for w in want.values() if w["split"] == "test")


def test_parquet_rows_read_by_row_group_equal_the_files(hf_dir, fsdd_dir):
    from kwscope.io.audio import read_clip

    root, want = hf_dir
    df = index_dataset(root, probe_headers=False, stat=False)
    pick = df.sample(25, random_state=0)
    got = open_rows(df.attrs["root"], pick.path.tolist(), pick.source.tolist(), pick.source_row.astype(int).tolist())
    for path, loc in zip(pick.path, got):
        assert isinstance(loc, AudioBytes) and loc.data == (fsdd_dir / path).read_bytes()
        np.testing.assert_array_equal(read_clip(loc).samples, read_clip(fsdd_dir / path).samples)
    bad = open_rows(df.attrs["root"], ["x.wav", "y.wav"], ["data/none.parquet", pick.source.iloc[0]], [0, 10**6])
    assert all(isinstance(b, AudioError) for b in bad)
    assert "cannot read Parquet shard data/none.parquet" in bad[0].reason and "is not in" in bad[1].reason


def test_datasets_library_audio_parquet(tmp_path, sample):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({
        "audio": [{"bytes": f.read_bytes(), "path": f.name} for f, *_ in sample[:30]],
        "label": [int(d) for _, d, _, _ in sample[:30]],
        "speaker_id": [s for _, _, s, _ in sample[:30]],
    })
    # cast, not encode: encoding an Audio feature needs torchcodec; casting writes the same schema
    ds = ds.cast_column("audio", datasets.Audio(sampling_rate=8000, decode=False))
    ds = ds.cast_column("label", datasets.ClassLabel(names=shapes.WORDS))
    (tmp_path / "data").mkdir()
    ds.to_parquet(str(tmp_path / "data" / "validation-00000-of-00001.parquet"))
    df = index_dataset(tmp_path)
    assert (df.status == "ok").all() and set(df.split) == {"validation"}
    assert dict(zip(df.path, df.label)) == {f.name: shapes.WORDS[int(d)] for f, d, _, _ in sample[:30]}


def test_kwscope_manifest_as_data(tmp_path, hf_dir):
    root, want = hf_dir
    write_manifest(index_dataset(root), tmp_path / "m.parquet")
    doc = _stats(tmp_path / "m.parquet")
    assert doc["n_files"] == len(want) and doc["n_broken"] == 0 and doc["root"] == str(root.resolve())


def test_parquet_through_features_anomalies_report(hf_dir, fsdd_dir, tmp_path):
    """A Hugging Face Parquet dataset runs through every command like the folder of the same
    clips, and gives the same features, anomaly ranking and players."""
    from kwscope.features.store import load_features

    root, want = hf_dir
    folder = tmp_path / "folder"
    for name in want:
        shapes.place(fsdd_dir / name, folder / name)
    stores = {}
    for key, data in (("parquet", root), ("folder", folder)):
        out = tmp_path / f"store-{key}"
        res = CliRunner().invoke(main, ["features", str(data), "-o", str(out), "--workers", "2"])
        assert res.exit_code == 0, res.output
        X, m = load_features(out)
        stores[key] = dict(zip(m.path, X))
    assert stores["parquet"].keys() == stores["folder"].keys()
    for p, x in stores["parquet"].items():
        np.testing.assert_array_equal(x, stores["folder"][p], err_msg=p)  # same train split, same stats

    ranks = {}
    for key, data in (("parquet", root), ("folder", folder)):
        res = CliRunner().invoke(main, ["anomalies", str(data), "--json", "--top", "10", "--workers", "2"])
        assert res.exit_code == 0, res.output
        ranks[key] = [(o["path"], round(o["score"], 6)) for o in json.loads(res.stdout)["outliers"]]
    assert ranks["parquet"] == ranks["folder"] and ranks["parquet"]

    out = tmp_path / "report.html"
    res = CliRunner().invoke(main, ["report", str(root), "-o", str(out), "--no-cache", "--workers", "2",
                                    "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    desc = json.loads(out.with_suffix(".json").read_text())
    assert desc["exploration"]["summary"]["layout_info"]["data_kind"] == "parquet"
    n_players = page.count("<audio")
    assert n_players >= len(desc["exploration"]["summary"]["labels"])  # an example per label at least, read from the bytes


def test_byte_rows_get_unique_readable_paths(tmp_path, sample):
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [f for f, *_ in sample[:5]]
    names = ["a.wav", "a.wav", "", "/home/someone/.cache/x/b.wav", None]
    audio = pa.array([{"bytes": f.read_bytes(), "path": n} for f, n in zip(files, names)],
                     pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    pq.write_table(pa.table({"audio": audio, "label": ["x"] * 5}), tmp_path / "train.parquet")
    df = index_dataset(tmp_path / "train.parquet")
    assert df["path"].tolist() == ["train/0/a.wav", "train/1/a.wav", "train/2", "b.wav", "train/4"]
    assert (df.status == "ok").all() and (df.format_note == "").all() and set(df.split) == {"train"}


def test_cached_index_of_parquet_shards_sees_a_changed_shard(tmp_path, sample):
    from kwscope.analysis.caches import cached_index

    root = tmp_path / "hf"
    shapes.hf_parquet(root, sample[:20])
    first = cached_index(root, cache_dir=tmp_path / "cache")
    assert len(cached_index(root, cache_dir=tmp_path / "cache")) == len(first) == 20
    shapes.hf_parquet(root, sample[:30])  # the shards rewritten with more rows
    assert len(cached_index(root, cache_dir=tmp_path / "cache")) == 30


def test_audiofolder_folder_reads_its_metadata(tmp_path, sample):
    want = shapes.csv_manifest(tmp_path, sample[:20])
    doc = _stats(tmp_path)  # the folder itself, not the CSV
    assert doc["layout"] == "manifest" and doc["n_files"] == 20 and doc["n_broken"] == 0
    assert sorted(doc["labels"]) == sorted({r["label"] for r in want.values()})
    assert "audiofolder" in doc["layout_info"]["notes"][0]
    folders = _stats(tmp_path, "--layout", "folders")  # the way out the note names
    assert folders["labels"] == ["clips"]
