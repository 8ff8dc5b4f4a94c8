"""``rnnlab explore``, ``serve``: the unfolded network of a trained run, step by step, in a page."""

from __future__ import annotations

import itertools
from pathlib import Path

import tyro

from rnnlab.cli.root import Device, app
from rnnlab.errors import CheckpointError, ConfigError
from rnnlab.report.explorer import write_explorer
from rnnlab.tasks.config import CellName
from rnnlab.training.explore import EXAMPLE, MAX_COLUMNS, explore_item, explore_runs, untrained_model
from rnnlab.training.predict import read_item
from rnnlab.training.serve import MAX_INPUT_CHARS, serve


@app.command(name="explore")
def explore_command(arguments: tyro.conf.Positional[tuple[str, ...]] = (), output: Path | None = None,
                    data: Path | None = None, untrained: bool = False, cell: CellName = "lstm",
                    max_columns: int = MAX_COLUMNS, device: Device = "auto") -> None:
    """Write a self-contained HTML page that shows inputs going through trained runs: the unfolded chain
    (states and gates per step), the prediction as it forms, and the gradient through time.

    `rnnlab explore RUN_DIR "some input" ...`: one run, a section per input; `rnnlab explore RUN_A RUN_B
    "some input"`: runs side by side on the same input; `rnnlab explore --untrained --cell lstm`: a fresh
    cell on a built-in example (or on your inputs).

    Inputs are read as `rnnlab predict` reads them: a word, a sentence, a text, or a signal as
    comma-separated numbers (channels separated by ':'); a word-generation run reads a language and a
    word ("de schmetterling"). A forecast run reads a CSV file of the series' recent steps, as `rnnlab
    predict --data` does (`rnnlab explore RUN_DIR --data recent.csv`), and shows the forecast after its
    last known value; with no file, the last forecast of the run's own test stretch, against the truth.

    Args:
        arguments: Run directories written by `rnnlab train`, then the inputs.
        output: The page (default: explore.html in the first run directory, or in the current directory).
        data: A forecast run's CSV file of the series' recent steps (a CSV path among the inputs works too).
        untrained: Explore a fresh, untrained --cell over characters instead of a trained run.
        cell: The cell of --untrained.
        max_columns: The most step columns drawn; longer inputs are shown as windows of steps.
        device: Where to run: auto (a CUDA device when one is available, else the CPU), cpu or cuda.
    """
    runs = [Path(a) for a in itertools.takewhile(_is_directory, arguments)]
    texts = list(arguments[len(runs):])
    if any(_is_directory(a) for a in texts):
        raise ConfigError("explore: give the run directories first, then the inputs")
    if max_columns < 1:
        raise ConfigError(f"explore: --max-columns must be at least 1, got {max_columns}")
    if untrained:
        if data is not None:
            raise ConfigError("explore: --data is a forecast run's series; --untrained explores a cell over text")
        if runs:
            raise ConfigError("explore: --untrained explores a fresh cell; give no run directory with it")
        texts = texts or [EXAMPLE]
        task, model = untrained_model(cell, text="".join(texts))
        groups = [{"input": text, "views": [explore_item(task, model, read_item(task, f"explore: input {k}", text),
                                                         f"untrained {cell}", max_columns)]}
                  for k, text in enumerate(texts, start=1)]
        path = output or Path("explore.html")
    else:
        if not runs:
            first = f"{arguments[0]}: no such run directory" if arguments else "give a run directory"
            raise CheckpointError(f"explore: {first} (or --untrained for a fresh cell)")
        groups = explore_runs(runs, texts, device, max_columns, data)
        path = output or runs[0] / "explore.html"
    print(f"written: {write_explorer(path, groups, 'rnnlab explore')}")


def _is_directory(argument: str) -> bool:
    try:
        return Path(argument).is_dir()
    except OSError:  # a name too long to be a path: an input
        return False


@app.command(name="serve")
def serve_command(run_dir: tyro.conf.Positional[Path], host: str = "127.0.0.1", port: int = 8000,
                  example: str | None = None, max_chars: int = MAX_INPUT_CHARS, device: Device = "auto") -> None:
    """Serve the explorer page of a run on a small local web server, with a box to type new inputs into.

    Needs Starlette and uvicorn (pip install 'rnnlab[serve]').  Open http://127.0.0.1:8000/ in a browser;
    Ctrl-C stops the server.  A forecast run's page opens on the last forecast of its test stretch, and its
    box takes the CSV text of the series' recent steps (what `rnnlab predict --data` reads from a file).

    Args:
        run_dir: A run directory written by `rnnlab train`.
        host: The address to listen on; the default answers this machine only.
        port: The port to listen on.
        example: An input explored on the first page (a forecast run: a CSV file's path).
        max_chars: The longest input accepted, in characters (a forecast run's CSV text: up to 64 KiB).
        device: Where to run: auto (a CUDA device when one is available, else the CPU), cpu or cuda.
    """
    if not 0 < port < 65536:
        raise ConfigError(f"serve: --port must be in 1..65535, got {port}")
    serve(run_dir, host, port, device, max_chars, example)
