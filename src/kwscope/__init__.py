"""kwscope: explore, check and featurize short-utterance speech datasets.

The public API is imported lazily so that ``kwscope --help`` and worker start-up stay fast.

The data flows through the subpackages in one direction (``docs/architecture.md``):
``io`` (reading) -> ``dsp`` -> ``engine`` (running tasks) -> ``features`` -> ``analysis`` -> ``plots`` ->
``report`` -> ``cli``; ``settings`` (how a run works) and ``errors`` are used by all.
"""

# No import here, not even ``__future__``: the command line's Ctrl-C handler (kwscope.cli) is
# installed once this package is imported, and every import before it widens the moment in
# which a Ctrl-C prints Python's traceback.

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "AudioError": "io.audio",
    "read_audio": "io.audio",
    "read_clip": "io.audio",
    "probe": "io.audio",
    "LayoutError": "io.layouts",
    "LayoutSpec": "io.spec",
    "DatasetError": "io.index",
    "index_dataset": "io.index",
    "read_manifest": "io.index",
    "write_manifest": "io.index",
    "RunSettings": "settings",
    "summarize": "analysis.summary",
    "speaker_leakage": "analysis.summary",
    "FeaturePipeline": "features.pipeline",
    "PipelineConfig": "features.config",
    "extract_features": "features.extract",
    "load_features": "features.store",
    "explore": "analysis.explore",
    "Exploration": "analysis.exploration",
    "find_anomalies": "analysis.explore",
    "find_duplicates": "analysis.explore",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        import importlib

        module = importlib.import_module(f".{_API[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'kwscope' has no attribute {name!r}")


def __dir__():
    return __all__
