"""The ``gpugrad`` command. Subcommands: ``train``, ``predict``, ``eval``, ``bench`` (``gpugrad.commands.bench``) and ``doctor``.

Usage errors and unusable inputs print one line on stderr and exit with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

from .argtypes import EXIT_USAGE, OneLineParser as _Parser
from .argtypes import fraction as _fraction, nonneg_float as _nonneg_float, nonneg_int as _nonneg_int
from .argtypes import positive_float as _positive_float, positive_int as _positive_int
from .argtypes import add_table_options, add_task_options
from .train import DEFAULT_LR, RUN_FIELDS, TrainConfig, TrainError, config_for_resume, read_checkpoint, train
from .train import regression_metrics
from ..data import DataError
from .runs import RunFolderError, check_output_file, check_writable_file
from ..serialization import CheckpointError
from .. import __version__
from .bench import add_bench_parser

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
    d = TrainConfig()
    p = sub.add_parser(
        "train", help="train an MLP classifier or regressor (default: the 8x8 digits, no network needed)",
        description="Train an MLP classifier or regressor on scikit-learn's bundled 8x8 digits or on your "
                    "own table: a .csv or .parquet (columns by name, the label last or --label), or an .npz "
                    "(arrays x, y). Writes checkpoint.npz (the last epoch) and best.npz (the best by the "
                    "validation split) every epoch, and curves.png, to --out.")
    # Run settings default to None here so that --resume can tell which ones were given.
    p.add_argument("--data", metavar="FILE", help="a .csv/.tsv or .parquet table (see 'your data' below), "
                   "or an .npz with arrays x and y (default: the digits)")
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
    p.add_argument("--out", metavar="DIR", help="output folder (default: a new timestamped folder under "
                   "runs/; with --resume, the checkpoint's folder). A folder holding a run is refused "
                   "unless --resume or --force")
    p.add_argument("--force", action="store_true", help="start a new run in an --out that holds one; the "
                   "old files are kept, renamed with a timestamp")
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN (or its checkpoint "
                   "file); with a larger --epochs, extend it (the schedule is re-planned over the new total)")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="BLAS threads on cpu (default: 1; small matrices run fastest on one)")
    p.add_argument("--graph", choices=("auto", "on", "off"), default="auto",
                   help="run the training step as a CUDA graph, rebuilt each epoch (auto: on a GPU "
                        "when --dropout is 0). 'on' on the CPU captures the step's NumPy calls each "
                        "epoch and replays them: a capture costs ~0.2-0.5 s, so it pays only for "
                        "epochs of thousands of steps; with --dropout the mask repeats within an epoch")
    p.add_argument("--quiet", action="store_true", help="no progress bar (nor the reading progress line)")
    add_table_options(p)
    add_task_options(p)
    p.set_defaults(handler=_run_train)




def _run_train(args) -> int:

    # The run's fields are train.RUN_FIELDS (one list); those without a flag here (momentum,
    # test_fraction) keep TrainConfig's default, or the checkpoint's value on --resume.
    given = {k: getattr(args, k, None) for k in RUN_FIELDS}
    if given.get("scale") is True:
        given["scale"] = None   # the default: --resume must not read it as a setting given
    given.update(device=args.device, out=args.out, quiet=args.quiet, threads=args.threads,
                 graph=args.graph, force=args.force or None)
    config = None
    try:
        if args.resume:
            config = config_for_resume(read_checkpoint(args.resume), given, args.resume)
        else:
            config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
        train(config, resume=args.resume)
    except (TrainError, DataError, CheckpointError, RunFolderError) as exc:
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


def _add_use(sub, name: str) -> None:
    """``predict`` and ``eval``: a trained run on a data file."""
    if name == "predict":
        p = sub.add_parser("predict", help="predict classes (and probabilities) or values of a data file with a "
                                           "trained run",
                           description="Predict with a trained run: one CSV row per sample with the predicted "
                                       "label (in the labels the run was trained with) and each class's "
                                       "probability, or a regressor's `prediction` in the label's units. "
                                       "Columns are matched by name; the file may have the label column or not.")
        p.add_argument("--out", metavar="CSV", help="where to write the predictions (default: "
                       "predictions-<data name>.csv in the run's folder)")
    else:
        p = sub.add_parser("eval", help="accuracy, per-class precision/recall and a confusion matrix (or RMSE, "
                                        "MAE, R^2 and predicted-vs-true plots) of a run on a labelled data file",
                           description="Evaluate a trained run on a labelled .csv/.parquet/.npz: a classifier's "
                                       "accuracy, per-class precision and recall and the confusion matrix as a "
                                       "PNG; a regressor's RMSE, MAE and R^2 and a PNG of predicted vs true and "
                                       "of the residuals.")
        p.add_argument("--out", metavar="PNG", help="where to write the picture (default: confusion-<data "
                       "name>.png, or regression-<data name>.png, in the run's folder)")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="a run folder (as written by gpugrad train) or "
                   "its checkpoint.npz")
    p.add_argument("--data", metavar="FILE", required=True, help="a .csv with the run's feature columns "
                   "(and optionally the label last), or an .npz with x (and optionally y)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where to run the model (default: auto)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which of the run's checkpoints: best (by the validation split; best.npz) or last "
                        "(checkpoint.npz) (default: best; last where a run has no best.npz)")
    if name == "predict":
        p.add_argument("--force", action="store_true", help="replace an existing --out file (refused without)")
    add_table_options(p, training=False)
    p.set_defaults(handler=_run_predict if name == "predict" else _run_eval)


def _default_out(run_folder: str, prefix: str, data: str, ext: str) -> str:
    stem = os.path.splitext(os.path.basename(data))[0] or "data"
    return os.path.join(run_folder, f"{prefix}-{stem}{ext}")


def _use_errors(command: str, work) -> int:
    """Run ``work()``; the errors of a bad run, file or path become one line and exit status 2."""
    try:
        work()
    except (TrainError, DataError, CheckpointError, RunFolderError, OSError) as exc:
        print(f"gpugrad {command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\ngpugrad {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _run_and_output(args, stem: str, ext: str):
    """predict/eval: the trained run, and the output path checked before any work (writable, not an
    input, not a file of the run other than this command's own ``stem-*ext`` outputs; predict's CSV
    not an existing file unless --force)."""
    from .predict import load_run
    if args.out:
        check_writable_file(args.out, "--out")
    run = load_run(args.run, args.device, which=args.checkpoint)
    stem = stem(run) if callable(stem) else stem
    out = args.out or _default_out(run.folder, stem, args.data, ext)
    check_output_file(out, "--out", [("--data", args.data), ("the checkpoint", run.checkpoint)],
                      run.folder, (f"{stem}-", ext))
    if ext == ".csv" and os.path.exists(out) and not args.force:
        raise RunFolderError(f"--out {out} already exists; pass --force to replace it, or choose another --out")
    return run, out


def _inputs(args, run):
    from .predict import read_inputs
    return read_inputs(args.data, run, header=args.header, delimiter=args.delimiter,
                       na_values=args.na_values or (), ignore=args.ignore or (),
                       warn=lambda line: print(line, file=sys.stderr))


def _run_predict(args) -> int:
    from .predict import predict_proba, predict_values, write_predictions, write_values

    def work():
        run, out = _run_and_output(args, "predictions", ".csv")
        x, y = _inputs(args, run)
        msg = f"predicted {len(x)} samples of {args.data} with {run.checkpoint} (epoch {run.epoch}) on {run.device}"
        if run.task == "regress":
            values = predict_values(run, x)
            write_values(out, run.schema["label"]["names"], values, y, force=True)
            if y is not None:
                m = regression_metrics(y, values)
                msg += f"; against its labels RMSE {m['rmse']:.4g}, MAE {m['mae']:.4g}, R^2 {m['r2']:.4f}"
        else:
            proba = predict_proba(run, x)
            labels = None if y is None else run.classes[y]
            write_predictions(out, run.classes, proba, labels, force=True)
            if y is not None:
                msg += f"; accuracy {100 * float((proba.argmax(axis=1) == y).mean()):.2f}% against its labels"
        print(msg)
        print(f"wrote {out}")
    return _use_errors("predict", work)


def _run_eval(args) -> int:
    from .evaluate import class_report, confusion_matrix, format_report, plot_confusion, plot_regression
    from .predict import predict_proba, predict_values

    def work():
        run, out = _run_and_output(args, lambda r: "confusion" if r.task == "classify" else "regression",
                                   ".png")
        x, y = _inputs(args, run)
        if y is None:
            raise DataError(f"{args.data}: no label column ({', '.join(run.schema['label']['names']) if run.schema else 'y'}), "
                            f"so there is nothing to evaluate against; gpugrad predict gives the predictions")
        if run.task == "regress":
            values = predict_values(run, x)
            m = regression_metrics(y, values)
            print(f"{run.checkpoint} (epoch {run.epoch}) on {args.data}: {len(y)} samples, RMSE {m['rmse']:.4g}, "
                  f"MAE {m['mae']:.4g}, R^2 {m['r2']:.4f}")
            plot_regression(y, values, out, run.schema["label"]["names"],
                            f"{os.path.basename(args.data)}: R^2 {m['r2']:.3f}, RMSE {m['rmse']:.4g} "
                            f"({len(y)} samples)")
            print(f"wrote {out}")
            return
        pred = predict_proba(run, x).argmax(axis=1)
        cm = confusion_matrix(y, pred, len(run.classes))
        report = class_report(cm)
        print(f"{run.checkpoint} (epoch {run.epoch}) on {args.data}: {len(y)} samples, accuracy "
              f"{100 * report['accuracy']:.2f}%")
        print(format_report(report, run.classes))
        plot_confusion(cm, run.classes, out, f"{os.path.basename(args.data)}: accuracy "
                       f"{100 * report['accuracy']:.2f}% ({len(y)} samples)")
        print(f"wrote {out}")
    return _use_errors("eval", work)


def _add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="check the GPU toolchain (versions, NVVM, nvJitLink, driver, one kernel)",
                       description="Check that this machine can run gpugrad's GPU path: versions, NVVM, "
                                   "nvJitLink, the driver, one kernel compiled and linked with its "
                                   "registers. Each failure is one line with its fix; on a CPU-only "
                                   "machine it says which checks need a GPU. Exit status 1 on a failure.")
    p.add_argument("--json", metavar="FILE", help="also write the checks as JSON to FILE")
    p.set_defaults(handler=_run_doctor)


def _run_doctor(args) -> int:
    from .doctor import run
    return run(json_path=args.json)


def _version() -> str:
    return f"gpugrad {__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gpugrad", description="gpugrad: reverse-mode autodiff for MLPs.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train(sub)
    _add_use(sub, "predict")
    _add_use(sub, "eval")
    add_bench_parser(sub)
    _add_doctor(sub)
    _remember_parsers(parser)
    return parser


def _remember_parsers(parser) -> None:
    """Let every (sub)command's namespace carry its own parser, so that an unknown flag after
    ``gpugrad train`` is reported by ``gpugrad train`` and points to ``gpugrad train --help``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(command_parser=sub)
                _remember_parsers(sub)


def main(argv=None) -> int:
    """Entry point of the ``gpugrad`` console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args.handler(args)
