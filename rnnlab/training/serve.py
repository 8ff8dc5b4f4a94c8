"""``rnnlab serve``: the explorer page of a run with a live input box, from a small local web server.

:func:`explorer_app` is a Starlette application (``pip install 'rnnlab[serve]'``) with two routes:

* ``GET /``: the explorer page (:func:`rnnlab.report.explorer.explorer_page`) with its input form;
* ``POST /api/explore`` with ``{"input": "..."}`` as ``application/json``: ``{"group": ..., "prediction":
  ...}``, the page's data for that input and the line ``rnnlab predict`` prints for it.

A forecast run's input is the text of a CSV file of the series' recent steps (its header and rows, as
``rnnlab predict --data`` reads the file), bounded by the body's size rather than ``max_chars``; its
prediction is the CSV ``rnnlab predict`` writes, and the first page shows the run's last test forecast (or
the forecast after ``example``, a CSV file's path).

A bad request is answered with a 4xx status and ``{"error": "..."}``, never a crash: a body of another
content type (415), over ``MAX_BODY`` bytes (413), not JSON or without a text ``input`` (400), an empty
input, one over the length limit or one the run cannot read (422).  One model serves every request, one
at a time.  :func:`serve` binds to 127.0.0.1 by default: the page is for the person at this machine.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

from rnnlab.data import TimeSeries
from rnnlab.errors import ConfigError, DataError, UsageError
from rnnlab.report.explorer import explorer_page
from rnnlab.tasks import ForecastTask, Task
from rnnlab.training.explore import explore_forecast, explore_item, forecast_groups, prediction_text
from rnnlab.training.predict import forecast_csv, read_item
from rnnlab.training.runs import load_run

MAX_INPUT_CHARS = 1_000
"""The longest input the server explores, in characters."""
MAX_BODY = 64 * 1024
"""The largest request body accepted, in bytes."""
FORECAST_PROMPT = ("Paste the CSV of the series' recent steps (its header and rows, as rnnlab predict --data reads "
                   "a file) and press Explore; the page updates with the forecast after its last known value.")
"""What the live form asks of a forecast run."""
MAX_DRAINED = 16 << 20
"""The largest body read to its end before a 413 answer; a larger one is answered at once (and cut off)."""


def explorer_app(run_dir: Path, device: str = "auto", max_chars: int = MAX_INPUT_CHARS, example: str | None = None):
    """The Starlette application serving the run in ``run_dir`` (see the module docstring); ``example``, if
    given, is explored on the first page."""
    try:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse
        from starlette.routing import Route
    except ImportError:
        raise ConfigError("serve: needs Starlette and uvicorn: pip install 'rnnlab[serve]'") from None
    run_dir = Path(run_dir)
    _, task, model = load_run(run_dir, device=device)
    lock = threading.Lock()  # one model, one request at a time
    forecasting = isinstance(task, ForecastTask)

    def explore(text: str) -> dict:
        with lock:
            if forecasting:
                series, origin = _series(task, text)
                return {"group": {"input": "the CSV text given", "views": [
                            explore_forecast(task, model, series, origin, run_dir.name, "the CSV text given")]},
                        "prediction": forecast_csv(task.predict(model, series, next(model.parameters()).device))}
            return {"group": {"input": text, "views": [_view(task, model, text, run_dir.name)]},
                    "prediction": prediction_text(task, model, text)}

    if forecasting:
        first = forecast_groups([(run_dir.name, task, model)], [example] if example else [])
    else:
        first = [explore(example)["group"]] if example else []
    page = explorer_page(first, f"rnnlab serve: {run_dir.name}", live=True,
                         prompt=FORECAST_PROMPT if forecasting else None)

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    async def api(request: Request) -> JSONResponse:
        def refuse(status: int, why: str) -> JSONResponse:
            return JSONResponse({"error": why}, status_code=status)

        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return refuse(415, "send the input as application/json: {\"input\": \"...\"}")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_DRAINED:
            return refuse(413, f"the request is over {MAX_BODY} bytes")
        body, size = b"", 0
        async for chunk in request.stream():  # read to its end (kept up to MAX_BODY), so the client gets the answer
            size += len(chunk)
            if size > MAX_DRAINED:
                return refuse(413, f"the request is over {MAX_BODY} bytes")
            if size <= MAX_BODY:
                body += chunk
        if size > MAX_BODY:
            return refuse(413, f"the request is over {MAX_BODY} bytes")
        try:
            text = json.loads(body)["input"]
        except (ValueError, KeyError, TypeError):
            return refuse(400, "the body must be JSON: {\"input\": \"...\"}")
        if not isinstance(text, str):
            return refuse(400, "input must be a string")
        if not text.strip():
            return refuse(422, "empty input")
        if len(text) > max_chars and not forecasting:  # a series' CSV text is bounded by MAX_BODY
            return refuse(422, f"the input has {len(text):,} characters, more than the limit of {max_chars:,}")
        try:
            return JSONResponse(await _in_thread(explore, text))
        except UsageError as error:
            return refuse(422, str(error))

    return Starlette(routes=[Route("/", index), Route("/api/explore", api, methods=["POST"])])


def serve(run_dir: Path, host: str = "127.0.0.1", port: int = 8000, device: str = "auto",
          max_chars: int = MAX_INPUT_CHARS, example: str | None = None) -> None:
    """Serve :func:`explorer_app` with uvicorn until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("serve: needs Starlette and uvicorn: pip install 'rnnlab[serve]'") from None
    app = explorer_app(run_dir, device, max_chars, example)
    print(f"rnnlab serve: http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _series(task: ForecastTask, text: str) -> tuple[TimeSeries, int]:
    """The series and origin of a forecast from CSV text, read as ``rnnlab predict --data`` reads a file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.csv"
        path.write_text(text, encoding="utf-8")
        try:
            return task.next_forecast(task.read_series(task.config, path, future=True))
        except DataError as error:  # named as the person sent it, not by a temporary file
            raise DataError(str(error).replace(str(path), "the CSV text")) from None


def _view(task: Task, model, text: str, name: str) -> dict:
    return explore_item(task, model, read_item(task, "input", text), name)


async def _in_thread(function, *args):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)
