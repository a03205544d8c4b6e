"""``Generator``: PyTorch's ``torch.Generator`` spelling for a seed that DataLoader shuffling and
random_split take through ``generator=``.

gpugrad's data order is a function of (seed, epoch) (see ``epoch_permutation``), so a Generator
here carries a seed rather than a running stream: two loaders given the same seeded Generator
shuffle alike, and a resumed run repeats an epoch's order exactly.
"""
from __future__ import annotations

import numpy as np
from ..creation import _generator
from ..device import as_device


class Generator:
    """A seed holder with torch.Generator's methods: ``manual_seed(seed)`` (returns self),
    ``initial_seed()``, ``seed()`` (a fresh non-deterministic seed, returned).

    >>> g = gg.Generator().manual_seed(42)
    >>> loader = gg.data.DataLoader(ds, batch_size=32, shuffle=True, generator=g)
    """

    def __init__(self, device="cpu"):
        self.device = device
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))

    def manual_seed(self, seed: int) -> "Generator":
        try:
            self._seed = int(seed)
        except (TypeError, ValueError):
            raise TypeError(f"Generator.manual_seed: seed must be an integer, got {seed!r}") from None
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        return self._seed

    def __repr__(self) -> str:
        return f"Generator(seed={self._seed})"


def seed_of(generator, where: str) -> int:
    """The integer seed of ``generator``: a gg.Generator, an int, a NumPy Generator (one draw), or
    None (one draw from gpugrad's global generator, which ``gg.manual_seed`` seeds)."""
    if generator is None:
        return int(_generator(as_device("cpu")).integers(2 ** 63))
    if isinstance(generator, Generator):
        return generator.initial_seed()
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return int(generator)
    if isinstance(generator, np.random.Generator):
        return int(generator.integers(2 ** 63))
    raise TypeError(f"{where}: generator must be a gg.Generator (gg.Generator().manual_seed(0)), an int seed "
                    f"or a numpy.random.Generator, got {type(generator).__name__}")
