"""Reading a dataset: where DATA is (a folder, a URL), how its paths name labels, speakers and
splits (layouts), its index (one manifest row a file, from headers), and decoding recordings.

``urls`` <- ``wav`` (the fast WAV header and 16-bit reader) <- ``audio`` (every format, one error
type) <- ``layouts`` <- ``index``. Nothing here imports the rest of kwscope.
"""
