"""The ``gpugrad`` command. Subcommands: ``train`` and ``bench`` (``gpugrad.bench``).

Usage errors and unusable inputs print one line on stderr and exit with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

from .argtypes import EXIT_USAGE, OneLineParser as _Parser
from .argtypes import fraction as _fraction, nonneg_float as _nonneg_float, nonneg_int as _nonneg_int
from .argtypes import positive_float as _positive_float, positive_int as _positive_int

EXIT_INTERRUPTED = 130


def _hidden(s: str) -> tuple:
    """'256,256' -> (256, 256); '' or 'none' -> () (a linear model)."""
    if s.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(p) for p in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes such as 256,256, got "
                                         f"{s!r}") from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {s!r}")
    return sizes


def _add_train(sub) -> None:
    from .train import DEFAULT_LR, TrainConfig
    d = TrainConfig()
    p = sub.add_parser(
        "train", help="train an MLP classifier (default: the 8x8 digits, no network needed)",
        description="Train an MLP classifier on scikit-learn's bundled 8x8 digits or on your own "
                    ".npz (arrays x, y) or .csv (last column the label) file. Writes "
                    "checkpoint.npz every epoch and curves.png to --out.")
    # Run settings default to None here so that --resume can tell which ones were given.
    p.add_argument("--data", metavar="FILE", help="an .npz with arrays x and y, or a .csv whose last "
                   "column is the integer label (default: the digits)")
    p.add_argument("--hidden", type=_hidden, metavar="SIZES",
                   help=f"hidden layer sizes, comma-separated (default: {','.join(map(str, d.hidden))})")
    p.add_argument("--activation", choices=("relu", "sigmoid", "tanh"),
                   help=f"hidden activation (default: {d.activation})")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"),
                   help=f"optimizer (default: {d.optimizer})")
    p.add_argument("--lr", type=_positive_float, help="peak learning rate (default: "
                   + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    p.add_argument("--epochs", type=_positive_int, help=f"epochs (default: {d.epochs})")
    p.add_argument("--batch-size", type=_positive_int, help=f"batch size (default: {d.batch_size})")
    p.add_argument("--seed", type=_nonneg_int, help=f"seed of init, split, shuffling, dropout (default: {d.seed})")
    p.add_argument("--dropout", type=_fraction, help=f"dropout after each hidden layer (default: {d.dropout})")
    p.add_argument("--weight-decay", type=_nonneg_float, help=f"weight decay (default: {d.weight_decay})")
    p.add_argument("--clip", type=_nonneg_float, metavar="MAX_NORM",
                   help="clip the global gradient norm of each step to MAX_NORM (default: 0, off)")
    p.add_argument("--schedule", choices=("cosine", "step", "none"),
                   help=f"learning-rate schedule over the epochs (default: {d.schedule})")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where to train; auto picks cuda when available (default: auto)")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default: {d.out}; with --resume, the "
                   "checkpoint's folder)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in CHECKPOINT")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="BLAS threads on cpu (default: 1; small matrices run fastest on one)")
    p.add_argument("--graph", choices=("auto", "on", "off"), default="auto",
                   help="run the training step as a CUDA graph, rebuilt each epoch (auto: on a GPU "
                        "when --dropout is 0; on the CPU the step runs eagerly either way)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_train)


_RUN_ARGS = ("data", "hidden", "activation", "optimizer", "lr", "epochs", "batch_size", "seed",
             "dropout", "weight_decay", "schedule", "clip")


def _run_train(args) -> int:
    from .data import DataError
    from .serialization import CheckpointError
    from .train import TrainConfig, TrainError, config_for_resume, read_checkpoint, train

    given = {k: getattr(args, k) for k in _RUN_ARGS}
    given.update(device=args.device, out=args.out, quiet=args.quiet, threads=args.threads,
                 graph=args.graph)
    config = None
    try:
        if args.resume:
            config = config_for_resume(read_checkpoint(args.resume), given, args.resume)
        else:
            config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
        train(config, resume=args.resume)
    except (TrainError, DataError, CheckpointError) as exc:
        print(f"gpugrad train: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. --out not writable
        print(f"gpugrad train: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (gpugrad.run_signals): same path
        if config is not None:
            checkpoint = os.path.join(config.out, "checkpoint.npz")
            hint = (f"continue with: gpugrad train --resume {checkpoint}" if os.path.exists(checkpoint)
                    else "no epoch had finished, so there is no checkpoint to resume from")
            print(f"\ninterrupted; {hint}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)   # 143 for SIGTERM, as a shell reports it
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gpugrad", description="gpugrad: reverse-mode autodiff for MLPs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train(sub)
    from .bench import add_bench_parser
    add_bench_parser(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``gpugrad`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args.handler(args)
