"""Data: generated tasks and (later) loaders for real data sets."""

from rnnlab.data.synthetic import adding_problem

__all__ = ["adding_problem"]
