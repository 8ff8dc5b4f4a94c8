"""The one-to-many task: generate a word of a requested language, one character at a time.

:class:`GenerationTask` trains a :class:`~rnnlab.models.ConditionalGenerator` on the word -> language
data turned around (the same words, the same split: :func:`~rnnlab.data.load_word_language`): the
language is the condition, the word's characters the output, END closes it.

Measures:

* held-out per-character perplexity given the language, ``exp(mean negative log-likelihood)`` over
  every character of every word and its END token (the training loop's metric, lower is better);
* for samples (:func:`sample_report`): the share that are real words of the requested language (in
  wordfreq's word list for it) but absent from the training words, the share that repeat a training
  word, and, given a trained word -> language classifier, the share it assigns back to the requested
  language.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from rnnlab.data import DataError, TextData, Vocabulary, read_tsv, teacher_forcing
from rnnlab.data.sharding import World, all_sum
from rnnlab.models.decoding import sample
from rnnlab.models.generator import ConditionalGenerator
from rnnlab.models.losses import masked_cross_entropy
from rnnlab.tasks.base import ClassifierTask, Task


class GenerationTask(Task):
    """Language in, a word of it out."""

    kind, read_file, causal = "generation", staticmethod(read_tsv), True
    predicts_labels = False
    metric, lower_is_better = "perplexity", True

    def learn(self, train: TextData) -> dict:
        chars = Vocabulary(ch for word in train.texts for ch in word).tokens[2:]  # by frequency
        return {"chars": Vocabulary.with_sequence_marks(chars).to_dict(), "classes": sorted(set(train.labels))}

    def load_state(self, state: dict) -> None:
        self.chars = Vocabulary.from_dict(state["chars"])
        self.classes = list(state["classes"])
        self.start, self.end = self.chars.encode([Vocabulary.START_TOKEN, Vocabulary.END_TOKEN])

    def state(self) -> dict:
        return {"chars": self.chars.to_dict(), "classes": self.classes}

    def build_model(self) -> nn.Module:
        c = self.config
        return ConditionalGenerator(len(self.chars), num_conditions=len(self.classes), cell=c.cell,
                                    hidden_size=c.hidden_size, num_layers=c.num_layers, dropout=c.dropout)

    def label_names(self) -> list[str]:
        return self.classes

    @staticmethod
    def labels_of(data: TextData) -> set[str]:
        return set(data.labels)

    @staticmethod
    def lengths_of(data: TextData, i: int) -> int:
        return len(data.texts[i])

    def conditions(self, languages: Sequence[str], device: torch.device) -> Tensor:
        unknown = [lang for lang in languages if lang not in self.classes]
        if unknown:
            raise DataError(f"unknown condition {unknown[0]!r}; this model generates {', '.join(self.classes)}")
        return torch.tensor([self.classes.index(lang) for lang in languages], dtype=torch.long, device=device)

    def collate(self, data: TextData, indices: list[int], device: torch.device) -> dict:
        words = [self.chars.encode(list(data.texts[i])) for i in indices]
        previous, next_tokens, lengths = teacher_forcing(words, self.start, self.end)
        return {"condition": self.conditions([data.labels[i] for i in indices], device),
                "previous": previous.to(device), "next": next_tokens.to(device), "lengths": lengths}

    def loss(self, model: nn.Module, batch: dict) -> tuple[Tensor, int]:
        logits = model(batch["condition"], batch["previous"], batch["lengths"])
        loss = masked_cross_entropy(logits, batch["next"], batch["lengths"],
                                    label_smoothing=self.config.label_smoothing or 0.0)
        return loss, int(batch["lengths"].sum())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: TextData, batch_size: int, device: torch.device,
                 progress_bar: bool = False, world: World = World()) -> dict[str, Any]:
        """Per-character perplexity over ``data`` given each word's language (END counted as a character)."""
        self.check_labels(data, "evaluation data")
        model.eval()
        totals = torch.zeros(2, dtype=torch.float64)  # summed negative log-likelihood, predicted tokens
        for batch in tqdm(self.batches(data, batch_size, None, device, world), desc="evaluate", unit="batch",
                          total=-(-len(data) // batch_size), disable=None if progress_bar else True, leave=False):
            logits = model(batch["condition"], batch["previous"], batch["lengths"]).double()
            count = int(batch["lengths"].sum())
            totals += torch.tensor([masked_cross_entropy(logits, batch["next"], batch["lengths"]).item() * count,
                                    count], dtype=torch.float64)
        nll, tokens = all_sum(totals, world).tolist()
        return {"perplexity": math.exp(nll / tokens), "nll_per_char": nll / tokens, "tokens": int(tokens)}

    def describe(self, report: dict[str, Any]) -> str:
        return f"perplexity {report['perplexity']:.3f} per character ({report['tokens']} characters and ends)"

    @torch.no_grad()
    def generate(self, model: ConditionalGenerator, languages: Sequence[str], count: int, device: torch.device, *,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 greedy: bool = False, seed: int = 0, max_length: int = 30) -> dict[str, list[str]]:
        """``count`` sampled words for each language (greedy decoding gives one, repeated)."""
        model.eval()
        generator = torch.Generator(device=device).manual_seed(seed)
        words = {}
        for language in languages:
            condition = self.conditions([language] * count, device)
            start = torch.full((count,), self.start, dtype=torch.long, device=device)
            decoded = sample(model.step, start, model.start(condition), end=self.end, max_length=max_length,
                             temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy, generator=generator)
            words[language] = ["".join(self.chars.decode(row[:n - 1] if row[n - 1] == self.end else row[:n]))
                               for row, n in zip(decoded.tokens.tolist(), decoded.lengths.tolist())]
        return words


def top_labels(samples: dict[str, list[str]], classifier: ClassifierTask, model: nn.Module,
               device: torch.device) -> dict[str, list[str]]:
    """The most probable label ``classifier`` (with its trained ``model``) gives each sample; an empty
    sample is read as ``"?"``."""
    return {condition: [ranked[0][0] for ranked in classifier.top_k(model, [w or "?" for w in words], 1, device)]
            for condition, words in samples.items()}


def sample_report(samples: dict[str, list[str]], training_words: set[str],
                  classified: dict[str, list[str]] | None = None) -> dict[str, dict[str, float]]:
    """Per language: the share of ``samples`` that are real words of it (wordfreq's list) absent from
    ``training_words``, the share that repeat a training word, the share of distinct samples, and
    (given the classifier's top label of every sample, ``classified``) the share assigned back to it."""
    import wordfreq  # imported here: only scoring samples needs it

    report = {}
    for language, words in samples.items():
        known = wordfreq.get_frequency_dict(language)
        n = max(len(words), 1)
        row = {"samples": len(words),
               "novel_real_words": sum(w in known and w not in training_words for w in words) / n,
               "training_words": sum(w in training_words for w in words) / n,
               "distinct": len(set(words)) / n}
        if classified is not None:
            row["classified_back"] = sum(label == language for label in classified[language]) / n
        report[language] = row
    return report
