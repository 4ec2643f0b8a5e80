"""Names from the data shown where they can do harm: ``<!--`` in a label breaking the page's figure
JSON, and escape sequences or newlines in file names reaching the terminal raw (issue 16, items 4
and 11). Each test builds names whose harm is known and checks it is shown, escaped, not obeyed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from hostile_names import HOSTILE_LABELS, MANIFEST_LABELS, has_control_characters, hostile_dataset, hostile_manifest
from kwscope.cli import main
from kwscope.report.html import render_report
from kwscope.report.media import html_json, script_json
from kwscope.report.plan import plan_report
from kwscope.report.terminal import printable, table
from test_report import PlaceholderRenderer, noise_clips, synthetic_exploration

_JSON_SCRIPT = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)


def _runner() -> CliRunner:
    return CliRunner()


# --------------------------------------------------------------------------- the page's JSON


def test_comment_opener_in_a_label_keeps_every_embedded_figure_json_valid():
    # Before: "<!--" was written as "<\!--", which no JSON parser takes, so no figure was drawn.
    labels = ("<!--", "<!--<script>", "x</script><script>alert(1)</script>", "plain")
    ex = synthetic_exploration(300, labels=labels)
    plan = plan_report(ex)
    clips = {p: (y, 16000) for p, y in noise_clips(plan.clip_paths()).items()}
    page = render_report(ex, clips, plan=plan, renderer=PlaceholderRenderer(2000)).html
    scripts = _JSON_SCRIPT.findall(page)
    assert {"kw-audio", "kw-clips", "spec-label-counts", "spec-anomaly-map"} <= {sid for sid, _ in scripts}
    seen = set()
    for sid, text in scripts:
        assert "<" not in text, sid  # nothing inside can close the element or open a comment
        doc = json.loads(text)  # what the page's script does with the element's text
        seen |= {lab for lab in labels if lab in json.dumps(doc, ensure_ascii=False)}
    assert seen == set(labels)  # the names survive, unchanged once parsed
    # outside the JSON, the names are escaped markup, never markup
    assert "<script>alert(1)" not in _JSON_SCRIPT.sub("", page)


def test_script_json_round_trips_any_text():
    values = {"a": "<!-- </script> <\\!-- \\<", "<key>": ["\\", "\\\\<", "</SCRIPT >"]}
    text = html_json(values)
    assert "<" not in text and json.loads(text) == values
    assert json.loads(script_json(json.dumps(values))) == values


# --------------------------------------------------------------------------- the terminal


def test_terminal_table_escapes_headers_as_well_as_cells():
    # Split names head the per-label table; a split folder can be named anything.
    out = table(["label", "tr\x1b[2Jain"], [["a\nb", 1]])
    assert not has_control_characters(out) and len(out.splitlines()) == 3
    assert "tr\\x1b[2Jain" in out and "a\\nb" in out


def test_stats_shows_escape_sequences_and_newlines_in_names_escaped(tmp_path):
    data = hostile_dataset(tmp_path / "data")
    res = _runner().invoke(main, ["stats", str(data)])
    assert res.exit_code == 0, res.output
    assert not has_control_characters(res.output)
    assert "esc\\x1b]0;pwned\\x07title" in res.output  # shown, escaped
    assert "bell\\x07\\x1b[31mred\\x1b[0m.wav" in res.output  # the broken file, escaped
    for label in HOSTILE_LABELS:
        assert printable(label) in res.output


def test_anomalies_shows_names_escaped_and_a_newline_forges_no_row(tmp_path):
    data = hostile_dataset(tmp_path / "data")
    res = _runner().invoke(main, ["anomalies", str(data), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert not has_control_characters(res.output)
    lines = res.output.splitlines()
    # the clipped "row\nforged ..." file of each label is listed, on one line each
    listed = [ln for ln in lines if "row\\nforged" in ln]
    assert len(listed) == len(HOSTILE_LABELS)
    assert not [ln for ln in lines if ln.lstrip().startswith("forged")]


def test_report_strict_lines_show_names_escaped(tmp_path):
    data = hostile_dataset(tmp_path / "data")
    res = _runner().invoke(main, ["report", str(data), "-o", str(tmp_path / "r.html"), "--no-cache",
                                  "--workers", "1", "--no-progress", "--strict", "--anomaly-threshold", "1"])
    assert res.exit_code == 1, res.output
    strict = [ln for ln in res.stderr.splitlines() if ln.startswith("kwscope: strict:")]
    assert strict and any("row\\nforged" in ln for ln in strict)
    assert not has_control_characters(res.stderr)
    assert not [ln for ln in res.stderr.splitlines() if ln.lstrip().startswith("forged")]


def test_error_line_shows_a_file_name_escaped(tmp_path):
    name = tmp_path / "gone\x1b]0;pwned\x07\nkwscope: all fine.wav"
    res = _runner().invoke(main, ["plot", "wave", str(name), "-o", str(tmp_path / "w.png")])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("kwscope: error:")
    assert not has_control_characters(res.stderr) and "gone\\x1b]0;pwned\\x07\\nkwscope" in res.stderr


def test_printable_leaves_ordinary_text_alone():
    for text in ("yes/0a7c2a8d_nohash_0.wav", "ünïcødé/日本語.wav", "a b\tc"[:3]):
        assert printable(text) == text
    assert printable("\u202eevil") == "\\u202eevil"  # a right-to-left override would reorder the line
    assert np.all([not has_control_characters(printable(chr(c))) for c in range(0x100)])


# --------------------------------------------------------------------------- every command, both kinds of DATA

_PLOT_KINDS = ("wave", "spectrogram", "mfcc")


def _hostile_data(kind: str, root):
    return hostile_dataset(root / "data") if kind == "folder" else hostile_manifest(root / "data")


def _command_lines(kind: str, data, out) -> dict[str, list[str]]:
    clip = next(p for p in sorted((data if kind == "folder" else data.parent / "clips").rglob("*.wav"))
                if "\x1b" in p.name)
    plot_out = out / "plot\x1b]0;x\x07\nforged.png"
    return {
        "stats": ["stats", str(data)],
        "anomalies": ["anomalies", str(data), "--workers", "1"],
        "index": ["index", str(data), "-o", str(out / "m\x1b[2J.parquet")],
        "features": ["features", str(data), "-o", str(out / "feat\x07s"), "--workers", "1"],
        "report": ["report", str(data), "-o", str(out / "r\x1b[31m.html"), "--no-cache", "--workers", "1",
                   "--no-progress", "--json", str(out / "d\x1b[0m.json")],
        **{f"plot {k}": ["plot", k, str(clip), "-o", str(plot_out)] for k in _PLOT_KINDS},
    }


@pytest.mark.parametrize("kind", ["folder", "manifest"])
def test_no_command_prints_a_control_character_from_the_data(tmp_path, kind):
    # Before: stats/anomalies printed escape sequences raw (one retitled the terminal), and a
    # newline in a name started a forged table row. color=True: click would strip some CSI codes.
    data = _hostile_data(kind, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for name, args in _command_lines(kind, data, out).items():
        res = CliRunner().invoke(main, args, color=True)
        assert res.exit_code == 0, (name, res.output, res.exception)
        for stream in (res.stdout, res.stderr):
            assert not has_control_characters(stream), (name, stream)
            assert not [ln for ln in stream.splitlines() if ln.lstrip().startswith("forged")], (name, stream)


def test_manifest_labels_with_newlines_are_one_row_each_in_stats(tmp_path):
    data = hostile_manifest(tmp_path / "data")
    res = CliRunner().invoke(main, ["stats", str(data)], color=True)
    assert res.exit_code == 0, res.output
    for label in MANIFEST_LABELS:  # each label is one row: its escaped name, then its 3 recordings
        rows = [ln for ln in res.stdout.splitlines() if ln.startswith(printable(label) + " ")]
        assert len(rows) == 1 and rows[0].split()[-2:][0] in ("3", "3,"), (label, res.stdout)
