"""Shared fixtures: real FSDD recordings (skipped with a reason when absent) and WAV writers."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

FSDD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fsdd" / "recordings"


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    if not FSDD.is_dir():
        pytest.skip(f"FSDD recordings not found at {FSDD} (expected ../shared/data/fsdd/recordings)")
    return FSDD


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def tone(freq: float = 440.0, sr: int = 16000, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_wav(path: Path, y: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype=subtype)
    return path


@pytest.fixture
def make_wav():
    return write_wav


def mmapped_bytes_of_a_large_array(chunk: int) -> int:
    """Bytes of a 32-MB array that glibc serves by mmap (0: from the reusable heap)."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                          "usmblks", "fsmblks", "uordblks", "fordblks",
                                                          "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    before = libc.mallinfo2().hblkhd
    a = np.ones(8 << 20, np.float32)
    mapped = libc.mallinfo2().hblkhd - before
    del a
    return int(mapped)


def sigint_as(disposition=signal.SIG_DFL):
    """A ``preexec_fn`` giving a child's SIGINT ``disposition``: by default what a terminal's
    foreground job has, whatever this suite inherited (a job a script starts in the background
    inherits SIGINT ignored, and kwscope then rightly ignores a Ctrl-C)."""
    return lambda: signal.signal(signal.SIGINT, disposition)
