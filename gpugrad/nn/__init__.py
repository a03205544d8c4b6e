"""Neural-network building blocks. ``functional`` holds the stateless ops."""
from . import functional  # noqa: F401
