"""merge_mode: how a bidirectional layer's output joins its two directions (Keras' ``merge_mode``)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnlab


def _pair(kind, mode, **options):
    torch.manual_seed(0)
    concat = getattr(rnnlab, kind)(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64, **options)
    torch.manual_seed(0)
    merged = getattr(rnnlab, kind)(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64,
                                   merge_mode=mode, **options)
    return concat, merged


MERGE = {"sum": lambda f, b: f + b, "mul": lambda f, b: f * b, "ave": lambda f, b: (f + b) / 2}


@pytest.mark.parametrize("engine", ["native", "unrolled"])
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("mode", MERGE)
def test_the_merged_output_joins_the_two_directions_and_the_state_keeps_its_layout(mode, kind, engine):
    concat, merged = _pair(kind, mode, engine=engine)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    (out_c, h_c), (out_m, h_m) = concat(x), merged(x)
    forward, backward = out_c.chunk(2, dim=-1)
    torch.testing.assert_close(out_m, MERGE[mode](forward, backward), rtol=0, atol=1e-12)
    assert out_m.shape == (6, 2, 4)
    for a, b in zip(h_c if isinstance(h_c, tuple) else (h_c,), h_m if isinstance(h_m, tuple) else (h_m,)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    grads = torch.autograd.grad(out_m.sum(), list(merged.parameters()))
    assert all(g.abs().sum() > 0 for g in grads)


def test_merging_works_with_lengths_packed_input_and_the_scan_cells():
    concat, merged = _pair("GRU", "ave", batch_first=True)
    x, lengths = torch.randn(3, 5, 3, dtype=torch.float64), torch.tensor([5, 2, 4])
    expected = MERGE["ave"](*concat(x, lengths=lengths)[0].chunk(2, dim=-1))
    torch.testing.assert_close(merged(x, lengths=lengths)[0], expected, rtol=0, atol=1e-12)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = merged(packed)
    assert isinstance(out, torch.nn.utils.rnn.PackedSequence)
    torch.testing.assert_close(pad_packed_sequence(out, batch_first=True, total_length=5)[0], expected,
                               rtol=0, atol=1e-12)
    assert rnnlab.MinGRU(3, 4, bidirectional=True, merge_mode="sum")(torch.randn(5, 2, 3))[0].shape == (5, 2, 4)


def test_a_bad_merge_mode_is_refused_by_name():
    with pytest.raises(ValueError, match=r"LSTM: merge_mode must be one of \('concat', 'sum', 'mul', 'ave'\)"):
        rnnlab.LSTM(3, 4, bidirectional=True, merge_mode="max")
    with pytest.raises(ValueError, match="merges the two directions of a bidirectional layer"):
        rnnlab.GRU(3, 4, merge_mode="sum")
    assert "merge_mode='sum'" in repr(rnnlab.GRU(3, 4, bidirectional=True, merge_mode="sum"))
