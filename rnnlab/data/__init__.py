"""Data: containers, vocabularies, batching, and one loader per source.

Loaders return :class:`Splits` (train, validation, test) of plain containers:

- :func:`load_mnist1d` -> :class:`SignalData` (MNIST-1D, generated locally)
- :func:`load_word_language` -> :class:`TextData` (word -> language, wordfreq)
- :func:`load_stress` -> :class:`TaggedData` (phoneme -> stress, CMUdict)
- :func:`load_ud_ewt` -> :class:`TaggedData` (word -> UPOS, UD English EWT)
- :func:`load_g2p` -> :class:`Transcriptions` (spelling -> pronunciations, CMUdict)
- :func:`load_japanese_vowels` -> :class:`SignalData` with lengths (speaker <- LPC cepstra, UCI)
- :func:`load_electricity`, :func:`load_taylor` -> a :class:`TimeSeries` (half-hourly electricity demand),
  cut into forecast windows by :func:`forecast_splits`

and users' own files read into the same containers: :func:`read_npz`, :func:`read_tsv`,
:func:`read_conllu`, :func:`read_lexicon`, :func:`read_ts` (the UEA/UCR archive's ``.ts``
format), :func:`read_series_csv` (a series and its covariates in a CSV file).  Every bad input
raises :class:`DataError`.  :func:`adding_problem` and :func:`moving_squares` generate synthetic tasks
with known answers.

Also :mod:`~rnnlab.data.subsets` (seeded held-out parts) and :mod:`~rnnlab.data.sharding` (each
process's share of a batch under ``torchrun``).  Imports nothing of rnnlab but its errors.
"""

from rnnlab.data.batching import pad, pad_chars, teacher_forcing
from rnnlab.data.conllu_files import load_ud_ewt, read_conllu
from rnnlab.data.containers import SignalData, Splits, TaggedData, TextData
from rnnlab.data.mnist1d import load_mnist1d
from rnnlab.data.pronunciations import Transcriptions, load_g2p, read_lexicon
from rnnlab.data.stress import load_stress
from rnnlab.data.synthetic import adding_problem, moving_squares
from rnnlab.data.time_series import (
    ForecastWindows,
    TimeSeries,
    forecast_splits,
    load_electricity,
    load_taylor,
    read_series_csv,
)
from rnnlab.data.ts_files import load_japanese_vowels, read_ts
from rnnlab.data.user_files import read_npz, read_tsv
from rnnlab.data.vocab import Vocabulary
from rnnlab.data.words import ambiguous_words, load_word_language
from rnnlab.errors import DataError

__all__ = [
    "DataError", "SignalData", "TextData", "TaggedData", "Transcriptions", "Splits",
    "Vocabulary",
    "pad", "pad_chars", "teacher_forcing",
    "load_mnist1d", "load_word_language", "ambiguous_words", "load_stress", "load_ud_ewt", "load_g2p",
    "read_conllu", "read_npz", "read_tsv", "read_lexicon", "read_ts", "load_japanese_vowels",
    "adding_problem", "moving_squares",
    "TimeSeries", "ForecastWindows", "forecast_splits", "read_series_csv", "load_electricity", "load_taylor",
]
