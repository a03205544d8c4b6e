"""``python -m gpugrad.commands.bench kernels|mlp ...``: the ``gpugrad bench`` command, standalone."""
from .cli import main

raise SystemExit(main())
