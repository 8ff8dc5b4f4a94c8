"""Running a model exported by ``rnnlab export --format onnx`` with onnxruntime alone: torch is not imported.

    model = rnnlab.load_onnx("run/model.onnx")
    logits = model(x=x, lengths=lengths)["logits"]  # numpy arrays in, numpy arrays out

Inputs are named as the export names them (``x``, ``lengths``; ``words``, ``chars``; ``source``; ``tokens``
and ``state_0``, ...); integer inputs are given to the graph as int64 and float inputs as float32.  Imports
numpy and onnxruntime (the ``export`` extra), nothing of rnnlab but its errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnlab.errors import UsageError


class OnnxModel:
    """An ONNX file in an onnxruntime session on the CPU: ``model(**inputs) -> {output name: array}``.

    ``inputs`` and ``outputs`` list the graph's names; ``shapes`` the input shapes, a dimension that varies
    named (``"batch"``, ``"steps"``).
    """

    def __init__(self, path: str | Path) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise UsageError("running an ONNX file needs onnxruntime: pip install 'rnnlab[export]'") from None
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such ONNX file")
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.shapes = {i.name: i.shape for i in self.session.get_inputs()}
        self._types = {i.name: i.type for i in self.session.get_inputs()}

    def __call__(self, **inputs) -> dict[str, np.ndarray]:
        missing, unknown = set(self.inputs) - set(inputs), set(inputs) - set(self.inputs)
        if missing or unknown:
            raise UsageError(f"{self.path.name} takes the inputs {', '.join(self.inputs)}; "
                             + (f"missing {', '.join(sorted(missing))}" if missing else "")
                             + ("; " if missing and unknown else "")
                             + (f"unknown {', '.join(sorted(unknown))}" if unknown else ""))
        feed = {name: np.asarray(value, dtype=_DTYPES.get(self._types[name])) for name, value in inputs.items()}
        return dict(zip(self.outputs, self.session.run(None, feed)))


_DTYPES = {"tensor(int64)": np.int64, "tensor(float)": np.float32, "tensor(bool)": np.bool_}


def load_onnx(path: str | Path) -> OnnxModel:
    """The ONNX file at ``path`` (written by ``rnnlab export``), ready to run: :class:`OnnxModel`."""
    return OnnxModel(path)
