"""Path-pattern layouts: compiling, matching, split names, and a property test -- FSDD files moved
to a random pattern are read back with every file's label, speaker and take."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kwscope.io.index import index_dataset
from kwscope.io.patterns import PatternError, compile_pattern, normalize_split
import shapes


def test_fields_and_literals():
    p = compile_pattern("{speaker}/{_}-{label}-{take}.wav")
    m = p.match("jackson/jackson-seven-32.wav")
    assert (m.label, m.speaker, m.take, m.split) == ("seven", "jackson", 32, None)
    assert p.match("jackson/jackson-seven-32.flac") is None  # literal text is matched as written
    assert p.match("a/b/jackson-seven-32.wav") is None  # fields stay within one segment
    q = compile_pattern("{label}_{_}_{take}.wav")
    m = q.match("3_three_0012.wav")
    assert (m.label, m.speaker, m.take) == ("3", None, 12)
    assert compile_pattern("{label}.{_}(1)+*.wav").match("up.x(1)+anything.wav").label == "up"  # regex characters escaped


def test_star_and_repeated_ignore():
    p = compile_pattern("{split}/{label}/*")
    assert p.match("dev/yes/a_b.wav").split == "validation"
    assert compile_pattern("{_}/{_}/{label}-*.wav").match("x/y/go-1.wav").label == "go"


@pytest.mark.parametrize("alias, want", [("validation", "validation"), ("valid", "validation"), ("val", "validation"),
                                         ("dev", "validation"), ("test", "test"), ("testing", "test"),
                                         ("eval", "test"), ("train", "train"), ("Training", "train"),
                                         ("fold3", "fold3"), ("", None)])
def test_split_names(alias, want):
    assert normalize_split(alias) == want


@pytest.mark.parametrize("bad, why", [("{word}.wav", "unknown field {word}"), ("{label}/{label}.wav", "appears twice"),
                                      ("{label.wav", "unbalanced"), ("", "empty")])
def test_bad_patterns(bad, why):
    with pytest.raises(PatternError, match=why.replace("{", r"\{").replace("}", r"\}")):
        compile_pattern(bad)


# ---------------------------------------------------------------- the property

_SEPS = ["-", "_", "+", "~", ".", "=", "__", "-rec-"]


@st.composite
def patterns(draw):
    """A random layout pattern over label, speaker, take (always) and ignored fields, spread over
    one to three path segments, each field separated from the next by a literal separator."""
    fields = ["{label}", "{speaker}", "{take}"] + ["{_}"] * draw(st.integers(0, 2)) + ["*"] * draw(st.integers(0, 1))
    fields = draw(st.permutations(fields))
    n_seg = draw(st.integers(1, min(3, len(fields))))
    cuts = sorted(draw(st.lists(st.integers(1, len(fields) - 1), min_size=n_seg - 1, max_size=n_seg - 1,
                                unique=True))) if n_seg > 1 else []
    segments, start = [], 0
    for cut in cuts + [len(fields)]:
        part = fields[start:cut]
        start = cut
        text = part[0]
        for f in part[1:]:
            text += draw(st.sampled_from(_SEPS)) + f
        prefix = draw(st.sampled_from(["", "", "spk", "w"]))
        segments.append(prefix + text)
    return "/".join(segments) + draw(st.sampled_from([".wav", ".WAV", "_x.wav"]))


def _fill(pattern: str, digit: str, speaker: str, take: int, k: int) -> str:
    # ignored fields get text no separator appears in; a take is written with leading zeros
    return (pattern.replace("{label}", shapes.WORDS[int(digit)]).replace("{speaker}", speaker)
            .replace("{take}", f"{take:03d}").replace("{_}", f"x{k}").replace("*", "anything"))


@pytest.fixture(scope="module")
def fsdd_files(fsdd_dir):
    return shapes.fsdd_sample(fsdd_dir, every=60)  # 50 clips: every digit, every speaker


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=patterns())
def test_random_patterns_recover_every_file(fsdd_files, pattern):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        want = {}
        for k, (f, digit, speaker, take) in enumerate(fsdd_files):
            rel = _fill(pattern, digit, speaker, take, k)
            shapes.place(f, root / rel)
            want[rel] = (shapes.WORDS[int(digit)], speaker, take)
        df = index_dataset(root, layout=pattern, probe_headers=False, stat=False)
        assert (df.status == "ok").all(), df[df.status != "ok"][["path", "error"]].head().to_dict()
        got = {p: (lab, spk, int(t)) for p, lab, spk, t in zip(df["path"], df["label"], df["speaker"], df["take"])}
        assert got == want
