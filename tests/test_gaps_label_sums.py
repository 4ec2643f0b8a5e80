"""Per-label spectrogram sums: they cost 127.5 kB a label (a 99 x 161 float64 sum) plus a 63.8 kB
float32 copy as the mean, both held at once: 191 MB for a 1,000-word set. Now one float32 sum
a label, turned into the mean in place."""

from __future__ import annotations

import numpy as np

from conftest import tone, write_wav
from kwscope.analysis.aggregates import EXACT_1S, AggregateAccumulator
from kwscope.analysis.profiles import ProfileConfig, ProfileTask, profile_chunk

BYTES_A_LABEL = 99 * 161 * 4  # one float32 log spectrogram


def _accumulated(tmp_path) -> AggregateAccumulator:
    rows = [("a", 1.0, 300.0), ("a", 1.0, 320.0), ("b", 1.0, 700.0), ("c", 1.0, 900.0), ("c", 0.5, 1200.0)]
    paths = []
    for i, (lab, secs, hz) in enumerate(rows):
        paths.append(f"{lab}/s{i}_nohash_0.wav")
        write_wav(tmp_path / paths[-1], tone(hz, seconds=secs))
    cfg = ProfileConfig()
    n = len(rows)
    acc = AggregateAccumulator(cfg)
    for k in range(n):  # one chunk a clip: the sums are added to, not only copied
        task = ProfileTask(k, str(tmp_path), (paths[k],), (rows[k][0],), (True,), (True,), (None,), cfg)
        acc.add(profile_chunk(task))
    return acc


def test_per_label_spectrogram_sums_are_one_float32_array_a_label(tmp_path):
    acc = _accumulated(tmp_path)
    assert acc.selection() == EXACT_1S
    held = {lab: a.nbytes for lab, a in acc.spec_1s.items()}
    assert held == {"a": BYTES_A_LABEL, "b": BYTES_A_LABEL, "c": BYTES_A_LABEL}  # was 2x: float64
    assert all(a.dtype == np.float32 for a in acc.spec_1s.values())


def test_mean_logspec_release_turns_the_sums_into_the_means_without_a_copy(tmp_path):
    acc = _accumulated(tmp_path)
    kept = acc.mean_logspec()  # not released: the sums stay, the means are copies
    sums = dict(acc.spec_1s)
    assert all(not np.shares_memory(kept.by_label[lab], sums[lab]) for lab in sums)
    released = acc.mean_logspec(release=True)
    assert all(released.by_label[lab] is sums[lab] for lab in sums)  # the same memory, now the mean
    assert acc.spec_1s == {} and acc.spec_other == {}
    assert released.n_by_label == kept.n_by_label == {"a": 2, "b": 1, "c": 1}
    for lab in kept.by_label:
        np.testing.assert_allclose(released.by_label[lab], kept.by_label[lab], rtol=1e-6)
        assert released.by_label[lab].dtype == np.float32
