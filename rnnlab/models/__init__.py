"""Task models built on rnnlab's recurrent layers, and the feed-forward baselines they are compared with.

* :class:`SequenceClassifier` (many-to-one): a sequence of signals or tokens -> one label.
* :class:`ConditionalGenerator` (one-to-many): a class or vector -> a sequence, until END.
* :class:`Seq2Seq` (many-to-many, asynchronous): an attention encoder-decoder; :class:`Ensemble`
  decodes with several of them as one.
* :class:`Forecaster` (many-to-many, asynchronous): a series' history and known future -> a predictive
  distribution per future step; :mod:`~rnnlab.models.forecast_baselines` holds the classical forecasts.
* :class:`SequenceTagger` (many-to-many, synchronous): a sentence -> one tag per word, from word
  and character embeddings; with :func:`masked_cross_entropy`.
* Baselines with no sense of order, or only a local one: :class:`SignalMLP`, :class:`BagOfFrames`,
  :class:`BagOfCharacters`, :class:`CharNgramModel`.

:func:`recurrent_layer` builds the recurrent encoder of every model from a cell name in :data:`CELLS`
(:mod:`~rnnlab.models.cells`, the one table of cell names); :mod:`~rnnlab.models.decoding` holds greedy
decoding, sampling and beam search over any step function.

Imports :mod:`rnnlab.nn` and :mod:`rnnlab.data` only.
"""

from rnnlab.models.baselines import BagOfCharacters, BagOfFrames, CharNgramModel, SignalMLP
from rnnlab.models.cells import CELLS, decoder_cell, recurrent_layer, regularise_layers
from rnnlab.models.classifier import POOLINGS, SequenceClassifier
from rnnlab.models.forecaster import DISTRIBUTIONS, Forecaster, negative_log_likelihood, predictive
from rnnlab.models.generator import ConditionalGenerator
from rnnlab.models.losses import masked_cross_entropy
from rnnlab.models.seq2seq import Ensemble, Seq2Seq
from rnnlab.models.tagger import SequenceTagger

__all__ = [
    "CELLS", "recurrent_layer", "decoder_cell", "regularise_layers",
    "SequenceClassifier", "POOLINGS",
    "SequenceTagger", "masked_cross_entropy",
    "ConditionalGenerator", "Seq2Seq", "Ensemble",
    "Forecaster", "predictive", "negative_log_likelihood", "DISTRIBUTIONS",
    "SignalMLP", "BagOfFrames", "BagOfCharacters", "CharNgramModel",
]
