"""``python -m gpugrad train ...``: the same as the ``gpugrad`` command."""
from .cli import main

raise SystemExit(main())
