"""How fast the explorer page of a long input loads in a headless browser.

:func:`bench_explore` builds the page of one long input (default: 1,000 steps through an LSTM of 256
units, the size the page must stay usable at), loads it ``repeats`` times in Debian's headless Chromium
(:mod:`rnnlab.bench.browser`) and prints the page's size, the time to gather its data in Python, and the
median time from the start of navigation to the end of drawing, as the page measured it.

Run it as ``rnnlab bench explore``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from rnnlab.bench.browser import headless_chromium, open_page
from rnnlab.report.explorer import write_explorer
from rnnlab.training.explore import EXAMPLE, MAX_COLUMNS, explore_item, untrained_model

LIMIT_SECONDS = 2.0
"""The page of a 1,000-step input must be drawn within this."""


def bench_explore(steps: int = 1000, hidden_size: int = 256, cell: str = "lstm", repeats: int = 5,
                  max_columns: int = MAX_COLUMNS) -> dict:
    """Build and load the page of a ``steps``-step input through an untrained ``cell`` of ``hidden_size``
    units; print and return the page's bytes, the seconds to gather its data and the load times."""
    text = (EXAMPLE + " ") * (steps // (len(EXAMPLE) + 1) + 1)
    text = text[:steps]
    task, model = untrained_model(cell, hidden_size=hidden_size, text=text)
    start = time.perf_counter()
    view = explore_item(task, model, text, f"untrained {cell}", max_columns)
    gather = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        page = write_explorer(Path(folder) / "long.html", [{"input": f"{steps} characters", "views": [view]}])
        size = page.stat().st_size
        with headless_chromium() as driver:
            loads = [open_page(driver, page) for _ in range(repeats)]
    result = {"steps": steps, "hidden_size": hidden_size, "cell": cell, "columns": len(view["columns"]),
              "page_bytes": size, "gather_seconds": gather, "load_seconds": loads,
              "median_load_seconds": statistics.median(loads)}
    verdict = "within" if result["median_load_seconds"] < LIMIT_SECONDS else "OVER"
    print(f"explorer page of a {steps}-step input, {cell} with {hidden_size} units: {len(view['columns'])} columns, "
          f"{size / 1e6:.2f} MB, data gathered in {gather:.2f} s")
    print(f"load to drawn in headless Chromium: median {result['median_load_seconds']:.3f} s over {repeats} loads "
          f"(min {min(loads):.3f} s, max {max(loads):.3f} s), {verdict} the {LIMIT_SECONDS:.0f} s limit")
    return result
