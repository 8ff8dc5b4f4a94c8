"""Decoding: greedy, sampling and beam search over a real recurrent decoder that carries its state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.models.decoding import beam_search, sample

V, E, H, START, END, PAD = 7, 5, 8, 1, 2, 0


class TinyDecoder(nn.Module):
    """Embedding -> rnnlab GRU -> linear: one step per call, the state carried."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.embedding = nn.Embedding(V, E)
        self.layer = rnnlab.GRU(E, H, dtype=torch.float64)
        self.head = nn.Linear(H, V, dtype=torch.float64)
        self.calls = 0

    def step(self, tokens, state):
        assert tokens.dim() == 1  # one token per sequence: never the whole prefix again
        self.calls += 1
        output, state = self.layer(self.embedding(tokens).double()[None], state)
        return self.head(output[0]).log_softmax(-1), state

    def log_prob(self, sequence: list[int], h0: torch.Tensor) -> float:
        """The model's log-probability of ``sequence`` after START, by teacher forcing."""
        state, current, total = h0, torch.tensor([START]), 0.0
        for token in sequence:
            log_probs, state = self.step(current, state)
            total += log_probs[0, token].item()
            current = torch.tensor([token])
        return total


def _start(batch: int):
    h0 = torch.randn(1, batch, H, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return torch.full((batch,), START), h0


def test_greedy_equals_beam_search_of_width_one():
    model = TinyDecoder()
    start, h0 = _start(4)
    greedy = sample(model.step, start, h0, end=END, max_length=12, greedy=True)
    beam = beam_search(model.step, start, h0, end=END, max_length=12, beam_width=1)
    for b in range(4):
        n = int(greedy.lengths[b])
        assert greedy.tokens[b, :n].tolist() == beam.tokens[b, : int(beam.lengths[b])].tolist()
    assert torch.allclose(greedy.scores, beam.scores)


@pytest.mark.parametrize("width", [2, 5])
def test_a_beams_score_is_the_models_log_probability_of_its_sequence(width):
    model = TinyDecoder()
    start, h0 = _start(3)
    beam = beam_search(model.step, start, h0, end=END, max_length=10, beam_width=width)
    for b in range(3):
        sequence = beam.tokens[b, : int(beam.lengths[b])].tolist()
        assert beam.scores[b].item() == pytest.approx(model.log_prob(sequence, h0[:, b:b + 1]), abs=1e-10)


def test_beam_search_finds_the_best_sequence_when_the_beam_holds_every_prefix():
    """Width V*V and at most 2 tokens: every sequence that ends within 2 tokens is scored, so the
    result is the most probable of them, found here by enumeration."""
    model = TinyDecoder()
    start, h0 = _start(1)
    finished = [[END]] + [[a, END] for a in range(V) if a != END]
    expected = max(finished, key=lambda sequence: model.log_prob(sequence, h0))
    beam = beam_search(model.step, start, h0, end=END, max_length=2, beam_width=V * V)
    assert beam.tokens[0, : int(beam.lengths[0])].tolist() == expected
    assert beam.scores[0].item() == pytest.approx(model.log_prob(expected, h0), abs=1e-10)


def test_n_best_lists_the_most_probable_finished_sequences_best_first():
    """Width V*V, at most 2 tokens: every sequence ending within 2 tokens is scored, so the n best are
    the n most probable of them, found by enumeration; the first is what n_best=1 returns."""
    model = TinyDecoder()
    start, h0 = _start(1)
    finished = [[END]] + [[a, END] for a in range(V) if a != END]
    expected = sorted(finished, key=lambda sequence: -model.log_prob(sequence, h0))[:4]
    beam = beam_search(model.step, start, h0, end=END, max_length=2, beam_width=V * V, n_best=4)
    assert beam.tokens.shape[:2] == beam.lengths.shape == beam.scores.shape == (1, 4)
    assert [beam.tokens[0, n, : int(beam.lengths[0, n])].tolist() for n in range(4)] == expected
    assert beam.scores[0].tolist() == pytest.approx([model.log_prob(s, h0) for s in expected], abs=1e-10)
    one = beam_search(model.step, start, h0, end=END, max_length=2, beam_width=V * V)
    assert one.tokens[0, : int(one.lengths[0])].tolist() == expected[0]


def test_n_best_fills_a_short_list_with_live_beams_then_empty_ones():
    model = TinyDecoder()
    start, h0 = _start(2)
    beam = beam_search(model.step, start, h0, end=END + 100, max_length=3, beam_width=3, n_best=3)  # none ends
    assert beam.lengths.tolist() == [[3, 3, 3], [3, 3, 3]]
    for b in range(2):
        assert beam.scores[b].tolist() == sorted(beam.scores[b].tolist(), reverse=True)
        for n in range(3):
            sequence = beam.tokens[b, n].tolist()
            assert beam.scores[b, n].item() == pytest.approx(model.log_prob(sequence, h0[:, b:b + 1]), abs=1e-10)

    def only_token_4(tokens, state):  # one possible token: a single live beam
        return torch.full((len(tokens), V), -torch.inf, dtype=torch.float64).index_fill(1, torch.tensor([4]), 0.0), state  # noqa: E501

    single = beam_search(only_token_4, start[:1], h0[:, :1], end=END, max_length=2, beam_width=3, n_best=3)
    assert single.tokens[0, 0].tolist() == [4, 4] and single.lengths[0].tolist() == [2, 0, 0]
    assert single.scores[0].tolist() == [0.0, -torch.inf, -torch.inf]


def test_sampling_with_top_k_one_or_a_tiny_top_p_is_greedy_and_seeded_sampling_repeats():
    model = TinyDecoder()
    start, h0 = _start(5)
    greedy = sample(model.step, start, h0, end=END, max_length=9, greedy=True)
    for options in ({"top_k": 1}, {"top_p": 1e-6}, {"temperature": 1e-4}):
        drawn = sample(model.step, start, h0, end=END, max_length=9, generator=torch.Generator().manual_seed(0),
                       **options)
        assert torch.equal(drawn.tokens, greedy.tokens), options
    one = sample(model.step, start, h0, end=END, max_length=9, generator=torch.Generator().manual_seed(7))
    two = sample(model.step, start, h0, end=END, max_length=9, generator=torch.Generator().manual_seed(7))
    assert torch.equal(one.tokens, two.tokens) and torch.equal(one.scores, two.scores)


def test_decoders_take_one_step_per_token_and_stop_at_the_end_token():
    model = TinyDecoder()
    start, h0 = _start(2)
    decoded = sample(model.step, start, h0, end=END, max_length=15, greedy=True)
    assert model.calls == decoded.tokens.shape[1] <= 15
    for b in range(2):
        n = int(decoded.lengths[b])
        row = decoded.tokens[b].tolist()
        assert (row[n - 1] == END or n == 15) and all(t == PAD for t in row[n:])


def test_decoders_reject_bad_options():
    model = TinyDecoder()
    start, h0 = _start(1)
    with pytest.raises(ValueError, match="temperature"):
        sample(model.step, start, h0, end=END, max_length=3, temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        sample(model.step, start, h0, end=END, max_length=3, top_p=1.5)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(model.step, start, h0, end=END, max_length=3, beam_width=0)
    with pytest.raises(ValueError, match="max_length"):
        beam_search(model.step, start, h0, end=END, max_length=0)
    with pytest.raises(ValueError, match="n_best"):
        beam_search(model.step, start, h0, end=END, max_length=3, beam_width=2, n_best=3)


def test_nucleus_sampling_draws_only_from_the_smallest_set_reaching_top_p():
    model = TinyDecoder()
    start, h0 = _start(1)
    first, _ = model.step(start, h0)
    probabilities, order = first[0].exp().sort(descending=True)
    nucleus = set(order[: int((probabilities.cumsum(0) < 0.6).sum()) + 1].tolist())
    drawn = {int(sample(model.step, start, h0, end=END, max_length=1, top_p=0.6,
                        generator=torch.Generator().manual_seed(seed)).tokens[0, 0]) for seed in range(200)}
    assert drawn <= nucleus and len(drawn) == len(nucleus)


def test_length_penalty_ranks_by_log_probability_per_token():
    model = TinyDecoder()
    start, h0 = _start(2)
    beam = beam_search(model.step, start, h0, end=END, max_length=8, beam_width=3, length_penalty=1.0)
    for b in range(2):
        sequence = beam.tokens[b, : int(beam.lengths[b])].tolist()
        assert beam.scores[b].item() == pytest.approx(model.log_prob(sequence, h0[:, b:b + 1]) / len(sequence),
                                                      abs=1e-10)
