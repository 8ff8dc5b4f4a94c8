"""Export: every layer kind and task model as a torch.export program and an ONNX file, run at another batch
size and sequence length than the export's, gives the PyTorch outputs; a run exports from the command line,
and its ONNX file loads where torch is not imported."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab import GRU, LSTM, RNN, LayerNormLSTMCell, MinGRU, MinLSTM, Recurrent, cli
from rnnlab.errors import UsageError
from rnnlab.models import ConditionalGenerator, Seq2Seq, SequenceTagger
from rnnlab.models.export import ExportPart
from rnnlab.training.export import ExportError, export_model, export_program, save_onnx
from tests.tasks.test_series import TINY, write_series

TOLERANCE = 1e-5  # float32


def _exported(part: ExportPart, path: Path):
    """``part`` as a torch.export program and an onnxruntime session of its ONNX file."""
    program = export_program(part)
    save_onnx(part, program, path)
    return program, onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _outputs(module, inputs: dict) -> list[torch.Tensor]:
    with torch.no_grad():
        result = module(*inputs.values())
    return [result] if isinstance(result, torch.Tensor) else list(result)


def _errors(part: ExportPart, program, session, inputs: dict) -> tuple[list[float], list[float]]:
    """The largest absolute difference of each output from the module's: ONNX's, then the program's."""
    expected = _outputs(part.module, inputs)
    onnx = session.run(None, {name: value.numpy() for name, value in inputs.items()})
    program_outputs = _outputs(program.module(), inputs)
    return ([float(np.abs(got.astype(np.float64) - e.double().numpy()).max()) for got, e in zip(onnx, expected)],
            [float((got.double() - e.double()).abs().max()) for got, e in zip(program_outputs, expected)])


class Layers(nn.Module):
    """Every layer kind side by side over the same ``x (T, B, 4)`` with ``lengths (B,)``: each one's output
    and final state (``h`` and, for the LSTMs, ``c``).  Small: each layer and direction is one loop to trace
    (about a second each); the bidirectional and stacked paths are shared by every kind."""

    KINDS = {
        "RNN (bidirectional)": lambda: RNN(4, 5, bidirectional=True),
        "LSTM (2 layers, proj_size 3)": lambda: LSTM(4, 5, 2, proj_size=3),
        "GRU": lambda: GRU(4, 5),
        "MinGRU (bidirectional)": lambda: MinGRU(4, 5, bidirectional=True),
        "MinLSTM": lambda: MinLSTM(4, 5),
        "layer-norm LSTM": lambda: Recurrent(LayerNormLSTMCell, 4, 5),
    }

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(make() for make in self.KINDS.values())

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        results = []
        for layer in self.layers:
            output, h_n = layer(x, lengths=lengths)
            results += [output, *(h_n if isinstance(h_n, tuple) else (h_n,))]
        return tuple(results)


def test_every_layer_kind_exports_with_dynamic_steps_batch_and_lengths(tmp_path):
    model = Layers().eval()
    outputs = tuple(f"{k}" for k in range(sum(1 + len(layer.state_sizes) for layer in model.layers)))
    part = ExportPart("model", model, {"x": torch.randn(5, 2, 4), "lengths": torch.tensor([5, 3])},
                      {"x": {0: "steps", 1: "batch"}, "lengths": {0: "batch"}}, outputs)
    program, session = _exported(part, tmp_path / "layers.onnx")
    assert [i.shape for i in session.get_inputs()] == [["steps", "batch", 4], ["batch"]]
    # another length and batch size, every length from 1 to T: the eager layers run their own engines
    inputs = {"x": torch.randn(9, 4, 4), "lengths": torch.tensor([9, 1, 6, 3])}
    onnx, program_errors = _errors(part, program, session, inputs)
    start = 0
    for kind, layer in zip(Layers.KINDS, model.layers):
        count = 1 + len(layer.state_sizes)  # the output, then h (and c)
        assert max(onnx[start:start + count]) < TOLERANCE, kind
        assert max(program_errors[start:start + count]) < TOLERANCE, kind
        start += count
    padded = session.run(None, {"x": inputs["x"].numpy(), "lengths": inputs["lengths"].numpy()})[0]
    assert np.abs(padded[1:, 1]).max() == 0.0  # the padded steps of the sequence of length 1 are zero
    twin = copy.deepcopy(model)  # the export left no placeholder tensor bound in the layers' cells
    assert all(torch.equal(a, b) for a, b in zip(_outputs(twin, inputs), _outputs(model, inputs)))


def test_stacked_bidirectional_layers_export_the_same_function_in_float64(tmp_path):
    """Two layers, both directions, lengths, for a torch.nn kind and the custom-cell path (the layer-norm LSTM),
    in float64, where a float32 comparison would measure rounding: float32 rounding alone moves a randomly drawn
    two-layer bidirectional layer-norm LSTM by up to 5e-5 (``examples/export_parity.py``, the float32 floor), and
    onnxruntime's float32 tanh, a few units in the last place off, by more.  In float64 the program gives
    PyTorch's outputs to rounding; the ONNX file to 1e-7, as ONNX stores each layer norm's epsilon as a float32."""
    torch.manual_seed(0)
    layers = nn.ModuleList([GRU(4, 5, 2, bidirectional=True),
                            Recurrent(LayerNormLSTMCell, 4, 5, 2, bidirectional=True)])

    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = layers

        def forward(self, x, lengths):
            (gru, gru_h), (ln, (ln_h, ln_c)) = (layer(x, lengths=lengths) for layer in self.layers)
            return gru, gru_h, ln, ln_h, ln_c

    model = Both().double().eval()
    part = ExportPart("model", model, {"x": torch.randn(5, 2, 4, dtype=torch.float64), "lengths": torch.tensor([5, 3])},
                      {"x": {0: "steps", 1: "batch"}, "lengths": {0: "batch"}}, ("gru", "gru_h", "ln", "ln_h", "ln_c"))
    program, session = _exported(part, tmp_path / "stacked.onnx")
    inputs = {"x": torch.randn(9, 4, 4, dtype=torch.float64), "lengths": torch.tensor([9, 1, 6, 3])}
    onnx, program_errors = _errors(part, program, session, inputs)
    assert max(onnx) < 1e-7 and max(program_errors) < 1e-10, (onnx, program_errors)


def test_a_packed_sequence_is_refused_with_one_line_naming_the_way_that_exports():
    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = LSTM(4, 5)

        def forward(self, x, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
            return self.layer(packed)[1][0]

    part = ExportPart("model", Packed().eval(), {"x": torch.randn(5, 2, 4), "lengths": torch.tensor([5, 3])},
                      {"x": {0: "steps", 1: "batch"}}, ("h",))
    with pytest.raises(ExportError) as caught:
        export_program(part)
    assert str(caught.value) == ("Packed (model): torch.export failed: LSTM: a PackedSequence cannot be exported; "
                                 "give the padded batch and lengths")


def test_a_model_without_graphs_is_refused_by_name(tmp_path):
    with pytest.raises(ExportError, match=r"^Linear cannot be exported: it does not say what its graphs are"):
        export_model(nn.Linear(2, 3), "onnx", tmp_path / "m.onnx")


def test_the_tagger_exports_with_dynamic_sentences_words_and_characters(tmp_path):
    model = SequenceTagger(20, 9, 5, word_embedding_size=6, char_embedding_size=4, char_hidden_size=5,
                           hidden_size=7, cell="gru", num_layers=1, dropout=0.0).eval()
    [part] = model.export_parts()
    program, session = _exported(part, tmp_path / "tagger.onnx")
    words, chars = torch.randint(2, 20, (3, 6)), torch.randint(1, 9, (3, 6, 5))
    words[1, 2:], chars[1, 2:] = 0, 0  # padding words (no characters) and padding characters
    chars[0, :, 3:] = 0
    onnx, program_errors = _errors(part, program, session, {"words": words, "chars": chars,
                                                              "lengths": torch.tensor([6, 2, 6])})
    assert max(onnx) < TOLERANCE and max(program_errors) < TOLERANCE


def _decode_two_steps(model, parts, tmp_path, start_inputs: dict) -> None:
    """The start (or encoder) part and two steps of the step part, fed the previous step's state: ONNX and
    the torch.export program against the model."""
    (start, start_session), (step, step_session) = [(_exported(p, tmp_path / f"{p.name}.onnx"), p) and
                                                    (p, _exported(p, tmp_path / f"{p.name}.onnx")) for p in parts]
    onnx, program_errors = _errors(start, start_session[0], start_session[1], start_inputs)
    assert max(onnx) < TOLERANCE and max(program_errors) < TOLERANCE
    state = _outputs(start.module, start_inputs)
    batch = next(iter(start_inputs.values())).shape[0]
    for tokens in (torch.ones(batch, dtype=torch.long), torch.tensor([3, 5, 2, 7, 4])[:batch]):
        inputs = {"tokens": tokens, **{f"state_{k}": s for k, s in enumerate(state)}}
        onnx, program_errors = _errors(step, step_session[0], step_session[1], inputs)
        assert max(onnx) < TOLERANCE and max(program_errors) < TOLERANCE
        state = _outputs(step.module, inputs)[1:]


def test_the_encoder_decoder_exports_its_encoder_and_one_decoder_step(tmp_path):
    model = Seq2Seq(10, 12, embedding_size=6, hidden_size=8, num_layers=1, decoder_size=9, dropout=0.0,
                    decoder_layers=2).eval()
    parts = model.export_parts()
    assert [p.name for p in parts] == ["encoder", "step"]
    _decode_two_steps(model, parts, tmp_path, {"source": torch.randint(1, 10, (4, 8)),
                                               "lengths": torch.tensor([8, 1, 5, 8])})


def test_the_generator_exports_its_start_and_one_step(tmp_path):
    model = ConditionalGenerator(12, num_conditions=3, cell="lstm", hidden_size=8, num_layers=1, dropout=0.0).eval()
    parts = model.export_parts()
    assert [p.name for p in parts] == ["start", "step"]
    _decode_two_steps(model, parts, tmp_path, {"condition": torch.tensor([2, 0, 1, 1, 0])})


@pytest.fixture(scope="module")
def series_run(tmp_path_factory) -> Path:
    """A run of ts-classify (a bidirectional GRU over two-channel series of 10-40 steps), one epoch."""
    folder = tmp_path_factory.mktemp("series")
    run_dir = folder / "run"
    cli.main(["train", "--task", "ts-classify", "--data", str(write_series(folder / "X.ts", 30, seed=0)),
              "--epochs", "1", *TINY, "--bidirectional", "True", "--run-dir", str(run_dir), "--cell", "gru", "--quiet"])
    return run_dir


def test_a_series_classifier_run_exports_from_the_command_line_runs_without_torch_and_loads_in_torch(
        series_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(series_run, run_dir)
    capsys.readouterr()
    cli.main(["export", str(run_dir)])
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wrote {run_dir / 'model.onnx'} (largest difference from the model's outputs: ")
    assert float(line.rsplit(" ", 1)[1][:-1]) < TOLERANCE

    x = torch.randn(3, 17, 2)
    lengths = torch.tensor([17, 4, 11])
    from rnnlab.training import load_run
    _, _, model = load_run(run_dir, device="cpu")
    with torch.no_grad():
        expected = model(x, lengths).numpy()
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "lengths.npy", lengths.numpy())
    script = ("import json, sys, numpy as np, rnnlab\n"
              f"model = rnnlab.load_onnx({str(run_dir / 'model.onnx')!r})\n"
              f"out = model(x=np.load({str(tmp_path / 'x.npy')!r}),\n"
              f"            lengths=np.load({str(tmp_path / 'lengths.npy')!r}))\n"
              "print(json.dumps({'torch': 'torch' in sys.modules, 'shapes': model.shapes,\n"
              "                  'logits': out['logits'].tolist()}))\n")
    result = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                       check=True).stdout)
    assert result["torch"] is False
    assert result["shapes"] == {"x": ["batch", "steps", 2], "lengths": ["batch"]}
    assert np.abs(np.array(result["logits"]) - expected).max() < TOLERANCE

    cli.main(["export", str(run_dir), "--format", "torch-export"])
    assert capsys.readouterr().out == f"wrote {run_dir / 'model.pt2'}\n"
    program = torch.export.load(run_dir / "model.pt2")
    assert (program.module()(x, lengths) - torch.from_numpy(expected)).abs().max() < TOLERANCE


def test_export_refuses_int8_outside_onnx_and_an_unknown_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["export", str(tmp_path), "--format", "torch-export", "--int8"])
    assert caught.value.code == 2
    assert "rnnlab: error: --int8 quantises an ONNX file" in capsys.readouterr().err


def test_an_onnx_model_names_the_inputs_it_takes(tmp_path):
    path = tmp_path / "m.onnx"
    part = ExportPart("model", nn.Linear(2, 3).eval(), {"x": torch.randn(4, 2)}, {"x": {0: "batch"}}, ("y",))
    save_onnx(part, export_program(part), path)
    model = rnnlab.load_onnx(path)
    assert model.inputs == ["x"] and model.outputs == ["y"]
    assert model(x=[[1, 2]])["y"].shape == (1, 3)  # a list of ints: given to the graph as float32
    with pytest.raises(UsageError, match=r"^m.onnx takes the inputs x; missing x; unknown lengths$"):
        model(lengths=np.ones(2))
    with pytest.raises(UsageError, match=r"no such ONNX file$"):
        rnnlab.load_onnx(tmp_path / "missing.onnx")


def test_bench_export_evaluates_the_run_in_pytorch_onnx_and_int8_onnx(series_run, capsys):
    from rnnlab.bench.export import bench_export

    rows = bench_export((series_run,), items=6, batch_size=4)
    assert [row["engine"] for row in rows] == ["pytorch", "onnx", "onnx int8"]
    assert rows[1]["value"] == rows[0]["value"]  # the float32 graph: the same accuracy on the same 6 items
    assert rows[2]["size_mb"] < rows[1]["size_mb"]  # int8 weights
    assert capsys.readouterr().out.splitlines()[0] == f"ts-classify ({series_run}), accuracy:"


@pytest.mark.parametrize("distribution", ["student-t", "normal"])
def test_the_forecaster_exports_with_dynamic_batch_history_and_horizon(tmp_path, distribution):
    from rnnlab.models import Forecaster

    torch.manual_seed(0)
    model = Forecaster(6, 4, hidden_size=8, distribution=distribution).eval()
    (part,) = model.export_parts()
    assert part.outputs == (("loc", "scale", "df") if distribution == "student-t" else ("loc", "scale"))
    program, session = _exported(part, tmp_path / "forecaster.onnx")
    inputs = {"history": torch.randn(3, 17, 6), "future": torch.randn(3, 9, 4)}  # not the export's sizes
    onnx, program_errors = _errors(part, program, session, inputs)
    assert max(onnx) < TOLERANCE and max(program_errors) < TOLERANCE
    loc = session.run(None, {name: value.numpy() for name, value in inputs.items()})[0]
    assert loc.shape == (3, 9)
