"""The top-level ``rnnlab`` command, on which every command group registers its commands."""

from tyro.extras import SubcommandApp

app = SubcommandApp()
"""The ``rnnlab`` command; :mod:`rnnlab.cli.train`, :mod:`rnnlab.cli.bench` and :mod:`rnnlab.cli.inspection`
register their commands on it."""
