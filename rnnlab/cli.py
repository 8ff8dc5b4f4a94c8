"""The ``rnnlab`` command.

Thin by design: each sub-command is a small typed function that tyro turns
into a parser (its signature gives the options, its docstring the help), and
its body calls the module that does the work.  Commands are grouped in
:class:`tyro.extras.SubcommandApp` instances, so a new one is a new decorated
function, and a new group (``train``, ``evaluate``, ``predict``, ``generate``,
``memory``, ``report``) is one more app registered on :data:`app`.

    rnnlab bench layers [--repeats N] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import tyro
from tyro.extras import SubcommandApp

from rnnlab import bench

app = SubcommandApp()
"""The top-level ``rnnlab`` command; every group below is registered on it."""

bench_app = SubcommandApp()
"""``rnnlab bench ...``: benchmarks against torch.nn."""
app.command(bench_app, name="bench", help="Benchmarks against torch.nn, printed as ratios.")


@bench_app.command(name="layers")
def bench_layers(
    repeats: Annotated[int | None, tyro.conf.arg(
        metavar="N", help_behavior_hint=f"(default: {bench.REPEATS}; {bench.QUICK_REPEATS} with --quick)")] = None,
    quick: bool = False,
) -> None:
    """Time rnnlab's LSTM, GRU and RNN (native and unrolled engines) against torch.nn's.

    Prints forward and forward+backward times (median, ms) and their ratios to torch.nn.

    Args:
        repeats: Timed calls of each module, interleaved; the median is reported.
        quick: Fast smoke run: fewer repeats and a tenth of the time steps.
    """
    bench.bench_layers(repeats=repeats, quick=quick)


def main(args: Sequence[str] | None = None) -> None:
    """Run the ``rnnlab`` command on ``args`` (default: ``sys.argv[1:]``)."""
    app.cli(prog="rnnlab", description="rnnlab: recurrent neural networks from the recurrence up.", args=args)


if __name__ == "__main__":
    main()
