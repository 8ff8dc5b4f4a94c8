"""Building the compiled kernels (rnnlab.nn.kernels): switched off by the environment, and a failed build leaves
the Python paths with one warning rather than an error."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.utils.cpp_extension

import rnnlab
import rnnlab.nn.kernels as kernels
from tests.helpers import needs_compiled_kernels


@pytest.fixture
def fresh(monkeypatch):
    """An empty build cache for the test, the real one restored after it."""
    monkeypatch.setattr(kernels, "_loaded", {})


def test_switched_off_by_the_environment(fresh, monkeypatch):
    monkeypatch.setenv("RNNLAB_KERNELS", "0")
    assert kernels.compiled_kernels() is None


def test_a_failed_build_warns_once_and_the_lstm_still_runs(fresh, monkeypatch, caplog):
    def failing(**_):
        raise RuntimeError("Error building extension 'rnnlab_kernels'\nthe compiler stopped")

    monkeypatch.delenv("RNNLAB_KERNELS", raising=False)
    monkeypatch.setattr(torch.utils.cpp_extension, "load", failing)
    with caplog.at_level(logging.WARNING, logger="rnnlab.nn.kernels"):
        assert kernels.compiled_kernels() is None
        assert kernels.compiled_kernels() is None
    assert [r.getMessage() for r in caplog.records] == [
        "rnnlab: the compiled recurrent kernels could not be built (the compiler stopped); the fused LSTM runs in "
        "Python, the other cells step"]
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, 4, dtype=torch.float64)
    ours = rnnlab.LSTM(3, 4, engine="unrolled", dtype=torch.float64)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], reference(x)[0], rtol=0, atol=1e-12)


def test_without_a_compiler(fresh, monkeypatch):
    monkeypatch.delenv("RNNLAB_KERNELS", raising=False)
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    assert kernels.compiled_kernels() is None


@pytest.fixture
def threads():
    """torch's intra-op thread count, restored after the test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@needs_compiled_kernels()
@pytest.mark.parametrize("cell", [rnnlab.LSTMCell, rnnlab.LayerNormLSTMCell, rnnlab.IndRNNCell, rnnlab.JANETCell,
                                  rnnlab.OrthogonalCell, rnnlab.PeepholeLSTMCell,
                                  rnnlab.LayerNormGRUCell])
def test_a_batch_split_over_threads_gives_what_one_thread_gives(threads, cell):
    # B = 256 rows of H = 8 units: two shares of the rows (a share holds at least 1,024 units), each pass of the
    # kernels run by two threads; the gradients a pass sums (the layer norms' and the peepholes') summed per share,
    # then added
    torch.manual_seed(0)
    layer = rnnlab.Recurrent(cell, 3, 8, engine="unrolled", dtype=torch.float64)
    x = torch.randn(5, 256, 3, dtype=torch.float64, requires_grad=True)
    results = []
    for count in (1, 2):
        torch.set_num_threads(count)
        out, _ = layer(x)
        results.append([out, *torch.autograd.grad(out.sin().sum(), [x, *layer.parameters()])])
    for one, two in zip(*results):
        torch.testing.assert_close(two, one, rtol=1e-12, atol=1e-12)


@needs_compiled_kernels()
@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("rows, inputs, outputs", [(1, 3, 5), (7, 13, 33), (9, 64, 100), (16, 128, 512),
                                                   (17, 256, 1024), (32, 512, 2048)])
def test_a_step_product_is_the_library_product(threads, count, rows, inputs, outputs):
    # float32 weights of up to 1 MiB are multiplied in panels of 32 columns where the CPU has AVX-512 (rows in blocks
    # of 8, the last panel and block partial here; a block of rows per thread with two), larger ones by the library
    torch.manual_seed(rows)
    torch.set_num_threads(count)
    h, x, weight = torch.randn(rows, inputs), torch.randn(rows, outputs), torch.randn(outputs, inputs)
    got = torch.ops.rnnlab_kernels.step_product(h, x, weight)
    torch.testing.assert_close(got, torch.addmm(x, h, weight.t()), rtol=1e-5, atol=1e-5 * inputs ** 0.5)
    transposed = weight.t().contiguous().t()  # the backward's weight: a transposed view
    torch.testing.assert_close(torch.ops.rnnlab_kernels.step_product(h, x, transposed), got, rtol=0, atol=0)


STACKED = {"num_layers": 2, "bidirectional": True}


@needs_compiled_kernels()
@pytest.mark.parametrize("cell, options", [(rnnlab.LSTMCell, {**STACKED, "zoneout": 0.2, "recurrent_dropout": 0.3}),
                                           (rnnlab.LSTMCell, STACKED), (rnnlab.PeepholeLSTMCell, STACKED),
                                           (rnnlab.LayerNormGRUCell, STACKED), (rnnlab.LayerNormLSTMCell, {})])
def test_float32_sequences_run_in_blocks_of_rows_as_the_stepped_cell_does(threads, cell, options):
    # B=32 rows of H=64 units in float32: the step products in panels where the CPU has AVX-512, and on two threads
    # each runs every step of its 16 rows alone (forward and backward); against autograd through the cell's step,
    # and the same outputs on one thread and on two.
    # (One layer of the layer-norm LSTM: stacked, float32 rounding alone moves it by more, as in test_export.py.)
    torch.manual_seed(0)
    layer = rnnlab.Recurrent(cell, 7, 64, engine="unrolled", **options)
    stepped = rnnlab.Recurrent(type("Stepped", (cell,), {"fused_steps": lambda self, *args, **kwargs: None}), 7, 64,
                               engine="unrolled", **options)
    stepped.load_state_dict(layer.state_dict())
    x = torch.randn(9, 32, 7, requires_grad=True)
    lengths = torch.randint(1, 10, (32,))
    results = []
    for module, count in ((layer, 2), (layer, 1), (stepped, 2)):
        torch.set_num_threads(count)
        torch.manual_seed(1)  # the same dropout masks and zoneout draws for each
        out, state = module(x, lengths=lengths)
        h_n, *c_n = state if isinstance(state, tuple) else (state,)
        loss = out.sin().sum() + h_n.cos().sum() + sum(c.square().sum() for c in c_n)
        results.append([out, h_n, *c_n, *torch.autograd.grad(loss, [x, *module.parameters()])])
    (two, one, expected) = results
    outputs = 2 + len(layer.state_sizes) - 1
    assert all(torch.equal(a, b) for a, b in zip(two[:outputs], one[:outputs]))  # each row's arithmetic is the same
    for got in (two, one):
        for a, b in zip(got, expected):
            assert (a - b).abs().max() <= 1e-5 * b.abs().max().clamp(min=1), (a - b).abs().max()
