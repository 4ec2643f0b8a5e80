"""Anomalies: planted-problem recall on real recordings, streaming PCA against scikit-learn,
the reasons vocabulary, the demo set's planted problems, and ``kwscope anomalies`` in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from conftest import write_wav
from kwscope.analysis.anomalies import (
    AnomalyConfig,
    StreamingPCA,
    score_anomalies,
)
from kwscope.analysis.explore import explore
from kwscope.analysis.profiles import ProfileConfig, plan_chunks, profile_chunk
from kwscope.cli import main
from kwscope.io.index import index_dataset
from kwscope.settings import RunSettings

DEMO = Path(__file__).resolve().parents[1] / "src" / "kwscope" / "demo" / "data"


def _plant(out: Path, fsdd: Path, rng: np.random.Generator) -> dict[str, str]:
    """Write five bad clips, built from real ones, next to the copied FSDD files."""
    def src(name):
        y, sr = sf.read(fsdd / name, dtype="float32")
        return y, sr

    planted = {}
    y, sr = src("7_george_20.wav")
    burst = y.copy()
    mid = len(y) // 2
    burst[mid - 800:mid + 800] += (rng.standard_normal(1600) * 0.3).astype(np.float32)
    planted["7_george_90.wav"] = "noise burst"
    write_wav(out / "7_george_90.wav", np.clip(burst, -1, 1), sr)
    y, sr = src("2_jackson_20.wav")
    planted["2_jackson_90.wav"] = "clipping"
    write_wav(out / "2_jackson_90.wav", np.clip(y * 30, -1, 1), sr)
    planted["5_theo_90.wav"] = "near-silent"
    write_wav(out / "5_theo_90.wav", (rng.standard_normal(4000) * 10 ** (-70 / 20)).astype(np.float32), 8000)
    y, sr = src("4_george_20.wav")  # 0.42 s: a hum is told from a held vowel over 0.3 s or more
    t = np.arange(len(y)) / sr
    hum = sum(0.08 / k * np.sin(2 * np.pi * 60 * k * t) for k in (1, 2, 3))
    planted["4_george_90.wav"] = "tonal hum at 60 Hz"
    write_wav(out / "4_george_90.wav", (y + hum).astype(np.float32), sr)
    y, sr = src("8_yweweler_20.wav")
    start = int(np.argmax(np.abs(y) > 0.1 * np.abs(y).max()))
    planted["8_yweweler_90.wav"] = "0.1 s long"
    write_wav(out / "8_yweweler_90.wav", y[start:start + 800], sr)
    return planted


@pytest.fixture(scope="module")
def planted_set(fsdd_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdd300")
    names = sorted(p.name for p in fsdd_dir.glob("*.wav"))[::10]
    for name in names:
        shutil.copyfile(fsdd_dir / name, out / name)
    planted = _plant(out, fsdd_dir, np.random.default_rng(7))
    ex = explore(out, settings=RunSettings(workers=1, progress=False), top=20)
    return out, planted, ex


def test_planted_problems_rank_in_the_top_10(planted_set):
    _, planted, ex = planted_set
    assert ex.summary.n_files == 305
    top = [a["path"] for a in ex.anomalies[:10]]
    missing = [p for p in planted if p not in top]
    assert not missing, f"planted clips not in the top 10: {missing}; top 10: {top}"
    for a in ex.anomalies[:10]:
        if a["path"] in planted:
            assert any(planted[a["path"]] in r for r in a["reasons"]), (a["path"], a["reasons"])


def test_profiles_table_has_the_contract_columns(planted_set):
    _, _, ex = planted_set
    want = ["path", "label", "speaker", "split", "status", "error", "duration_s", "sample_rate", "rms_dbfs",
            "peak_dbfs", "clip_ratio", "dc_offset", "silence_ratio", "snr_db", "speech_start_s", "speech_end_s",
            "n_segments", "pca_x", "pca_y", "pca_z", "anomaly_score"]
    assert set(want) <= set(ex.profiles.columns)
    assert len(ex.profiles) == 305 and ex.profiles["pca_x"].notna().sum() == 305
    scores = ex.profiles.set_index("path")["anomaly_score"]
    assert [a["score"] for a in ex.anomalies] == sorted((a["score"] for a in ex.anomalies), reverse=True)
    assert scores[ex.anomalies[0]["path"]] == pytest.approx(ex.anomalies[0]["score"], abs=1e-3)
    json.dumps(ex.to_dict(), allow_nan=False)


def _fsdd_spectra(fsdd_dir, n=240):
    m = index_dataset(fsdd_dir)
    m = m.iloc[:: max(1, len(m) // n)].reset_index(drop=True)
    m.attrs["root"] = str(fsdd_dir)
    plan = plan_chunks(m, config=ProfileConfig())
    return np.concatenate([profile_chunk(t).spectra for t in plan.tasks])


def test_streaming_pca_matches_sklearn_on_compact_spectra(fsdd_dir):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    X = _fsdd_spectra(fsdd_dir).astype(np.float64)
    ref = PCA(n_components=3, svd_solver="full").fit(StandardScaler().fit_transform(X))
    ours = StreamingPCA(3)
    for start in range(0, len(X), 37):
        ours.partial_fit(X[start:start + 37])
    ours.finalize()
    # Components agree up to sign: |cos| within 1e-6 of 1 (exact method, only summation order differs).
    cos = np.abs(np.sum(ours.components_ * ref.components_, axis=1))
    assert np.all(cos > 1 - 1e-6), cos
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-6)
    coords = ours.transform(X)
    want = ref.transform(StandardScaler().fit_transform(X))
    np.testing.assert_allclose(np.abs(coords), np.abs(want), rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_streaming_pca_is_order_independent_and_handles_constant_features(rng):
    X = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6)) + 1000.0
    X[:, 2] = 5.0  # constant: scale 1, as StandardScaler
    a = StreamingPCA(3).partial_fit(X).finalize()
    b = StreamingPCA(3)
    for part in np.array_split(X[::-1], 7):
        b.partial_fit(part)
    b.finalize()
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-9)
    assert a.scale_[2] == 1.0 and np.all(np.abs(a.components_[:, 2]) < 1e-9)


def _rows(**cols):
    n = len(next(iter(cols.values())))
    base = {"path": [f"l/f{i}.wav" for i in range(n)], "label": ["l"] * n, "speaker": ["s"] * n,
            "split": ["train"] * n, "category": ["speech"] * n, "status": ["ok"] * n, "duration_s": [1.0] * n,
            "sample_rate": [16000.0] * n, "clip_ratio": [0.0] * n, "peak_dbfs": [-6.0] * n, "burst_s": [0.0] * n,
            "hum_hz": [np.nan] * n, "hum_prominence_db": [5.0] * n, "hum_fraction": [0.01] * n,
            "hum_steadiness_db": [np.nan] * n, "hum_jitter_hz": [np.nan] * n, "dc_offset": [0.0] * n, "snr_db": [30.0] * n,
            "n_segments": [1.0] * n}
    base.update(cols)
    return pd.DataFrame(base)


def test_reasons_vocabulary():
    n = 12
    cols = {k: v for k, v in _rows(path=[f"l/f{i}.wav" for i in range(n)]).items()}
    df = pd.DataFrame(cols)
    df.loc[1, "clip_ratio"] = 0.12
    df.loc[2, "peak_dbfs"] = -62.0
    df.loc[3, ["hum_hz", "hum_prominence_db", "hum_fraction", "hum_steadiness_db", "hum_jitter_hz"]] = [
        1000.0, 40.0, 0.3, -0.5, 0.01]
    df.loc[4, "duration_s"] = 0.15
    df.loc[5, "sample_rate"] = 44100.0
    df.loc[6, "dc_offset"] = 0.05
    df.loc[7, "snr_db"] = 3.0
    df.loc[8, "burst_s"] = 0.3
    df.loc[9, "peak_dbfs"] = -120.0
    df.loc[10, "duration_s"] = 4.2
    z = np.zeros(n)
    z11 = z.copy()
    z11[11] = 9.0
    scores, outliers, quality = score_anomalies(df, pca_z=z, label_z=z11, top=None)
    reasons = {o["path"]: o["reasons"] for o in outliers}
    assert reasons["l/f1.wav"] == ["clipping 12%"]
    assert reasons["l/f2.wav"] == ["near-silent (peak -62 dBFS)"]
    assert reasons["l/f3.wav"] == ["tonal hum at 1 kHz"]
    assert reasons["l/f4.wav"] == ["0.15 s long"]
    assert reasons["l/f5.wav"] == ["44.1 kHz in a 16 kHz set"]
    assert reasons["l/f6.wav"] == ["DC offset 5% of full scale"]
    assert reasons["l/f7.wav"] == ["low SNR 3 dB"]
    assert reasons["l/f8.wav"] == ["noise burst (0.3 s)"]
    assert reasons["l/f9.wav"] == ["digital silence"]
    assert reasons["l/f10.wav"] == ["4.2 s long"]
    assert reasons["l/f11.wav"] == ["far from its label's spectrum"]
    assert "l/f0.wav" not in reasons
    assert quality["counts"]["clipping"] == 1 and quality["worst"]["hum"][0]["path"] == "l/f3.wav"
    assert np.all(scores[1:11] >= 3) and scores[0] == 0


def test_flags_respect_thresholds():
    df = _rows(clip_ratio=[0.0, 0.0005, 0.002])
    _, outliers, _ = score_anomalies(df, pca_z=np.zeros(3), label_z=np.zeros(3),
                                     config=AnomalyConfig(clip_ratio=0.001), top=None)
    assert [o["path"] for o in outliers] == ["l/f2.wav"]


def test_demo_planted_problems_are_found():
    ex = explore(DEMO, settings=RunSettings(workers=1, progress=False))
    planted = json.loads((DEMO / "PLANTED.json").read_text())["planted"]
    expect = {"wrong_sample_rate": "8 kHz in a 16 kHz set", "clipped": "clipping", "noise_burst": "noise burst",
              "hum": "tonal hum at 50 Hz", "too_short": "0.3 s long", "near_silent": "near-silent"}
    reasons = {a["path"]: a["reasons"] for a in ex.anomalies}
    top = [a["path"] for a in ex.anomalies[:len(expect)]]
    for p in planted:
        if p["problem"] in expect:
            assert p["path"] in top, (p, top)
            assert any(expect[p["problem"]] in r for r in reasons[p["path"]]), (p, reasons[p["path"]])
    dup = [p for p in planted if p["problem"].startswith("duplicate_of:")][0]
    pair = {dup["path"], dup["problem"].split(":", 1)[1]}
    assert any(d["kind"] == "exact" and set(d["paths"]) == pair and d["cross_split"] for d in ex.duplicates)


def test_cli_json_is_one_document(tmp_path):
    res = CliRunner().invoke(main, ["anomalies", str(DEMO), "--json", "--top", "3", "--workers", "1"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len(doc["outliers"]) == 3
    assert set(doc["outliers"][0]) >= {"path", "label", "speaker", "score", "reasons"}


def test_cli_table_and_strict():
    res = CliRunner().invoke(main, ["anomalies", str(DEMO), "--workers", "1"])
    assert res.exit_code == 0 and "Most anomalous recordings" in res.stdout and "clipping" in res.stdout
    assert CliRunner().invoke(main, ["anomalies", str(DEMO), "--workers", "1", "--strict"]).exit_code == 1


def test_cli_bad_data_is_one_line_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["anomalies", str(tmp_path / "missing")])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "no such file or folder" in res.stderr and "Traceback" not in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(main, ["anomalies", str(empty)])
    assert res.exit_code == 2 and res.stderr.strip().count("\n") == 0


def test_cli_cache_option(tmp_path):
    cache = tmp_path / "c"
    args = ["anomalies", str(DEMO), "--json", "--workers", "1", "--cache", str(cache)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0 and any(cache.rglob("*.npz"))
    second = CliRunner().invoke(main, args)
    assert json.loads(second.stdout) == json.loads(first.stdout)


def test_light_pass_ranks_exactly_like_explore(planted_set):
    from kwscope.analysis.explore import find_anomalies

    out, _, ex = planted_set
    report = find_anomalies(out, settings=RunSettings(workers=1), top=20)
    assert report.outliers == ex.anomalies
    assert report.quality["counts"] == ex.quality["counts"]


def test_light_pass_reuses_a_full_cache(tmp_path):
    from kwscope.analysis.explore import _explore

    cache = tmp_path / "cache"
    full = explore(DEMO, settings=RunSettings(workers=1, cache_dir=cache, progress=False))
    settings = RunSettings(layout="auto", workers=1, scheduler=None, cache_dir=cache, progress=False, chunk_size=256)
    kw = dict(violin_hz=(1000, 2500, 6000), top=50, anomaly_config=None, max_pairs=0, near_threshold=0.9)
    light = _explore(DEMO, settings, full=False, **kw)
    assert light.pass_info["cache_hits"] == light.pass_info["chunks"]
    assert light.anomalies == full.anomalies
    fresh = _explore(DEMO, settings.replace(cache_dir=None), full=False, **kw)
    assert fresh.anomalies == full.anomalies
    assert fresh.profiles["n_segments"].isna().all()  # the light pass runs no VAD


def test_listing_without_opening_files_matches_the_index():
    scan, index = index_dataset(DEMO, probe_headers=False), index_dataset(DEMO)
    cols = ["path", "label", "speaker", "take", "split", "category", "size_bytes", "mtime_ns"]
    pd.testing.assert_frame_equal(scan[cols], index[cols])
    assert scan.attrs == index.attrs and scan["sample_rate"].isna().all()
    bare = index_dataset(DEMO, probe_headers=False, stat=False)
    pd.testing.assert_frame_equal(bare[cols[:6]], index[cols[:6]])
    assert bare["size_bytes"].isna().all()


def test_light_pass_reports_undecodable_files(tmp_path):
    from kwscope.analysis.explore import find_anomalies

    for i in range(3):
        write_wav(tmp_path / "yes" / f"s{i}_nohash_0.wav", (np.random.default_rng(i).standard_normal(8000) * 0.1)
                  .astype(np.float32))
    (tmp_path / "yes" / "bad_nohash_0.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    report = find_anomalies(tmp_path, settings=RunSettings(workers=1))
    assert report.n_files == 4 and report.n_broken == 1 and report.n_checked == 3
    assert all(o["path"] != "yes/bad_nohash_0.wav" for o in report.outliers)
