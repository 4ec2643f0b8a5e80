"""Ordinary environment problems (issue 16, item 13, the rest): a disk with no room for what
``index`` or ``report`` writes, and config files that are not UTF-8. Each is one line naming the
file, exit 2; no partial file is left. The full disk is real: the child runs under a file size
limit (RLIMIT_FSIZE, SIGXFSZ ignored, so a write fails with EFBIG), or writes to /dev/full."""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tone, write_wav
from kwscope.cli import check_free_space, main, writing
from kwscope.errors import KwscopeError


def _dataset(root: Path, n: int = 8) -> Path:
    rng = np.random.default_rng(7)
    for i in range(n):
        y = tone(300 + 30 * i, seconds=0.5) + 0.01 * rng.standard_normal(8000).astype(np.float32)
        write_wav(root / ("yes", "no")[i % 2] / f"{i:08x}_nohash_0.wav", y)
    return root


def _under_file_size_limit(limit_bytes: int):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return limit


def _kwscope(args: list[str], limit_bytes: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kwscope", *args], capture_output=True, text=True, timeout=600,
                          preexec_fn=_under_file_size_limit(limit_bytes))


def _one_line(res, *words: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr[-3000:])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kwscope: error: "), res.stderr[-3000:]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE")
def test_index_into_a_full_disk_is_one_line_and_leaves_no_file(tmp_path, fsdd_dir):
    """3,000 files' manifest (169 KB measured) under a 20 KB file size limit."""
    out = tmp_path / "out"
    out.mkdir()
    res = _kwscope(["index", str(fsdd_dir), "-o", str(out / "m.parquet")], 20_000)
    _one_line(res, "m.parquet", "cannot write it: no space left for it under the file size limit")
    assert list(out.iterdir()) == []  # neither the manifest nor its temporary file


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE")
def test_report_into_a_full_disk_is_one_line_and_keeps_the_old_page(tmp_path):
    data = _dataset(tmp_path / "d")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("the page of yesterday")
    # A page embeds its scripts (megabytes): a 1 MB limit stops it.
    res = _kwscope(["report", str(data), "-o", str(out / "report.html"), "--no-cache", "--workers", "1"], 1_000_000)
    line = _one_line(res, "report.html", "cannot write it: no space left for it under the file size limit")
    assert re.search(r"\(\d[\d,.]* MiB to write\)", line), line
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]  # no temporary file left
    assert (out / "report.html").read_text() == "the page of yesterday"


def test_a_write_to_a_full_device_is_named_in_one_line(tmp_path):
    """/dev/full: every write fails with ENOSPC, as on a full disk."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with pytest.raises(KwscopeError) as err:
        with writing(tmp_path / "m.parquet"), open("/dev/full", "wb") as fh:
            fh.write(b"x" * 100_000)
            fh.flush()
    assert str(err.value) == f"{tmp_path / 'm.parquet'}: cannot write it: no space left on device"


def test_less_free_space_than_the_estimate_is_refused_with_both_numbers(tmp_path):
    with pytest.raises(KwscopeError) as err:
        check_free_space(tmp_path / "m.parquet", 1 << 60, "the manifest")
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'm.parquet'}: no space left on device for the manifest: ")
    assert re.search(r"[\d,.]+ MiB free in .*, about 1,099,511,627,776\.0 MiB needed$", msg), msg
    check_free_space(tmp_path / "m.parquet", 1, "the manifest")  # room for a byte: no error


# --------------------------------------------------------------------------- config files not UTF-8

NOT_UTF8 = r"is not UTF-8 text \(byte 0xe9 at offset (\d+)\)|not UTF-8 text \(byte 0xe9 at offset (\d+)\)"


def _latin1(path: Path, text: str) -> int:
    """Write ``text`` as Latin-1 (an editor's other encoding); the offset of its first non-ASCII byte."""
    data = text.encode("latin-1")
    path.write_bytes(data)
    return next(i for i, b in enumerate(data) if b > 127)


def test_a_latin1_pipeline_yaml_is_one_line_with_the_byte_and_offset(tmp_path):
    data = _dataset(tmp_path / "d", n=2)
    offset = _latin1(tmp_path / "pipeline.yaml", "# réglages\nkind: mfcc\n")
    res = CliRunner().invoke(main, ["features", str(data), "-o", str(tmp_path / "o"), "--config",
                                    str(tmp_path / "pipeline.yaml")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert "pipeline.yaml" in res.stderr and f"not UTF-8 text (byte 0xe9 at offset {offset})" in res.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("where", ["DATA/kwscope.yaml", "--layout-file"])
def test_a_latin1_kwscope_yaml_is_one_line_with_the_byte_and_offset(tmp_path, where):
    data = _dataset(tmp_path / "d", n=2)
    layout_file = data / "kwscope.yaml" if where.startswith("DATA") else tmp_path / "mine.yaml"
    offset = _latin1(layout_file, "labels:\n  oui: yes  # étiquette\n")
    extra = ["--layout-file", str(layout_file)] if where == "--layout-file" else []
    for command in (["stats", str(data)], ["index", str(data), "-o", str(tmp_path / "m.parquet")]):
        res = CliRunner().invoke(main, [*command, *extra])
        assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
        assert layout_file.name in res.stderr and "internal error" not in res.stderr, res.stderr
        assert f"is not UTF-8 text (byte 0xe9 at offset {offset})" in res.stderr, res.stderr
    assert not (tmp_path / "m.parquet").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_features_meeting_a_full_disk_stops_in_one_line_and_resumes(tmp_path, workers):
    """numpy's short write carries no errno ("510000 requested and 200000 written"): it was taken
    for the files' own failure, every file of every chunk was listed as failing, and the run
    published a complete store of 0 clips. Now it stops; the rerun with room finishes the store."""
    from kwscope.features.store import load_features

    data = _dataset(tmp_path / "d", n=24)
    args = ["features", str(data), "-o", str(tmp_path / "o"), "--duration", "none", "--chunk-size", "8",
            "--workers", workers]
    res = _kwscope(args, 200_000)  # a chunk's part file: 8 clips x 49 frames x 161 bins x 4 bytes, 252 KB
    _one_line(res, str(tmp_path / "o"), "cannot write it: no space left on device or under the file size limit")
    assert not (tmp_path / "o" / "errors.parquet").exists() and not (tmp_path / "o" / "manifest.parquet").exists()
    done = subprocess.run([sys.executable, "-m", "kwscope", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "24 clips" in done.stderr, done.stderr
    X, manifest = load_features(tmp_path / "o")
    assert len(X) == 24 and len(manifest) == 24
