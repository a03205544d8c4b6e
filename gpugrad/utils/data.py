"""``from gpugrad.utils.data import DataLoader, TensorDataset, random_split``: PyTorch's import path
(``torch.utils.data``) for what lives in :mod:`gpugrad.data`."""
from ..data import (DataLoader, Dataset, Generator, Subset, TensorDataset, default_collate,  # noqa: F401
                    random_split)
