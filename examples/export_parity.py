"""Export every layer kind and task model, run each at another batch size and sequence length than the
export's, and print the largest difference from PyTorch (float32) of the ONNX file in onnxruntime and of
the torch.export program; beside them, how far float32 rounding alone can move the outputs: the largest
change of the model's outputs, computed in float64, when every weight and floating input moves by up to
half a float32 unit in the last place (20 draws).  Two float32 implementations of a model cannot be held
closer than that.

    .venv/bin/python examples/export_parity.py      # a few minutes on a CPU: each graph is traced and translated
"""

import copy
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import nn

from rnnlab import GRU, LSTM, RNN, LayerNormLSTMCell, MinGRU, MinLSTM, Recurrent
from rnnlab.models import ConditionalGenerator, Seq2Seq, SequenceClassifier, SequenceTagger
from rnnlab.models.export import ExportPart
from rnnlab.training.export import export_program, save_onnx


class Layer(nn.Module):
    """A layer with lengths, its output and final state as a flat tuple."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output, h_n = self.layer(x, lengths=lengths)
        return (output, *(h_n if isinstance(h_n, tuple) else (h_n,)))


LAYERS = {
    "RNN, 2 layers, bidirectional": lambda: RNN(4, 16, 2, bidirectional=True),
    "LSTM, 2 layers, bidirectional": lambda: LSTM(4, 16, 2, bidirectional=True),
    "LSTM, proj_size 8": lambda: LSTM(4, 16, proj_size=8),
    "GRU, 2 layers, bidirectional": lambda: GRU(4, 16, 2, bidirectional=True),
    "MinGRU, 2 layers, bidirectional": lambda: MinGRU(4, 16, 2, bidirectional=True),
    "MinLSTM, 1 layer": lambda: MinLSTM(4, 16),
    "layer-norm LSTM, 2 layers, bidirectional": lambda: Recurrent(LayerNormLSTMCell, 4, 16, 2, bidirectional=True),
}


def as_list(result: torch.Tensor | tuple) -> list[torch.Tensor]:
    """A module's outputs as a list, whether it returns one tensor or several."""
    return [result] if isinstance(result, torch.Tensor) else list(result)


def differences(part: ExportPart, folder: Path, inputs: dict) -> tuple[float, float, float]:
    """The largest absolute difference from ``part.module`` at ``inputs``: the ONNX file's, the program's; and
    the :func:`rounding_floor` of the module there."""
    program = export_program(part)
    path = folder / f"{part.name}.onnx"
    save_onnx(part, program, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = part.module(*inputs.values())
        traced = program.module()(*inputs.values())
    expected, traced = as_list(expected), as_list(traced)
    onnx = session.run(None, {name: value.numpy() for name, value in inputs.items()})
    return (max(float(np.abs(o.astype(np.float64) - e.double().numpy()).max()) for o, e in zip(onnx, expected)),
            max(float((t.double() - e.double()).abs().max()) for t, e in zip(traced, expected)),
            rounding_floor(part.module, inputs))


def rounding_floor(module: nn.Module, inputs: dict, draws: int = 20) -> float:
    """The largest change of ``module``'s outputs, in float64, over ``draws`` random moves of every weight and
    floating input by up to half a float32 unit in the last place (a relative ``2**-24``)."""
    exact = copy.deepcopy(module).double()
    generator = torch.Generator().manual_seed(0)

    def moved(tensor: torch.Tensor) -> torch.Tensor:
        noise = torch.rand(tensor.shape, generator=generator, dtype=torch.float64) - 0.5
        return tensor.double() * (1 + noise * 2.0 ** -23)

    values = {name: value.double() if value.is_floating_point() else value for name, value in inputs.items()}
    worst = 0.0
    with torch.no_grad():
        reference = exact(*values.values())
        for _ in range(draws):
            nudged = copy.deepcopy(exact)
            for parameter in nudged.parameters():
                parameter.copy_(moved(parameter))
            outputs = nudged(*(moved(v) if v.is_floating_point() else v for v in values.values()))
            pairs = zip(as_list(outputs), as_list(reference))
            worst = max(worst, *(float((a.double() - b.double()).abs().max()) for a, b in pairs))
    return worst


def decoding(model: nn.Module, folder: Path, start_inputs: dict) -> list[tuple[str, float, float, float]]:
    """Both parts of a model that decodes a token at a time: its start, then one step from that state."""
    start, step = model.export_parts()
    rows = [(start.name, *differences(start, folder, start_inputs))]
    with torch.no_grad():
        state = start.module(*start_inputs.values())
    batch = next(iter(start_inputs.values())).shape[0]
    inputs = {"tokens": torch.arange(batch) % 3 + 1, **{f"state_{k}": s for k, s in enumerate(state)}}
    return rows + [(step.name, *differences(step, folder, inputs))]


def main() -> None:
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        x, lengths = torch.randn(23, 5, 4), torch.tensor([23, 1, 9, 17, 4])  # exported at T=5, B=2
        example = {"x": torch.randn(5, 2, 4), "lengths": torch.tensor([5, 3])}
        for kind, make in LAYERS.items():
            part = ExportPart("model", Layer(make()).eval(), example,
                              {"x": {0: "steps", 1: "batch"}, "lengths": {0: "batch"}}, ("output", "h", "c"))
            part = part._replace(outputs=part.outputs[:len(part.module(*part.inputs.values()))])
            rows.append((kind, *differences(part, folder, {"x": x, "lengths": lengths})))

        tokens = torch.randint(1, 30, (5, 23))
        classifier = SequenceClassifier(4, vocab_size=30, embedding_size=8, cell="gru", hidden_size=16).eval()
        rows.append(("classifier (tokens, GRU)", *differences(classifier.export_parts()[0], folder,
                                                              {"x": tokens, "lengths": lengths})))
        series = SequenceClassifier(4, input_size=3, cell="lstm", hidden_size=16, pooling="last").eval()
        signals = {"x": torch.randn(5, 23, 3), "lengths": lengths}
        rows.append(("series classifier (signals, LSTM)", *differences(series.export_parts()[0], folder, signals)))
        tagger = SequenceTagger(30, 12, 6, word_embedding_size=8, char_embedding_size=6, char_hidden_size=8,
                                hidden_size=16, dropout=0.0).eval()
        chars = torch.randint(1, 12, (5, 23, 7)) * (torch.arange(23)[None, :, None] < lengths[:, None, None])
        rows.append(("tagger (words and characters, LSTM)", *differences(
            tagger.export_parts()[0], folder, {"words": tokens, "chars": chars, "lengths": lengths})))
        seq2seq = Seq2Seq(30, 20, embedding_size=8, hidden_size=16, decoder_size=24, dropout=0.0).eval()
        rows += [(f"seq2seq {part}", *found) for part, *found in decoding(seq2seq, folder,
                                                                          {"source": tokens, "lengths": lengths})]
        generator = ConditionalGenerator(20, num_conditions=3, hidden_size=16, dropout=0.0).eval()
        rows += [(f"generator {part}", *found) for part, *found in decoding(
            generator, folder, {"condition": torch.tensor([0, 2, 1, 1, 0])})]
    print(f"{'layer or model (run at T=23, B=5; exported at T=5, B=2)':58s} {'ONNX':>9s} {'torch.export':>13s} "
          f"{'float32 floor':>14s}")
    for kind, onnx, program, floor in rows:
        print(f"{kind:58s} {onnx:9.1e} {program:13.1e} {floor:14.1e}")


if __name__ == "__main__":
    main()
