"""What the explorer page shows, checked against the model itself: traces, prefix predictions, gradients."""

from __future__ import annotations

import json
import re

import pytest
import torch
import torch.nn.functional as F

from rnnlab import cli
from rnnlab.errors import DataError
from rnnlab.nn.diagnostics import gradient_flow
from rnnlab.report.explorer import explorer_page
from rnnlab.training import load_run
from rnnlab.training.explore import explore_item, explore_runs, untrained_model, window_means, windows
from rnnlab.training.predict import predict


def _page_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', html, re.S)[1])


def test_the_states_and_gates_shown_are_the_layers_own_trace(text_run):
    _, task, model = load_run(text_run, device="cpu")
    view = explore_item(task, model, "haus")
    batch = task.inputs(["haus"], torch.device("cpu"))
    with torch.no_grad():
        _, _, traces = model.encoder.trace(model.embedding(batch["x"]))
    assert [t["name"] for t in view["tracks"]] == ["encoder/l0", "encoder/l0_reverse"]
    assert view["tokens"] == list("haus") and view["columns"] == [[0, 1], [1, 2], [2, 3], [3, 4]]
    for track, trace in zip(view["tracks"], traces):
        assert set(track["series"]) == {"h", "c", "i", "f", "g", "o"}
        torch.testing.assert_close(torch.tensor(track["series"]["h"]), trace.states[0][:, 0], atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.tensor(track["series"]["c"]), trace.states[1][:, 0], atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.tensor(track["series"]["f"]), trace.gates["f"][:, 0], atol=1e-5, rtol=0)


def test_the_prediction_as_it_forms_is_the_model_reading_each_prefix(text_run):
    _, task, model = load_run(text_run, device="cpu")
    view = explore_item(task, model, "maison")
    prefixes = ["maison"[:k] for k in range(1, 7)]
    with torch.no_grad():
        expected = task.logits(model, task.inputs(prefixes, torch.device("cpu"))).softmax(-1)
    torch.testing.assert_close(torch.tensor(view["prediction"]["probabilities"]), expected, atol=1e-5, rtol=0)
    top = view["prediction"]["final"][0]
    assert predict(text_run, ["maison"], None, top_k=1).split("\t")[1].startswith(f"{top[0]} ({top[1]:.3f})")


def test_the_gradient_is_dloss_dh_t_of_the_predicted_label_and_the_shuffled_copy_is_asked_the_same(text_run):
    _, task, model = load_run(text_run, device="cpu")
    view = explore_item(task, model, "zeitung", seed=3)
    label = view["prediction"]["final"][0][0]
    target = torch.tensor([task.classes.index(label)])

    def flows(text):
        batch = task.inputs([text], torch.device("cpu"))
        return gradient_flow(model, lambda: F.cross_entropy(task.logits(model, batch), target))

    shuffled = "".join(view["shuffled"]["tokens"])
    assert sorted(shuffled) == sorted("zeitung") and shuffled != "zeitung"
    for track, flow, shuffled_flow in zip(view["tracks"], flows("zeitung"), flows(shuffled)):
        torch.testing.assert_close(torch.tensor(track["gradient"]), flow.norms, rtol=1e-3, atol=0)
        torch.testing.assert_close(torch.tensor(track["gradient_shuffled"]), shuffled_flow.norms, rtol=1e-3, atol=0)


def test_a_speakers_frames_show_the_speaker_forming_as_the_frames_arrive(series_run, tmp_path):
    _, task, model = load_run(series_run, device="cpu")
    frames = torch.linspace(-1, 1, 12 * 9).reshape(9, 12)  # 9 steps of 12 channels
    text = ":".join(",".join(f"{v:.3f}" for v in channel) for channel in frames.t().tolist())
    (group,) = explore_runs([series_run], [text], device="cpu")
    (view,) = group["views"]
    assert view["steps"] == 9 and view["tokens"][0] == "-1" and view["prediction"]["labels"] == task.classes
    with torch.no_grad():
        expected = [task.logits(model, task.inputs([frames[:k]], torch.device("cpu"))).softmax(-1)[0]
                    for k in range(1, 10)]
    torch.testing.assert_close(torch.tensor(view["prediction"]["probabilities"]), torch.stack(expected),
                               atol=1e-4, rtol=0)
    final = view["prediction"]["final"][0]
    assert predict(series_run, [text], None, top_k=1).split("\t")[1].startswith(f"{final[0]} ({final[1]:.3f})")


def test_a_long_input_is_drawn_as_windows_of_steps_with_every_steps_gradient():
    task, model = untrained_model("gru", text="abc")
    text = "abcab" * 200
    view = explore_item(task, model, text, max_columns=160)
    assert view["steps"] == 1000 and len(view["columns"]) == 160 and len(view["tracks"][0]["gradient"]) == 1000
    assert view["columns"][0] == [0, 6] and view["columns"][-1][1] == 1000
    batch = task.inputs([text], torch.device("cpu"))
    with torch.no_grad():
        _, _, traces = model.encoder.trace(model.embedding(batch["x"]))
    expected = window_means(traces[0].states[0][:, 0], view["columns"])
    torch.testing.assert_close(torch.tensor(view["tracks"][0]["series"]["h"]), expected, atol=1e-5, rtol=0)
    assert windows(7, 3) == [[0, 2], [2, 5], [5, 7]] and windows(3, 160) == [[0, 1], [1, 2], [2, 3]]


def test_an_untrained_cells_gradient_fades_going_back_from_the_last_step():
    task, model = untrained_model("rnn", text="the cat sat on the mat")
    gradient = explore_item(task, model, "the cat sat on the mat")["tracks"][0]["gradient"]
    assert gradient[-1] > 100 * gradient[0] > 0


def test_a_tagger_shows_each_tokens_tags_as_predict_tags_them(tagging_run):
    _, task, model = load_run(tagging_run, device="cpu")
    words = "The cat sat on the mat .".split()
    view = explore_item(task, model, words)
    assert view["prediction"]["kind"] == "tagger" and view["tokens"] == words
    assert view["prediction"]["tags"] == task.tag(model, [words], torch.device("cpu"))[0]
    probabilities = torch.tensor(view["prediction"]["probabilities"])
    assert probabilities.shape == (7, len(task.tags))
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(7), atol=1e-4, rtol=0)


def test_a_transcriber_shows_its_attention_and_greedy_outputs(g2p_run):
    _, task, model = load_run(g2p_run, device="cpu")
    view = explore_item(task, model, "table")
    phonemes, weights = task.attention(model, "table", torch.device("cpu"))
    assert view["prediction"]["outputs"][:len(phonemes)] == phonemes
    torch.testing.assert_close(torch.tensor(view["prediction"]["attention"]), weights, atol=1e-5, rtol=0)
    assert view["tokens"] == list("table") and len(view["tracks"]) == 2


def test_a_generator_shows_the_next_letters_distribution_and_the_words_perplexity(generation_run):
    _, task, model = load_run(generation_run, device="cpu")
    (group,) = explore_runs([generation_run], ["de haus"], device="cpu")
    (view,) = group["views"]
    assert view["tokens"] == ["<s>", "h", "a", "u", "s"] and view["prediction"]["next"] == [*"haus", "</s>"]
    ids = task.chars.encode([*"haus", "</s>"])
    with torch.no_grad():
        logits = model(task.conditions(["de"], torch.device("cpu")),
                       torch.tensor([[task.start, *ids[:-1]]]), torch.tensor([5]))[0]
    expected = logits.softmax(-1)[torch.arange(5), ids]
    torch.testing.assert_close(torch.tensor(view["prediction"]["next_probability"]), expected, atol=1e-5, rtol=0)
    perplexity = float(F.cross_entropy(logits, torch.tensor(ids)).exp())
    assert view["prediction"]["perplexity"] == pytest.approx(perplexity, rel=1e-4)
    assert view["shuffled"]["tokens"][0] == "<s>" and sorted(view["shuffled"]["tokens"][1:]) == sorted("haus")
    with pytest.raises(DataError, match="unknown condition 'xx'"):
        explore_runs([generation_run], ["xx haus"], device="cpu")
    with pytest.raises(DataError, match="a language and a word"):
        explore_runs([generation_run], ["haus"], device="cpu")


def test_explore_writes_one_self_contained_page_with_runs_side_by_side(text_run, tmp_path, capsys):
    page = tmp_path / "page.html"
    cli.main(["explore", str(text_run), str(text_run), "haus", "</script><b>x", "--output", str(page)])
    html = page.read_text()
    assert "written:" in capsys.readouterr().out
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"(?!data:)|<img", html)  # nothing to fetch
    assert set(re.findall(r"https?://[^\s\"']+", html)) == {"http://www.w3.org/2000/svg"}  # a name, not a fetch
    data = _page_data(html)
    assert [g["input"] for g in data["groups"]] == ["haus", "</script><b>x"]
    assert [len(g["views"]) for g in data["groups"]] == [2, 2]
    assert html.count("</script>") == 2  # the data's and the code's: an input cannot close them


@pytest.mark.parametrize("args, message", [
    (["no/such/run", "haus"], "no/such/run: no such run directory"),
    (["{run}"], "give at least one input"),
    (["{run}", "x" * 10_001], "more than the limit"),
    (["{run}", "haus", "--untrained"], "give no run directory"),
    (["{run}", "haus", "--max-columns", "0"], "--max-columns must be at least 1"),
])
def test_explore_refuses_bad_input_with_one_line(text_run, args, message, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["explore", *[a.format(run=text_run) for a in args]])
    err = capsys.readouterr().err
    assert raised.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_explore_refuses_a_word_the_g2p_run_cannot_spell(g2p_run, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["explore", str(g2p_run), "caf\u00e9"])
    assert raised.value.code == 2 and "never seen in training" in capsys.readouterr().err


def test_explore_untrained_writes_the_built_in_example(tmp_path):
    cli.main(["explore", "--untrained", "--cell", "gru", "--output", str(tmp_path / "u.html")])
    (view,) = _page_data((tmp_path / "u.html").read_text())["groups"][0]["views"]
    assert view["cell"] == "gru" and view["input"] == "the cat sat on the mat" and view["steps"] == 22


def test_the_page_data_round_trips_through_the_page():
    groups = [{"input": "a", "views": [{"tokens": ["<", "&"]}]}]
    assert _page_data(explorer_page(groups))["groups"] == groups
    assert explore_runs  # the library entry point the command uses
