"""The attention encoder-decoder and G2P on CMUdict: decoding paths, metrics, data, and the workflow end to end."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest
import torch

import rnnlab
from rnnlab import cli
from rnnlab.data import DataError, load_g2p, read_lexicon
from rnnlab.models import Ensemble, Seq2Seq
from rnnlab.models.decoding import beam_search, sample, select_state
from rnnlab.models.losses import masked_cross_entropy
from rnnlab.models.seq2seq import CTC_SLOTS, QUERY_CHUNK
from rnnlab.tasks import ConfigError, TrainConfig, make_task
from rnnlab.tasks.transcription import ctc_loss, edit_distance, error_rates, score_outputs
from rnnlab.training import load_run

START, END = 2, 3


def _model(attention="multiplicative", input_feeding=True, cell="lstm", seed=0, decoder_layers=1) -> Seq2Seq:
    torch.manual_seed(seed)
    model = Seq2Seq(9, 8, embedding_size=5, hidden_size=6, num_layers=2, decoder_size=7, cell=cell,
                    attention=attention, input_feeding=input_feeding, dropout=0.0,
                    decoder_layers=decoder_layers).double()
    return model.eval()


def _source(batch=3, steps=5):
    lengths = torch.tensor([5, 3, 1][:batch])
    source = torch.randint(2, 9, (batch, steps))
    source[torch.arange(steps) >= lengths[:, None]] = 0
    return source, lengths


@pytest.mark.parametrize("attention", ["multiplicative", "additive"])
@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("decoder_layers", [1, 3])
def test_teacher_forcing_equals_one_step_at_a_time(attention, input_feeding, cell, decoder_layers):
    model = _model(attention, input_feeding, cell, decoder_layers=decoder_layers)
    source, lengths = _source()
    previous = torch.randint(2, 8, (3, 4))
    whole = model(source, lengths, previous)  # every step's token part projected at once
    state, steps = model.encode(source, lengths), []
    for t in range(previous.shape[1]):
        log_probs, state = model.step(previous[:, t], state)
        steps.append(log_probs)
    torch.testing.assert_close(whole.log_softmax(-1).float(), torch.stack(steps, 1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("attention", ["multiplicative", "additive"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("decoder_layers", [1, 3])
def test_fused_training_equals_stepping_the_decoder_outputs_and_gradients(attention, cell, decoder_layers):
    # dropout 0: training mode, the same function
    model = _model(attention, input_feeding=False, cell=cell, decoder_layers=decoder_layers).train()
    source, lengths = _source()
    previous = torch.randint(2, 8, (3, 4))
    results = []
    for fused in (False, True):
        model.fused = fused
        logits = model(source, lengths, previous)
        grads = torch.autograd.grad(logits.sin().sum(), list(model.parameters()), allow_unused=True)
        results.append([logits, *[g if g is not None else torch.zeros(()) for g in grads]])
    for stepped, fused in zip(*results):
        torch.testing.assert_close(fused, stepped, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_input_feeding_gives_the_cell_the_previous_token_and_attentional_vector(cell):
    model = _model(cell=cell)
    source, lengths = _source()
    state = model.encode(source, lengths)._replace(feed=torch.randn(3, 7, dtype=torch.float64))
    tokens = torch.tensor([START, 4, 5])
    _, new_state, _ = model.decode_step(tokens, state)
    expected = model.decoder(torch.cat([model.target_embedding(tokens), state.feed], dim=-1),
                             state.cell if len(state.cell) > 1 else state.cell[0])  # the cell's own step
    expected = expected if isinstance(expected, tuple) else (expected,)
    for got, want in zip(new_state.cell, expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_stacked_decoder_layer_reads_the_context_with_the_output_below(cell):
    model = _model(cell=cell, input_feeding=False, decoder_layers=2)
    source, lengths = _source()
    state = model.encode(source, lengths)
    assert len(state.upper) == 1 and [s.shape for s in state.upper[0]] == [s.shape for s in state.cell]
    tokens = torch.tensor([START, 4, 5])
    logits, new_state, weights = model.decode_step(tokens, state)
    bottom = model.decoder(model.target_embedding(tokens), state.cell if len(state.cell) > 1 else state.cell[0])
    bottom = bottom if isinstance(bottom, tuple) else (bottom,)
    context = torch.einsum("bs,bsm->bm", weights, state.memory)
    upper_layer, upper_state = model.upper[0], state.upper[0]
    top = upper_layer(torch.cat([context, bottom[0]], dim=-1),
                      upper_state if len(upper_state) > 1 else upper_state[0])
    top = top if isinstance(top, tuple) else (top,)
    for got, want in zip((*new_state.cell, *new_state.upper[0]), (*bottom, *top)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    attentional = torch.tanh(model.combine(torch.cat([context, top[0]], dim=-1)))
    torch.testing.assert_close(logits, model.output(attentional), rtol=0, atol=1e-12)


def test_decoder_layers_is_checked_and_a_run_with_a_stacked_decoder_evaluates(lexicon_file, tmp_path, capsys):
    with pytest.raises(ValueError, match="decoder_layers"):
        Seq2Seq(9, 8, decoder_layers=0)
    with pytest.raises(ConfigError, match="--decoder-layers must be at least 1"):
        TrainConfig(task="g2p", decoder_layers=0).resolved()
    with pytest.raises(ConfigError, match="--decoder-layers is for the G2P tasks"):
        TrainConfig(task="upos", decoder_layers=2).resolved()
    with pytest.raises(ConfigError, match="--reverse-decoder-layers must be at least 1"):
        TrainConfig(task="g2p", reverse_decoder_layers=0).resolved()
    with pytest.raises(ConfigError, match="--reverse-decoder-layers is for the G2P tasks"):
        TrainConfig(task="upos", reverse_decoder_layers=2).resolved()
    run = tmp_path / "stacked"
    cli.main(["train", "--task", "g2p", "--data", str(lexicon_file), "--hidden-size", "8", "--num-layers", "1",
              "--epochs", "1", "--decoder-layers", "2", "--reverse-decoder-size", "4", "--reverse-decoder-layers",
              "3", "--beam-width", "2", "--run-dir", str(run)])
    config, _, model = load_run(run)
    assert config.decoder_layers == 2 and len(model.upper) == 1
    assert config.reverse_decoder_layers == 3 and len(model.reverse.upper) == 2
    capsys.readouterr()
    cli.main(["evaluate", str(run)])
    assert "WER" in capsys.readouterr().out


def test_attention_ignores_padding_and_sums_to_one():
    model = _model()
    source, lengths = _source()
    state = model.encode(source, lengths)
    _, _, weights = model.decode_step(torch.full((3,), START), state)
    assert torch.all(weights[torch.arange(5) >= lengths[:, None]] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)
    # What lies in the padding, and how much of it there is, changes nothing.
    longer = torch.cat([source.masked_fill(source == 0, 7), torch.full((3, 2), 5)], dim=1)
    out = model(source, lengths, torch.full((3, 2), START))
    torch.testing.assert_close(model(longer, lengths, torch.full((3, 2), START)), out, rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", ["multiplicative", "additive"])
def test_teacher_forcing_attends_a_chunk_of_steps_at_a_time_and_gives_the_same_result(attention, monkeypatch):
    model = _model(attention, input_feeding=False)
    source, lengths = _source()
    previous = torch.randint(2, 8, (3, 2 * QUERY_CHUNK + 5))  # three chunks, the last one short
    whole = model.attention.forward  # every step's query at once: (B, T, S) weights
    state = model.encode(source, lengths)
    queries = torch.randn(3, previous.shape[1], 7, dtype=torch.float64)
    chunked = model.attention.contexts(queries, state.keys, state.memory, state.mask)
    torch.testing.assert_close(chunked, whole(queries, state.keys, state.memory, state.mask)[0], rtol=0, atol=1e-12)
    seen = []
    monkeypatch.setattr(model.attention, "forward", lambda query, *rest: seen.append(query.shape[1]) or
                        whole(query, *rest))
    model.fused = True
    logits = model(source, lengths, previous)
    assert seen == [QUERY_CHUNK, QUERY_CHUNK, 5]  # never the (B, T, S) weights of every step at once
    model.fused = False
    torch.testing.assert_close(logits, model(source, lengths, previous), rtol=0, atol=1e-12)


def _teacher_forced_probabilities(model: Seq2Seq, source, lengths, b: int, tokens) -> torch.Tensor:
    """The model's probability of each of ``tokens (T,)`` for source ``b``, fed the previous ones: ``(T,)``."""
    previous = torch.cat([torch.tensor([START]), tokens[:-1]])[None]
    return model(source[b:b + 1], lengths[b:b + 1], previous).softmax(-1)[0].gather(1, tokens[:, None])[:, 0]


def test_greedy_equals_width_one_beam_and_a_beam_score_is_the_models_log_probability():
    model = _model()
    source, lengths = _source()
    start = torch.full((3,), START)
    greedy = sample(model.step, start, model.encode(source, lengths), end=END, max_length=12, greedy=True)
    beam1 = beam_search(model.step, start, model.encode(source, lengths), end=END, max_length=12, beam_width=1,
                        state_batch_dim=0)
    torch.testing.assert_close(beam1.tokens, greedy.tokens)
    beam = beam_search(model.step, start, model.encode(source, lengths), end=END, max_length=12, beam_width=4,
                       state_batch_dim=0)
    for b in range(3):
        tokens = beam.tokens[b, :beam.lengths[b]]
        teacher_forced = _teacher_forced_probabilities(model, source, lengths, b, tokens).log().sum().item()
        assert beam.scores[b].item() == pytest.approx(teacher_forced, abs=1e-5)
        assert beam.scores[b].item() >= greedy.scores[b].item() - 1e-9  # the beam finds at least greedy's


def test_an_ensemble_decodes_with_the_mean_of_its_models_probabilities():
    models = [_model(seed=0), _model("additive", seed=1)]
    ensemble = Ensemble(models)
    source, lengths = _source()
    start = torch.full((3,), START)
    # One step: log of the mean of the two distributions; an ensemble of one is the model itself.
    log_p, _ = ensemble.step(start, ensemble.encode(source, lengths))
    single = [m.step(start, m.encode(source, lengths))[0] for m in models]
    mean = ((single[0].double().exp() + single[1].double().exp()) / 2).log()
    torch.testing.assert_close(log_p.double(), mean, rtol=0, atol=1e-6)  # step returns float32 log-probabilities
    torch.testing.assert_close(Ensemble(models[:1]).step(start, Ensemble(models[:1]).encode(source, lengths))[0],
                               single[0], rtol=0, atol=0)
    # A beam's score is the log-probability of its sequence under the ensemble, step by step.
    beam = beam_search(ensemble.step, start, ensemble.encode(source, lengths), end=END, max_length=12,
                       beam_width=3, state_batch_dim=0)
    for b in range(3):
        tokens = beam.tokens[b, :beam.lengths[b]]
        probs = [_teacher_forced_probabilities(m, source, lengths, b, tokens) for m in models]  # (T,) each
        teacher_forced = ((probs[0] + probs[1]) / 2).log().sum().item()
        assert beam.scores[b].item() == pytest.approx(teacher_forced, abs=1e-5)
    with pytest.raises(ValueError, match="different target vocabularies"):
        Ensemble([models[0], Seq2Seq(9, 6, embedding_size=5, hidden_size=6, decoder_size=7)])


def test_edit_distance_and_error_rates_score_against_the_closest_reference():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["A", "B"]) == 2
    assert edit_distance(["A", "B"], ["A", "B"]) == 0
    outputs = [["T", "AH", "M"], ["K", "AE", "T"], ["D", "AO"]]
    references = [[["T", "AH", "M", "EY"], ["T", "AH", "M"]], [["K", "AE", "T"]], [["D", "AO", "G"]]]
    report = error_rates(score_outputs(outputs, references))
    assert report["wer"] == pytest.approx(1 / 3)  # the first matches its second reference
    assert report["per"] == pytest.approx(1 / (3 + 3 + 3))  # one deletion; references of 3 phonemes chosen
    assert (report["word_errors"], report["words"], report["phoneme_errors"]) == (1, 3, 1)


def test_cmudict_split_is_by_word_and_keeps_every_pronunciation():
    splits = load_g2p()
    assert [len(splits.validation), len(splits.test)] == [5875, 5874]
    train_words = set(splits.train.sources)
    assert not train_words & set(splits.validation.sources) and not train_words & set(splits.test.sources)
    assert len(train_words) == 117493 - 5875 - 5874
    assert all(len(targets) == 1 for targets in splits.train.targets[:1000])
    assert max(len(t) for t in splits.test.targets) >= 2  # several pronunciations kept for scoring
    phonemes = {p for targets in splits.test.targets for target in targets for p in target}
    assert not any(p[-1].isdigit() for p in phonemes) and len(phonemes) == 39
    stressed = {p for targets in load_g2p(stress=True).test.targets for target in targets for p in target}
    assert {"AH0", "AE1", "EY2"} <= stressed


def test_lexicon_files_are_read_and_bad_lines_named(tmp_path):
    path = tmp_path / "lex.tsv"
    path.write_text("Read\tR IY D\nread\tR EH D\n\nread\tR IY D\ncat\tK AE T\n")
    lexicon = read_lexicon(path)
    assert lexicon.sources == ["read", "cat"]
    assert lexicon.targets == [[["R", "IY", "D"], ["R", "EH", "D"]], [["K", "AE", "T"]]]
    assert len(lexicon.pairs()) == 3
    for text, message in [("cat K AE T\n", "lex.tsv:1: expected word<TAB>phonemes"), ("cat\t \n", "no phonemes"),
                          ("\tK AE T\n", "empty word"), ("", "empty")]:
        path.write_text(text)
        with pytest.raises(DataError, match=message):
            read_lexicon(path)


@pytest.fixture(scope="module")
def lexicon_file(tmp_path_factory) -> Path:
    """1,500 real CMUdict training words (short ones) as a user's lexicon file."""
    data = load_g2p().train
    rows = [(w, t[0]) for w, t in zip(data.sources, data.targets) if len(w) <= 6][:1500]
    path = tmp_path_factory.mktemp("data") / "lexicon.tsv"
    path.write_text("".join(f"{w}\t{' '.join(p)}\n" for w, p in rows))
    return path


def test_g2p_trains_evaluates_predicts_and_plots_from_the_command_line(lexicon_file, tmp_path, capsys):
    run = tmp_path / "run"
    cli.main(["train", "--task", "g2p", "--data", str(lexicon_file), "--hidden-size", "32", "--num-layers", "1",
              "--epochs", "6", "--batch-size", "32", "--lr", "1e-2", "--beam-width", "3", "--run-dir", str(run)])
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["train_loss"] < 0.75 * metrics[0]["train_loss"]
    assert metrics[-1]["validation_wer"] < 1.0  # some held-out words come out exactly right
    test = json.loads((run / "test_metrics.json").read_text())
    assert 0 < test["per"] < 0.6 and test["beam_width"] == 3
    capsys.readouterr()

    # Checkpoint round trip: the saved best model, evaluated afresh, gives the numbers training wrote.
    cli.main(["evaluate", str(run)])
    assert json.loads((run / "evaluation-test.json").read_text())["wer"] == test["wer"]
    assert f"WER {test['wer']:.4f}" in capsys.readouterr().out
    cli.main(["evaluate", str(run), "--beam-width", "1"])  # another width: its own report, the run's kept
    assert json.loads((run / "evaluation-test-beam1.json").read_text())["beam_width"] == 1
    assert "beam 1; all figures in" in capsys.readouterr().out
    assert json.loads((run / "evaluation-test.json").read_text())["wer"] == test["wer"]

    words = tmp_path / "words.txt"
    words.write_text("cat\nPhone\n\n")
    cli.main(["predict", str(run), "--file", str(words)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["cat", "Phone"]
    assert all(line.split("\t")[1].split() for line in lines)  # every word gets phonemes
    cli.main(["predict", str(run), "cat", "--beam-width", "1"])
    assert capsys.readouterr().out.startswith("cat\t")

    with pytest.raises(SystemExit) as stop:
        cli.main(["predict", str(run), "café"])
    assert stop.value.code == 2
    assert "'é'" in capsys.readouterr().err

    cli.main(["attention", str(run), "cat", "--output", str(tmp_path / "cat.png")])
    assert (tmp_path / "cat.png").read_bytes()[:4] == b"\x89PNG"

    # Explicitly on the CPU (a run trained on a GPU runs anywhere), the same answer.
    cli.main(["predict", str(run), "cat", "--beam-width", "1", "--device", "cpu"])
    assert capsys.readouterr().out.startswith("cat\t")

    # Diagnosed: every encoder layer and direction (the decoder steps one token at a time).
    cli.main(["diagnose", str(run), "--jacobian-sequences", "2"])
    summary = json.loads((run / "diagnostics" / "diagnostics.json").read_text())
    assert [layer["name"] for layer in summary["layers"]] == ["encoder/l0", "encoder/l0_reverse"]
    assert all(len(layer["flow_ratio"]) == len(layer["jacobian_step"]) > 1 for layer in summary["layers"])
    capsys.readouterr()

    # A run decoding together with itself is the run alone: the mean of two equal distributions.
    cli.main(["evaluate", str(run), "--ensemble", str(run)])
    report = json.loads((run / "evaluation-test-ensemble.json").read_text())
    assert (report["wer"], report["per"], report["ensemble"]) == (test["wer"], test["per"], [str(run)] * 2)
    capsys.readouterr()
    cli.main(["predict", str(run), "cat", "--ensemble", str(run)])
    together = capsys.readouterr().out
    cli.main(["predict", str(run), "cat"])
    assert capsys.readouterr().out == together

    other = tmp_path / "signals"
    cli.main(["train", "--task", "mnist1d", "--epochs", "1", "--hidden-size", "8", "--num-layers", "1",
              "--run-dir", str(other)])
    capsys.readouterr()
    for first, second, message in [(run, other, "is not a g2p run"), (other, run, "works for G2P runs")]:
        with pytest.raises(SystemExit) as stop:
            cli.main(["evaluate", str(first), "--ensemble", str(second)])
        assert stop.value.code == 2 and message in capsys.readouterr().err


def test_transcription_batches_teach_every_pronunciation(lexicon_file):
    config = TrainConfig(task="g2p", data=lexicon_file).resolved()
    task = make_task(config)
    batch = next(task.batches(task.splits.train, 4, None, torch.device("cpu")))
    assert (batch["previous"][:, 0] == task.start).all()
    for row, length in zip(batch["next"], batch["target_lengths"]):
        assert row[length - 1] == task.end and (row[length:] == 0).all()
    # previous is next shifted right by one, behind START
    assert torch.equal(batch["previous"][:, 1:], batch["next"][:, :-1].masked_fill(batch["next"][:, :-1] == task.end, 0))  # noqa: E501


def test_g2p_defaults_to_bf16_without_input_feeding_and_an_explicit_choice_wins():
    g2p = TrainConfig(task="g2p").resolved()
    assert (g2p.precision, g2p.input_feeding) == ("bf16", False)
    assert TrainConfig(task="g2p", precision="fp32").resolved().precision == "fp32"
    assert TrainConfig(task="upos").resolved().precision == "fp32"


def _brute_force_ctc_probability(probs: torch.Tensor, target: list[int]) -> torch.Tensor:
    """The sum over every path of ``probs (L, V)`` that collapses to ``target`` (repeats merged, blanks 0 dropped)."""
    total = probs.new_zeros(())
    for path in itertools.product(range(probs.shape[1]), repeat=probs.shape[0]):
        collapsed = [token for k, token in enumerate(path) if token != 0 and (k == 0 or path[k - 1] != token)]
        if collapsed == target:
            total = total + probs[torch.arange(len(path)), list(path)].prod()
    return total


def test_ctc_slots_score_every_alignment_of_the_reference_and_an_impossible_one_adds_nothing():
    torch.manual_seed(0)
    model = Seq2Seq(9, 5, embedding_size=5, hidden_size=6, num_layers=1, decoder_size=7, ctc=True,
                    dropout=0.0).double().eval()
    source, lengths = torch.tensor([[4, 6], [5, 0], [7, 0]]), torch.tensor([2, 1, 1])
    targets, target_lengths = torch.tensor([[3, 3], [4, 0], [2, 2]]), torch.tensor([2, 1, 2])
    previous = torch.full((3, 1), START)
    logits, ctc, _ = model(source, lengths, previous, with_ctc=True)
    assert torch.equal(logits, model(source, lengths, previous))  # the CTC layer leaves the decoder alone
    assert ctc.shape == (3, CTC_SLOTS * 2, 5)
    probs = ctc.softmax(-1)
    # Item 0: two letters, four slots, "3 3" (a blank must separate the repeat); item 1: one letter, two slots.
    expected = -(_brute_force_ctc_probability(probs[0, :4], [3, 3]).log()
                 + _brute_force_ctc_probability(probs[1, :2], [4]).log())
    assert _brute_force_ctc_probability(probs[2, :2], [2, 2]) == 0  # "2 2" needs three slots; one letter has two
    loss = ctc_loss(ctc, lengths, targets, target_lengths)
    torch.testing.assert_close(loss, expected / target_lengths.sum(), rtol=1e-10, atol=0)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    with pytest.raises(ValueError, match="no CTC output layer"):
        _model().ctc_logits(torch.zeros(1, 2, 12, dtype=torch.float64))


def test_the_g2p_training_loss_weighs_the_decoder_and_ctc(lexicon_file):
    config = TrainConfig(task="g2p", data=lexicon_file, hidden_size=16, num_layers=1, ctc_weight=0.25,
                         reverse_decoder_size=0).resolved()
    task = make_task(config)
    torch.manual_seed(0)
    model = task.build_model().eval()
    batch = next(task.batches(task.splits.train, 8, None, torch.device("cpu")))
    logits, ctc, _ = model(batch["source"], batch["source_lengths"], batch["previous"], with_ctc=True)
    decoder = masked_cross_entropy(logits, batch["next"], batch["target_lengths"], label_smoothing=0.1)
    aligned = ctc_loss(ctc, batch["source_lengths"], batch["next"], batch["target_lengths"] - 1)
    loss, count = task.loss(model, batch)
    torch.testing.assert_close(loss, 0.75 * decoder + 0.25 * aligned)
    assert count == int(batch["target_lengths"].sum())
    assert not TrainConfig(task="g2p").resolved().ctc_weight  # off by default
    without = make_task(dataclasses.replace(config, ctc_weight=0.0), state=task.state())
    assert without.build_model().ctc_output is None


def test_a_run_saved_before_ctc_weight_and_the_reverse_decoder_existed_loads_without_them(lexicon_file, tmp_path,
                                                                                          capsys):
    run = tmp_path / "run"
    cli.main(["train", "--task", "g2p", "--data", str(lexicon_file), "--hidden-size", "16", "--num-layers", "1",
              "--epochs", "1", "--ctc-weight", "0", "--reverse-decoder-size", "0", "--decoder-layers", "1",
              "--beam-width", "2", "--run-dir", str(run)])
    saved = json.loads((run / "config.json").read_text())
    # As written before the options: such a run was trained without the CTC layer, the second decoder
    # and a stacked decoder, although G2P trains with the last two by default now.
    del saved["ctc_weight"], saved["reverse_decoder_size"], saved["decoder_layers"], saved["reverse_decoder_layers"]
    (run / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    cli.main(["evaluate", str(run)])
    assert "WER" in capsys.readouterr().out
    config, _, model = load_run(run)
    assert config.reverse_decoder_size == 0 and model.reverse is None
    assert config.decoder_layers == 1 and len(model.upper) == 0 and config.reverse_decoder_layers == 1
    g2p, upos = TrainConfig(task="g2p").resolved(), TrainConfig(task="upos").resolved()
    assert (g2p.reverse_decoder_size, g2p.decoder_layers, g2p.reverse_decoder_layers) == (256, 2, 2)
    assert (upos.reverse_decoder_size, upos.decoder_layers, upos.reverse_decoder_layers) == (0, 1, 1)


def _reverse_model(seed=0, reverse_decoder_layers=1) -> Seq2Seq:
    torch.manual_seed(seed)
    model = Seq2Seq(9, 8, embedding_size=5, hidden_size=6, num_layers=2, decoder_size=7, input_feeding=False,
                    dropout=0.0, reverse_decoder_size=4, reverse_decoder_layers=reverse_decoder_layers).double()
    return model.eval()


@pytest.mark.parametrize("reverse_decoder_layers", [1, 2])
def test_the_reverse_decoder_reads_the_same_memory_and_scores_the_reversed_sequence(lexicon_file,
                                                                                   reverse_decoder_layers):
    model = _reverse_model(reverse_decoder_layers=reverse_decoder_layers)
    assert not hasattr(model.reverse, "encoder") and model.reverse.decoder.hidden_size == 4
    assert len(model.reverse.upper) == reverse_decoder_layers - 1
    source, lengths = _source()
    previous = torch.randint(4, 8, (3, 4))
    reverse_previous = torch.cat([torch.full((3, 1), START), previous[:, 1:].flip(1)], dim=1)
    logits, ctc, reverse_logits = model(source, lengths, previous, reverse_previous=reverse_previous)
    assert ctc is None and torch.equal(logits, model(source, lengths, previous))  # the first decoder unchanged
    memory, final = model.read(source, lengths)
    state = model.reverse.start(memory, final, lengths)
    torch.testing.assert_close(reverse_logits, model.reverse.teacher_forced(state, reverse_previous), rtol=0, atol=0)
    # The task's rescoring score of a candidate is the reverse decoder's log-probability of it reversed,
    # END last, stepped one token at a time.
    config = TrainConfig(task="g2p", data=lexicon_file, hidden_size=16, num_layers=1).resolved()
    task = make_task(config)
    task.start, task.end = START, END
    candidates = [[4, 5, 6], [7], [], [5, 5], [6, 4, 7, 4], [4]]  # two per word
    scores = task.reverse_log_probs(model, state, candidates)
    assert scores.shape == (3, 2)
    for i, candidate in enumerate(candidates):
        word_state = model.reverse.start(memory[i // 2:i // 2 + 1], tuple(h[:, i // 2:i // 2 + 1] for h in final),
                                         lengths[i // 2:i // 2 + 1])
        total, token = 0.0, torch.tensor([START])
        for target in [*candidate[::-1], END]:
            logits, word_state, _ = model.reverse.decode_step(token, word_state)  # float64 throughout
            total += logits.log_softmax(-1)[0, target].item()
            token = torch.tensor([target])
        assert scores[i // 2, i % 2].item() == pytest.approx(total, abs=1e-9)
    with pytest.raises(ValueError, match="no right-to-left decoder"):
        _model()(source, lengths, previous, reverse_previous=reverse_previous)


def test_g2p_with_a_reverse_decoder_trains_on_both_and_keeps_the_candidate_both_prefer(lexicon_file):
    config = TrainConfig(task="g2p", data=lexicon_file, hidden_size=16, num_layers=1, reverse_decoder_size=12,
                         beam_width=3).resolved()
    task = make_task(config)
    torch.manual_seed(0)
    model = task.build_model().eval()
    batch = next(task.batches(task.splits.train, 8, None, torch.device("cpu")))
    assert [row[1:length].tolist() for row, length in zip(batch["reverse_previous"], batch["target_lengths"])] \
        == [row[:length - 1].flip(0).tolist() for row, length in zip(batch["next"], batch["target_lengths"])]
    logits, _, reverse_logits = model(batch["source"], batch["source_lengths"], batch["previous"],
                                      reverse_previous=batch["reverse_previous"])
    both = [masked_cross_entropy(x, y, batch["target_lengths"], label_smoothing=0.1)
            for x, y in ((logits, batch["next"]), (reverse_logits, batch["reverse_next"]))]
    torch.testing.assert_close(task.loss(model, batch)[0], (both[0] + both[1]) / 2)
    # Decoding: of the beam's three best, the one with the highest sum of both decoders' log-probabilities.
    state = model.encode(batch["source"], batch["source_lengths"])
    start = torch.full((8,), task.start)
    beam = beam_search(model.step, start, state, end=task.end, max_length=2 * batch["source"].shape[1] + 5,
                       beam_width=3, state_batch_dim=0, n_best=3)
    memory, final = model.read(batch["source"], batch["source_lengths"])
    reverse_state = model.reverse.start(memory, final, batch["source_lengths"])
    expected = []
    for i in range(8):
        options = [beam.tokens[i, k, :beam.lengths[i, k]].tolist() for k in range(3)]
        options = [[t for t in option if t != task.end] for option in options]
        scores = [beam.scores[i, k].item()
                  + task.reverse_log_probs(model, select_state(reverse_state, torch.tensor([i]), 0),
                                           [option]).item() for k, option in enumerate(options)]
        expected.append(task.phonemes.decode(options[max(range(3), key=scores.__getitem__)]))
    assert task.decode(model, batch, beam_width=3) == expected
    # An ensemble rescores as one model does: two copies of the model decode as the model alone.
    assert task.decode(Ensemble([model, model]), batch, beam_width=3) == expected


def test_an_ensemble_rescores_with_the_mean_of_its_right_to_left_decoders():
    models = [_reverse_model(seed=0), _reverse_model(seed=1)]
    source, lengths = _source()
    previous = torch.randint(4, 8, (3, 4))
    mixed = Ensemble(models).reverse_log_probs(Ensemble(models).encode_both(source, lengths)[1], previous)
    single = [model.reverse_log_probs(model.encode_both(source, lengths)[1], previous) for model in models]
    torch.testing.assert_close(mixed, ((single[0].exp() + single[1].exp()) / 2).log(), rtol=0, atol=1e-12)
    # Rescoring needs every model's right-to-left decoder: with one missing the ensemble has none.
    assert Ensemble([models[0], _model()]).encode_both(source, lengths)[1] is None
    assert _model().encode_both(source, lengths)[1] is None
    with pytest.raises(ValueError, match="no right-to-left decoder"):
        _model().reverse_log_probs(models[0].encode_both(source, lengths)[1], previous)


def test_reverse_decoder_size_is_checked_and_a_run_with_it_evaluates_and_predicts(lexicon_file, tmp_path, capsys):
    with pytest.raises(ConfigError, match="--reverse-decoder-size must be 0"):
        TrainConfig(task="g2p", reverse_decoder_size=-1).resolved()
    with pytest.raises(ConfigError, match="--reverse-decoder-size is for the G2P tasks"):
        TrainConfig(task="upos", reverse_decoder_size=8).resolved()
    run = tmp_path / "run"
    cli.main(["train", "--task", "g2p", "--data", str(lexicon_file), "--hidden-size", "16", "--num-layers", "1",
              "--epochs", "1", "--reverse-decoder-size", "8", "--beam-width", "2", "--run-dir", str(run)])
    capsys.readouterr()
    cli.main(["evaluate", str(run)])
    assert "beam 2" in capsys.readouterr().out
    cli.main(["predict", str(run), "cat", "dog"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["cat", "dog"]


@pytest.mark.parametrize("cell", ["mingru", "minlstm", "irnn"])
def test_g2p_refuses_a_cell_without_a_step_decoder_instead_of_building_another(cell):
    with pytest.raises(ConfigError, match=f"--cell {cell} does not fit task g2p.*choose one of"):
        TrainConfig(task="g2p", cell=cell).resolved()
    with pytest.raises(ValueError, match=f"cell '{cell}' has no step-by-step decoder cell"):
        Seq2Seq(10, 12, hidden_size=4, decoder_size=8, cell=cell)


def test_a_g2p_run_saved_with_a_scan_cell_keeps_its_lstm_decoder(tmp_path):
    # such runs were trained before the cell check: their config loads, resumes and builds the LSTM decoder
    saved = TrainConfig(task="g2p", cell="mingru", hidden_size=4, num_layers=1, reverse_decoder_size=0,
                        decoder_layers=1)
    config = TrainConfig.from_dict(saved.to_dict()).resolved(saved=True)
    task = make_task(config, state={"chars": {"tokens": ["<pad>", "<unk>", "a", "b"]},
                                    "phonemes": {"tokens": ["<pad>", "<unk>", "<s>", "</s>", "AH", "B"]}},
                     load_data=False)
    model = task.build_model()
    assert type(model.decoder) is rnnlab.LSTMCell and type(model.encoder) is rnnlab.MinGRU
