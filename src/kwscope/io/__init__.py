"""Reading a dataset: where DATA is (a folder, a URL, a manifest file, Parquet shards), how its
paths name labels, speakers and splits (layouts, patterns, auto-detection), its index (one manifest
row a recording, from headers), and decoding recordings (files, or bytes held in Parquet rows).

Import order: ``urls`` <- ``sources`` (where a row's audio is, AudioError) <- ``wav`` (the fast WAV
header and 16-bit reader) <- ``formats``, ``media`` (containers by content, PyAV) <- ``audio``
(every format, one error type) <- ``patterns`` <- ``layouts`` <- ``spec`` (kwscope.yaml,
``--columns``) <- ``detect`` <- ``parquet``, ``manifests``, ``scan`` <- ``index``. Nothing here
imports the rest of kwscope.
"""
