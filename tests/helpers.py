"""Shared test helpers: build a torch.nn module and its rnnlab twin, and compare them in float64."""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

import rnnlab
from rnnlab.data import load_word_language

TOLERANCE = 1e-10

def words_tsv(path: Path, languages: set[str], count: int) -> Path:
    """The first ``count`` real training words of ``languages`` as a user's ``word<TAB>language`` file."""
    data = load_word_language().train
    rows = [(w, lang) for w, lang in zip(data.texts, data.labels) if lang in languages][:count]
    path.write_text("".join(f"{w}\t{lang}\n" for w, lang in rows), encoding="utf-8")
    return path


KINDS = {
    # name: (torch.nn class, rnnlab class, extra constructor arguments)
    "lstm": (nn.LSTM, rnnlab.LSTM, {}),
    "lstm_proj": (nn.LSTM, rnnlab.LSTM, {"proj_size": 3}),
    "gru": (nn.GRU, rnnlab.GRU, {}),
    "rnn_tanh": (nn.RNN, rnnlab.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, rnnlab.RNN, {"nonlinearity": "relu"}),
}


def twin_layers(kind: str, input_size: int, hidden_size: int, engine: str = "auto", **kwargs):
    """``(reference, ours)`` built from the same seed in float64."""
    ref_cls, our_cls, extra = KINDS[kind]
    options = {**extra, **kwargs, "dtype": torch.float64}
    torch.manual_seed(7)
    reference = ref_cls(input_size, hidden_size, **options)
    torch.manual_seed(7)
    ours = our_cls(input_size, hidden_size, engine=engine, **options)
    return reference, ours


def state_shapes(module, batch: int | None) -> list[tuple[int, ...]]:
    """Shapes of the initial-state tensors torch.nn expects (``batch=None`` for unbatched input)."""
    layers = module.num_layers * (2 if module.bidirectional else 1)
    sizes = [module.proj_size or module.hidden_size]
    if isinstance(module, (nn.LSTM, rnnlab.LSTM)):
        sizes.append(module.hidden_size)
    return [(layers, size) if batch is None else (layers, batch, size) for size in sizes]


def as_hx(tensors: list[torch.Tensor]):
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def flatten_output(output, h_n) -> list[torch.Tensor]:
    out = output.data if isinstance(output, PackedSequence) else output
    return [out, *([h_n] if isinstance(h_n, torch.Tensor) else list(h_n))]


def run_and_grad(module, make_input, hx_values, seed: int = 99):
    """Forward ``module``, backprop a random projection of everything it returns.

    Returns (outputs, gradients of: input, each initial-state tensor, each parameter by name).
    """
    x_leaf, model_input = make_input()
    hx_leaves = [h.clone().requires_grad_(True) for h in hx_values] if hx_values is not None else None
    output, h_n = module(model_input, as_hx(hx_leaves) if hx_leaves is not None else None)
    results = flatten_output(output, h_n)
    generator = torch.Generator().manual_seed(seed)
    loss = sum((r * torch.randn(r.shape, generator=generator, dtype=r.dtype).to(r.device)).sum() for r in results)
    leaves = [x_leaf, *(hx_leaves or []), *module.parameters()]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return results, grads


def needs_compiled_kernels():
    """A mark that skips a test (or, as ``pytestmark``, a module) where the compiled kernels cannot be built."""
    from rnnlab.nn.kernels import compiled_kernels

    return pytest.mark.skipif(compiled_kernels() is None, reason="the compiled kernels could not be built here "
                                                                 "(no C++ compiler, or RNNLAB_KERNELS=0)")


def recorded_calls(monkeypatch, owner, name: str) -> list:
    """Every call of ``owner.name`` (a module's function or a class's method) from now on, as the list of what
    each returned: for a cell's fused path, its outputs, or ``None`` where it declined and the cell stepped."""
    calls, original = [], getattr(owner, name)

    def recorded(*args, **kwargs):
        calls.append(original(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(owner, name, recorded)
    return calls


def fused_and_stepped(monkeypatch, cell: type, steps: int, batch: int, input_size: int, hidden: int,
                      seed: int) -> tuple[list[list[torch.Tensor]], list]:
    """A float64 two-layer bidirectional layer of ``cell`` (parameters moved away from their initial values, so
    that every gradient matters) run with random lengths and initial state, once through the cell's fused path and
    once stepped: ``([fused, stepped], calls)``, each run its outputs, final states and gradients of every input and
    parameter, and ``calls`` what each ``fused_steps`` call returned."""
    torch.manual_seed(seed)
    layer = rnnlab.Recurrent(cell, input_size, hidden, num_layers=2, bidirectional=True, engine="unrolled",
                             dtype=torch.float64)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    x = torch.randn(steps, batch, input_size, dtype=torch.float64, requires_grad=True)
    hx = tuple(torch.randn(4, batch, hidden, dtype=torch.float64, requires_grad=True) for _ in layer.state_sizes)
    lengths = torch.randint(1, steps + 1, (batch,))
    lengths[0] = steps
    results, calls = [], recorded_calls(monkeypatch, cell, "fused_steps")
    for fuse in (True, False):
        monkeypatch.setattr(sys.modules["rnnlab.nn.unroll"], "_may_fuse", lambda x, fuse=fuse: fuse)
        out, final = layer(x, hx if len(hx) > 1 else hx[0], lengths=lengths)
        final = final if isinstance(final, tuple) else (final,)
        loss = out.sin().sum() + (final[0] * 1.5).cos().sum() + sum(s.square().sum() for s in final[1:])
        results.append([out, *final, *torch.autograd.grad(loss, [x, *hx, *layer.parameters()])])
    return results, calls


def assert_close(actual, expected, what: str) -> None:
    assert len(actual) == len(expected), what
    for k, (a, e) in enumerate(zip(actual, expected)):
        if e is None or a is None:
            assert a is None and e is None or (a is not None and torch.all(a == 0)) or (
                e is not None and torch.all(e == 0)), f"{what}[{k}]: one gradient is missing"
            continue
        assert a.shape == e.shape, f"{what}[{k}]: shape {tuple(a.shape)} != {tuple(e.shape)}"
        error = (a - e).abs().max().item() if a.numel() else 0.0
        assert error <= TOLERANCE, f"{what}[{k}]: max abs difference {error:.3e}"


class HtmlImages(HTMLParser):
    """The tags of an HTML page, in order, and the attributes of its images."""

    def __init__(self):
        super().__init__()
        self.images, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))


def text_traces(task, model, text: str) -> tuple[dict, list]:
    """A text classifier's batch of ``text`` and its encoder's traces, one per layer and direction."""
    batch = task.inputs([text], torch.device("cpu"))
    with torch.no_grad():
        _, _, traces = model.encoder.trace(model.embedding(batch["x"]))
    return batch, traces
