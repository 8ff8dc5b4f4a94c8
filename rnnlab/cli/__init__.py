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
    rnnlab bench layers|scan|seq2seq|dropout|train|order   benchmarks (rnnlab.cli.bench)
    rnnlab diagnose RUN_DIR                      gradient flow, Jacobians, gates, gradient norms (rnnlab.cli.inspection)
    rnnlab memory [--quick]                      the memory benchmark grid, its table, plots and report
    rnnlab report DIR...                         a self-contained HTML page of runs and grids

Every error in what the user gave (:class:`rnnlab.errors.UsageError`: a missing file, a malformed
line, an unusable option or checkpoint) ends the command with one line, ``rnnlab: error: ...``,
and exit status 2.  Nothing imports this package (but ``python -m`` entry points).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import tyro

from rnnlab.cli.root import app
from rnnlab.errors import UsageError

# Each module registers its commands on the app, in the order --help lists them: training first.
# isort: off
from rnnlab.cli import train  # noqa: F401, E402
from rnnlab.cli import inspection  # noqa: F401, E402
from rnnlab.cli import bench  # noqa: F401, E402
# isort: on


def main(args: Sequence[str] | None = None, prog: str = "rnnlab") -> None:
    """Run the ``rnnlab`` command on ``args`` (default: ``sys.argv[1:]``)."""
    try:
        app.cli(prog=prog, description="rnnlab: recurrent neural networks from the recurrence up.", args=args,
                config=(tyro.conf.OmitArgPrefixes,))
    except UsageError as error:
        print(f"rnnlab: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
