"""kwscope: explore, check and featurize short-utterance speech datasets.

The public API is imported lazily so that ``kwscope --help`` and worker start-up stay fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "AudioError": "audio",
    "read_audio": "audio",
    "read_clip": "audio",
    "probe": "audio",
    "LayoutError": "layouts",
    "DatasetError": "dataset",
    "index_dataset": "dataset",
    "read_manifest": "dataset",
    "write_manifest": "dataset",
    "summarize": "analysis.summary",
    "speaker_leakage": "analysis.summary",
    "FeaturePipeline": "pipeline",
    "PipelineConfig": "pipeline",
    "extract_features": "extract",
    "load_features": "store",
    "explore": "analysis.explore",
    "Exploration": "analysis.explore",
    "find_anomalies": "analysis.anomalies",
    "find_duplicates": "analysis.duplicates",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        module = importlib.import_module(f".{_API[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'kwscope' has no attribute {name!r}")


def __dir__():
    return __all__
