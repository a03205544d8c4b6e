"""The application layer: the ``gpugrad`` command line and what its commands run.

``cli`` (the entry point, ``gpugrad.commands.cli:main``) and ``argtypes`` (its argparse helpers);
``train`` (the training loop, checkpoints, resume), with ``runs`` (run folders), ``run_log``
(metrics, TensorBoard), ``run_checks`` (settings, divergence and checkpoint checks) and
``run_signals`` (SIGINT/SIGTERM); ``predict`` and ``evaluate``. Everything here stands on the
engine (Tensor, ops, nn, optim, data); nothing in the engine imports it. Importing this package
imports none of them (the CLI starts fast).
"""
