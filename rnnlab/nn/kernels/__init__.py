"""Compiled CPU kernels for the fused recurrences: the LSTM, the layer-normalised LSTM and the IndRNN, every
step of a sequence in one call, forward and backward (``recurrences.cpp`` beside this file; the equations are in
:mod:`rnnlab.nn.fused`).

They are built with the machine's C++ compiler the first time a fused sequence runs (about 12 s on a 2-core CPU, once:
torch keeps the build under ``TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``).  Where no
compiler is found or the build fails, :func:`compiled_kernels` returns ``None`` and the fused paths run in
Python instead (the LSTM) or the cell steps through autograd (the others); with the environment
variable ``RNNLAB_KERNELS=0`` they are never built.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import torch

_SOURCE = Path(__file__).with_name("recurrences.cpp")
_log = logging.getLogger(__name__)
_loaded: dict[str, object] = {}


def _flags() -> tuple[str, list[str]]:
    """The build's name and compiler flags: vector instructions where the CPU has them (the name says which,
    so that builds for different CPUs never share a cache); fast math for the element-wise loops (compiled
    only: nothing is linked that would change the process's floating-point mode); OpenMP, without which ATen's
    ``at::parallel_for`` (a header template, compiled into the kernels) runs every pass on one thread, where
    torch itself runs on GNU OpenMP (Linux builds: the library linked is torch's own, already loaded, so there is
    one thread pool)."""
    capability = torch.backends.cpu.get_cpu_capability()
    vector = {"AVX2": ["-mavx2", "-mfma"],
              "AVX512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl",
                         "-mprefer-vector-width=512"]}.get(capability, [])
    name = "rnnlab_kernels_" + (capability.lower() if vector else "generic")
    return name, ["-O3", "-ffast-math", "-fopenmp" if _gnu_openmp() else "-fopenmp-simd", "-std=c++17", *vector]


def _gnu_openmp() -> bool:
    """Whether torch's intra-op threads are GNU OpenMP's, which the kernels can join (Linux)."""
    return sys.platform.startswith("linux") and "parallel backend: OpenMP" in torch.__config__.parallel_info()


def compiled_kernels():
    """``torch.ops.rnnlab_kernels`` (building it on first use), or ``None`` where it cannot be had."""
    if "ops" not in _loaded:
        _loaded["ops"] = _build()
    return _loaded["ops"]


def _build():
    if os.environ.get("RNNLAB_KERNELS", "1") == "0":
        return None
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        _log.info("rnnlab: no C++ compiler found; the fused LSTM runs in Python, the other cells step")
        return None
    try:
        from torch.utils.cpp_extension import load

        name, flags = _flags()
        load(name=name, sources=[str(_SOURCE)], extra_cflags=flags, extra_ldflags=[f for f in flags if f == "-fopenmp"],
             is_python_module=False, verbose=False)
        return torch.ops.rnnlab_kernels
    except Exception as error:  # a failed build leaves the Python paths, which compute the same
        _log.warning("rnnlab: the compiled recurrent kernels could not be built (%s); the fused LSTM runs in Python, "
                     "the other cells step",
                     str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__)
        return None
