"""What the explorer page shows, checked against the model itself: traces, prefix predictions, gradients."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

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
from tests.helpers import text_traces


def _page_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', html, re.S)[1])


def test_the_states_and_gates_shown_are_the_layers_own_trace(text_run):
    _, task, model = load_run(text_run, device="cpu")
    view = explore_item(task, model, "haus")
    _, traces = text_traces(task, model, "haus")
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
    _, traces = text_traces(task, model, text)
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


def _forecast_view(run, *paths, **options) -> dict:
    (group,) = explore_runs([run], [str(p) for p in paths], device="cpu", **options)
    (view,) = group["views"]
    return view


def test_a_forecasts_page_shows_the_median_and_bands_rnnlab_predict_writes(forecast_run):
    recent = forecast_run.parent / "recent.csv"
    view = _forecast_view(forecast_run, recent)
    rows = list(csv.DictReader(io.StringIO(predict(forecast_run, [], None, device="cpu", data=recent))))
    p = view["prediction"]
    assert p["kind"] == "forecast" and p["truth"] is None and view["steps"] == 24 + 24 and view["boundary"] == 24
    for key, shown in (("median", p["median"]), ("lower_80", p["bands"]["80"][0]), ("upper_80", p["bands"]["80"][1]),
                       ("lower_95", p["bands"]["95"][0]), ("upper_95", p["bands"]["95"][1])):
        assert shown == pytest.approx([float(row[key]) for row in rows], rel=1e-5), key
    known = [float(line.split(",")[1]) for line in recent.read_text().splitlines()[1:] if line.split(",")[1]]
    assert p["history"] == pytest.approx(known[-24:]) and p["times"][24] == rows[0]["time"]
    assert view["tokens"][:24] == [f"{v:.4g}" for v in known[-24:]] and view["tokens"][24:] == [f"+{k}" for k in
                                                                                                   range(1, 25)]
    assert "model's own median forecast" in view["loss"]


def test_a_forecasters_chain_is_its_encoders_trace_then_its_decoders(forecast_run):
    _, task, model = load_run(forecast_run, device="cpu")
    view = _forecast_view(forecast_run, forecast_run.parent / "recent.csv")
    series, origin = task.next_forecast(task.read_series(task.config, forecast_run.parent / "recent.csv", True))
    batch = task.inputs(series, torch.tensor([origin]), torch.device("cpu"))
    with torch.no_grad():
        _, state, (encoder,) = model.encoder.trace(batch["history"])
        _, _, (decoder,) = model.decoder.trace(batch["future"], state)
    (track,) = view["tracks"]
    assert track["name"] == "encoder/l0 + decoder/l0" and set(track["series"]) == {"h", "c", "i", "f", "g", "o"}
    for name, ours, theirs in (("h", encoder.states[0], decoder.states[0]), ("c", encoder.states[1], decoder.states[1]),
                               ("f", encoder.gates["f"], decoder.gates["f"])):
        torch.testing.assert_close(torch.tensor(track["series"][name]), torch.cat([ours[:, 0], theirs[:, 0]]),
                                   atol=1e-5, rtol=0)


def test_a_forecasters_gradient_is_that_of_the_truths_likelihood_from_its_test_stretch(forecast_run):
    from rnnlab.models import predictive
    from rnnlab.tasks.registry import load_splits

    _, task, model = load_run(forecast_run, device="cpu")
    view = _forecast_view(forecast_run)  # no file: the last forecast of the run's test stretch
    test = load_splits(task.config).test
    origin = test.origins[-1:]
    batch = task.inputs(test.series, origin, torch.device("cpu"))
    assert view["input"] == "the last forecast of the run's test stretch" and "of the truth" in view["loss"]
    assert view["prediction"]["truth"] == pytest.approx(test.series.target[int(origin):int(origin) + 24].tolist())
    loc, scale, df = task.forecast(model, test.series, origin, torch.device("cpu"))
    assert view["prediction"]["median"] == pytest.approx(loc[0].tolist(), rel=1e-5)

    def flows(history):
        return gradient_flow(model, lambda: -predictive(task.distribution, *model(history, batch["future"]))
                             .log_prob(batch["y"]).mean())

    (track,) = view["tracks"]
    norms = torch.cat([flow.norms for flow in flows(batch["history"])])  # the encoder's steps, then the decoder's
    torch.testing.assert_close(torch.tensor(track["gradient"]), norms, rtol=1e-3, atol=0)
    assert track["gradient"][23] > 10 * track["gradient"][0] > 0  # it fades going back into the history
    order = view["shuffled"]["order"]  # the history step each of the copy's steps is
    assert sorted(order) == list(range(24)) and order != list(range(24))
    assert view["shuffled"]["tokens"] == [view["tokens"][k] for k in order]
    shuffled = torch.cat([flow.norms for flow in flows(batch["history"][:, order])])
    torch.testing.assert_close(torch.tensor(track["gradient_shuffled"]), shuffled, rtol=1e-3, atol=0)


def test_a_long_forecast_is_windowed_without_mixing_the_history_with_the_steps_ahead(forecast_run):
    view = _forecast_view(forecast_run, forecast_run.parent / "recent.csv", max_columns=12)
    assert view["columns"] == [[0, 3], [3, 6], [6, 9], [9, 12], [12, 15], [15, 18], [18, 21], [21, 24],
                               [24, 30], [30, 36], [36, 42], [42, 48]]
    assert view["boundary"] == 8 and len(view["tracks"][0]["gradient"]) == 48
    assert len(view["tracks"][0]["series"]["h"]) == 12


def test_explore_refuses_a_forecast_runs_bad_input_with_one_line(forecast_run, text_run, tmp_path, capsys):
    moved = tmp_path / "moved"  # a copy of the run whose data file is gone
    shutil.copytree(forecast_run, moved)
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps({**config, "data": str(tmp_path / "gone.csv")}))
    short = tmp_path / "short.csv"
    short.write_text("\n".join((forecast_run.parent / "recent.csv").read_text().splitlines()[:100]) + "\n")
    for args, message in (([forecast_run, "1,2,3"], "explore: 1,2,3: no such file (a forecast run reads a CSV"),
                          ([forecast_run, "--data", short], "the series has 99 steps with a known 'load'"),
                          ([forecast_run, forecast_run.parent / "load.csv"], "add the next 24 rows with 'load' empty"),
                          ([forecast_run, text_run, "haus"], "explore them apart"),
                          ([text_run, "haus", "--data", short], "--data is a forecast run's series"),
                          ([moved], "explore: moved's test stretch: ")):
        with pytest.raises(SystemExit) as raised:
            cli.main(["explore", *map(str, args), "--output", str(tmp_path / "page.html")])
        err = capsys.readouterr().err
        assert raised.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err
