"""RunSettings: the one object that says how a run works, handed from the CLI or the caller down
to every pass."""

from __future__ import annotations

from pathlib import Path

import kwscope
from kwscope.settings import RunSettings, default_cache_dir


def test_defaults_cache_nothing_and_choose_per_pass():
    s = RunSettings()
    assert (s.workers, s.scheduler, s.cache_dir, s.progress, s.layout, s.chunk_size) == (
        None, None, None, None, "auto", None)


def test_replace_changes_only_what_is_named_and_keeps_the_original():
    s = RunSettings(workers=2, layout="fsdd")
    t = s.replace(workers=1)
    assert (t.workers, t.layout) == (1, "fsdd") and s.workers == 2


def test_cache_dir_expands_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert RunSettings(cache_dir="~/kw").cache_dir == tmp_path / "kw"
    assert default_cache_dir() == tmp_path / ".cache" / "kwscope"


def test_public_api_exposes_it():
    assert kwscope.RunSettings is RunSettings
    assert isinstance(RunSettings(cache_dir=Path("x")).cache_dir, Path)
