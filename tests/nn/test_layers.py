"""rnnlab.RNN/LSTM/GRU are drop-in replacements for torch.nn's: parity in float64 and the details."""

from __future__ import annotations

import copy
import io
import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnlab
from tests.helpers import KINDS, assert_close, run_and_grad, state_shapes, twin_layers

T, B, I, H = 5, 3, 4, 6
LENGTHS = torch.tensor([3, 5, 1])

GRID = list(itertools.product(
    KINDS,                 # cell kind
    ("native", "unrolled"),  # engine
    (1, 2, 3),             # num_layers
    (False, True),         # bidirectional
    (False, True),         # batch_first
    (True, False),         # bias
))


def _inputs(batch_first: bool, packed: bool):
    def make():
        shape = (B, T, I) if batch_first else (T, B, I)
        x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5), requires_grad=True)
        if packed:
            return x, pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        return x, x
    return make


@pytest.mark.parametrize("kind,engine,num_layers,bidirectional,batch_first,bias", GRID)
@pytest.mark.parametrize("packed,given_state", [(False, False), (False, True), (True, True)])
def test_layer_matches_torch_nn_outputs_states_and_gradients(kind, engine, num_layers, bidirectional,
                                                             batch_first, bias, packed, given_state):
    reference, ours = twin_layers(kind, I, H, engine, num_layers=num_layers, bidirectional=bidirectional,
                                  batch_first=batch_first, bias=bias)
    hx = [torch.randn(s, dtype=torch.float64) for s in state_shapes(reference, B)] if given_state else None
    make = _inputs(batch_first, packed)
    expected, expected_grads = run_and_grad(reference, make, hx)
    actual, actual_grads = run_and_grad(ours, make, hx)
    assert_close(actual, expected, "outputs")
    assert_close(actual_grads, expected_grads, "gradients")


@pytest.mark.parametrize("kind,engine", list(itertools.product(KINDS, ("native", "unrolled"))))
@pytest.mark.parametrize("given_state", [False, True])
def test_unbatched_input_matches_torch_nn(kind, engine, given_state):
    reference, ours = twin_layers(kind, I, H, engine, num_layers=2, bidirectional=True)
    hx = [torch.randn(s, dtype=torch.float64) for s in state_shapes(reference, None)] if given_state else None

    def make():
        x = torch.randn(T, I, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
        return x, x

    expected, expected_grads = run_and_grad(reference, make, hx)
    actual, actual_grads = run_and_grad(ours, make, hx)
    assert actual[0].shape == (T, 2 * (ours.proj_size or H))
    assert_close(actual, expected, "outputs")
    assert_close(actual_grads, expected_grads, "gradients")


@pytest.mark.parametrize("kind,engine", list(itertools.product(KINDS, ("native", "unrolled"))))
def test_lengths_argument_equals_packing(kind, engine):
    _, ours = twin_layers(kind, I, H, engine, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(B, T, I, dtype=torch.float64)
    packed_out, packed_state = ours(pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False))
    padded, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=T)
    out, state = ours(x, lengths=LENGTHS)
    assert_close([out, *(state if isinstance(state, tuple) else (state,))],
                 [padded, *(packed_state if isinstance(packed_state, tuple) else (packed_state,))], "lengths")
    assert torch.all(out[0, 3:] == 0) and torch.all(out[2, 1:] == 0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_seeded_construction_gives_bit_identical_parameters_and_rng_state(kind, dtype):
    ref_cls, our_cls, extra = KINDS[kind]
    torch.manual_seed(11)
    reference = ref_cls(I, H, num_layers=2, bidirectional=True, dtype=dtype, **extra)
    after_reference = torch.rand(1)
    torch.manual_seed(11)
    ours = our_cls(I, H, num_layers=2, bidirectional=True, dtype=dtype, **extra)
    after_ours = torch.rand(1)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in reference.named_parameters()]
    for (name, a), (_, b) in zip(ours.named_parameters(), reference.named_parameters()):
        assert a.dtype == dtype and torch.equal(a, b), name
    assert torch.equal(after_ours, after_reference)


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_loads_both_ways(kind):
    ref_cls, our_cls, extra = KINDS[kind]
    reference = ref_cls(I, H, num_layers=2, bidirectional=True, **extra)
    ours = our_cls(I, H, num_layers=2, bidirectional=True, **extra)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(T, B, I)
    torch.testing.assert_close(ours(x)[0], reference(x)[0], rtol=0, atol=0)
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(0.1)
    reference.load_state_dict(ours.state_dict())
    torch.testing.assert_close(reference(x)[0], ours(x)[0], rtol=0, atol=0)
    assert list(reference.state_dict()) == list(ours.state_dict())


def test_torch_nn_attributes_and_methods_exist_with_the_same_values():
    reference = nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=2, batch_first=True, dropout=0.5)
    ours = rnnlab.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=2, batch_first=True, dropout=0.5)
    for attr in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                 "proj_size", "mode", "_flat_weights_names"):
        assert getattr(ours, attr) == getattr(reference, attr), attr
    assert [[tuple(w.shape) for w in group] for group in ours.all_weights] == \
           [[tuple(w.shape) for w in group] for group in reference.all_weights]
    assert ours.weight_hr_l1_reverse.shape == reference.weight_hr_l1_reverse.shape
    assert repr(ours) == repr(reference)
    ours.flatten_parameters()


def test_repr_matches_torch_nn_for_every_layer():
    for kind, (ref_cls, our_cls, extra) in KINDS.items():
        options = dict(num_layers=3, bias=False, batch_first=True, dropout=0.25, bidirectional=True, **extra)
        assert repr(our_cls(I, H, **options)) == repr(ref_cls(I, H, **options)), kind
    assert "engine='unrolled'" in repr(rnnlab.GRU(I, H, engine="unrolled"))


@pytest.mark.parametrize("kind", KINDS)
def test_whole_module_pickles_and_loads_with_weights_only(kind):
    _, our_cls, extra = KINDS[kind]
    model = our_cls(I, H, num_layers=2, bidirectional=True, engine="unrolled", **extra)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    with torch.serialization.safe_globals(rnnlab.SAFE_GLOBALS):
        loaded = torch.load(buffer, weights_only=True)
    assert type(loaded) is our_cls and loaded.engine == "unrolled"
    x = torch.randn(T, B, I)
    torch.testing.assert_close(loaded(x)[0], model(x)[0], rtol=0, atol=0)


def test_moves_with_to_and_deepcopies():
    model = rnnlab.LSTM(I, H, num_layers=2, engine="unrolled")
    model64 = model.to(torch.float64)
    assert model64 is model and all(p.dtype == torch.float64 for p in model.parameters())
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, _ = model(x)
    assert out.dtype == torch.float64
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.weight_hh_l0.zero_()
    assert not torch.equal(twin(x)[0], out)
    torch.testing.assert_close(model(x)[0], out, rtol=0, atol=0)


def test_load_state_dict_with_assign_rebinds_the_cells():
    source, model = rnnlab.GRU(I, H), rnnlab.GRU(I, H, engine="unrolled")
    model.load_state_dict(source.state_dict(), assign=True)
    x = torch.randn(T, B, I)
    torch.testing.assert_close(model(x)[0], source(x)[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("engine", ["native", "unrolled"])
def test_dropout_between_layers_is_active_in_training_and_off_in_eval(engine):
    model = rnnlab.LSTM(I, H, num_layers=2, dropout=0.5, engine=engine)
    plain = rnnlab.LSTM(I, H, num_layers=2, engine=engine)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(T, B, I)
    model.train()
    first, second = model(x)[0], model(x)[0]
    assert not torch.equal(first, second)
    assert not torch.allclose(first, plain(x)[0])
    model.eval()
    torch.testing.assert_close(model(x)[0], plain(x)[0], rtol=0, atol=0)
    torch.testing.assert_close(model(x)[0], model(x)[0], rtol=0, atol=0)


def test_dropout_masks_match_torch_nn_for_the_same_seed():
    reference, ours = twin_layers("lstm", I, H, "unrolled", num_layers=3, dropout=0.5)
    reference.train(), ours.train()
    x = torch.randn(T, B, I, dtype=torch.float64)
    torch.manual_seed(3)
    expected = reference(x)[0]
    torch.manual_seed(3)
    torch.testing.assert_close(ours(x)[0], expected, rtol=0, atol=1e-12)


def test_auto_engine_runs_native_for_standard_cells_and_unrolled_for_custom_ones():
    assert rnnlab.LSTM(I, H).native_mode == "LSTM"
    custom = rnnlab.Recurrent(rnnlab.LayerNormLSTMCell, I, H)
    assert custom.native_mode is None
    with pytest.raises(ValueError, match="engine='native'"):
        rnnlab.Recurrent(rnnlab.LayerNormLSTMCell, I, H, engine="native")
    with pytest.raises(ValueError, match="engine must be one of"):
        rnnlab.LSTM(I, H, engine="fast")


def test_trace_returns_per_layer_and_direction_traces_matching_the_forward():
    model = rnnlab.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(B, T, I)
    output, (h_n, c_n), traces = model.trace(x)
    expected, _ = model(x)
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-6)
    assert len(traces) == 4
    for tr in traces:
        assert set(tr.gates) == {"i", "f", "g", "o"} and tr.gates["f"].shape == (T, B, H)
        assert tr.states[0].shape == (T, B, H)
    # the last layer's forward trace holds the forward half of the output
    torch.testing.assert_close(traces[2].states[0].transpose(0, 1), output[..., :H])
    torch.testing.assert_close(traces[2].states[1][-1], c_n[2])


@pytest.mark.parametrize("make_cell", [
    lambda: rnnlab.LSTMCell(I, H), lambda: rnnlab.LSTMCell(I, H, proj_size=2), lambda: rnnlab.LSTMCell(I, H, bias=False),  # noqa: E501
    lambda: rnnlab.GRUCell(I, H), lambda: rnnlab.RNNCell(I, H), lambda: rnnlab.RNNCell(I, H, nonlinearity="relu"),
], ids=["lstm", "lstm-proj", "lstm-nobias", "gru", "rnn-tanh", "rnn-relu"])
def test_native_unroll_of_one_cell_equals_stepping_it_outputs_states_and_gradients(make_cell):
    torch.manual_seed(0)
    cell = make_cell().double()
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    state = tuple(torch.randn(B, size, dtype=torch.float64, requires_grad=True) for size in cell.state_sizes)

    def stepped():
        s, outputs = state, []
        for t in range(T):
            s, _ = cell.step(cell.project_input(x[t]), s)
            outputs.append(s[0])
        return torch.stack(outputs), s

    results = []
    for run in (stepped, lambda: rnnlab.nn.layers.native_unroll(cell, x, state)):
        outputs, final = run()
        grads = torch.autograd.grad((outputs.sin().sum() + sum(f.cos().sum() for f in final)),
                                    [x, *state, *cell.parameters()])
        results.append([outputs, *final, *grads])
    assert_close(results[1], results[0], "native unroll against steps")


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_native_layers_run_under_bf16_autocast_on_any_cpu(kind):
    # oneDNN has no bfloat16 recurrent kernel on CPUs without AVX512-BF16/AMX; the layer must still run there
    _, ours = twin_layers(kind, 6, 8, engine="native", num_layers=2, bidirectional=True)
    ours = ours.float()
    x = torch.randn(7, 3, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = ours(x)
    assert output.dtype == (torch.float32 if kind == "gru" else torch.bfloat16)  # as torch.nn: autocast keeps GRU
    output.float().sum().backward()
    expected, _ = ours(x)
    torch.testing.assert_close(output.float(), expected, rtol=0.05, atol=0.02)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in ours.parameters())


def test_a_module_pickled_under_its_earlier_module_path_loads_with_safe_globals(tmp_path, monkeypatch):
    # files saved before the layers moved to rnnlab.nn name their classes rnnlab.layers.LSTM, rnnlab.cells.GRUCell
    import sys
    import types
    import zipfile

    torch.manual_seed(0)
    lstm, cell = rnnlab.LSTM(3, 4, num_layers=2), rnnlab.GRUCell(3, 4)
    for cls, old in ((rnnlab.LSTM, "rnnlab.layers"), (rnnlab.GRUCell, "rnnlab.cells")):
        monkeypatch.setitem(sys.modules, old, types.SimpleNamespace(**{cls.__name__: cls}))
        monkeypatch.setattr(cls, "__module__", old)
    torch.save({"lstm": lstm, "cell": cell}, tmp_path / "old.pt")
    monkeypatch.undo()
    with zipfile.ZipFile(tmp_path / "old.pt") as archive:
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert b"rnnlab.layers\nLSTM" in pickled and b"rnnlab.cells\nGRUCell" in pickled
    with torch.serialization.safe_globals(rnnlab.SAFE_GLOBALS):
        loaded = torch.load(tmp_path / "old.pt", weights_only=True)
    x = torch.randn(5, 2, 3)
    assert type(loaded["lstm"]) is rnnlab.LSTM and type(loaded["cell"]) is rnnlab.GRUCell
    assert torch.equal(loaded["lstm"](x)[0], lstm(x)[0])
    assert torch.equal(loaded["cell"](x[0]), cell(x[0]))


@pytest.mark.parametrize("layer", [rnnlab.MinGRU(3, 4), rnnlab.MinLSTM(3, 4), rnnlab.GRU(3, 4, engine="unrolled"),
                                   rnnlab.Recurrent(rnnlab.LayerNormLSTMCell, 3, 4)])
@pytest.mark.parametrize("shape", [(0, 2, 3), (0, 3)])
def test_an_empty_sequence_is_refused_as_torch_nn_refuses_it(layer, shape):
    with pytest.raises(RuntimeError) as expected:
        torch.nn.GRU(3, 4)(torch.zeros(shape))
    with pytest.raises(RuntimeError, match=str(expected.value)):
        layer(torch.zeros(shape))
