"""Model features of a dataset: the six-step pipeline (``config`` -> ``pipeline``), its run over a
dataset into a feature store (``extract``, with the workers' ``tasks`` and the store folder's
``workspace``), reading a store back (``store``) and the PyTorch adapter (``torch``).

This package imports nothing on its own: worker processes import only the modules they run.
"""
