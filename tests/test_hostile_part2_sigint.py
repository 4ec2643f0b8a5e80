"""Ctrl-C while kwscope starts (issue 16, item 14, the rest): a SIGINT at any moment once kwscope's
own code runs -- the command line's imports included -- ends as the one line
"kwscope: interrupted", exit 130, for ``python -m kwscope`` and the ``kwscope`` launcher.

What no code of kwscope can reach is said, and allowed, as such: Python's own start-up (the site
module, runpy) and the line the launcher pip writes runs first (``import re``). A traceback there
has no frame in kwscope's files."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import sigint_as

import kwscope

PACKAGE = Path(kwscope.__file__).resolve().parent
LAUNCHER = Path(sys.executable).parent / "kwscope"
#: Delays in seconds: the interpreter's start, the command line's imports, the command's own.
DELAYS = [0.01 + 0.004 * k for k in range(13)] + [0.08, 0.12, 0.2, 0.3, 0.5]


def _frames_in_kwscope(err: str) -> list[str]:
    frames = re.findall(r'File "([^"]+)", line \d+', err)
    return [f for f in frames if Path(f).resolve().is_relative_to(PACKAGE)]


def _interrupt(cmd: list[str], delay_s: float, disposition=signal.SIG_DFL) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=sigint_as(disposition))
    try:
        time.sleep(delay_s)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        err = proc.communicate(timeout=120)[1].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups")
@pytest.mark.parametrize("how", ["python -m kwscope", "kwscope launcher"])
def test_ctrl_c_while_kwscope_starts_is_one_line(how, fsdd_dir):
    if how == "kwscope launcher" and not LAUNCHER.exists():
        pytest.skip(f"no launcher at {LAUNCHER}")
    cmd = ([sys.executable, "-m", "kwscope"] if how.startswith("python") else [str(LAUNCHER)]) + ["stats", str(fsdd_dir)]
    outcomes = []
    for delay_s in DELAYS:
        rc, err = _interrupt(cmd, delay_s)
        assert not _frames_in_kwscope(err), (delay_s, err)  # no traceback through kwscope's code
        if "Traceback" not in err and err.strip() and rc != 0:
            assert (rc, err) == (130, "kwscope: interrupted\n"), (delay_s, err)
        outcomes.append(rc)
    assert 130 in outcomes  # the Ctrl-C did reach kwscope (not every run ended before or after it)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups")
@pytest.mark.parametrize("how", ["python -m kwscope", "kwscope launcher"])
def test_a_sigint_that_came_ignored_stays_ignored(how, tmp_path):
    """Started with SIGINT ignored (a job a script puts in the background), kwscope runs on
    through a Ctrl-C to its own result, as Python and the shells leave such a job."""
    from conftest import tone, write_wav

    if how == "kwscope launcher" and not LAUNCHER.exists():
        pytest.skip(f"no launcher at {LAUNCHER}")
    for i in range(6):
        write_wav(tmp_path / ("yes", "no")[i % 2] / f"{i:08x}_nohash_0.wav", tone(seconds=0.2))
    cmd = ([sys.executable, "-m", "kwscope"] if how.startswith("python") else [str(LAUNCHER)]) + ["stats", str(tmp_path)]
    for delay_s in (0.02, 0.3):  # in the command line's imports, and in the command
        rc, err = _interrupt(cmd, delay_s, signal.SIG_IGN)
        assert (rc, err) == (0, ""), (delay_s, err)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups")
def test_ctrl_c_at_any_moment_of_a_short_run_is_one_line_or_a_whole_result(tmp_path):
    """A SIGINT as Python exits (the command done) ended the process by the signal (status -2),
    with no word; now the command's own status stands, or it is the one line."""
    from conftest import tone, write_wav

    for i in range(6):
        write_wav(tmp_path / ("yes", "no")[i % 2] / f"{i:08x}_nohash_0.wav", tone(seconds=0.2))
    cmd = [sys.executable, "-m", "kwscope", "stats", str(tmp_path), "--json"]
    seen = set()
    for delay_s in [0.07 * k for k in range(1, 26)]:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=sigint_as())
        time.sleep(delay_s)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            assert out.decode().strip().endswith("}") and err == b"", (delay_s, err)  # the whole document
        else:
            assert (proc.returncode, err.decode()) == (130, "kwscope: interrupted\n"), (delay_s, err)
        seen.add(proc.returncode)
    assert seen == {0, 130}  # the delays span the run: some interrupted, some done
