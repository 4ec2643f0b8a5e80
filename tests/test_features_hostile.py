"""`kwscope features` on hostile settings, data and disks (issues 15 and 16): each test is named
after what broke, and failed before its fix."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kwscope.cli import main
from kwscope.features.extract import extract_features
from kwscope.features.pipeline import PipelineConfig
from kwscope.features.store import StoreError, load_errors, load_features
from kwscope.settings import RunSettings
from conftest import write_wav

SR = 16000
# What macOS leaves beside every file it copies to a non-Mac disk: an AppleDouble header.
APPLE_DOUBLE = (b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\x00\x00\x00\t\x00\x00\x002"
                + b"\x00" * 60 + b"ATTR;\x9a\x00\x00" + b"\x00" * 3900)


def _dataset(root: Path, n: int = 8, seconds: float = 1.0) -> Path:
    rng = np.random.default_rng(3)
    for i in range(n):
        y = 0.2 * np.sin(2 * np.pi * (300 + 50 * i) * np.arange(int(SR * seconds)) / SR)
        write_wav(root / ("go", "stop")[i % 2] / f"{i:08x}_nohash_0.wav", (y + 0.01 * rng.standard_normal(y.size)).astype(np.float32))
    return root


def _features(*args: str):
    return CliRunner().invoke(main, ["features", *map(str, args)])


def _one_line_usage_error(res, *words: str) -> None:
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("kwscope: error:") and res.stderr.strip().count("\n") == 0, res.stderr
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    for word in words:
        assert word in res.stderr, (word, res.stderr)


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --------------------------------------------------------------------------- settings


def test_binary_config_file_is_a_usage_error_not_unicode_decode_error(tmp_path):
    data = _dataset(tmp_path / "d", n=2)
    (tmp_path / "p.yaml").write_bytes(bytes(range(256)) * 4)
    res = _features(data, "-o", tmp_path / "o", "--config", tmp_path / "p.yaml")
    _one_line_usage_error(res, "p.yaml", "not UTF-8")
    assert _leftovers(tmp_path / "o") == []


@pytest.mark.parametrize("setting, value, words", [
    ("sample_rate", 10**20, ["sample_rate=100000000000000000000", "between 1,000 and 384,000 Hz"]),
    ("sample_rate", 2**63, ["sample_rate=", "384,000"]),
    ("n_fft", 10**9, ["n_fft=1000000000", "between the window (320 samples) and 32,768"]),
    ("n_fft", 2**40, ["n_fft=", "32,768"]),
    ("window_ms", 1e7, ["window_ms=", "32,768 samples"]),
    ("n_mels", 10**6, ["n_mels=1000000", "between 1 and 512"]),
    ("duration_s", 1e12, ["duration_s=", "between 0 and 1,048.6 s"]),
    ("stack", 10**9, ["stack=1000000000", "between 1 and 512"]),
])
def test_huge_settings_are_one_line_usage_errors_naming_the_range(tmp_path, setting, value, words):
    """A sample_rate too large for a C long (OverflowError), a huge n_fft (TypeError: memoryview)
    and their like: refused before any work, naming the setting and its allowed range."""
    data = _dataset(tmp_path / "d", n=2)
    (tmp_path / "p.yaml").write_text(f"{setting}: {value}\n")
    res = _features(data, "-o", tmp_path / "o", "--config", tmp_path / "p.yaml", "--workers", "1")
    _one_line_usage_error(res, "p.yaml", *words)
    assert _leftovers(tmp_path / "o") == []


def _run_limited(cmd: list[str], file_size_limit: int) -> subprocess.CompletedProcess:
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit, timeout=300)


def test_duration_whose_store_exceeds_the_file_size_limit_is_refused_before_any_work(tmp_path):
    """It ended in ``OSError: [Errno 27] File too large`` after the listing, with a store half made."""
    data = _dataset(tmp_path / "d", n=6)
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "kwscope", "features", str(data), "-o", str(out), "--duration", "20",
           "--workers", "1"]
    done = _run_limited(cmd, 4 << 20)  # 4 MiB; 6 clips x 1,999 frames x 161 x 4 bytes need 7.4 MiB
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("kwscope: error: duration_s=20.0"), line
    assert "would be 7.4 MiB" in line and "file-size limit of 4.0 MiB" in line, line
    assert _leftovers(out) == []
    allowed = float(line.split("allowed: duration_s <= ")[1].split()[0])
    assert 10 < allowed < 11
    ok = _run_limited(cmd[:-4] + ["--duration", str(allowed), "--workers", "1"], 4 << 20)  # what it says fits, does
    assert ok.returncode == 0, ok.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MiB filesystem (tmpfs): needs root and mount rights, else the test is skipped."""
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True,
                       capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here ({exc}); needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def test_store_larger_than_the_free_disk_is_refused_up_front_with_real_numbers(tmp_path, small_disk):
    """It said "not enough disk space for 0.0 GiB", and only after fallocate had filled the disk."""
    data = _dataset(tmp_path / "d", n=14)
    res = _features(data, "-o", small_disk / "o", "--duration", "10", "--workers", "1")
    # 14 clips x 999 frames x 161 coefficients x 4 bytes = 8.6 MiB, on a disk of 8 MiB.
    _one_line_usage_error(res, "the features need 8.6 MiB", "8.0 MiB free on", str(small_disk),
                          "allowed on this disk: duration_s <= 9.31 s")
    assert _leftovers(small_disk) in ([], ["o"])  # the lock's folder at most, nothing reserved
    assert os.statvfs(small_disk).f_bfree == os.statvfs(small_disk).f_blocks


def test_a_reservation_that_fails_part_way_leaves_nothing_behind(tmp_path, small_disk):
    """fallocate that fails with a full disk used to leave its partial temp file (a 70 GB leftover
    filled a disk): the file, and so what was reserved, is removed."""
    from kwscope.features.workspace import _open_partial

    (small_disk / "filler").write_bytes(b"x" * (2 << 20))
    with pytest.raises(StoreError, match=r"the features need 16.0 MiB, 6.0 MiB free on"):
        _open_partial(small_disk / "features.npy.partial", (4, 1024, 1024), np.float32, on_new=lambda: None)
    assert _leftovers(small_disk) == ["filler"]
    assert os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize >= 6 << 20


def test_a_failing_run_frees_the_space_it_reserved_and_leaves_no_temp_file(tmp_path, monkeypatch):
    import kwscope.features.extract as extract

    data = _dataset(tmp_path / "d", n=8)
    real = extract.extract_raw_chunk

    def fail_on_chunk_2(task):
        if task.chunk == 2:
            raise OSError(5, "Input/output error")  # e.g. the output disk failing
        return real(task)

    monkeypatch.setattr(extract, "extract_raw_chunk", fail_on_chunk_2)
    with pytest.raises(OSError):
        extract_features(data, tmp_path / "o", settings=RunSettings(workers=1, progress=False, chunk_size=2))
    left = _leftovers(tmp_path / "o")
    assert not [p for p in left if "partial" in p or ".tmp" in p or p == "features.npy"], left
    monkeypatch.setattr(extract, "extract_raw_chunk", real)
    res = extract_features(data, tmp_path / "o", settings=RunSettings(workers=1, progress=False, chunk_size=2))
    assert res.n_rows == 8


# --------------------------------------------------------------------------- runs


def test_a_chunk_with_no_readable_file_does_not_stop_the_run_nor_the_rerun(tmp_path, monkeypatch):
    """A folder copied from a Mac: AppleDouble ``._*.wav`` files sort first and fill a chunk, and
    ``features`` died with "memoryview: cannot cast view with zeros in shape or strides"."""
    import kwscope.io.index

    data = _dataset(tmp_path / "d", n=6)
    for i in range(6):
        # AppleDouble content under names that sort first and are not hidden (hidden ``._*`` files
        # are now left out by the folder walk, so they no longer reach a chunk at all)
        (data / "go" / f"-bad{i}_nohash_0.wav").write_bytes(APPLE_DOUBLE)
    args = [data, "-o", tmp_path / "o", "--chunk-size", "3", "--workers", "1"]

    with monkeypatch.context() as m:  # the first run dies while publishing: the rerun finishes
        m.setattr(kwscope.io.index, "write_manifest", lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
        with pytest.raises(SystemExit):
            extract_features(data, tmp_path / "o", settings=RunSettings(workers=1, progress=False, chunk_size=3))
    res = _features(*args)
    assert res.exit_code == 0, res.output
    assert "6 clips" in res.stderr and "6 files skipped" in res.stderr
    again = _features(*args)
    assert again.exit_code == 0 and "already complete" in again.stderr, again.output
    X, manifest = load_features(tmp_path / "o")
    assert len(X) == 6 and not manifest["path"].str.contains("-bad").any()
    assert set(load_errors(tmp_path / "o")["path"]) == {f"go/-bad{i}_nohash_0.wav" for i in range(6)}


def test_files_vanishing_mid_run_are_skipped_and_listed(tmp_path, monkeypatch):
    import kwscope.features.extract as extract

    data = _dataset(tmp_path / "d", n=8)
    real = extract.extract_raw_chunk
    gone = []

    def delete_then_run(task):
        if task.chunk == 1:  # listed, then deleted before their worker opens them
            for p in task.paths:
                (data / p).unlink()
                gone.append(p)
        return real(task)

    monkeypatch.setattr(extract, "extract_raw_chunk", delete_then_run)
    res = extract_features(data, tmp_path / "o", settings=RunSettings(workers=1, progress=False, chunk_size=2))
    assert res.n_rows == 6 and res.n_errors == 2
    assert set(res.errors["path"]) == set(gone) and (res.errors["stage"] == "index").all()
    assert load_features(tmp_path / "o")[0].shape == (6, 99, 161)


def test_a_config_that_makes_every_clip_fail_gives_an_empty_store_not_a_crash(tmp_path):
    """Every clip too short for the config: the run finishes, lists every file with its reason,
    and says there are no statistics; the rerun is up to date."""
    data = _dataset(tmp_path / "d", n=5, seconds=0.05)
    (tmp_path / "p.yaml").write_text("duration_s: null\nstack: 30\n")
    args = [data, "-o", tmp_path / "o", "--config", tmp_path / "p.yaml", "--workers", "1"]
    res = _features(*args)
    assert res.exit_code == 0, res.output
    assert "0 clips" in res.stderr and "5 files skipped: 5x clip too short" in res.stderr
    assert "no train clip could be read" in res.stderr and "normalize=False" in res.stderr
    assert _features(*args).exit_code == 0
    X, manifest = load_features(tmp_path / "o", normalize=False)
    assert X == [] and len(manifest) == 0
    assert _features(*args, "--strict").exit_code == 1


def test_duration_none_works_without_chunk_size(tmp_path):
    """``--duration none`` crashed on every dataset ("cannot convert float NaN to integer")
    unless ``--chunk-size`` was given: the listing has no lengths to size the chunks with."""
    data = _dataset(tmp_path / "d", n=6, seconds=0.7)
    res = _features(data, "-o", tmp_path / "o", "--duration", "none", "--workers", "1")
    assert res.exit_code == 0, res.output
    X, manifest = load_features(tmp_path / "o")
    assert [x.shape for x in X] == [(69, 161)] * 6
    assert manifest.attrs["kwscope"]["plan"]["chunk_size"] >= 6  # sized from the files' bytes


def test_every_clip_of_a_chunk_failing_its_features_keeps_the_others(tmp_path):
    """A chunk whose every clip fails at step 4 (here: too short for the deltas) writes nothing
    and the other chunks' rows are whole."""
    data = tmp_path / "d"
    for i in range(6):
        seconds = 0.05 if i < 3 else 0.5
        write_wav(data / "go" / f"{i:08x}_nohash_0.wav", 0.1 * np.ones(int(SR * seconds), np.float32))
    cfg = PipelineConfig(kind="mfcc", duration_s=None)
    res = extract_features(data, tmp_path / "o", config=cfg, settings=RunSettings(workers=1, progress=False, chunk_size=3))
    assert res.n_rows == 3 and res.n_errors == 3
    X, manifest = load_features(tmp_path / "o", normalize=False)
    assert [x.shape for x in X] == [(51, 39)] * 3 and set(manifest["chunk"]) == {1}


@pytest.mark.parametrize("flags, words", [
    (("--validation-percentage", "150"), ("--validation-percentage 150", "must be under 100")),
    (("--testing-percentage", "-10"), ("--testing-percentage -10", "0 or more")),
    (("--validation-percentage", "60", "--testing-percentage", "40"), ("= 100 must stay under 100",)),
])
def test_impossible_split_percentages_are_refused_not_an_empty_statistics_store(tmp_path, flags, words):
    """``--validation-percentage 150`` / ``-10`` were accepted and ended in a misleading "no
    training clip could be read" (issue 16, 16)."""
    data = _dataset(tmp_path / "d", n=2)
    _one_line_usage_error(_features(data, "-o", tmp_path / "o", *flags), *words)
    assert not (tmp_path / "o").exists()


def test_out_under_a_file_or_in_proc_is_a_one_line_error_not_an_internal_error(tmp_path):
    """``-o`` where no folder can be made ended as "internal error: FileNotFoundError" (issue 16, 13),
    and only after the listing."""
    data = _dataset(tmp_path / "d", n=2)
    (tmp_path / "file").write_text("x")
    _one_line_usage_error(_features(data, "-o", tmp_path / "file" / "out"), "file/out", "is a file, not a folder")
    _one_line_usage_error(_features(data, "-o", "/proc/kwscope-no-such/out"), "cannot create the store's folder")
