"""The local engine: results, order independence, and the workers' allocator settings."""

from __future__ import annotations

import sys

import pytest

from kwscope.engine import chunked, run_chunks
from conftest import mmapped_bytes_of_a_large_array


def square_sum(chunk: list[int]) -> tuple[int, int]:
    return chunk[0], sum(x * x for x in chunk)


def test_pool_runs_every_chunk_once():
    chunks = chunked(range(100), 7)
    got = dict(run_chunks(square_sum, chunks, workers=2, progress=False))
    assert got == {c[0]: sum(x * x for x in c) for c in chunks}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_pool_workers_reuse_freed_memory():
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallinfo2  # noqa: B018 - glibc >= 2.33
    except (OSError, AttributeError):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    # glibc alone maps a fresh 32 MB array in a new process; the pool's initializer prevents it
    assert list(run_chunks(mmapped_bytes_of_a_large_array, [0, 1, 2, 3], workers=2, progress=False)) == [0] * 4
