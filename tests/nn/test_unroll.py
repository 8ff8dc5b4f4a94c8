"""Unfolding a cell over time: lengths, reverse, traces, truncated BPTT and streaming."""

from __future__ import annotations

import pytest
import torch

import rnnlab
from rnnlab.nn.unroll import reverse_in_time
from tests.helpers import assert_close

T, B, I, H = 6, 3, 4, 5


@pytest.fixture
def cell():
    return rnnlab.LSTMCell(I, H, dtype=torch.float64)


def _step_by_hand(cell, x, state=None):
    """Reference: the cell applied in a plain loop over ``x (T, B, I)``."""
    state = state if state is not None else cell.initial_state(x.shape[1], x)
    outputs = []
    for x_t in x:
        state = cell(x_t, state)
        outputs.append(state[0])
    return torch.stack(outputs), state


def test_unroll_equals_stepping_the_cell_by_hand(cell):
    x = torch.randn(T, B, I, dtype=torch.float64)
    state = cell.initial_state(B, x)
    state = tuple(torch.randn_like(s) for s in state)
    run = rnnlab.unroll(cell, x, state)
    expected_out, expected_state = _step_by_hand(cell, x, state)
    assert_close([run.outputs, *run.state], [expected_out, *expected_state], "unroll")
    assert run.trace is None


def test_batch_first_is_the_transposed_layout(cell):
    x = torch.randn(T, B, I, dtype=torch.float64)
    time_major = rnnlab.unroll(cell, x)
    batch_major = rnnlab.unroll(cell, x.transpose(0, 1), batch_first=True)
    assert_close([batch_major.outputs.transpose(0, 1), *batch_major.state],
                 [time_major.outputs, *time_major.state], "batch_first")


def test_lengths_freeze_the_state_and_zero_the_padded_outputs(cell):
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([T, 2, 4])
    run = rnnlab.unroll(cell, x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        out, state = _step_by_hand(cell, x[:n, b : b + 1])
        assert_close([run.outputs[:n, b], run.state[0][b], run.state[1][b]],
                     [out[:, 0], state[0][0], state[1][0]], f"sequence {b}")
        assert torch.all(run.outputs[n:, b] == 0)


def test_reverse_runs_each_sequence_from_its_own_end(cell):
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([3, T, 1])
    run = rnnlab.unroll(cell, x, lengths=lengths, reverse=True)
    for b, n in enumerate(lengths.tolist()):
        out, state = _step_by_hand(cell, x[:n, b : b + 1].flip(0))
        assert_close([run.outputs[:n, b], run.state[0][b]], [out[:, 0].flip(0), state[0][0]], f"sequence {b}")
        assert torch.all(run.outputs[n:, b] == 0)


def test_reverse_in_time_keeps_padding_at_the_end():
    x = torch.arange(4.0)[:, None].expand(4, 2)
    flipped = reverse_in_time(x, torch.tensor([2, 4]))
    assert flipped[:, 0].tolist() == [1, 0, 2, 3] and flipped[:, 1].tolist() == [3, 2, 1, 0]


def test_trace_records_every_state_and_gate(cell):
    x = torch.randn(T, B, I, dtype=torch.float64)
    run = rnnlab.unroll(cell, x, trace=True)
    states, gates = run.trace.states, run.trace.gates
    assert states[0].shape == (T, B, H) and states[1].shape == (T, B, H)
    assert_close([states[0]], [run.outputs], "h trace")
    # the recorded gates reproduce the recorded cell states: c_t = f c_{t-1} + i g
    c_prev = torch.cat([torch.zeros(1, B, H, dtype=torch.float64), states[1][:-1]])
    assert_close([gates["f"] * c_prev + gates["i"] * gates["g"]], [states[1]], "c from gates")
    forget = gates["f"].detach()
    assert float(forget.min()) > 0 and float(forget.max()) < 1


@pytest.mark.parametrize("reverse", [False, True])
def test_trace_probe_gives_the_total_gradient_with_respect_to_every_hidden_state(cell, reverse):
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([T, 4, 2])
    run = rnnlab.unroll(cell, x, lengths=lengths, reverse=reverse, trace=True)
    loss = (run.outputs[-1] ** 2).sum() + run.state[0].sum()
    dh = torch.autograd.grad(loss, run.trace.probe)[0]
    assert dh.shape == (T, B, H)

    # Reference: perturb h_t of one sequence at one step and differentiate by hand.
    for b, t in [(0, 2), (1, 1), (2, 0), (0, T - 1)]:
        def loss_with_nudge(eps):
            order = list(range(lengths[b]))
            order = order[::-1] if reverse else order
            state = cell.initial_state(1, x)
            outputs = {}
            for k in order:
                state = cell(x[k, b : b + 1], state)
                if k == t:
                    state = (state[0] + eps, state[1])
                outputs[k] = state[0]
            last = outputs[T - 1] if T - 1 in outputs else torch.zeros_like(state[0])
            return (last ** 2).sum() + state[0].sum()

        eps = torch.zeros(1, H, dtype=torch.float64, requires_grad=True)
        expected = torch.autograd.grad(loss_with_nudge(eps), eps)[0][0]
        assert_close([dh[t, b]], [expected], f"dloss/dh at t={t}, b={b}")


def test_truncated_bptt_matches_the_full_forward_and_cuts_gradients():
    layer = rnnlab.GRU(I, H, dtype=torch.float64)
    x = torch.randn(10, B, I, dtype=torch.float64, requires_grad=True)
    full, _ = layer(x)
    chunks = list(rnnlab.truncated_bptt(layer, x, k=4))
    assert [c[0].shape[0] for c in chunks] == [4, 4, 2]
    assert_close([torch.cat([c[0] for c in chunks])], [full], "chunked outputs")
    last_out = chunks[1][0]
    grad = torch.autograd.grad(last_out.sum(), x)[0]
    assert torch.all(grad[:4] == 0) and torch.any(grad[4:8] != 0)


def test_truncated_bptt_rejects_a_bad_chunk_length():
    layer = rnnlab.GRU(I, H)
    with pytest.raises(ValueError, match="k: the chunk length"):
        next(rnnlab.truncated_bptt(layer, torch.randn(5, 1, I), k=0))


def test_truncated_bptt_trains_across_a_long_stream():
    torch.manual_seed(0)
    layer, head = rnnlab.LSTM(1, 16, batch_first=True), torch.nn.Linear(16, 1)
    optimizer = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=0.02)
    x = torch.randn(4, 200, 1)
    y = torch.roll(x, 1, dims=1)  # predict the previous input: needs state across chunk borders
    losses = []
    for _ in range(20):
        total = 0.0
        for (out, _), target in zip(rnnlab.truncated_bptt(layer, x, 25, batch_first=True), y.split(25, dim=1)):
            loss = ((head(out) - target) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total)
    assert losses[-1] < 0.2 * losses[0]


def test_stream_carries_state_across_calls():
    layer = rnnlab.LSTM(I, H, dtype=torch.float64, batch_first=True)
    x = torch.randn(B, 9, I, dtype=torch.float64)
    stream = rnnlab.Stream(layer)
    pieces = [stream(chunk) for chunk in x.split([2, 4, 3], dim=1)]
    assert_close([torch.cat(pieces, dim=1)], [layer(x)[0]], "stream")
    stream.reset()
    assert_close([stream(x[:, :2])], [layer(x[:, :2])[0]], "after reset")


def test_gradcheck_through_the_unfolded_chain_with_lengths_and_reverse():
    cell = rnnlab.GRUCell(2, 3, dtype=torch.float64)
    lengths = torch.tensor([4, 2])

    def fn(x, h0):
        run = rnnlab.unroll(cell, x, (h0,), lengths=lengths, reverse=True)
        return run.outputs, run.state[0]

    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x, h0))
    assert torch.autograd.gradgradcheck(fn, (x, h0))
