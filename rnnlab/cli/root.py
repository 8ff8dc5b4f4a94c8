"""The top-level ``rnnlab`` command, on which every command group registers its commands."""

from typing import Literal

from tyro.extras import SubcommandApp

app = SubcommandApp()
"""The ``rnnlab`` command; :mod:`rnnlab.cli.train`, :mod:`rnnlab.cli.bench` and :mod:`rnnlab.cli.inspection`
register their commands on it."""

Device = Literal["auto", "cpu", "cuda"]
"""The ``--device`` of the commands that load a run: auto is a CUDA device when one is available."""
