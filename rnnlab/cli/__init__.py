"""The ``rnnlab`` command: one module per command group, each command thin.

Each sub-command is a small typed function that tyro turns into a parser (its signature gives the
options, its docstring the help); its body calls one library function and prints.  Commands are
registered on :data:`rnnlab.cli.root.app`:

    rnnlab train --task mnist1d                  train on a task's embedded data set (rnnlab.cli.train)
    rnnlab train --resume RUN_DIR                continue an interrupted run
    rnnlab evaluate RUN_DIR [--data PATH]        the metric on the test split or your file (G2P: --ensemble RUN...)
    rnnlab predict RUN_DIR INPUT... [--file F]   labels, tags or pronunciations for new inputs
    rnnlab generate RUN_DIR [LANGUAGE...] -n N   words of a language from a word-generation run
    rnnlab attention RUN_DIR WORD                which letters each phoneme of a G2P output looked at
    rnnlab export RUN_DIR [--format onnx|torch-export] [--int8]   the model as ONNX or a torch.export program
    rnnlab bench layers|scan|seq2seq|dropout|train|order|explore|export   benchmarks (rnnlab.cli.bench)
    rnnlab diagnose RUN_DIR                      gradient flow, Jacobians, gates, gradient norms (rnnlab.cli.inspection)
    rnnlab memory [--quick]                      the memory benchmark grid, its table, plots and report
    rnnlab report DIR...                         a self-contained HTML page of runs and grids
    rnnlab explore RUN_DIR... INPUT...           a page of inputs going through runs, step by step (rnnlab.cli.explore)
    rnnlab serve RUN_DIR                         that page on a local web server, with a box for new inputs

Every error in what the user gave (:class:`rnnlab.errors.UsageError`: a missing file, a malformed
line, an unusable option or checkpoint) ends the command with one line, ``rnnlab: error: ...``,
and exit status 2.  Nothing imports this package (but ``python -m`` entry points).

``rnnlab --help`` and ``rnnlab --version`` answer from :data:`COMMANDS` alone, without importing
torch; the command modules (and torch with them) are imported once a command is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import NamedTuple

from rnnlab.errors import UsageError

DESCRIPTION = "rnnlab: recurrent neural networks from the recurrence up."


class Command(NamedTuple):
    module: str
    """The module that registers the command on :data:`rnnlab.cli.root.app`."""
    summary: str
    """Its line in ``rnnlab --help``."""


COMMANDS = {
    "train": Command("rnnlab.cli.train", "Train a model on a task's data set (or your own file) and write a run "
                                         "directory."),
    "evaluate": Command("rnnlab.cli.train", "Evaluate a trained run on its task's test split, or on your file."),
    "predict": Command("rnnlab.cli.train", "Predict with a trained run: labels, tags or pronunciations."),
    "generate": Command("rnnlab.cli.train", "Generate words of the requested languages with a word-generation run."),
    "attention": Command("rnnlab.cli.train", "Plot which letters each phoneme of a G2P run's transcription looked "
                                             "at."),
    "export": Command("rnnlab.cli.train", "Export a trained run's model for serving: ONNX or a torch.export "
                                          "program."),
    "diagnose": Command("rnnlab.cli.inspection", "Diagnose a trained run: how far back its gradient reaches, its "
                                                 "Jacobians, gates and gradient norms."),
    "memory": Command("rnnlab.cli.inspection", "Memory benchmarks: adding problem, copy memory and shuffled "
                                               "MNIST-1D, per cell."),
    "report": Command("rnnlab.cli.inspection", "Write a self-contained HTML report of memory grids, train runs and "
                                               "their diagnostics."),
    "explore": Command("rnnlab.cli.explore", "Write a page that shows inputs going through trained runs, step by "
                                             "step: states, gates, prediction, gradient."),
    "serve": Command("rnnlab.cli.explore", "Serve a run's explorer page on a local web server, with a box for new "
                                           "inputs."),
    "bench": Command("rnnlab.cli.bench", "Benchmarks against torch.nn, printed as ratios."),
}
"""Every command, in the order ``rnnlab --help`` lists them (training first), with its module and summary."""


def main(args: Sequence[str] | None = None, prog: str = "rnnlab") -> None:
    """Run the ``rnnlab`` command on ``args`` (default: ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if args is None else args)
    if not args or args[0] not in COMMANDS:
        _root_parser(prog).parse_args(args)  # help, --version or an unknown command: it prints and exits
    # The command modules import torch: only now that a command is given.  All of them, in the table's
    # order, so that the commands are registered as they are listed.
    for module in dict.fromkeys(command.module for command in COMMANDS.values()):
        importlib.import_module(module)
    import tyro  # heavy (rich, docstring parsing): only for a command

    from rnnlab.cli.root import app  # already imported by the command modules above
    try:
        app.cli(prog=prog, description=DESCRIPTION, args=args, config=(tyro.conf.OmitArgPrefixes,))
    except UsageError as error:
        print(f"rnnlab: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _root_parser(prog: str) -> argparse.ArgumentParser:
    """The light ``rnnlab`` parser: the commands and their summaries, and ``--version``."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION,
                                     epilog=f"{prog} COMMAND --help shows the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('rnnlab')}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=command.summary)
    return parser
