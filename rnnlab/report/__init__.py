"""Figures and pages: what a person looks at after a run.

* :mod:`~rnnlab.report.figures`: every plot, as PNG files (matplotlib set up once, for files only).
* :mod:`~rnnlab.report.tables`: the memory grid as text.
* :mod:`~rnnlab.report.html`: the self-contained HTML report of grids, runs and diagnostics.
* :mod:`~rnnlab.report.explorer`: the explorer page, an input going through trained runs step by step.

It draws plain numbers read from run directories, so it imports nothing of rnnlab but its errors
and file helpers: the training loop (which plots its learning curve) and the experiments sit above it.
"""
