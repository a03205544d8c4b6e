"""``from gpugrad.utils.data import DataLoader, TensorDataset, random_split``: PyTorch's import path
(``torch.utils.data``) for what lives in :mod:`gpugrad.data`."""
from ..data import (DataLoader, Dataset, Generator, Subset, TensorDataset, WeightedRandomSampler,  # noqa: F401
                    default_collate, random_split)
