"""The documented import path of the PyTorch adapter: :class:`kwscope.features.torch.FeatureDataset`."""

from .features.torch import FeatureDataset, TorchMissingError

__all__ = ["FeatureDataset", "TorchMissingError"]
