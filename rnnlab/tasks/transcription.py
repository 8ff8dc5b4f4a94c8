"""The many-to-many asynchronous task: transcribe a string into a token sequence (spelling -> phonemes).

:class:`TranscriptionTask` connects :class:`~rnnlab.data.Transcriptions` (CMUdict by default) to a
:class:`~rnnlab.models.Seq2Seq` model: teacher-forced cross-entropy in training, decoding with
:mod:`rnnlab.models.decoding` (greedy or beam search) in evaluation and prediction (with ``--ctc-weight``, a CTC
loss on the encoder joins the training loss; with ``--reverse-decoder-size``, a right-to-left decoder
trains beside the first and rescores its beam), and the two standard G2P metrics:

* phoneme error rate (PER): the edit distance (insertions, deletions, substitutions) between the
  output and the closest reference, summed over words, divided by the summed length of those
  references;
* word error rate (WER): the share of words whose output equals none of their references.

Input spellings are lower-cased; a character never seen in training is refused with a message
naming it (the model has no way to read it), never silently replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from rnnlab.data import DataError, Transcriptions, Vocabulary, pad, read_lexicon, teacher_forcing
from rnnlab.data.sharding import World, all_sum
from rnnlab.models.cells import decoder_names
from rnnlab.models.decoding import beam_search, sample, select_state
from rnnlab.models.losses import masked_cross_entropy
from rnnlab.models.seq2seq import CTC_SLOTS, PAD, DecoderState, Ensemble, Seq2Seq
from rnnlab.nn.sequence import length_mask
from rnnlab.tasks.base import Task


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (unit costs)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def score_outputs(outputs: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]) -> Tensor:
    """``(word errors, words, phoneme errors, reference phonemes)`` as a float64 tensor (summable over
    processes): each output is scored against its closest reference."""
    counts = torch.zeros(4, dtype=torch.float64)
    for output, options in zip(outputs, references):
        distance, length = min((edit_distance(output, ref), len(ref)) for ref in options)
        counts += torch.tensor([float(distance > 0), 1.0, distance, length], dtype=torch.float64)
    return counts


def ctc_loss(logits: Tensor, source_lengths: Tensor, targets: Tensor, target_lengths: Tensor) -> Tensor:
    """CTC loss of :meth:`Seq2Seq.ctc_logits` ``(B, CTC_SLOTS * S, V)`` (``CTC_SLOTS`` slots per real source
    step, PAD the blank) against ``targets (B, T)`` (the first ``target_lengths (B,)`` of each row; no END),
    summed over the batch and divided by its target tokens, as the decoder's loss is a mean per token.
    A reference CTC cannot align (longer than its slots allow) adds nothing."""
    log_probs = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 logits: CTC in float32
    log_probs = log_probs.log_softmax(-1).transpose(0, 1)  # (CTC_SLOTS * S, B, V), as ctc_loss takes it
    total = F.ctc_loss(log_probs, targets, CTC_SLOTS * source_lengths, target_lengths, blank=PAD,
                       reduction="sum", zero_infinity=True)
    return total / target_lengths.sum().clamp(min=1)


def error_rates(counts: Tensor) -> dict[str, Any]:
    word_errors, words, phoneme_errors, phonemes = counts.tolist()
    return {"wer": word_errors / max(words, 1), "per": phoneme_errors / max(phonemes, 1),
            "word_errors": int(word_errors), "words": int(words), "phoneme_errors": int(phoneme_errors),
            "reference_phonemes": int(phonemes)}


class TranscriptionTask(Task):
    """Spelling in, phonemes out, with an attention encoder-decoder."""

    kind, read_file, encoder_decoder = "transcription", staticmethod(read_lexicon), True
    metric, lower_is_better = "wer", True

    def learn(self, train: Transcriptions) -> dict:
        tokens = sorted({p for options in train.targets for target in options for p in target})
        return {"chars": Vocabulary(ch for word in train.sources for ch in word).to_dict(),
                "phonemes": Vocabulary.with_sequence_marks(tokens).to_dict()}

    def load_state(self, state: dict) -> None:
        self.chars = Vocabulary.from_dict(state["chars"])
        self.phonemes = Vocabulary.from_dict(state["phonemes"])
        self.start, self.end = self.phonemes.encode([Vocabulary.START_TOKEN, Vocabulary.END_TOKEN])

    def state(self) -> dict:
        return {"chars": self.chars.to_dict(), "phonemes": self.phonemes.to_dict()}

    def build_model(self) -> nn.Module:
        c = self.config
        return Seq2Seq(len(self.chars), len(self.phonemes), hidden_size=c.hidden_size, num_layers=c.num_layers,
                       decoder_size=2 * c.hidden_size, cell=c.cell, attention=c.attention,
                       input_feeding=c.input_feeding, dropout=c.dropout, ctc=bool(c.ctc_weight),
                       reverse_decoder_size=c.reverse_decoder_size, decoder_layers=c.decoder_layers,
                       reverse_decoder_layers=c.reverse_decoder_layers,
                       # a run saved before scan cells were refused here (rnnlab train checks) stepped an LSTM
                       decoder_cell=None if c.cell in decoder_names() else "lstm")

    def label_names(self) -> list[str]:
        return self.phonemes.tokens[4:]

    @staticmethod
    def labels_of(data: Transcriptions) -> set[str]:
        return {p for options in data.targets for target in options for p in target}

    @staticmethod
    def lengths_of(data: Transcriptions, i: int) -> int:
        return len(data.sources[i])

    def encode(self, words: Sequence[str], device: torch.device) -> dict:
        """Spellings as padded character ids; refuses empty words and characters never seen in training."""
        for k, word in enumerate(words):
            if not word:
                raise DataError(f"empty word at item {k + 1}")
            unknown = sorted({ch for ch in word.lower() if ch not in self.chars})
            if unknown:
                known = "".join(sorted(self.chars.tokens[2:]))
                raise DataError(f"{word!r}: characters never seen in training: {' '.join(map(repr, unknown))} "
                                f"(the model reads only {known})")
        ids, lengths = pad([self.chars.encode(list(word.lower())) for word in words])
        return {"source": ids.to(device), "source_lengths": lengths}

    def collate(self, data: Transcriptions, indices: list[int], device: torch.device) -> dict:
        batch = self.encode([data.sources[i] for i in indices], device)
        targets = [self.phonemes.encode(data.targets[i][0]) for i in indices]  # training items have one each
        previous, next_tokens, batch["target_lengths"] = teacher_forcing(targets, self.start, self.end)
        batch["previous"], batch["next"] = previous.to(device), next_tokens.to(device)
        if self.config.reverse_decoder_size:
            previous, next_tokens, _ = teacher_forcing([t[::-1] for t in targets], self.start, self.end)
            batch["reverse_previous"], batch["reverse_next"] = previous.to(device), next_tokens.to(device)
        batch["references"] = [data.targets[i] for i in indices]
        return batch

    def loss(self, model: nn.Module, batch: dict) -> tuple[Tensor, int]:
        """The decoder's mean cross-entropy per target step (with ``--reverse-decoder-size``, the mean of both
        decoders'); with ``--ctc-weight w``, ``(1 - w) * that + w * CTC`` (:func:`ctc_loss`)."""
        weight, smoothing = self.config.ctc_weight, self.config.label_smoothing or 0.0
        outputs = model(batch["source"], batch["source_lengths"], batch["previous"], with_ctc=weight > 0,
                        reverse_previous=batch.get("reverse_previous"))
        logits = outputs if isinstance(outputs, Tensor) else outputs.logits
        loss = masked_cross_entropy(logits, batch["next"], batch["target_lengths"], label_smoothing=smoothing)
        if self.config.reverse_decoder_size:
            loss = (loss + masked_cross_entropy(outputs.reverse_logits, batch["reverse_next"], batch["target_lengths"],
                                                label_smoothing=smoothing)) / 2
        if weight:
            loss = (1 - weight) * loss + weight * ctc_loss(outputs.ctc_logits, batch["source_lengths"], batch["next"],
                                                           batch["target_lengths"] - 1)
        return loss, int(batch["target_lengths"].sum())

    @torch.no_grad()
    def decode(self, model: Seq2Seq | Ensemble, batch: dict, beam_width: int = 1) -> list[list[str]]:
        """The model's phonemes for a batch of encoded words: greedy, or beam search of ``beam_width``
        (with a right-to-left decoder, the beam's ``beam_width`` best rescored by both decoders)."""
        model.eval()
        source, lengths = batch["source"], batch["source_lengths"]
        start = torch.full((source.shape[0],), self.start, dtype=torch.long, device=source.device)
        max_length = 2 * source.shape[1] + 5
        if beam_width == 1:
            reverse = None
            decoded = sample(model.step, start, model.encode(source, lengths), end=self.end, max_length=max_length,
                             greedy=True)
        else:
            state, reverse = model.encode_both(source, lengths)
            decoded = beam_search(model.step, start, state, end=self.end, max_length=max_length,
                                  beam_width=beam_width, state_batch_dim=0,
                                  n_best=beam_width if reverse is not None else 1)
        rows = [[token for token in row[:length] if token != self.end]
                for row, length in zip(decoded.tokens.flatten(0, -2).tolist(), decoded.lengths.flatten().tolist())]
        if reverse is not None:  # the best of each word's beam_width candidates by both decoders
            scores = decoded.scores + self.reverse_log_probs(model, reverse, rows)
            rows = [rows[i * beam_width + k] for i, k in enumerate(scores.argmax(-1).tolist())]
        return [self.phonemes.decode(tokens) for tokens in rows]

    def reverse_log_probs(self, model: Seq2Seq | Ensemble, state: DecoderState | tuple[DecoderState, ...],
                          candidates: list[list[int]]) -> Tensor:
        """``log p_r2l(y)`` ``(B, K)`` of ``K`` candidates per word under ``model``'s right-to-left
        decoder (``candidates``: ``B * K`` phoneme id lists, word by word; ``state``: that decoder's
        start for the ``B`` words, :meth:`Seq2Seq.encode_both`)."""
        memory = (state if isinstance(state, DecoderState) else state[0]).memory  # (B, S, D*H)
        words, device = memory.shape[0], memory.device
        count = len(candidates) // words
        index = torch.arange(words, device=device).repeat_interleave(count)
        previous, next_tokens, target_lengths = teacher_forcing([c[::-1] for c in candidates], self.start, self.end)
        log_probs = model.reverse_log_probs(select_state(state, index, 0), previous.to(device))
        picked = log_probs.gather(-1, next_tokens.to(device).unsqueeze(-1)).squeeze(-1)  # (B*K, T)
        real = length_mask(target_lengths.to(device), picked.shape[1])
        return picked.masked_fill(~real, 0.0).sum(-1).double().view(-1, count)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Transcriptions, batch_size: int, device: torch.device,
                 progress_bar: bool = False, world: World = World(), beam_width: int | None = None) -> dict[str, Any]:
        """WER and PER of the decoded outputs over ``data`` (beam width: the config's unless given);
        on several processes, each scores its shards and the counts are summed."""
        model = getattr(model, "module", model)
        width = self.config.beam_width if beam_width is None else beam_width
        counts = torch.zeros(4, dtype=torch.float64)
        for batch in tqdm(self.batches(data, batch_size, None, device, world), desc="evaluate", unit="batch",
                          total=-(-len(data) // batch_size), disable=None if progress_bar else True, leave=False):
            counts += score_outputs(self.decode(model, batch, width), batch["references"])
        return {**error_rates(all_sum(counts, world)), "beam_width": width}

    def describe(self, report: dict[str, Any]) -> str:
        return (f"WER {report['wer']:.4f} ({report['word_errors']}/{report['words']} words), "
                f"PER {report['per']:.4f} ({report['phoneme_errors']}/{report['reference_phonemes']} phonemes), "
                f"beam {report['beam_width']}")

    def validate(self, model: nn.Module, data: Transcriptions, batch_size: int, device: torch.device,
                 progress_bar: bool = False, world: World = World()) -> dict[str, Any]:
        """Greedy decoding: the per-epoch check stays cheap; the test uses the configured beam."""
        return self.evaluate(model, data, batch_size, device, progress_bar, world, beam_width=1)

    def transcribe(self, model: Seq2Seq, words: Sequence[str], device: torch.device, beam_width: int | None = None,
                   batch_size: int = 256) -> list[list[str]]:
        """The pronunciation of every word."""
        width = self.config.beam_width if beam_width is None else beam_width
        outputs = []
        for start in range(0, len(words), batch_size):
            outputs += self.decode(model, self.encode(words[start:start + batch_size], device), width)
        return outputs

    @torch.no_grad()
    def attention(self, model: Seq2Seq, word: str, device: torch.device) -> tuple[list[str], Tensor]:
        """The greedy transcription of ``word`` and its attention weights ``(phonemes + END, letters)``."""
        model.eval()
        batch = self.encode([word], device)
        state = model.encode(batch["source"], batch["source_lengths"])
        token = torch.tensor([self.start], device=device)
        phonemes, rows = [], []
        for _ in range(2 * len(word) + 5):
            logits, state, weights = model.decode_step(token, state)
            token = logits.argmax(-1)
            rows.append(weights[0].float().cpu())
            if int(token) == self.end:
                break
            phonemes.append(self.phonemes.decode([int(token)])[0])
        return phonemes, torch.stack(rows)
