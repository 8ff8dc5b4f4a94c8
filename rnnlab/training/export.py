"""Exporting a trained model: a ``torch.export`` program or an ONNX file per graph, ``T`` and ``B`` dynamic.

Every rnnlab layer runs under ``torch.export`` as one loop of the graph (torch's ``scan`` operator, with
the cell's step as its body: :func:`rnnlab.nn.unroll.graph_unroll`), so the number of steps stays a
symbol; the ONNX file is translated from that program by ``torch.onnx.export(..., dynamo=True)``, the loop
becoming an ONNX ``Scan``.  A task model says what its graphs are (:mod:`rnnlab.models.export`).

Failures are the user's to read: one line naming the part and the reason (:class:`ExportError`), never
the exporter's trace.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnlab.errors import ConfigError, UsageError
from rnnlab.models.export import ExportPart
from rnnlab.training.runs import load_run

FORMATS = ("onnx", "torch-export")
SUFFIXES = {"onnx": ".onnx", "torch-export": ".pt2"}


class ExportError(UsageError):
    """A model (or one of its parts) that cannot be exported; the message names the part and the reason."""


def export_parts(model: nn.Module) -> list[ExportPart]:
    """The graphs of ``model`` (its ``export_parts()``), or an :class:`ExportError` for a model without them."""
    parts = getattr(model, "export_parts", None)
    if parts is None:
        raise ExportError(f"{type(model).__name__} cannot be exported: it does not say what its graphs are "
                          "(an export_parts() method, rnnlab.models.export)")
    return parts()


def dynamic_shapes(part: ExportPart) -> tuple:
    """``part.dims`` as torch.export's ``dynamic_shapes``: a :class:`torch.export.Dim` per name, in the
    structure of the module's ``forward`` signature (``*args`` as one tuple)."""
    dims = {name: torch.export.Dim(name) for spec in part.dims.values() for name in spec.values()}
    shapes = [{index: dims[name] for index, name in part.dims.get(arg, {}).items()} or None for arg in part.inputs]
    parameters = list(inspect.signature(part.module.forward).parameters.values())
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_POSITIONAL:
        shapes[len(parameters) - 1:] = [tuple(shapes[len(parameters) - 1:])]
    return tuple(shapes)


def export_program(part: ExportPart) -> torch.export.ExportedProgram:
    """``part`` traced by ``torch.export``, its ``dims`` dynamic."""
    module = part.module.eval()
    with _reported(part, "torch.export"), torch.no_grad(), _frozen(module):
        return torch.export.export(module, tuple(part.inputs.values()), dynamic_shapes=dynamic_shapes(part))


def save_onnx(part: ExportPart, program: torch.export.ExportedProgram, path: Path) -> None:
    """``program`` (of ``part``) as an ONNX file at ``path``, inputs and outputs named as ``part`` names them."""
    with _reported(part, "ONNX"), _frozen(part.module):
        # the shapes again, so that the file's dimensions are named as part.dims names them
        onnx_program = torch.onnx.export(program, tuple(part.inputs.values()), dynamo=True,
                                         dynamic_shapes=dynamic_shapes(part), input_names=list(part.inputs),
                                         output_names=list(part.outputs), verbose=False, external_data=False)
        onnx_program.save(str(path))


def quantise_onnx(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the matrix products of the ONNX file ``source`` (weights int8, activations
    quantised per call), written to ``target`` (onnxruntime's quantiser)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        # EnableSubgraph: also the recurrent matrices, inside the loop's body
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, extra_options={"EnableSubgraph": True})


def onnx_error(part: ExportPart, path: Path) -> float:
    """The largest absolute difference between ``part``'s outputs in torch and the ONNX file's in onnxruntime,
    on the part's example inputs."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = part.module(*part.inputs.values())
    expected = (expected,) if isinstance(expected, torch.Tensor) else expected
    got = session.run(None, {name: value.numpy() for name, value in part.inputs.items()})
    return max(float(np.abs(g.astype(np.float64) - e.double().numpy()).max()) for g, e in zip(got, expected))


def export_model(model: nn.Module, format: str, output: Path, int8: bool = False) -> list[tuple[Path, float]]:
    """Every graph of ``model`` in ``format`` (``"onnx"`` or ``"torch-export"``) at ``output``, or, for a model
    of several graphs, beside it as ``STEM-PART.SUFFIX`` (``model-encoder.onnx``, ``model-step.onnx``).  With
    ``int8`` (ONNX only), the matrix products' weights dynamically quantised to int8.  Returns each file
    and, for ONNX, the largest difference of its outputs from the model's on the example inputs (NaN for
    the torch.export program, which runs the model's own operators)."""
    check_format(format, int8)
    model = model.eval().cpu()
    parts = export_parts(model)
    written = []
    for part in parts:
        path = output if len(parts) == 1 else output.with_name(f"{output.stem}-{part.name}{output.suffix}")
        program = export_program(part)
        if format == "torch-export":
            torch.export.save(program, str(path))
            written.append((path, float("nan")))
            continue
        save_onnx(part, program, path)
        if int8:
            quantise_onnx(path, path)
        written.append((path, onnx_error(part, path)))
    return written


def check_format(format: str, int8: bool) -> None:
    """Refuse an unknown format, and ``int8`` with another format than ONNX."""
    if format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if int8 and format != "onnx":
        raise ConfigError("--int8 quantises an ONNX file (onnxruntime's dynamic quantisation); give --format onnx")


@contextlib.contextmanager
def _frozen(module: nn.Module):
    """``module``'s parameters without ``requires_grad`` inside: the graph is for inference, and a loop
    (torch's scan) over parameters that require gradients is traced twice more, for its backward."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


@contextlib.contextmanager
def _reported(part: ExportPart, what: str):
    """Any failure inside as one :class:`ExportError` line naming the part and the first line of the reason."""
    try:
        with _quiet():
            yield
    except UsageError:
        raise
    except Exception as error:  # the exporters raise many types, with pages of trace
        reason = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise ExportError(f"{type(part.module).__name__} ({part.name}): {what} failed: {reason}") from None


@contextlib.contextmanager
def _quiet():
    """The exporters' and the quantiser's progress lines and warnings, silenced."""
    loggers = [logging.getLogger(name) for name in ("torch", "")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_run(run_dir: Path, format: str = "onnx", output: Path | None = None,
               int8: bool = False) -> list[tuple[Path, float]]:
    """The trained model of ``run_dir`` (its best checkpoint) exported by :func:`export_model`, by default to
    ``RUN_DIR/model.onnx`` (``model.pt2`` for ``torch-export``; ``model-int8.onnx`` with ``int8``)."""
    check_format(format, int8)
    _, _, model = load_run(Path(run_dir), device="cpu")
    if output is None:
        output = Path(run_dir) / f"model{'-int8' if int8 else ''}{SUFFIXES[format]}"
    elif not output.parent.is_dir():
        raise ConfigError(f"--output {output}: no such folder {output.parent}")
    return export_model(model, format, output, int8)
