"""Per-file profiles: one streaming pass over a dataset that measures every readable recording.

For each file the pass measures levels (RMS and peak in dBFS), clipping, DC offset, near-silence,
an SNR estimate, noise bursts (loud, spectrally flat 16-ms frames), tonal hum (a line in the 1-Hz
spectrum, with its steadiness and frequency jitter), the speech segments of
:func:`kwscope.dsp.speech_segments` (batched: :func:`kwscope.dsp.speech_segments_batch`), and keeps small arrays:

- a **compact spectrum**: the one-sided FFT magnitude (the notebook's ``custom_fft``,
  ``2/N |FFT|``) of the clip zero-padded to 1 s (a longer clip: its loudest second), which puts
  every sample rate on the same 1-Hz grid, pooled by averaging into ``spectrum_bins`` bands over
  ``0..spectrum_fmax_hz`` (256 bands of 31.25 Hz over 0-8 kHz). Bands above a file's Nyquist
  frequency are 0; nothing is resampled for it.
- a **fingerprint** for near-duplicates (48 x 16 differenced log band energies of the 16-kHz log
  spectrogram, see :mod:`.fingerprints`) and its 256-bit SimHash **signature**;
- a **digest** of the decoded float32 samples (SHA-1) for exact duplicates.

Workers also return, per label, partial sums of the compact spectra and of the notebook's
``log_specgram`` (clips resampled to 16 kHz with soxr when recorded at another rate), split into
"exactly 1-s clips" and "all clips padded/cut to 1 s", and a deterministic sample of
log-spectrogram values at the violin frequencies. The parent combines them in chunk order, so the
results do not depend on which worker finished first. ``ProfileConfig(full=False)`` (``kwscope
anomalies``) skips the VAD, digests, log spectrograms and fingerprints; what both modes measure
is computed identically.

Profiles are cached per chunk (opt-in ``cache_dir``): the key hashes the profile config and each
file's absolute location, size and mtime, so an unchanged dataset is read from the cache and a
changed file only recomputes its chunk. Chunks are fixed-size runs of the sorted manifest that do
not cross a label boundary, so adding files to one label leaves the other labels' chunks valid.
Inside a chunk, clips are measured in sub-batches of equal (or quarter-second-bucketed) length.

Modules, in the order they import each other: ``config`` <- ``spectrum``, ``levels``, ``hum``,
``fingerprints`` (what is measured) <- ``batch`` (a chunk's clips measured together) <- ``chunks``
(the worker's task) <- ``plan`` (chunks, cache keys, the ordered pass); ``spill`` stands alone.
"""

from .batch import SUB_BATCH, profile_clip
from .chunks import ChunkResult, ProfileTask, profile_chunk
from .config import LOGSPEC_SR, SCALAR_COLUMNS, ProfileConfig, sample_key, sample_keys
from .fingerprints import fingerprint_length, signatures
from .plan import ChunkPlan, iter_chunk_results, plan_chunks
from .spectrum import compact_spectrum
from .spill import ProfileSpill

__all__ = [
    "ProfileConfig",
    "ProfileTask",
    "ChunkResult",
    "ChunkPlan",
    "SCALAR_COLUMNS",
    "LOGSPEC_SR",
    "SUB_BATCH",
    "profile_clip",
    "profile_chunk",
    "plan_chunks",
    "iter_chunk_results",
    "compact_spectrum",
    "fingerprint_length",
    "signatures",
    "sample_key",
    "sample_keys",
    "ProfileSpill",
]
