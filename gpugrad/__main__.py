"""``python -m gpugrad train ...``: the same as the ``gpugrad`` command."""
from .commands.cli import main

raise SystemExit(main())
