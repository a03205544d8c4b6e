"""Neural-network building blocks. ``functional`` holds the stateless ops; modules hold parameters."""
from . import functional  # noqa: F401
from . import init  # noqa: F401
from .layers import MLP, Dropout, Identity, Linear, ReLU, Sequential, Sigmoid, Tanh  # noqa: F401
from .module import Module, Parameter  # noqa: F401
from . import parallel  # noqa: F401
