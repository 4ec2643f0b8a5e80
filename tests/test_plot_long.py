"""``kwscope plot`` on a long recording (issue 16, item 9): an 8-hour file asked up to 11 GiB in 6
of the 7 views. Now the first MAX_PLOT_SECONDS are drawn, the title says so, memory stays bounded."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bad_corpus import sparse_long_wav
from kwscope.cli.plot import MAX_PLOT_SECONDS

KINDS = ["wave", "spectrogram", "mel", "mfcc", "silence", "resample", "spectrogram3d"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_eight_hour_file_is_plotted_from_its_start_in_bounded_memory(tmp_path, kind):
    wav = tmp_path / "eight_hours.wav"
    sparse_long_wav(wav, hours=8.0, sr=16000)
    out = tmp_path / f"{kind}.html"
    script = (
        "import sys\n"
        "from kwscope.cli import main\n"
        "try:\n"
        f"    main(['plot', {kind!r}, {str(wav)!r}, '-o', {str(out)!r}])\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        # VmHWM, not ru_maxrss: ru_maxrss survives exec (it reported the forking pytest's size)
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0].split()[1]\n"
        "print('PEAK', int(hwm) // 1024)\n"
        "sys.exit(code or 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    peak_mib = int(done.stdout.split("PEAK")[-1].split()[0])
    assert peak_mib < 1500, f"{kind}: peak RSS {peak_mib} MiB for the first {MAX_PLOT_SECONDS:.0f} s"
    page = out.read_text(encoding="utf-8")
    assert f"first {MAX_PLOT_SECONDS:.0f} s of 8.0 h" in page
