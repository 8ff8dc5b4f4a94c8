"""The explorer page: one self-contained HTML page that shows an input going through trained runs.

:func:`explorer_page` turns the plain data of :func:`rnnlab.training.explore.explore_item` (one dict
per input and run) into a page: the data inlined as JSON, the script (``explorer.js``) and styles
(``explorer.css``) inlined beside it, so the page needs no network and no other file.  The script
draws with canvas and SVG and sets every text from the data with ``textContent``, so an input holding
markup stays text; the JSON is written with ``<`` escaped, so no input can close the script element.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from pathlib import Path

from rnnlab.files import atomic_write

PROMPT = "Type an input and press Explore; the page updates with what the model does with it."
LIVE_FORM = ('<form id="live"><p>{prompt}</p><textarea name="input" aria-label="input"></textarea> <button '
             'type="submit">Explore</button><p class="live-prediction"></p><p class="error"></p></form>')


def explorer_page(groups: list[dict], title: str = "rnnlab explore", live: bool = False,
                  prompt: str | None = None) -> str:
    """The page for ``groups``: ``[{"input": text, "views": [view, ...]}]``, one view per run for that input
    (side by side); ``live`` adds the form of ``rnnlab serve``, which asks the server for new inputs (``prompt``
    says what to type)."""
    data = json.dumps({"title": title, "groups": groups}, separators=(",", ":"), allow_nan=False)
    data = data.replace("<", "\\u003c")  # still JSON; nothing in it can end the script element
    resources = files("rnnlab.report")
    style = resources.joinpath("explorer.css").read_text(encoding="utf-8")
    script = resources.joinpath("explorer.js").read_text(encoding="utf-8")
    form = LIVE_FORM.format(prompt=html.escape(prompt or PROMPT)) if live else ""
    intro = ("<p class=\"legend\">One column per time step (long inputs: per window of steps). Move through "
             "time with the slider or the arrow keys; pick a layer and direction above each run.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<link rel=\"icon\" href=\"data:,\">\n"  # no icon to fetch
            f"<style>\n{style}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n{intro}\n{form}\n<div id=\"explorer\"></div>\n"
            f"<script type=\"application/json\" id=\"explorer-data\">{data}</script>\n"
            f"<script>\n{script}</script>\n</body>\n</html>\n")


def write_explorer(path: Path, groups: list[dict], title: str = "rnnlab explore") -> Path:
    """:func:`explorer_page` written to ``path`` atomically."""
    page = explorer_page(groups, title)
    atomic_write(Path(path), lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return Path(path)
