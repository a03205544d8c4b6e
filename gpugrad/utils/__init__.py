"""``gpugrad.utils``: PyTorch's ``torch.utils`` spelling; ``gpugrad.utils.data`` is ``gpugrad.data``."""
from . import data  # noqa: F401
