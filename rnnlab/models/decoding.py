"""Decoding a sequence one token at a time: greedy, sampling, and beam search, batched.

Every decoder drives a *step function* that carries the recurrent state, so each step costs one
recurrent step, never a re-run of the prefix:

    step(tokens (N,), state) -> (log_probs (N, V), state)

``state`` is whatever the model carries (a tensor, or a tuple of tensors, possibly named or nested),
batch in dimension 1 as rnnlab's layers return ``h_n``, or dimension 0 with ``state_batch_dim=0``;
beam search reorders it along that dimension as beams are kept.  Decoding starts from ``start``
tokens ``(B,)`` and stops for a sequence when it emits ``end`` (kept in the output) or after
``max_length`` tokens.

Shapes: ``B`` sequences, ``K`` beams, ``V`` vocabulary, ``L`` decoded length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

State = Tensor | tuple[Tensor, ...]
StepFunction = Callable[[Tensor, State], tuple[Tensor, State]]


class Decoded(NamedTuple):
    """``tokens (B, L)`` (after ``end``: ``pad``), ``lengths (B,)`` (with the end token), and
    ``scores (B,)``: the log-probability of each sequence (beam search: its ranking score)."""

    tokens: Tensor
    lengths: Tensor
    scores: Tensor


def select_state(state: State, index: Tensor, dim: int) -> State:
    """``state`` (a tensor, or a tuple, possibly named and nested, of them) at ``index`` along ``dim``."""
    if isinstance(state, Tensor):
        return state.index_select(dim, index)
    selected = [select_state(s, index, dim) for s in state]
    return type(state)(*selected) if hasattr(state, "_fields") else tuple(selected)


def _check(start: Tensor, max_length: int) -> None:
    if start.dim() != 1:
        raise ValueError(f"start must be 1-D (B,) token ids, got shape {tuple(start.shape)}")
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")


@torch.no_grad()
def sample(step: StepFunction, start: Tensor, state: State, *, end: int, max_length: int, pad: int = 0,
           temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           greedy: bool = False, generator: torch.Generator | None = None) -> Decoded:
    """Greedy decoding (``greedy=True``), or sampling from the step's distribution sharpened or
    flattened by ``temperature``, restricted to the ``top_k`` most probable tokens and/or to the
    smallest set whose probability reaches ``top_p`` (nucleus sampling)."""
    _check(start, max_length)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    batch = start.shape[0]
    tokens = start.new_full((batch, max_length), pad)
    scores = torch.zeros(batch, dtype=torch.float64, device=start.device)
    done = torch.zeros(batch, dtype=torch.bool, device=start.device)
    lengths = torch.full((batch,), max_length, dtype=torch.long, device=start.device)
    current = start
    for t in range(max_length):
        log_probs, state = step(current, state)
        if greedy:
            chosen = log_probs.argmax(-1)
        else:
            chosen = _draw(log_probs / temperature, top_k, top_p, generator)
        chosen = chosen.masked_fill(done, pad)
        scores += torch.where(done, 0.0, log_probs.gather(1, chosen[:, None]).squeeze(1).double())
        tokens[:, t] = chosen
        finished = ~done & (chosen == end)
        lengths[finished] = t + 1
        done |= finished
        if done.all():
            return Decoded(tokens[:, : t + 1], lengths, scores)
        current = chosen
    return Decoded(tokens, lengths, scores)


def _draw(logits: Tensor, top_k: int | None, top_p: float | None, generator: torch.Generator | None) -> Tensor:
    """One token per row from ``softmax(logits)`` restricted by top-k and top-p."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -torch.inf)
    if top_p is not None and top_p < 1:
        ordered, order = logits.sort(dim=-1, descending=True)
        before = ordered.softmax(-1).cumsum(-1) - ordered.softmax(-1)  # probability of the tokens ranked above
        ordered = ordered.masked_fill(before >= top_p, -torch.inf)  # the most probable token always stays
        logits = torch.full_like(logits, -torch.inf).scatter(-1, order, ordered)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)


@torch.no_grad()
def beam_search(step: StepFunction, start: Tensor, state: State, *, end: int, max_length: int, beam_width: int = 4,
                length_penalty: float = 0.0, pad: int = 0, state_batch_dim: int = 1, n_best: int = 1) -> Decoded:
    """The ``beam_width`` best partial sequences of every input, extended one token at a time.

    At every step the ``beam_width`` best one-token extensions of the live beams are kept; one that
    ends with ``end`` is finished and leaves the beam (so width 1 is greedy decoding).  The search for
    an input stops when no live beam is left, when its ``n_best``-th best finished score cannot be
    beaten by a live beam, or at ``max_length``.  Sequences are ranked by
    ``log p / L ** length_penalty`` (0: raw log-probability; 1: per-token average).  Returns the best
    sequence per input with its ranking score; with ``n_best`` > 1 (at most ``beam_width``), the
    ``n_best`` best of each input, best first: ``tokens (B, n_best, L)``, ``lengths`` and ``scores``
    ``(B, n_best)`` (an input with fewer finished sequences is filled with its best live beams, then
    with empty ones scored ``-inf``).
    """
    _check(start, max_length)
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    if not 1 <= n_best <= beam_width:
        raise ValueError(f"n_best must be between 1 and beam_width ({beam_width}), got {n_best}")
    batch, device = start.shape[0], start.device
    rows = torch.arange(batch, device=device).repeat_interleave(beam_width)  # (B*K,) input of each beam
    state = select_state(state, rows, state_batch_dim)
    current = start.repeat_interleave(beam_width)
    log_p = torch.full((batch, beam_width), -torch.inf, dtype=torch.float64, device=device)
    log_p[:, 0] = 0.0  # one live beam per input at first
    history = start.new_full((batch, beam_width, 0), pad)
    finished = [[] for _ in range(batch)]  # per input, the n_best best (ranking score, tokens), best first

    def bar(b: int) -> float:  # the ranking score a finished sequence must beat to enter input b's n best
        return finished[b][-1][0] if len(finished[b]) == n_best else -torch.inf

    for t in range(max_length):
        step_log_probs, state = step(current, state)
        vocabulary = step_log_probs.shape[-1]
        total = (log_p[..., None] + step_log_probs.double().view(batch, beam_width, vocabulary)).view(batch, -1)
        top, index = total.topk(min(beam_width, total.shape[1]), dim=-1)  # the K best extensions
        beam, token = index // vocabulary, index % vocabulary
        new_log_p = torch.full_like(log_p, -torch.inf)
        new_history = history.new_full((batch, beam_width, t + 1), pad)
        source = torch.zeros(batch, beam_width, dtype=torch.long, device=device)
        next_tokens = start.new_full((batch, beam_width), pad)
        length_norm = float(t + 1) ** length_penalty
        for b in range(batch):
            kept = 0
            for score, k, v in zip(top[b].tolist(), beam[b].tolist(), token[b].tolist()):
                if score == -torch.inf:
                    break
                sequence = torch.cat([history[b, k], history.new_tensor([v])])
                if v == end:
                    if score / length_norm > bar(b):
                        finished[b] = sorted(finished[b] + [(score / length_norm, sequence)],
                                             key=lambda f: -f[0])[:n_best]
                    continue
                if kept < beam_width:
                    new_log_p[b, kept], new_history[b, kept], source[b, kept] = score, sequence, k
                    next_tokens[b, kept] = v
                    kept += 1
        log_p, history = new_log_p, new_history
        state = select_state(state, (torch.arange(batch, device=device)[:, None] * beam_width + source).view(-1),
                        state_batch_dim)
        current = next_tokens.view(-1)
        if all(log_p[b].max().item() == -torch.inf or (length_penalty <= 0 and bar(b) >= log_p[b].max().item())
               for b in range(batch)):
            break  # no live beam left, or (log-probabilities only fall) none can overtake a finished one
    results = []  # per input, n_best (sequence, score)
    for b in range(batch):
        chosen = list(finished[b])
        live = [k for k in log_p[b].argsort(descending=True).tolist() if log_p[b, k] > -torch.inf]
        for k in live[: n_best - len(chosen)]:  # too few finished within max_length: the best live beams
            chosen.append((log_p[b, k].item() / float(history.shape[-1]) ** length_penalty, history[b, k]))
        chosen += [(-torch.inf, history.new_zeros(0))] * (n_best - len(chosen))
        results.append([(sequence, score) for score, sequence in chosen])
    width = max(len(sequence) for options in results for sequence, _ in options)
    tokens = start.new_full((batch, n_best, width), pad)
    for b, options in enumerate(results):
        for n, (sequence, _) in enumerate(options):
            tokens[b, n, : len(sequence)] = sequence
    lengths = torch.tensor([[len(sequence) for sequence, _ in options] for options in results], device=device)
    scores = torch.tensor([[score for _, score in options] for options in results], dtype=torch.float64,
                          device=device)
    if n_best == 1:
        return Decoded(tokens[:, 0], lengths[:, 0], scores[:, 0])
    return Decoded(tokens, lengths, scores)
