"""Task models: shapes, padding never changes a real step's prediction, pooling, order (in)sensitivity
of the baselines, word dropout, error messages, and a few optimisation steps that lower the loss."""

from __future__ import annotations

from functools import partial

import pytest
import torch

import rnnlab
from rnnlab.models import (
    CELLS,
    POOLINGS,
    BagOfCharacters,
    CharNgramModel,
    SequenceClassifier,
    SequenceTagger,
    SignalMLP,
    masked_cross_entropy,
    recurrent_layer,
)
from rnnlab.models.baselines import hashed_ngrams
from rnnlab.models.pooling import max_over_time

TOLERANCE = 1e-10
B, T, F, V, K = 3, 7, 2, 12, 4
LENGTHS = torch.tensor([7, 4, 1])


def _padded_signals(lengths: torch.Tensor = LENGTHS) -> torch.Tensor:
    """``(B, T, F)`` float64 with noise, not zeros, in the padding: the models must ignore it, whatever it is."""
    return torch.randn(len(lengths), T, F, dtype=torch.float64)


def _padded_ids(lengths: torch.Tensor = LENGTHS, vocab: int = V) -> torch.Tensor:
    """``(B, T)`` ids in ``1..vocab-1`` on real steps and random ids (rather than PAD) after them."""
    return torch.randint(1, vocab, (len(lengths), T))


def _assert_close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    assert (a - b).abs().max().item() <= TOLERANCE


def _alone_vs_in_batch(model, *inputs, lengths=LENGTHS):
    """Each sequence's output alone (trimmed to its length) and inside the padded batch."""
    batched = model(*inputs, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = model(*(x[b:b + 1, :n] for x in inputs), lengths[b:b + 1])
        yield b, n, alone[0], batched[b]


def _loss_falls(model, loss_fn, steps: int = 25, lr: float = 1e-2) -> None:
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


# ----------------------------------------------------------------- recurrent_layer
@pytest.mark.parametrize("name,cls", [("rnn", rnnlab.RNN), ("lstm", rnnlab.LSTM), ("gru", rnnlab.GRU)])
def test_recurrent_layer_builds_rnnlab_layers_by_cell_name(name, cls):
    layer = recurrent_layer(name, 3, 5, 2, bidirectional=True, dropout=0.1)
    assert type(layer) is cls and isinstance(layer, rnnlab.Recurrent)
    assert (layer.input_size, layer.hidden_size, layer.num_layers) == (3, 5, 2)
    assert layer.bidirectional and layer.batch_first and layer.dropout == 0.1
    if name == "rnn":
        assert layer.nonlinearity == "tanh"


def test_unknown_cell_name_raises_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown cell 'lsmt'; choose from \['gru', 'gru-ln', 'indrnn', 'irnn', 'janet', 'lstm', 'lstm-chrono', 'lstm-fb1', 'lstm-ln', 'lstm-peephole', 'mgu', 'mingru', 'minlstm', 'orthogonal', 'rnn'\]"):  # noqa: E501
        recurrent_layer("lsmt", 3, 5)
    with pytest.raises(ValueError, match=r"unknown cell 'transformer'; choose from .*'gru'"):
        SequenceClassifier(2, input_size=3, cell="transformer")


def test_a_cell_spec_sets_regularisers_on_its_layer_and_refuses_bad_options_by_name():
    layer = recurrent_layer("gru:zoneout=0.1:recurrent_dropout=0.25", 3, 5, 2)
    assert (layer.zoneout, layer.recurrent_dropout, layer.weight_drop) == (0.1, 0.25, 0.0)
    assert recurrent_layer("lstm", 3, 5).zoneout == 0.0
    for spec, message in (("lstm:zonout=0.1", "unknown option 'zonout'"),
                          ("lstm:zoneout=x", "zoneout must be a number, got 'x'"),
                          ("lstm:weight_drop=1", r"weight_drop must be a probability in \[0, 1\), got 1"),
                          ("mingru:weight_drop=0.2", "MinGRUCell has none")):
        with pytest.raises(ValueError, match=message):
            recurrent_layer(spec, 3, 5)


def test_a_cell_added_to_the_registry_serves_every_model(monkeypatch):
    monkeypatch.setitem(CELLS, "lnlstm", partial(rnnlab.Recurrent, rnnlab.LayerNormLSTMCell))
    model = SequenceClassifier(K, input_size=F, cell="lnlstm", hidden_size=6, pooling="last")
    assert isinstance(model.encoder._cells[0], rnnlab.LayerNormLSTMCell)
    assert model(torch.randn(B, T, F), LENGTHS).shape == (B, K)


# ------------------------------------------------------------------- classifier
def _classifier(pooling: str, cell: str = "gru", tokens: bool = False, **kwargs) -> SequenceClassifier:
    inputs = dict(vocab_size=V, embedding_size=5) if tokens else dict(input_size=F)
    model = SequenceClassifier(K, cell=cell, hidden_size=6, pooling=pooling, **inputs, **kwargs)
    return model.double().eval()


@pytest.mark.parametrize("tokens", [False, True])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_classifier_gives_one_logit_vector_per_sequence(pooling, tokens):
    x = _padded_ids() if tokens else _padded_signals()
    assert _classifier(pooling, tokens=tokens)(x, LENGTHS).shape == (B, K)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_classifier_logits_do_not_depend_on_padding(pooling, cell):
    model = _classifier(pooling, cell, bidirectional=True, num_layers=2)
    with torch.no_grad():
        for _, _, alone, batched in _alone_vs_in_batch(model, _padded_signals()):
            _assert_close(alone, batched)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_token_classifier_logits_do_not_depend_on_padding(pooling):
    model = _classifier(pooling, "lstm", tokens=True, bidirectional=False)
    with torch.no_grad():
        for _, _, alone, batched in _alone_vs_in_batch(model, _padded_ids()):
            _assert_close(alone, batched)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_last_pooling_is_forward_state_at_last_real_step_and_backward_state_at_step_0(cell):
    model = _classifier("last", cell, bidirectional=True)
    x = _padded_signals()
    with torch.no_grad():
        outputs, h_n = model.encoder(x, lengths=LENGTHS)
        summary = model.summarise(outputs, h_n, None)
    H = model.encoder.hidden_size
    for b, n in enumerate(LENGTHS.tolist()):
        _assert_close(summary[b, :H], outputs[b, n - 1, :H])
        _assert_close(summary[b, H:], outputs[b, 0, H:])


def test_max_pooling_never_picks_padding():
    outputs = -1 - torch.rand(2, 4, 3, dtype=torch.float64)  # all negative: a zero from padding would win
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    outputs[0, 2:] = 0.0
    _assert_close(max_over_time(outputs, mask)[0], outputs[0, :2].amax(0))


def test_unknown_pooling_raises_naming_the_choices():
    with pytest.raises(ValueError, match=r"pooling must be one of \('last', 'mean', 'max', 'meanmax', "
                                         r"'attention'\), got 'sum'"):
        SequenceClassifier(K, input_size=F, pooling="sum")


def test_classifier_needs_exactly_one_kind_of_input():
    with pytest.raises(ValueError, match="exactly one of input_size .* or vocab_size"):
        SequenceClassifier(K)
    with pytest.raises(ValueError, match="exactly one of input_size .* or vocab_size"):
        SequenceClassifier(K, input_size=F, vocab_size=V, embedding_size=4)
    with pytest.raises(ValueError, match="embedding_size is needed with vocab_size"):
        SequenceClassifier(K, vocab_size=V)
    with pytest.raises(ValueError, match=r"expected token ids \(batch, steps\)"):
        SequenceClassifier(K, vocab_size=V, embedding_size=4)(torch.randn(B, T, F), LENGTHS)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_classifier_loss_falls_on_a_tiny_batch(pooling):
    torch.manual_seed(0)
    model = SequenceClassifier(K, input_size=F, hidden_size=12, num_layers=1, pooling=pooling, dropout=0.1)
    x, lengths, y = torch.randn(8, T, F), torch.randint(1, T + 1, (8,)), torch.arange(8) % K
    _loss_falls(model, lambda: torch.nn.functional.cross_entropy(model(x, lengths), y))


# ----------------------------------------------------------------------- tagger
WORDS, CHARS, TAGS, C = 15, 9, 5, 6


def _sentences(lengths: torch.Tensor = LENGTHS) -> tuple[torch.Tensor, torch.Tensor]:
    """``words (B, T)`` and ``chars (B, T, C)``: real words have 1..C characters, padding words none."""
    words = _padded_ids(lengths, WORDS).masked_fill(torch.arange(T) >= lengths[:, None], 0)
    chars = torch.randint(1, CHARS, (len(lengths), T, C))
    word_lengths = torch.randint(1, C + 1, (len(lengths), T)).masked_fill(words == 0, 0)
    chars = chars.masked_fill(torch.arange(C) >= word_lengths[..., None], 0)
    return words, chars


def _tagger(**kwargs) -> SequenceTagger:
    options = dict(word_embedding_size=6, char_embedding_size=4, char_hidden_size=5, hidden_size=7) | kwargs
    return SequenceTagger(WORDS, CHARS, TAGS, **options)


def test_tagger_gives_logits_per_step():
    words, chars = _sentences()
    assert _tagger()(words, chars, LENGTHS).shape == (B, T, TAGS)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_tagger_real_steps_do_not_depend_on_padding(cell):
    model = _tagger(cell=cell, word_dropout=0.5).double().eval()
    words, chars = _sentences()
    with torch.no_grad():
        for _, n, alone, batched in _alone_vs_in_batch(model, words, chars):
            _assert_close(alone, batched[:n])


def test_unseen_words_are_told_apart_by_their_characters():
    model = _tagger().double().eval()
    words = torch.tensor([[1, 1]])  # both UNK
    chars = torch.tensor([[[3, 4, 5], [6, 7, 0]]])
    with torch.no_grad():
        encoded = model.char_encoder(chars)
        logits = model(words, chars, torch.tensor([2]))
    assert encoded.shape == (1, 2, 10) and encoded.abs().min(-1).values.gt(0).all()
    assert not torch.allclose(logits[0, 0], logits[0, 1])


def test_a_word_without_characters_gets_a_zero_character_encoding():
    model = _tagger().double()
    chars = torch.tensor([[[3, 4, 0], [0, 0, 0]]])
    encoded = model.char_encoder(chars)
    assert encoded[0, 1].eq(0).all() and encoded[0, 0].ne(0).any()


def test_word_dropout_replaces_real_words_by_unk_only_in_training():
    model = _tagger(word_dropout=0.5)
    words, _ = _sentences()
    model.eval()
    assert torch.equal(model.drop_words(words), words)
    model.train()
    dropped = model.drop_words(words.repeat(20, 1))
    real = words.repeat(20, 1) != 0
    assert torch.equal(dropped == 0, ~real)  # PAD stays PAD, nothing else becomes PAD
    changed = dropped != words.repeat(20, 1)
    assert (dropped[changed] == 1).all() and 0.3 < changed[real].double().mean() < 0.7
    assert torch.equal(_tagger(word_dropout=0.0).train().drop_words(words), words)


def test_frequency_aware_word_dropout_drops_rare_words_more_often():
    counts = torch.zeros(WORDS, dtype=torch.long)
    counts[2], counts[3] = 1, 99  # a word seen once, and a frequent one
    model = _tagger(word_dropout=0.25, word_counts=counts).train()
    assert model.drop_probability[[0, 1]].eq(0).all()  # PAD and UNK stay as they are
    assert model.drop_probability[2].item() == pytest.approx(0.25 / 1.25)
    assert model.drop_probability[3].item() == pytest.approx(0.25 / 99.25)
    torch.manual_seed(0)
    words = torch.tensor([[2, 3]]).repeat(20000, 1)
    dropped = model.drop_words(words) == 1
    assert dropped[:, 0].double().mean().item() == pytest.approx(0.2, abs=0.01)
    assert dropped[:, 1].double().mean().item() == pytest.approx(0.0025, abs=0.0015)
    with pytest.raises(ValueError, match="one count per word id"):
        _tagger(word_dropout=0.25, word_counts=counts[:3])


def test_masked_loss_counts_only_real_steps():
    logits = torch.randn(B, T, TAGS, dtype=torch.float64)
    targets = torch.randint(0, TAGS, (B, T)).masked_fill(torch.arange(T) >= LENGTHS[:, None], -1)
    real_logits = torch.cat([logits[b, :n] for b, n in enumerate(LENGTHS.tolist())])
    real_targets = torch.cat([targets[b, :n] for b, n in enumerate(LENGTHS.tolist())])
    expected = torch.nn.functional.cross_entropy(real_logits, real_targets)
    _assert_close(masked_cross_entropy(logits, targets, LENGTHS), expected)


def test_tagger_loss_falls_on_a_tiny_batch():
    torch.manual_seed(0)
    model = _tagger(num_layers=1, dropout=0.1, word_dropout=0.1)
    words, chars = _sentences()
    tags = words % TAGS
    _loss_falls(model, lambda: masked_cross_entropy(model(words, chars, LENGTHS), tags, LENGTHS))


def test_models_compute_the_same_on_either_engine():
    classifier = _classifier("meanmax", "lstm")
    tagger = _tagger().double().eval()
    x, (words, chars) = _padded_signals(), _sentences()
    with torch.no_grad():
        native = classifier(x, LENGTHS), tagger(words, chars, LENGTHS)
        for layer in (classifier.encoder, tagger.encoder, tagger.char_encoder.layer):
            layer.engine = "unrolled"
        unrolled = classifier(x, LENGTHS), tagger(words, chars, LENGTHS)
    for a, b in zip(native, unrolled):
        _assert_close(a, b)


# -------------------------------------------------------------------- baselines
def _permuted_real_steps(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    for b, n in enumerate(lengths.tolist()):
        out[b, :n] = x[b, torch.randperm(n) if n > 2 else torch.arange(n).flip(0)]
    return out


def test_bag_of_characters_ignores_order_and_padding():
    model = BagOfCharacters(V, K, hidden_size=8).double().eval()
    x = torch.tensor([[1, 2, 3, 4, 5, 6, 7], [5, 5, 2, 9, 0, 0, 0], [3, 0, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        _assert_close(model(x, LENGTHS), model(_permuted_real_steps(x, LENGTHS), LENGTHS))
        for _, _, alone, batched in _alone_vs_in_batch(model, _padded_ids()):
            _assert_close(alone, batched)


def test_char_ngram_model_sees_local_order_and_ignores_padding():
    model = CharNgramModel(V, K, embedding_size=8).double().eval()
    x = torch.tensor([[1, 2, 3, 4]])
    reordered = torch.tensor([[4, 3, 2, 1]])
    lengths = torch.tensor([4])
    with torch.no_grad():
        assert (model(x, lengths) - model(reordered, lengths)).abs().max() > 1e-6
        for _, _, alone, batched in _alone_vs_in_batch(model, _padded_ids()):
            _assert_close(alone, batched)


def test_ngram_hashes_are_deterministic_and_count_every_ngram():
    x, lengths = torch.tensor([[5, 6, 0]]), torch.tensor([2])
    ids, valid = hashed_ngrams(x, lengths, n=3, buckets=2**16, boundary=V)
    # framed: <V> 5 6 <V>  ->  4 unigrams, 3 bigrams, 2 trigrams
    assert int(valid.sum()) == 4 + 3 + 2
    prime, base = 2**31 - 1, 1_000_003
    assert ids[0, 1].item() == ((1 * base + 5) % prime) % 2**16  # the unigram "5"
    bigram = (((2 * base + 5) % prime) * base + 6) % prime % 2**16  # the bigram "5 6"
    assert bigram in ids[valid].tolist()


def test_signal_mlp_checks_the_flattened_size():
    model = SignalMLP(T * F, K, hidden_size=8)
    assert model(torch.randn(B, T, F), LENGTHS).shape == (B, K)
    with pytest.raises(ValueError, match=r"input_size=14 .*got shape \(3, 6, 2\)"):
        model(torch.randn(B, T - 1, F), LENGTHS)


@pytest.mark.parametrize("name", ["signal_mlp", "bag_of_characters", "char_ngrams"])
def test_baseline_loss_falls_on_a_tiny_batch(name):
    torch.manual_seed(0)
    lengths, y = torch.randint(1, T + 1, (8,)), torch.arange(8) % K
    if name == "signal_mlp":
        model, x = SignalMLP(T * F, K, hidden_size=16), torch.randn(8, T, F)
    elif name == "bag_of_characters":
        model, x = BagOfCharacters(V, K, hidden_size=16), _padded_ids(lengths)
    else:
        model, x = CharNgramModel(V, K, buckets=256, embedding_size=16), _padded_ids(lengths)
    _loss_falls(model, lambda: torch.nn.functional.cross_entropy(model(x, lengths), y), lr=3e-2)
