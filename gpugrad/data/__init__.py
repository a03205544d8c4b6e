"""Data: a seeded mini-batch iterator, PyTorch's Dataset/TensorDataset/random_split, and the
datasets ``gpugrad train`` reads (the digits, .npz, and .csv/.parquet tables through
``gg.data.read_table`` with the schema of ``gg.data.schema``).

>>> x, y = gg.data.load_digits()
>>> x_tr, y_tr, x_te, y_te = gg.data.train_test_split(x, y, test_fraction=0.2, seed=0)
>>> loader = gg.data.DataLoader(x_tr, y_tr, batch_size=64, shuffle=True, seed=0)
"""
from .datasets import DataError, load_digits, load_file, train_test_split  # noqa: F401
from . import schema, tables  # noqa: F401  (your own tables: read_table, the schema kept with a run)
from .tables import read_table  # noqa: F401
from .collate import default_collate  # noqa: F401
from .dataset import Dataset, Subset, TensorDataset, random_split  # noqa: F401
from .generator import Generator  # noqa: F401
from .loader import DataLoader, epoch_permutation  # noqa: F401
from .sampler import WeightedRandomSampler  # noqa: F401
from .sharding import DistributedSampler, ShardedLoader  # noqa: F401
