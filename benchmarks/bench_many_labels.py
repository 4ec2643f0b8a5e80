"""Benchmark of ``kwscope report`` on a dataset with many labels and few files each.

A keyword set with thousands of words (multilingual spoken-word corpora have them) must be
reportable: memory and page size may not grow with the number of labels. This builds ``--labels``
labels x ``--files`` files (default 1,000 x 5: FSDD recordings resampled to 16 kHz and padded to
1 s, Speech Commands layout ``<label>/<speaker>_nohash_<take>.wav``), runs ``kwscope report`` as a
whole process with no cache, and prints the wall time, the peak resident memory of the process
tree (the command and its workers), the page size and the recordings it plays. Targets: under
1 GiB and under 30 MB whatever the label count.

Usage::

    python benchmarks/bench_many_labels.py [--labels 1000] [--files 5] [--workers N] [--corpus DIR] [--json]

The corpus goes to the temp folder (``kwscope-labels-1000x5``) and is reused when complete.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import FSDD_DIR, SAMPLE_RATE, _load_sources, _variant  # noqa: E402
from measure import kwscope_cmd, run_measured  # noqa: E402

_STAMP = ".kwscope-labels.json"


def build_label_corpus(out: Path, n_labels: int, n_files: int, *, seed: int = 0) -> Path:
    """``n_labels`` folders ``w0000``... of ``n_files`` 1-s 16-kHz clips each (reused when complete)."""
    params = {"labels": n_labels, "files": n_files, "seed": seed, "version": 1}
    stamp = out / _STAMP
    if stamp.is_file() and json.loads(stamp.read_text()) == params:
        return out
    sources = _load_sources(FSDD_DIR)
    pcm = np.empty(SAMPLE_RATE, np.int16)
    for lab in range(n_labels):
        folder = out / f"w{lab:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(n_files):
            i = lab * n_files + k
            _, speaker, take, clip = sources[i % len(sources)]
            y = _variant(clip, np.random.default_rng([seed, i]))
            np.multiply(y, 32768, out=pcm, casting="unsafe")
            sf.write(folder / f"{speaker}{i // len(sources)}_nohash_{k}.wav", pcm, SAMPLE_RATE, subtype="PCM_16")
    stamp.write_text(json.dumps(params))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--files", type=int, default=5, help="files a label")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--corpus", default=None, help="corpus folder (default: in the temp folder)")
    parser.add_argument("--json", action="store_true", help="also write the JSON description (--json)")
    args = parser.parse_args(argv)
    corpus = Path(args.corpus or Path(tempfile.gettempdir()) / f"kwscope-labels-{args.labels}x{args.files}")
    build_label_corpus(corpus, args.labels, args.files)
    work = Path(tempfile.mkdtemp(prefix="kwscope-bench-labels-"))
    page = work / "report.html"
    cmd = kwscope_cmd("report", str(corpus), "-o", str(page), "--no-cache", "--no-progress")
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    if args.json:
        cmd += ["--json", str(work / "report.json")]
    load = os.getloadavg()
    m = run_measured(cmd, interval_s=0.05)
    if m.returncode != 0:
        print(m.output)
        raise SystemExit(f"kwscope report failed with status {m.returncode}")
    size = page.stat().st_size
    playable = re.search(r"with (\d+) playable", m.output)
    print(f"dataset:     {args.labels:,} labels x {args.files} files = {args.labels * args.files:,} files ({corpus})")
    print(f"wall time:   {m.wall_s:8.1f} s  (cpu {m.cpu_s:.1f} s)")
    print(f"peak RSS:    {m.peak_rss_mib:8.0f} MiB (the command and its workers; target < 1024)")
    print(f"page:        {size / 1e6:8.1f} MB (target < 30), {playable.group(1) if playable else '?'} playable recordings")
    if args.json:
        print(f"JSON:        {(work / 'report.json').stat().st_size / 1e6:8.1f} MB")
        (work / "report.json").unlink()
    print(f"load avg:    {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before the run (cores: {os.cpu_count()})")
    page.unlink()
    work.rmdir()


if __name__ == "__main__":
    main()
