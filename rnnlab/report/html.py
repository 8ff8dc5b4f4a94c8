"""The self-contained HTML report of memory grids, training runs and their diagnostics.

:func:`write_report` writes ``report.html`` for one or more directories (memory grids, ``rnnlab train``
runs, ``rnnlab diagnose`` output), every plot embedded as base64, so the page needs no network
and no other file.  Every value read from a file is HTML-escaped (a crafted run directory cannot put
markup or scripts into the page), and a malformed file is refused with its name.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from rnnlab.errors import CheckpointError
from rnnlab.files import atomic_write, read_json
from rnnlab.report.tables import MEMORY_COLUMNS, disagreements, memory_row, sorted_rows


def write_report(directories: list[Path], path: Path) -> Path:
    """A self-contained HTML page for ``directories`` (memory grids, train runs, diagnostics), written atomically."""
    sections = []
    for directory in map(Path, directories):
        if not directory.is_dir():
            raise CheckpointError(f"{directory}: no such directory")
        try:
            sections.append(_section(directory))
        except CheckpointError:  # an unreadable file: named already
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as error:  # a field missing or of the wrong type
            raise CheckpointError(f"{directory}: a file of it is malformed ({type(error).__name__}: {error})") from None
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>rnnlab report</title>\n"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
            "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #bbb;padding:2px 8px}"
            "img{max-width:100%;display:block;margin:1em 0}figcaption{font-size:13px;color:#555}</style>\n"
            "</head>\n<body>\n<h1>rnnlab report</h1>\n" + "\n".join(sections) + "\n</body>\n</html>\n")
    atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path


def _section(directory: Path) -> str:
    parts = [f"<h2>{html.escape(str(directory))}</h2>"]
    memory = directory / "memory.json"
    if memory.exists():
        data = read_json(memory)
        parts.append(f"<p>Memory grid: {len(data['rows'])} runs in {float(data['seconds']) / 60:.1f} minutes. "
                     f"Solved: test metric below {float(data['solved_fraction'])} of the memoryless baseline"
                     + (f"; half solved: below {float(data['half_fraction'])} of it" if "half_fraction" in data
                        else "") + ".</p>")
        parts.append(_html_table(data["rows"]))
    config = directory / "config.json"
    if config.exists():
        parts.append("<h3>Configuration</h3><pre>" + html.escape(config.read_text()) + "</pre>")
    test = directory / "test_metrics.json"
    if test.exists():
        metrics = read_json(test)
        shown = {k: metrics[k] for k in ("accuracy", "wer", "per", "perplexity") if k in metrics}
        parts.append("<p>Test: " + ", ".join(f"{k} {float(v):.4f}" for k, v in shown.items()) + "</p>")
    diagnostics = directory / "diagnostics" / "diagnostics.json"
    if diagnostics.exists():
        parts.append("<h3>Diagnostics</h3><pre>" + html.escape(diagnostics.read_text()[:4000]) + "</pre>")
    for image in sorted(directory.glob("*.png")) + sorted((directory / "diagnostics").glob("*.png")):
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(image.name)}">'
                     f"<figcaption>{html.escape(image.name)}</figcaption></figure>")
    return "\n".join(parts)


def _html_table(rows: list[dict]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in MEMORY_COLUMNS)
    body = ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in memory_row(r)) + "</tr>" for r in sorted_rows(rows)]
    notes = [f"<li><b>{html.escape(run)}</b>: {html.escape(why)} (source: {html.escape(source)})</li>"
             for run, why, source in disagreements(rows)]
    listed = f"<p>Where a run and the literature disagree:</p><ul>{''.join(notes)}</ul>" if notes else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{listed}"
