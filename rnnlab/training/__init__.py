"""Training and using trained runs.

* :mod:`~rnnlab.training.step`: one training step (autocast, scaler, clipping, update, schedule, EMA),
  the same for ``rnnlab train``, the memory grid and the throughput benchmark.
* :mod:`~rnnlab.training.loop`: :func:`train`, the loop: set-up, resume, epochs, validate-and-save.
* :mod:`~rnnlab.training.runs`: run directories and loading a trained run back.
* :mod:`~rnnlab.training.checkpoint`: atomic, code-free checkpoints.
* :mod:`~rnnlab.training.distributed`: processes under ``torchrun``.
* :mod:`~rnnlab.training.predict`, :mod:`~rnnlab.training.evaluate`, :mod:`~rnnlab.training.diagnose`:
  what the ``predict``, ``evaluate``, ``generate``, ``attention`` and ``diagnose`` commands do.

Imports the floors below it (:mod:`rnnlab.tasks`, :mod:`rnnlab.models`, :mod:`rnnlab.nn`,
:mod:`rnnlab.data`, :mod:`rnnlab.report`); nothing above.
"""

from rnnlab.training.loop import epoch_order, train
from rnnlab.training.runs import load_ensemble, load_run
from rnnlab.training.step import TrainingStep

__all__ = ["train", "epoch_order", "load_run", "load_ensemble", "TrainingStep"]
