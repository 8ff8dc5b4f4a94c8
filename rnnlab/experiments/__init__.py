"""Experiments that train many models and compare them: the memory grid and the order benchmark.

* :mod:`~rnnlab.experiments.memory`: which cells carry information across how many steps
  (adding problem, copy memory, shuffled MNIST-1D); ``rnnlab memory``.
* :mod:`~rnnlab.experiments.order`: recurrent against order-blind models, in order and shuffled;
  ``rnnlab bench order``.

Imports :mod:`rnnlab.training` and the floors below it; nothing imports experiments but the CLI.
"""
