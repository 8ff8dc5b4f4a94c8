"""Tasks: what connects a data set to a model, a loss and a metric, and the run configuration.

* :mod:`~rnnlab.tasks.base`: the :class:`Task` interface the training loop uses.
* One module per task family: :mod:`~rnnlab.tasks.classification` (many-to-one: signals, strings),
  :mod:`~rnnlab.tasks.tagging` (many-to-many synchronous), :mod:`~rnnlab.tasks.transcription`
  (many-to-many asynchronous, G2P), :mod:`~rnnlab.tasks.generation` (one-to-many),
  :mod:`~rnnlab.tasks.forecasting` (probabilistic forecasting of a time series).
* :mod:`~rnnlab.tasks.registry`: every task name, declared once (:data:`TASKS`), and :func:`make_task`.
* :mod:`~rnnlab.tasks.config`: :class:`TrainConfig`, the typed options of ``rnnlab train``, filled
  from the task's defaults.

Imports :mod:`rnnlab.nn`, :mod:`rnnlab.data` and :mod:`rnnlab.models`; nothing above.
"""

from rnnlab.errors import ConfigError
from rnnlab.tasks.base import ClassifierTask, Task
from rnnlab.tasks.classification import SignalTask, TextTask
from rnnlab.tasks.config import TrainConfig
from rnnlab.tasks.forecasting import ForecastTask
from rnnlab.tasks.generation import GenerationTask
from rnnlab.tasks.registry import TASKS, TaskSpec, load_splits, make_task, read_file
from rnnlab.tasks.tagging import TaggingTask
from rnnlab.tasks.transcription import TranscriptionTask

__all__ = [
    "Task", "ClassifierTask", "SignalTask", "TextTask", "TaggingTask", "TranscriptionTask", "GenerationTask",
    "ForecastTask",
    "ForecastTask",
    "TASKS", "TaskSpec", "make_task", "load_splits", "read_file", "TrainConfig", "ConfigError",
]
