"""The analysis of a dataset: one profile pass over its audio, then what is computed from the
profiles (aggregates, anomalies, duplicates, the summary), as data that plots and the report read.

``summary`` needs only the manifest; ``profiles`` is the pass; ``aggregates``, ``anomalies`` and
``duplicates`` combine its chunks; ``exploration`` is the result; ``explore`` runs it all. This
module itself stays light (standard library only): the CLI reads the preload lists before it
imports anything heavy.
"""

#: Modules a profile-pass worker uses, imported once in the fork server
#: (:func:`kwscope.engine.startup.warm_worker_pool`).
LIGHT_PASS_MODULES = ("numpy", "scipy.fft", "soundfile", "kwscope.analysis.profiles")
#: The full pass (``explore``) also takes log spectrograms and resamples.
FULL_PASS_MODULES = LIGHT_PASS_MODULES + ("scipy.signal", "soxr", "kwscope.dsp")
