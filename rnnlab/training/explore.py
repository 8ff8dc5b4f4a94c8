"""Looking at one input going through a trained run: what ``rnnlab explore`` and ``rnnlab serve`` show.

:func:`explore_item` runs one item through a run's model with every recurrent layer of its encoder
recorded (:func:`rnnlab.nn.diagnostics.recording`) and gathers, as plain data for
:mod:`rnnlab.report.explorer`:

* the unfolded chain: every step's state (``h``, and ``c`` for an LSTM) and gates, per layer and
  direction, ``(columns, H)`` each;
* the prediction as it forms: for a classifier the class probabilities after each step (the model
  reading the prefix ``x[:t+1]``); for a tagger each token's tag distribution; for G2P the attention
  matrix and the decoder's steps; for a word generator reading a given word, the next letter's
  distribution after each letter; for a forecaster (:func:`explore_forecast`) the forecast with its
  80% and 95% bands after the history it read (and the truth, where it is known);
* the gradient through time: ``||dL/dh_t||`` for every step, where ``L`` is the cross-entropy of the
  model's own prediction for the item (a generator's: of the word's own letters), and the same for a
  copy of the item with its steps shuffled (asked for the same prediction; a generator's, for its own
  letters).

A forecaster's chain is its encoder over the ``L`` history steps continued by its decoder over the ``H``
steps ahead (the decoder starts from the encoder's last state): ``T = L + H`` steps, each layer's encoder
and decoder shown as one track; its loss is the negative log-likelihood of the truth, or where the truth
is unknown of the model's own median forecast, and the shuffled copy has its history steps shuffled.

Long items are windowed: at most ``max_columns`` columns, each the mean over a window of steps, so a
1,000-step item does not draw 1,000 x H cells; the gradient keeps every step.

Shapes: ``T`` steps, ``C`` columns (``T`` when ``T <= max_columns``), ``H`` units, ``K`` labels.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.data import TimeSeries, Vocabulary
from rnnlab.errors import ConfigError, DataError
from rnnlab.models import negative_log_likelihood
from rnnlab.nn.diagnostics import recording
from rnnlab.tasks import (
    ClassifierTask,
    ForecastTask,
    GenerationTask,
    TaggingTask,
    Task,
    TextTask,
    TranscriptionTask,
)
from rnnlab.tasks.config import TrainConfig
from rnnlab.tasks.registry import load_splits, make_task
from rnnlab.training.predict import predict_with, read_item
from rnnlab.training.runs import load_run

MAX_COLUMNS = 160
"""The most step columns a page draws; longer items are shown as windows of steps."""
MAX_STEPS = 5_000
"""The longest item explored, in steps (a page holds every step's gradient)."""
EXAMPLE = "the cat sat on the mat"
"""The built-in example of ``rnnlab explore --untrained``."""
ENCODER = re.compile(r"^(encoder|layer)/l\d+(_reverse)?$")
"""The recorded layers shown: the task model's encoder (a generator's layer) over the item, not a tagger's
character encoder."""
DIGITS = 5


def explore_item(task: Task, model: nn.Module, item: str | list[str] | Tensor, run: str = "",
                 max_columns: int = MAX_COLUMNS, seed: int = 0) -> dict[str, Any]:
    """What the page shows of ``item`` (as :func:`~rnnlab.training.predict.read_item` reads it) going
    through ``model``, a run's model for ``task``: a plain dict (see the module docstring); ``run``
    names the run, ``seed`` draws the shuffled copy's order."""
    model.eval()
    reader = _reader_of(task)(task, model, next(model.parameters()).device)
    steps = reader.steps(item)
    if len(steps) > MAX_STEPS:
        raise DataError(f"explore: the input has {len(steps):,} steps, more than the limit of {MAX_STEPS:,}")
    T = len(steps)
    columns = windows(T, max_columns)
    logits, target, records, grads = _run(reader, steps, None)
    prediction = reader.prediction(steps, logits, columns)
    shuffled = reader.shuffled(steps, torch.Generator().manual_seed(seed))
    shuffled_logits, _, _, shuffled_grads = _run(reader, shuffled, target if reader.same_target else None)
    tracks = []
    for record, grad, shuffled_grad in zip(records, grads, shuffled_grads):
        series = {name: state[:, 0] for name, state in zip(_state_names(len(record.trace.states)),
                                                              record.trace.states)}
        series.update({name: gate[:, 0] for name, gate in record.trace.gates.items()})
        tracks.append({
            "name": record.name, "layer": record.layer, "direction": "reverse" if record.direction else "forward",
            "units": int(record.trace.states[0].shape[-1]),
            "series": {name: _rounded(window_means(values.detach().float().cpu(), columns))
                       for name, values in series.items()},
            "gradient": _significant(grad), "gradient_shuffled": _significant(shuffled_grad),
        })
    tokens = _tokens(steps)
    return {
        "run": run, "task": task.config.task, "family": task.kind, "cell": task.config.cell,
        "input": _shown(item, tokens), "tokens": tokens, "steps": T, "columns": columns,
        "labels": [_column_label(tokens, start, end) for start, end in columns],
        "tracks": tracks,
        "prediction": prediction,
        "shuffled": {"tokens": _tokens(shuffled), "prediction": reader.summary(shuffled_logits)},
        "loss": reader.loss_text(target),
    }


def explore_runs(run_dirs: list[Path], texts: list[str], device: str = "auto",
                 max_columns: int = MAX_COLUMNS, data: Path | None = None) -> list[dict]:
    """The page's groups: for every text (read as ``rnnlab predict`` reads its items), ``{"input": text,
    "views": [...]}`` with one :func:`explore_item` view per run in ``run_dirs``, side by side.  Forecast
    runs read CSV files instead, the texts' and ``data`` (:func:`forecast_groups`)."""
    loaded = [(Path(run_dir).name, *load_run(Path(run_dir), device=device)[1:]) for run_dir in run_dirs]
    forecasters = [isinstance(task, ForecastTask) for _, task, _ in loaded]
    if any(forecasters):
        if not all(forecasters):
            raise ConfigError("explore: a forecast run reads a series and the others read text: explore them apart")
        return forecast_groups(loaded, [*texts, *([str(data)] if data is not None else [])], max_columns)
    if data is not None:
        raise DataError(f"explore: --data is a forecast run's series; a {loaded[0][1].config.task} run reads the "
                        "inputs given after the run directories")
    if not texts:
        raise DataError("explore: give at least one input after the run directories")
    return [{"input": text, "views": [explore_item(task, model, read_item(task, f"explore: input {k}", text), name,
                                                   max_columns) for name, task, model in loaded]}
            for k, text in enumerate(texts, start=1)]


LAST_TEST_FORECAST = "the last forecast of the run's test stretch"
"""The input of a forecast run explored with no CSV file: its own test stretch's last origin, whose truth is known."""


def forecast_groups(loaded: list[tuple[str, ForecastTask, nn.Module]], paths: list[str],
                    max_columns: int = MAX_COLUMNS) -> list[dict]:
    """:func:`explore_runs` for forecast runs ``(name, task, model)``: for each CSV file in ``paths`` (the series'
    recent steps, read as ``rnnlab predict --data`` reads them), the forecast after its last known target; with
    no file, each run's forecast from the last origin of its own test stretch, against the truth."""
    if not paths:
        views = []
        for name, task, model in loaded:
            try:
                test = load_splits(task.config).test
            except DataError as error:
                raise DataError(f"explore: {name}'s test stretch: {error} (or give a CSV file of the series' recent "
                                "steps)") from None
            views.append(explore_forecast(task, model, test.series, int(test.origins[-1]), name,
                                          LAST_TEST_FORECAST, max_columns))
        return [{"input": LAST_TEST_FORECAST, "views": views}]
    groups = []
    for path in paths:
        if not Path(path).is_file():
            raise DataError(f"explore: {path}: no such file (a forecast run reads a CSV file of the series' recent "
                            "steps, as rnnlab predict --data does)")
        views = []
        for name, task, model in loaded:
            series, origin = task.next_forecast(task.read_series(task.config, Path(path), future=True))
            views.append(explore_forecast(task, model, series, origin, name, path, max_columns))
        groups.append({"input": path, "views": views})
    return groups


def explore_forecast(task: ForecastTask, model: nn.Module, series: TimeSeries, origin: int, run: str = "",
                     shown: str = "", max_columns: int = MAX_COLUMNS, seed: int = 0) -> dict[str, Any]:
    """What the page shows of the forecast of ``series`` from step ``origin`` by a forecast run's ``model``
    (see the module docstring): the plain dict of :func:`explore_item`, with ``T = L + H`` steps (``boundary``:
    the first column of the decoder) and a ``forecast`` prediction in the series' units: the ``L`` history
    values, the median and the 80% and 95% bands of each step ahead (as ``rnnlab predict`` gives them) and the
    truth, or ``None`` where the series does not hold it.  ``shown`` names the input."""
    model.eval()
    parameter = next(model.parameters())
    L, H = task.context, task.horizon
    if L + H > MAX_STEPS:
        raise DataError(f"explore: the forecast reads {L:,} steps and forecasts {H:,}, more than the limit of "
                        f"{MAX_STEPS:,} steps")
    batch = task.inputs(series, torch.tensor([origin]), parameter.device)
    history, future = batch["history"].to(parameter.dtype), batch["future"].to(parameter.dtype)
    known = "y" in batch
    with torch.no_grad():
        params = model(history, future)  # in the model's scaled units
    own = params[0]  # the median forecast
    target = batch["y"].to(parameter.dtype) if known else own
    loss, _, records, grads = _forecast_pass(task, model, history, future, target)
    order = torch.randperm(L, generator=torch.Generator().manual_seed(seed))
    shuffled_loss, shuffled_median, _, shuffled_grads = _forecast_pass(task, model, history[:, order], future, target)
    moved = float((shuffled_median - own).abs().mean()) * task.saved["std"]  # in the series' units
    columns = _forecast_columns(L, H, max_columns)
    tracks = [_forecast_track(encoder, decoder, columns, grad, shuffled_grad)
              for (encoder, decoder), grad, shuffled_grad in zip(records, grads, shuffled_grads)]
    loc, scale, df = task.in_units(*params)
    bands = task.bands(loc, scale, df)
    values = series.target[origin - L: origin]
    tokens = [_value(float(v)) for v in values] + [f"+{k}" for k in range(1, H + 1)]
    times = series.times[origin - L: origin + H] if series.times else None
    prediction = {
        "kind": "forecast", "target": task.saved["target"], "distribution": task.distribution, "origin": L,
        "history": _rounded(values), "median": _rounded(loc[0]),
        "bands": {str(level): [_rounded(lower[0]), _rounded(upper[0])] for level, (lower, upper) in bands.items()},
        "truth": _rounded(series.target[origin: origin + H]) if known else None,
        "times": times, "loss": round(float(loss), DIGITS),
    }
    what = "the truth" if known else "the model's own median forecast"
    return {
        "run": run, "task": task.config.task, "family": task.kind, "cell": task.config.cell,
        "input": shown, "tokens": tokens, "steps": L + H, "columns": columns, "boundary": _boundary(columns, L),
        "labels": [_column_label(tokens, start, end) for start, end in columns],
        "tracks": tracks,
        "prediction": prediction,
        "shuffled": {"tokens": [tokens[k] for k in order.tolist()], "order": order.tolist(),
                     "prediction": f"L = {float(shuffled_loss):.4g} (history in order: {float(loss):.4g}); the "
                                   f"median forecast moves by {moved:.4g} on average"},
        "loss": (f"L = the mean negative log-likelihood of {what} over the {H} steps ahead, under the model's "
                 "forecast (its training loss, in scaled units)"),
    }


def _value(v: float) -> str:
    """A series' value as a column shows it: 4 significant digits, a large one in whole units (25,394)."""
    return f"{v:,.0f}" if 1e4 <= abs(v) < 1e12 else f"{v:.4g}"


def _forecast_pass(task: ForecastTask, model: nn.Module, history: Tensor, future: Tensor, target: Tensor):
    """One forward pass of a forecaster with its layers recorded: ``(loss, median (1, H), [(encoder, decoder)
    record per layer], [norms (L + H,) per layer])``, the norms of ``dL/dh_t`` over the history and then the
    steps ahead."""
    with torch.enable_grad(), recording(model) as records:
        loc, scale, df = model(history, future)
        loss = negative_log_likelihood(task.distribution, target, loc, scale, df)
    encoders = [r for r in records if r.name.startswith("encoder/")]
    decoders = {r.layer: r for r in records if r.name.startswith("decoder/")}
    pairs = [(r, decoders[r.layer]) for r in encoders]
    probes = [r.trace.probe for pair in pairs for r in pair]
    grads = torch.autograd.grad(loss, probes, allow_unused=True)
    norms = [torch.zeros(len(p)) if g is None else g.detach()[:, 0].norm(dim=-1).float().cpu()
             for p, g in zip(probes, grads)]
    return loss.detach(), loc.detach(), pairs, [torch.cat(norms[k: k + 2]) for k in range(0, len(norms), 2)]


def _forecast_track(encoder, decoder, columns: list[list[int]], grad: Tensor, shuffled_grad: Tensor) -> dict:
    """One layer of a forecaster as one track: its encoder's states and gates over the history, then its decoder's
    over the steps ahead, and the gradients ``(L + H,)``."""
    series = {name: torch.cat([a[:, 0], b[:, 0]]) for name, a, b in
              zip(_state_names(len(encoder.trace.states)), encoder.trace.states, decoder.trace.states)}
    series.update({name: torch.cat([gate[:, 0], decoder.trace.gates[name][:, 0]])
                   for name, gate in encoder.trace.gates.items()})
    return {"name": f"{encoder.name} + {decoder.name}", "layer": encoder.layer, "direction": "forward",
            "units": int(encoder.trace.states[0].shape[-1]),
            "series": {name: _rounded(window_means(values.detach().float().cpu(), columns))
                       for name, values in series.items()},
            "gradient": _significant(grad), "gradient_shuffled": _significant(shuffled_grad)}


def _forecast_columns(history: int, ahead: int, max_columns: int) -> list[list[int]]:
    """The columns of a forecaster's ``history + ahead`` steps: one per step when they fit in ``max_columns``,
    else windows that never mix the history with the steps ahead (a third of the columns at most for those)."""
    if history + ahead <= max_columns:
        return windows(history + ahead, max_columns)
    ahead_columns = min(ahead, max(1, max_columns // 3))
    return windows(history, max(1, max_columns - ahead_columns)) + [
        [history + a, history + b] for a, b in windows(ahead, ahead_columns)]


def _boundary(columns: list[list[int]], history: int) -> int:
    """The first column of the steps ahead."""
    return next(k for k, (start, _) in enumerate(columns) if start >= history)


def untrained_model(cell: str, hidden_size: int = 16, text: str = EXAMPLE, seed: int = 0) -> tuple[Task, nn.Module]:
    """A fresh, untrained one-layer ``cell`` reading the characters of ``text`` (its own vocabulary), with a
    two-class head reading its last state: its gradient shows how the chain carries (or loses) the
    signal before any training."""
    config = dataclasses.replace(TrainConfig(task="word-language", cell=cell, hidden_size=hidden_size, num_layers=1,
                                             bidirectional=False, pooling="last", dropout=0.0).resolved(),
                                 device="cpu")
    state = {"chars": Vocabulary(list(text)).to_dict(), "classes": ["class 0", "class 1"]}
    task = make_task(config, state=state, load_data=False)
    with torch.random.fork_rng(devices=[]):  # seeded weights, without touching the caller's random state
        torch.manual_seed(seed)
        model = task.create_model().eval()
    return task, model


def prediction_text(task: Task, model: nn.Module, text: str) -> str:
    """What ``rnnlab predict`` prints for ``text`` with this run (nothing for a generator, which it does not read)."""
    if isinstance(task, GenerationTask):
        return ""
    return predict_with(task, model, [text], None, 3, None, next(model.parameters()).device)


def windows(steps: int, max_columns: int = MAX_COLUMNS) -> list[list[int]]:
    """``[start, end)`` of each column: one step each when ``steps <= max_columns``, else
    ``max_columns`` windows as equal as can be."""
    count = min(steps, max_columns)
    edges = [round(k * steps / count) for k in range(count + 1)]
    return [[a, b] for a, b in zip(edges, edges[1:])]


def window_means(values: Tensor, columns: list[list[int]]) -> Tensor:
    """``values (T, ...)`` -> ``(C, ...)``: the mean over each column's steps."""
    if len(columns) == values.shape[0]:
        return values
    return torch.stack([values[a:b].mean(dim=0) for a, b in columns])


# ---------------------------------------------------------------------------------------------------------------
# Reading an item per task family: its batch, logits, loss and prediction panel.

class _Classifier:
    """A many-to-one model: logits ``(1, K)``; the prediction as it forms is the model reading each prefix."""

    same_target = True
    """Whether the shuffled copy is asked for the original's prediction (or for its own, as a generator's word)."""

    def __init__(self, task: ClassifierTask, model: nn.Module, device: torch.device) -> None:
        self.task, self.model, self.device = task, model, device

    def steps(self, item) -> list[str] | Tensor:
        """The item's time steps: characters, words, or a signal's frames ``(T, F)``."""
        if isinstance(item, str):
            return list(item)
        return list(item) if isinstance(item, list) else torch.as_tensor(item, dtype=torch.float32)

    def shuffled(self, steps, generator: torch.Generator):
        order = torch.randperm(len(steps), generator=generator)
        return steps[order] if isinstance(steps, Tensor) else [steps[k] for k in order.tolist()]

    def batch(self, steps) -> dict:
        item = "".join(steps) if isinstance(self.task, TextTask) else steps
        return self.task.inputs([item], self.device)

    def logits(self, batch: dict, target: Tensor | None) -> Tensor:
        return self.task.logits(self.model, batch)

    def target(self, batch: dict, logits: Tensor) -> Tensor:
        return logits.argmax(-1)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target)

    def loss_text(self, target: Tensor) -> str:
        return f"L = cross-entropy of the predicted label, {self.task.classes[int(target)]}"

    def summary(self, logits: Tensor) -> str:
        p = logits.softmax(-1)[0]
        return f"{self.task.classes[int(p.argmax())]} ({float(p.max()):.3f})"

    @torch.no_grad()
    def prediction(self, steps, logits: Tensor, columns: list[list[int]]) -> dict:
        batch = self.batch(steps)
        ends = torch.tensor([end for _, end in columns])
        prefixes = {"x": batch["x"].expand(len(columns), *batch["x"].shape[1:]), "lengths": ends}
        probabilities = self.task.logits(self.model, prefixes).softmax(-1).float().cpu()  # (C, K)
        final = logits.softmax(-1)[0].float().cpu()
        top = final.topk(min(5, len(final)))
        return {"kind": "classifier", "labels": list(self.task.classes), "probabilities": _rounded(probabilities),
                "final": [[self.task.classes[i], round(float(v), DIGITS)]
                          for i, v in zip(top.indices.tolist(), top.values)]}


class _Tagger(_Classifier):
    """A tag per token: logits ``(1, T, K)``."""

    def batch(self, steps) -> dict:
        return self.task.encode([steps], self.device)

    def target(self, batch: dict, logits: Tensor) -> Tensor:
        return logits.argmax(-1)[0]

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits[0], target)

    def loss_text(self, target: Tensor) -> str:
        return "L = mean cross-entropy of the predicted tags"

    def summary(self, logits: Tensor) -> str:
        return " ".join(self.task.tags[k] for k in logits.argmax(-1)[0].tolist())

    @torch.no_grad()
    def prediction(self, steps, logits: Tensor, columns: list[list[int]]) -> dict:
        probabilities = logits.softmax(-1)[0].float().cpu()  # (T, K)
        return {"kind": "tagger", "labels": list(self.task.tags),
                "tags": [self.task.tags[k] for k in probabilities.argmax(-1).tolist()],
                "probabilities": _rounded(window_means(probabilities, columns))}


class _Transcriber(_Classifier):
    """G2P: the encoder reads the letters; the decoder's greedy output, teacher-forced, is the target."""

    def steps(self, item: str) -> list[str]:
        return list(item.lower())

    def batch(self, steps) -> dict:
        return self.task.encode(["".join(steps)], self.device)

    def logits(self, batch: dict, target: Tensor | None) -> Tensor:
        """The decoder's logits ``(1, P + 1, V)``, teacher-forced with ``target`` (or the greedy output);
        keeps the greedy output and its attention ``(P + 1, S)``."""
        word = "".join(self.task.chars.decode(batch["source"][0].tolist()))
        self.phonemes, self.weights = self.task.attention(self.model, word, self.device)
        ids = self.task.phonemes.encode(self.phonemes) if target is None else target[:-1].tolist()
        previous = torch.tensor([[self.task.start, *ids]], device=self.device)
        return self.model(batch["source"], batch["source_lengths"], previous)

    def target(self, batch: dict, logits: Tensor) -> Tensor:
        return torch.tensor([*self.task.phonemes.encode(self.phonemes), self.task.end], device=logits.device)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits[0], target)

    def loss_text(self, target: Tensor) -> str:
        return "L = cross-entropy of the greedy transcription, as the decoder's targets"

    def summary(self, logits: Tensor) -> str:
        return " ".join(self.phonemes)

    @torch.no_grad()
    def prediction(self, steps, logits: Tensor, columns: list[list[int]]) -> dict:
        rows = self.weights.shape[0]  # P + 1, or P where decoding stopped at its length limit before END
        outputs = [*self.phonemes, "</s>"][:rows]
        ids = [*self.task.phonemes.encode(self.phonemes), self.task.end][:rows]
        probabilities = logits.softmax(-1)[0].float().cpu()  # (P + 1, V)
        chosen = [round(float(probabilities[k, i]), DIGITS) for k, i in enumerate(ids)]
        attention = window_means(self.weights.t().float(), columns).t()  # (P + 1, C)
        return {"kind": "seq2seq", "outputs": outputs, "probabilities": chosen, "attention": _rounded(attention)}


class _Generator(_Classifier):
    """A conditional language model reading a given word: START, then its letters; at every step the
    distribution of the next letter.  The loss is the word's own negative log-likelihood."""

    same_target = False
    TOP = 16  # the letters drawn: those among any step's three most probable, at most this many

    def steps(self, item: tuple[str, str]) -> list[str]:
        self.language = item[0]
        return [Vocabulary.START_TOKEN, *item[1]]

    def shuffled(self, steps, generator: torch.Generator):
        return [steps[0], *super().shuffled(steps[1:], generator)]  # START stays first

    def batch(self, steps) -> dict:
        ids = self.task.chars.encode(steps[1:])
        return {"condition": self.task.conditions([self.language], self.device),
                "previous": torch.tensor([[self.task.start, *ids]], device=self.device),
                "next": torch.tensor([*ids, self.task.end], device=self.device),
                "lengths": torch.tensor([len(steps)])}

    def logits(self, batch: dict, target: Tensor | None) -> Tensor:
        return self.model(batch["condition"], batch["previous"], batch["lengths"])  # (1, T, V)

    def target(self, batch: dict, logits: Tensor) -> Tensor:
        return batch["next"]

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        loss = F.cross_entropy(logits[0], target)
        self.perplexity = float(loss.detach().exp())
        return loss

    def loss_text(self, target: Tensor) -> str:
        return "L = cross-entropy of the word's own next letters (its negative log-likelihood per letter)"

    def summary(self, logits: Tensor) -> str:
        return f"perplexity {self.perplexity:.2f} per letter"

    @torch.no_grad()
    def prediction(self, steps, logits: Tensor, columns: list[list[int]]) -> dict:
        probabilities = logits.softmax(-1)[0].float().cpu()  # (T, V)
        chars = self.task.chars.tokens
        ranked = probabilities.topk(min(3, probabilities.shape[-1]), dim=-1).indices.flatten().tolist()
        shown = sorted(dict.fromkeys(ranked))[: self.TOP]
        following = [*steps[1:], Vocabulary.END_TOKEN]
        ids = self.task.chars.encode(following)
        return {"kind": "generator", "labels": [chars[k] for k in shown], "next": following,
                "next_probability": [round(float(probabilities[t, k]), DIGITS) for t, k in enumerate(ids)],
                "probabilities": _rounded(window_means(probabilities[:, shown], columns)),
                "perplexity": round(self.perplexity, DIGITS)}


_READERS = {TaggingTask: _Tagger, TranscriptionTask: _Transcriber, GenerationTask: _Generator,
            ClassifierTask: _Classifier}


def _reader_of(task: Task):
    for family, reader in _READERS.items():
        if isinstance(task, family):
            return reader
    if isinstance(task, ForecastTask):
        raise ConfigError("explore: a forecast run reads a series, not an item: explore_forecast(task, model, "
                          "series, origin)")
    raise ConfigError(f"explore: a {task.config.task} run cannot be explored")


def _run(reader, steps, target: Tensor | None):
    """One forward pass with the encoder recorded and the gradient of the loss at every ``h_t``:
    ``(logits, target, records, norms)`` with ``norms[k] (T,)`` for the ``k``-th record shown."""
    batch = reader.batch(steps)
    with torch.enable_grad(), recording(reader.model) as records:
        logits = reader.logits(batch, target)
        target = reader.target(batch, logits) if target is None else target
        loss = reader.loss(logits, target)
    shown = [r for r in records if ENCODER.match(r.name) and r.trace.probe is not None]  # not no-grad decoding
    grads = torch.autograd.grad(loss, [r.trace.probe for r in shown], allow_unused=True)
    norms = [torch.zeros(len(steps)) if g is None else g.detach()[:, 0].norm(dim=-1).float().cpu() for g in grads]
    return logits.detach(), target, shown, norms


def _state_names(count: int) -> tuple[str, ...]:
    return ("h", "c")[:count] if count <= 2 else tuple(f"s{k}" for k in range(count))


def _tokens(steps) -> list[str]:
    """What each step's column shows: the token, or a signal frame's value (its first channel's)."""
    if isinstance(steps, Tensor):
        return [f"{float(frame[0]):.3g}" for frame in steps]
    return [str(s) for s in steps]


def _shown(item, tokens: list[str]) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, list):
        return " ".join(item)
    return f"a signal of {len(tokens)} steps"


def _column_label(tokens: list[str], start: int, end: int) -> str:
    return tokens[start] if end - start == 1 else f"{start + 1}-{end}"


def _rounded(values: Tensor) -> list:
    """A tensor as nested lists of floats with ``DIGITS`` decimals (NaN and infinities as None)."""
    array = values.detach().double().cpu().numpy().round(DIGITS)
    if not np.isfinite(array).all():
        array = np.where(np.isfinite(array), array, None)
    return array.tolist()


def _significant(values: Tensor) -> list[float | None]:
    """``values (T,)`` with 4 significant digits (a gradient spans many orders of magnitude)."""
    return [float(f"{v:.4g}") if np.isfinite(v) else None for v in values.double().tolist()]
