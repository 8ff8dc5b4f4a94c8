"""The typed configuration of a training run; the ``rnnlab train`` options are generated from it.

Options left unset (``None``) take the task's defaults (:data:`rnnlab.tasks.registry.TASKS`), which
are the recipes behind the published numbers.  The choices of ``--task``, ``--model``, ``--cell`` and
``--pooling`` come from their registries, so a new task or cell is declared once.

The resolved configuration is printed at the start of a run and saved as ``config.json`` in its run
directory.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import tyro

from rnnlab.errors import ConfigError
from rnnlab.files import timestamped
from rnnlab.models import CELLS, POOLINGS
from rnnlab.models.cells import decoder_names, has_recurrent_matrices
from rnnlab.tasks.forecasting import parse_seasons
from rnnlab.tasks.registry import MODEL_NAMES, TASKS, family

TaskName = Literal[tuple(TASKS)]  # type: ignore[valid-type]  (the registry's names)
ModelName = Literal[MODEL_NAMES]  # type: ignore[valid-type]
CellName = Literal[tuple(CELLS)]  # type: ignore[valid-type]  (the cell registry's names)
Pooling = Literal[POOLINGS]  # type: ignore[valid-type]
AttentionName = Literal["multiplicative", "additive"]
Precision = Literal["fp32", "fp64", "bf16", "fp16"]

TaskDefault = tyro.conf.arg(help_behavior_hint="(default: the task's)")

# The encoder-decoder's own options, at the values that leave them off (the only ones other tasks take).
ENCODER_DECODER_OFF: dict[str, Any] = dict(ctc_weight=0.0, reverse_decoder_size=0, decoder_layers=1,
                                           reverse_decoder_layers=1)
COMMON_DEFAULTS: dict[str, Any] = dict(precision="fp32", warmup=0.3, second_tag_weight=0.0, weight_drop=0.0,
                                       **ENCODER_DECODER_OFF)
# The value a run was trained with when its config.json predates the option (not the task's default now):
# every encoder-decoder option, the second tag set and weight-drop came after the first runs, which trained
# with them off.
BEFORE_OPTION: dict[str, Any] = dict(ENCODER_DECODER_OFF, second_tag_weight=0.0, weight_drop=0.0)


@dataclass
class TrainConfig:
    """What to train and how.

    Attributes:
        task: The task, each with a real data set: mnist1d (classify 1-D signals; mnist1d-shuffled: with their
            time steps shuffled by one fixed permutation), word-language (the language of a word), word-generation
            (generate a word of a given language: the same words, turned around), stress
            (lexical stress of each phoneme, CMUdict), upos (part of speech, UD English EWT), g2p (spelling ->
            phonemes, CMUdict, stress marks removed; g2p-stress: with them), japanese-vowels (which of 9 speakers
            says /ae/, from 12 LPC cepstrum channels per frame; japanese-vowels-shuffled: each utterance's frames
            in a fixed random order), ts-classify (your own time series: a .ts file of the
            UEA/UCR archive's format with --data); forecasting: electricity (Victoria's half-hourly demand in 2014,
            with the working-day flag and the temperature; a day ahead from each midnight of the last 8 weeks),
            taylor (England and Wales' half-hourly demand in summer 2000; the last 4 weeks), forecast (your own
            series: a CSV file with --data, --target, --horizon, --season).
        model: recurrent (the task's recurrent model), or an order-blind baseline for comparison: mlp (signals),
            bag-of-frames (time series: each frame through an MLP, pooled over time), bag-of-chars or char-ngram
            (character 1-3-grams; text).
        data: Your own training file, of the task's kind: .npz (mnist1d), .ts (ts-classify, japanese-vowels),
            TSV text<TAB>label (word-language), CoNLL-U (stress, upos), CSV (forecast: one row per
            step). Validation and test are held out of it unless given below (forecasting: its last stretches).
        validation_data: Your own validation file (same format as --data).
        test_data: Your own test file (same format as --data).
        cell: Recurrent cell: rnn (tanh), irnn (relu, identity-initialised), lstm, lstm-fb1 (forget-gate bias 1),
            gru, mingru, minlstm (parallel scan); for long memory: lstm-chrono (chrono-initialised LSTM), janet
            (forget gate only), indrnn (one recurrent weight per unit), orthogonal (orthogonal recurrent matrix);
            variants: lstm-peephole (gates see the memory cell), lstm-ln and gru-ln (layer-normalised), mgu
            (minimal gated unit: one gate).
        hidden_size: Hidden units per direction.
        num_layers: Stacked recurrent layers.
        bidirectional: Read the sequence in both directions.
        dropout: Dropout between layers and on the summary/embeddings.
        merge_mode: How a bidirectional encoder joins its two directions: concat (side by side, 2H features),
            or sum, mul, ave (element-wise, H features); classifiers and taggers.
        recurrent_dropout: Variational dropout of the recurrent state (Gal & Ghahramani 2016): in training,
            one mask per sequence, the same at every step, on each recurrent layer's previous output where it
            enters the recurrent matrices (0: off). Trains through the unrolled engine: for the LSTM its compiled
            fused sequence (about 1.2x the native kernel's epoch on UPOS), for the other cells a Python step loop.
        zoneout: Zoneout (Krueger et al. 2017): in training, each unit of the recurrent state keeps its previous
            value with this probability at every step; evaluation uses the expectation (0: off). Trains and
            evaluates through the unrolled engine, as recurrent dropout does.
        weight_drop: DropConnect on the recurrent matrices (AWD-LSTM): in training, each weight of every
            weight_hh dropped with this probability, one mask per batch; keeps the fused kernel (0: off).
        pooling: How a classifier summarises the sequence.
        epochs: Passes over the training data.
        batch_size: Sequences per batch.
        lr: Peak learning rate (AdamW with a one-cycle schedule).
        warmup: Share of the training steps over which the learning rate rises to its peak (one-cycle's
            ``pct_start``); a cosine takes it down to nearly zero over the rest.
        weight_decay: AdamW weight decay.
        label_smoothing: Share of the target probability spread over all classes (classifiers, taggers, G2P,
            word generation).
        attention: G2P: how the decoder scores the encoder's steps: multiplicative (Luong) or additive (Bahdanau).
        input_feeding: G2P: feed the decoder's previous attentional vector back in with the previous phoneme
            (off: the decoder trains through one fused kernel over the whole target, 1.4-1.8x faster).
        ctc_weight: G2P: weight of an auxiliary CTC loss on the encoder (joint CTC-attention training): each
            letter's encoding also predicts two phoneme slots, trained with CTC against the reference, so the
            encoder learns a monotonic letter-to-phoneme alignment; the loss is ``(1 - w) * decoder's + w * CTC``
            (0: off). Training only: decoding uses the decoder alone.
        reverse_decoder_size: G2P: also train a right-to-left decoder of this size on the same encoder (the
            loss is the mean of the two decoders'); the left-to-right beam's ``beam_width`` best sequences are
            then rescored by the sum of both decoders' log-probabilities (0: off; G2P's default: 256).
        decoder_layers: G2P: layers of the (left-to-right) decoder: the first attends; each one above reads the
            attention's context with the output of the layer below, so the decoder remembers where it looked
            without input feeding (Wu et al. 2016; G2P's default: 2).
        reverse_decoder_layers: G2P: layers of the right-to-left decoder, stacked the same way (G2P's default: 2).
        beam_width: G2P: beam search width for the test metrics and predictions (1: greedy decoding).
        input_noise: Time series: in training, Gaussian noise of this standard deviation (in units of each channel's
            standard deviation) added to every real step of the standardised series, a fresh draw per batch
            (jitter augmentation; 0: off).
        target: Forecasting: the CSV column to forecast.
        covariates: Forecasting: columns known in advance at every step (a calendar flag, a weather forecast),
            comma-separated: the model reads them over the history and the horizon.
        time_column: Forecasting: the CSV column of the steps' times (evenly spaced); seasonal phases are then
            read from the times, so a later file of the series continues the same phases.
        horizon: Forecasting: steps per forecast; validation and test forecasts start every horizon steps.
        season: Forecasting: the seasonal periods in steps, the main one first, comma-separated (48,336: a day
            and a week of half-hours); the model reads each one's seasonal naive forecast and phase, the
            baselines forecast with each, and MASE is scaled by the main one's naive error.
        context: Forecasting: steps of history the encoder reads before each forecast.
        validation_steps: Forecasting: the validation stretch, held out before the test stretch (default: the
            last 10% of the series, in whole forecasts).
        test_steps: Forecasting: the test stretch at the end of the series (default: the last 10%).
        distribution: Forecasting: the predictive distribution of each step: student-t (heavy tails, robust
            to outliers) or normal; trained by its likelihood.
        word_dropout: Taggers: alpha of word dropout: in training, a word seen c times in the training data is
            replaced by the unknown word with probability alpha / (alpha + c), so the character encoder learns
            to tag words it has never seen.
        second_tag_weight: Taggers on CoNLL-U files: also learn each word's XPOS (column 5) from the same
            encoder, with its cross-entropy times this weight added to the loss in training (0: off; files in
            which some word has no XPOS train without it); predictions and exports give UPOS alone.
        ema: Also keep an exponential moving average of the weights, ``avg = ema * avg + (1 - ema) * w`` after
            every update (e.g. 0.999; 0: off). Validation, the best checkpoint's choice, the test and every later
            command (evaluate, predict, ...) use the average; training continues from the raw weights.
        clip: Gradient-norm clipping threshold (0 turns clipping off).
        patience: Stop after this many epochs without a better validation metric (0: never stop early).
        max_skipped_steps: Updates with a non-finite loss or gradient are skipped (the weights stay as they
            were); after more than this many in a row, training stops with an error (it diverged).
        seed: Seeds the model, the data order and dropout: the same seed on the same CPU gives the same metrics.
        device: cpu, cuda, or auto (cuda when available). Under torchrun, each process of a machine takes the
            GPU of its local rank.
        precision: fp32; fp64 (parameters and inputs in float64); bf16 or fp16 (mixed precision: autocast,
            with a gradient scaler for fp16; weights, optimizer and evaluation stay in float32); bf16 pays on CPUs
            with AVX512-BF16 or AMX and on recent GPUs (the task's default: bf16 for G2P, fp32 otherwise).
        compile: Train through torch.compile (inductor): the training forward and backward are compiled
            (the first batches of each new shape pay the compile time); validation, checkpoints and every later
            command use the model as it is.
        run_dir: Where the run is written (default: runs/TASK-TIME).
    """

    task: TaskName = "mnist1d"
    model: ModelName = "recurrent"
    data: Path | None = None
    validation_data: Path | None = None
    test_data: Path | None = None
    cell: Annotated[CellName | None, TaskDefault] = None
    hidden_size: Annotated[int | None, TaskDefault] = None
    num_layers: Annotated[int | None, TaskDefault] = None
    bidirectional: Annotated[bool | None, TaskDefault] = None
    dropout: Annotated[float | None, TaskDefault] = None
    merge_mode: Literal["concat", "sum", "mul", "ave"] = "concat"
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: Annotated[float | None, TaskDefault] = None
    pooling: Annotated[Pooling | None, TaskDefault] = None
    epochs: Annotated[int | None, TaskDefault] = None
    batch_size: Annotated[int | None, TaskDefault] = None
    lr: Annotated[float | None, TaskDefault] = None
    warmup: Annotated[float | None, TaskDefault] = None
    weight_decay: Annotated[float | None, TaskDefault] = None
    label_smoothing: Annotated[float | None, TaskDefault] = None
    attention: Annotated[AttentionName | None, TaskDefault] = None
    input_feeding: bool = False
    beam_width: Annotated[int | None, TaskDefault] = None
    ctc_weight: float = 0.0
    reverse_decoder_size: Annotated[int | None, TaskDefault] = None
    decoder_layers: Annotated[int | None, TaskDefault] = None
    reverse_decoder_layers: Annotated[int | None, TaskDefault] = None
    input_noise: Annotated[float | None, TaskDefault] = None
    word_dropout: Annotated[float | None, TaskDefault] = None
    second_tag_weight: Annotated[float | None, TaskDefault] = None
    target: Annotated[str | None, TaskDefault] = None
    covariates: Annotated[str | None, TaskDefault] = None
    time_column: Annotated[str | None, TaskDefault] = None
    horizon: Annotated[int | None, TaskDefault] = None
    season: Annotated[str | None, TaskDefault] = None
    context: Annotated[int | None, TaskDefault] = None
    validation_steps: Annotated[int | None, TaskDefault] = None
    test_steps: Annotated[int | None, TaskDefault] = None
    distribution: Annotated[Literal["student-t", "normal"] | None, TaskDefault] = None
    ema: float = 0.0
    clip: float = 1.0
    patience: int = 0
    max_skipped_steps: int = 20
    seed: int = 0
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    precision: Annotated[Precision | None, TaskDefault] = None
    compile: bool = False
    run_dir: Path | None = None

    def resolved(self, saved: bool = False) -> TrainConfig:
        """A copy with every unset option filled from the task's defaults, and checked (``saved``: the
        configuration of a run trained before, which keeps what it was trained with)."""
        defaults = {**COMMON_DEFAULTS, **TASKS[self.task].defaults}
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        config = dataclasses.replace(self, **filled)
        if filled.get("weight_drop") and (config.model != "recurrent" or config.cell not in CELLS
                                          or not has_recurrent_matrices(config.cell)):
            config.weight_drop = 0.0  # the task's weight-drop, where there are no recurrent matrices to drop
        config.check(saved)
        return config

    def check(self, saved: bool = False) -> None:
        """Refuse an option value that cannot train (every option, before anything is created; ``saved``:
        a run's saved configuration, whose run directory exists already)."""
        for name in ("hidden_size", "num_layers", "epochs", "batch_size", "beam_width", "decoder_layers",
                     "reverse_decoder_layers"):
            at_least(name, getattr(self, name), 1)
        at_least("patience", self.patience, 0)
        at_least("max_skipped_steps", self.max_skipped_steps, 0)
        if self.reverse_decoder_size is not None and self.reverse_decoder_size < 0:
            raise ConfigError(f"--reverse-decoder-size must be 0 (off) or positive, got {self.reverse_decoder_size}")
        for name in ("dropout", "ema", "warmup", "ctc_weight", "label_smoothing", "recurrent_dropout", "zoneout",
                     "weight_drop"):
            in_unit_interval(name, getattr(self, name))
        for name in ("weight_decay", "word_dropout", "clip", "input_noise", "second_tag_weight"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"--{_option(name)} must be a finite number, 0 or more, got {value}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a finite positive number, got {self.lr}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed must be a whole number in [0, 2**32), got {self.seed}")
        if self.data is None and TASKS[self.task].load is None:
            raise ConfigError(f"--task {self.task} has no data set of its own: give your training file with --data "
                              "(and --test-data, --validation-data if you have them)")
        for name in ("validation_data", "test_data"):
            if getattr(self, name) is not None and self.data is None:
                raise ConfigError(f"--{_option(name)} needs --data (your training file): the task's own data set "
                                  "has its own splits; to measure a trained run on your file use "
                                  "rnnlab evaluate RUN_DIR --data FILE")
        if not saved:
            check_writable(self.run_directory(), "--run-dir", directory=True)
        task_family = family(self.task)
        for name, off in ENCODER_DECODER_OFF.items():  # options of the encoder-decoder only
            if getattr(self, name) not in (None, off) and not task_family.encoder_decoder:
                raise ConfigError(f"--{name.replace('_', '-')} is for the G2P tasks (an encoder-decoder), "
                                  f"not task {self.task}")
        if self.model not in task_family.models:
            raise ConfigError(f"--model {self.model} does not fit task {self.task}; choose one of {task_family.models}")
        if self.merge_mode != "concat":
            if task_family.kind not in ("signal", "series", "text", "tagging"):
                raise ConfigError(f"--merge-mode is for classifiers and taggers, not task {self.task}")
            if self.bidirectional is False:
                raise ConfigError(f"--merge-mode {self.merge_mode} merges the two directions of a bidirectional "
                                  "encoder; add --bidirectional True")
        self.check_forecast(task_family.kind == "forecast")
        if self.input_noise and task_family.kind != "series":
            raise ConfigError(f"--input-noise jitters time series; task {self.task} has none")
        for name in ("recurrent_dropout", "zoneout", "weight_drop"):
            if getattr(self, name) and self.model != "recurrent":
                raise ConfigError(f"--{_option(name)} regularises recurrent layers; --model {self.model} has none")
        # Runs trained before this check (G2P with a scan cell or irnn) stepped an LSTM decoder and keep it.
        if task_family.encoder_decoder and not saved and self.cell is not None and self.cell not in decoder_names():
            decoders = decoder_names()
            raise ConfigError(f"--cell {self.cell} does not fit task {self.task}: its decoder steps one token at a "
                              f"time and {self.cell} has no step-by-step decoder cell; choose one of {decoders}")
        if task_family.causal and self.bidirectional:
            raise ConfigError(f"--bidirectional does not fit task {self.task}: its model reads only the past "
                              "(what it has generated, or the history before a forecast)")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available (use --device cpu or auto)")

    def check_forecast(self, forecasting: bool) -> None:
        """Refuse forecasting options on another task, and a forecasting task without what it needs."""
        names = ("target", "covariates", "time_column", "horizon", "season", "context", "validation_steps",
                 "test_steps", "distribution")
        if not forecasting:
            given = [f"--{_option(n)}" for n in names if getattr(self, n) is not None]
            if given:
                raise ConfigError(f"{', '.join(given)}: forecasting options; task {self.task} does not forecast")
            return
        if self.validation_data is not None or self.test_data is not None:
            raise ConfigError("a forecasting task holds out the last stretches of --data for validation and test; "
                              "set their sizes with --validation-steps and --test-steps")
        for name in ("target", "horizon", "season"):
            if getattr(self, name) is None:
                raise ConfigError(f"--task {self.task} needs --{_option(name)}")
        for name in ("horizon", "context", "validation_steps", "test_steps"):
            at_least(name, getattr(self, name), 1)
        seasons = parse_seasons(self.season)
        if self.context is None:  # the forecast task's default: two main seasons (or horizons, if longer)
            self.context = 2 * max(seasons[0], self.horizon)

    def run_directory(self) -> Path:
        return self.run_dir if self.run_dir is not None else timestamped(self.task)

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def describe(self) -> str:
        return "  ".join(f"{k}={v}" for k, v in self.to_dict().items() if v is not None)

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A run's saved configuration (``config.json``); an option it predates takes the value it was
        trained with (:data:`BEFORE_OPTION`), not the task's default now."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ConfigError(f"config: unknown options {sorted(unknown)}")
        paths = {"data", "validation_data", "test_data", "run_dir"}
        values = {**BEFORE_OPTION, **values}
        return cls(**{k: (Path(v) if k in paths and v is not None else v) for k, v in values.items()})


def _option(name: str) -> str:
    return name.replace("_", "-")


def at_least(name: str, value: int | None, minimum: int) -> None:
    """Refuse option ``--name`` below ``minimum`` (``None``: unset, left to a default)."""
    if value is not None and value < minimum:
        raise ConfigError(f"--{_option(name)} must be at least {minimum}, got {value}")


def in_unit_interval(name: str, value: float | None) -> None:
    """Refuse option ``--name`` outside [0, 1) (NaN is outside)."""
    if value is not None and not 0 <= value < 1:
        raise ConfigError(f"--{_option(name)} must be in [0, 1), got {value}")


def check_writable(path: Path, option: str, *, directory: bool = False) -> None:
    """Refuse ``path`` (option ``option``) where nothing can be written: under a file or on a read-only
    location, or (``directory``) an existing file where a directory is wanted.  Creates nothing."""
    path = Path(path)
    if directory and path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is a file, not a run directory")
    parent = path if directory else path.parent  # the nearest folder that exists is where writing begins
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: cannot write in {parent} (read-only)")
