"""What the MPI launcher told this process, read from the environment without initialising MPI."""
from __future__ import annotations

import os

# Set by mpiexec: MPICH/Hydra (and Intel MPI) PMI_SIZE, Open MPI OMPI_COMM_WORLD_SIZE.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


def launched_world_size() -> int:
    """The number of processes the launcher started (1 when run without one)."""
    for var in _SIZE_VARS:
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v)
    return 1
