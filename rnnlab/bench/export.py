"""What serving costs and saves: a trained run evaluated in PyTorch, as an ONNX file in onnxruntime, and as an
int8-quantised ONNX file (dynamic quantisation of the matrix products' weights).

The ONNX sessions stand in for the model (:class:`OnnxGraph`, :class:`OnnxDecoder`), so each is evaluated
by the task's own ``evaluate`` on the same items: the metric is the task's (accuracy; WER for G2P, greedy),
the time is the whole evaluation's, and the size is the file's (the PyTorch row: float32 parameters).
All three run on one thread, so that the comparison is of the engines, not of the cores they find.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab.data.subsets import subset
from rnnlab.errors import ConfigError
from rnnlab.tasks import ClassifierTask, TaggingTask, TranscriptionTask
from rnnlab.tasks.registry import load_splits
from rnnlab.training.export import export_model
from rnnlab.training.runs import load_run


class OnnxGraph(nn.Module):
    """An ONNX session called as the model it was exported from: ``forward(*inputs)`` -> its first output."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.session = _session(path)
        self.names = [i.name for i in self.session.get_inputs()]
        self.dtype_probe = nn.Parameter(torch.zeros(0))  # what task.evaluate reads the dtype from

    def forward(self, *inputs: Tensor) -> Tensor:
        return torch.from_numpy(self.session.run(None, _feed(self.names, inputs))[0])


class OnnxDecoder(nn.Module):
    """The encoder and step files of an encoder-decoder called as the model's ``encode`` and ``step`` (the
    state a tuple of tensors, batch first), for greedy decoding."""

    def __init__(self, encoder: Path, step: Path) -> None:
        super().__init__()
        self.encoder, self.stepper = _session(encoder), _session(step)
        self.dtype_probe = nn.Parameter(torch.zeros(0))

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        names = [i.name for i in self.encoder.get_inputs()]
        return tuple(torch.from_numpy(s) for s in self.encoder.run(None, _feed(names, (source, lengths))))

    def step(self, tokens: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        names = [i.name for i in self.stepper.get_inputs()]
        log_probs, *new = self.stepper.run(None, _feed(names, (tokens, *state)))
        return torch.from_numpy(log_probs), tuple(torch.from_numpy(s) for s in new)


def bench_export(run_dirs: tuple[Path, ...], items: int = 2000, batch_size: int = 64) -> list[dict]:
    """For each run: size (MB), evaluation time (s) and metric of the PyTorch model, its ONNX file and the
    int8 ONNX file, on the first ``items`` items of the run's test split (G2P: greedy decoding)."""
    rows, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for run_dir in run_dirs:
            rows += _bench_run(Path(run_dir), items, batch_size)
    finally:
        torch.set_num_threads(threads)
    return rows


def _bench_run(run_dir: Path, items: int, batch_size: int) -> list[dict]:
    """The three rows of one run, printed."""
    config, task, model = load_run(run_dir, device="cpu")
    if not isinstance(task, (ClassifierTask, TaggingTask, TranscriptionTask)):
        raise ConfigError(f"{run_dir}: bench export measures classifiers, taggers and G2P, not {config.task}")
    data = load_splits(config).test
    data = subset(data, range(min(items, len(data))))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        contenders = {"pytorch": (model, sum(p.numel() * 4 for p in model.parameters()))}
        for name, int8 in (("onnx", False), ("onnx int8", True)):
            written = export_model(model, "onnx", Path(folder) / f"{name.replace(' ', '-')}.onnx", int8)
            paths = [path for path, _ in written]
            graph = OnnxDecoder(*paths) if len(paths) == 2 else OnnxGraph(paths[0])
            contenders[name] = (graph, sum(path.stat().st_size for path in paths))
        for name, (contender, size) in contenders.items():
            start = time.perf_counter()
            report = _evaluate(task, contender, data, batch_size)
            rows.append({"run": str(run_dir), "task": config.task, "engine": name, "size_mb": size / 2 ** 20,
                         "seconds": time.perf_counter() - start, "metric": task.metric,
                         "value": report[task.metric]})
    _print(rows)
    return rows


def _evaluate(task, model, data, batch_size: int) -> dict:
    if isinstance(task, TranscriptionTask):
        return task.evaluate(model, data, batch_size, torch.device("cpu"), beam_width=1)
    return task.evaluate(model, data, batch_size, torch.device("cpu"))


def _print(rows: list[dict]) -> None:
    first = rows[0]
    print(f"{first['task']} ({first['run']}), {first['metric']}:")
    for row in rows:
        print(f"  {row['engine']:10s} {row['size_mb']:8.2f} MB  {row['seconds']:7.2f} s  "
              f"{row['metric']} {row['value']:.4f}  (x{row['seconds'] / first['seconds']:.2f} time, "
              f"{row['value'] - first['value']:+.4f})")


def _session(path: Path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _feed(names: list[str], inputs) -> dict[str, np.ndarray]:
    return {name: value.cpu().numpy() for name, value in zip(names, inputs)}
