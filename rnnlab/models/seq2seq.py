"""Many-to-many, asynchronous: an encoder-decoder with attention (Luong et al. 2015, input feeding).

The output length differs from the input's: the encoder reads the whole source, then the decoder
emits one token per step until it emits END, looking back at the source through attention::

    source (B, S) --embedding--> stacked bidirectional encoder --> memory (B, S, D*H)
    decoder, step t:   x_t  = [embed(y_{t-1}) ; h~_{t-1}]            input feeding
                       s_t  = cell(x_t, s_{t-1})                     an rnnlab cell, state (B, Hd)
                       a_t  = softmax(score(s_t, memory))            (B, S), over real source steps
                       c_t  = a_t memory                             (B, D*H)
                       h~_t = tanh(W_c [c_t ; s_t])                  (B, Hd)
                       log p(y_t | y_<t, source) = log_softmax(W_o h~_t)

The decoder's first state is ``tanh(W_b [forward final ; backward final])`` of the encoder's top
layer; ``y_0`` is START and ``h~_0`` zeros.  In training the previous token is the reference's
(teacher forcing); in decoding it is the model's own (:mod:`rnnlab.models.decoding` drives :meth:`step`).
Without input feeding, ``x_t = embed(y_{t-1})``: in training the cell then runs over the whole target
in one fused kernel and every step attends at once, which makes a training step much cheaper.

A stacked decoder (``decoder_layers`` L > 1, as in Wu et al. 2016) keeps a memory of where it looked
without input feeding's wait: the bottom cell's output ``s_t`` attends, and each layer above reads the
context with the output of the layer below, ``u^l_t = cell_l([c_t ; u^{l-1}_t], u^l_{t-1})`` with
``u^1 = s``; then ``h~_t = tanh(W_c [c_t ; u^L_t])``.  Every layer still runs over the whole target in
one fused kernel in training.

Joint CTC-attention training (Kim, Hori & Watanabe 2017), optional: a linear layer reads each
source step's encoding and predicts ``CTC_SLOTS`` output slots of it, ``(B, S, D*H) -> (B, CTC_SLOTS*S, V)``
(two slots per letter, as a letter may sound as two phonemes: x -> K S), trained with CTC against the
reference (PAD is CTC's blank), which asks the encoder for a monotonic alignment of source and
target.  It serves training only; decoding uses the decoder alone.

A right-to-left decoder, optional (Liu et al. 2016, agreement between the two directions): a second
decoder reads the same memory and learns the reversed target.  The left-to-right decoder's beam
proposes its ``K`` best sequences and the one with the highest ``log p_l2r(y) + log p_r2l(y)`` is
kept, so an error that only one direction would make (it has not seen yet what follows) is outvoted.

Shapes: ``B`` batch, ``S`` source steps, ``T`` target steps, ``E`` embedding size, ``H`` encoder
hidden size per direction, ``D`` directions, ``Hd`` decoder size, ``A`` attention size, ``V``
target vocabulary.  Token id 0 is PAD in both vocabularies.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnlab.models.cells import decoder_cell as step_cell
from rnnlab.models.cells import recurrent_layer
from rnnlab.models.encoder import top_layer_state
from rnnlab.models.export import ExportPart, step_parts
from rnnlab.nn.dropout import Dropout
from rnnlab.nn.layers import native_unroll
from rnnlab.nn.sequence import length_mask

PAD = 0
CTC_SLOTS = 2
ATTENTIONS = ("multiplicative", "additive")
QUERY_CHUNK = 64  # target steps attended at once by Attention.contexts: memory (B, 64, S), not (B, T, S)


class Attention(nn.Module):
    r"""Scores of a query against every source step, their softmax over the real steps, and the context.

    * ``"multiplicative"`` (Luong's *general*): :math:`score(s, m) = s^\top W m`;
    * ``"additive"`` (Bahdanau): :math:`score(s, m) = v^\top \tanh(W_m m + W_s s)`.

    :meth:`keys` projects the memory once per source, ``(B, S, M) -> (B, S, K)``; :meth:`forward`
    takes a query ``(B, Q)`` and returns the context ``(B, M)`` and the weights ``(B, S)``; or the
    queries of every step at once, ``(B, T, Q)``, for contexts ``(B, T, M)`` and weights ``(B, T, S)``.
    """

    def __init__(self, kind: str, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        if kind not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {kind!r}")
        self.kind = kind
        if kind == "multiplicative":
            self.memory_projection = nn.Linear(memory_size, query_size, bias=False)  # W, applied to m
        else:
            self.memory_projection = nn.Linear(memory_size, attention_size)  # W_m
            self.query_projection = nn.Linear(query_size, attention_size, bias=False)  # W_s
            self.v = nn.Linear(attention_size, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        return self.memory_projection(memory)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        queries = query if query.dim() == 3 else query.unsqueeze(1)  # (B, T, Q)
        if self.kind == "multiplicative":
            scores = torch.bmm(queries, keys.transpose(1, 2))  # (B, T, S)
        else:
            scores = self.v(torch.tanh(keys.unsqueeze(1) + self.query_projection(queries).unsqueeze(2))).squeeze(-1)
        weights = scores.masked_fill(~mask.unsqueeze(1), -torch.inf).softmax(-1)  # (B, T, S); padding gets 0
        context = torch.bmm(weights, memory)  # (B, T, M)
        if query.dim() == 2:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def contexts(self, queries: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> Tensor:
        """The contexts ``(B, T, M)`` of every step's query ``(B, T, Q)``, :data:`QUERY_CHUNK` steps at
        a time: decoding holds ``(B, QUERY_CHUNK, S)`` weights at once, so its memory grows linearly
        with the source and target lengths rather than with their product."""
        return torch.cat([self(part, keys, memory, mask)[0] for part in queries.split(QUERY_CHUNK, dim=1)], dim=1)


class DecoderState(NamedTuple):
    """What the decoder carries from step to step, every tensor batch-first (so beam search can
    reorder it along dimension 0): the cell's state, the previous attentional vector ``h~``
    ``(B, Hd)``, the encoded source (``keys (B, S, K)``, ``memory (B, S, D*H)``, ``mask (B, S)``), and
    the states of a stacked decoder's layers above the first (one tuple per layer, as ``cell``)."""

    cell: tuple[Tensor, ...]
    feed: Tensor
    keys: Tensor
    memory: Tensor
    mask: Tensor
    upper: tuple[tuple[Tensor, ...], ...] = ()


class Outputs(NamedTuple):
    """What :meth:`Seq2Seq.forward` returns when asked for more than the decoder's logits ``(B, T, V)``:
    the CTC logits ``(B, CTC_SLOTS * S, V)`` and the right-to-left decoder's logits ``(B, T, V)``, each
    None unless asked for."""

    logits: Tensor
    ctc_logits: Tensor | None
    reverse_logits: Tensor | None


class Seq2Seq(nn.Module):
    """An attention encoder-decoder over token ids.

    Args:
        source_vocab_size: source tokens known (id 0 = PAD).
        target_vocab_size: target tokens known (id 0 = PAD).
        embedding_size: ``E``, for source and target tokens.
        hidden_size: ``H``, the bidirectional encoder's size per direction.
        num_layers: stacked layers of the encoder.
        decoder_size: ``Hd``, the decoder cell's size (and of the attentional vector).
        decoder_layers: ``L``, the decoder's layers: the first attends, the ones above read the context with
            the output below.
        cell: the encoder's cell, a name in :data:`rnnlab.models.CELLS`; the decoder steps the cell of the
            same name (:func:`rnnlab.models.cells.decoder_cell`; a name without one is refused).
        decoder_cell: the name of the cell the decoder steps, when it is not ``cell``'s (``None``: ``cell``).
        attention: ``"multiplicative"`` or ``"additive"``.
        input_feeding: give the previous attentional vector to the decoder cell with the previous token.
        dropout: on embeddings, between encoder layers and on the attentional vector, in training.
        ctc: add the CTC output layer over the encoder's steps (joint CTC-attention training).
        reverse_decoder_size: the size of a second decoder (:attr:`reverse`, the same architecture) that reads
            the same memory and emits the target right to left, to rescore the first one's beam (0: none).
        reverse_decoder_layers: that second decoder's layers, stacked as ``decoder_layers``.
        with_encoder: False for that second decoder, which has no encoder of its own.
        fused: without input feeding, run the decoder cell over the whole target in one fused kernel in
            training (False: step it one token at a time, as decoding does; the same function, the
            reference the fused path is tested and timed against).

    Forward (teacher forcing): ``model(source (B, S), source_lengths (B,), previous (B, T))`` ->
    logits ``(B, T, V)``, where ``previous`` is START followed by the reference without its last token;
    with ``with_ctc=True`` (a model built with ``ctc``), or ``reverse_previous (B, T)`` (START followed by
    the reversed reference without its last token; a model built with ``reverse_decoder_size``), an
    :class:`Outputs` with the CTC logits and the right-to-left decoder's logits too.
    """

    def __init__(self, source_vocab_size: int, target_vocab_size: int, *, embedding_size: int = 64,
                 hidden_size: int = 256, num_layers: int = 2, decoder_size: int = 512, cell: str = "lstm",
                 attention: str = "multiplicative", input_feeding: bool = True, dropout: float = 0.2,
                 fused: bool = True, ctc: bool = False, reverse_decoder_size: int = 0,
                 with_encoder: bool = True, decoder_layers: int = 1,
                 reverse_decoder_layers: int = 1, decoder_cell: str | None = None) -> None:
        super().__init__()
        if decoder_layers < 1:
            raise ValueError(f"decoder_layers must be at least 1, got {decoder_layers}")
        if with_encoder:
            self.source_embedding = nn.Embedding(source_vocab_size, embedding_size, padding_idx=PAD)
            self.encoder = recurrent_layer(cell, embedding_size, hidden_size, num_layers, bidirectional=True,
                                           dropout=dropout if num_layers > 1 else 0.0)
        self.target_embedding = nn.Embedding(target_vocab_size, embedding_size, padding_idx=PAD)
        memory_size = 2 * hidden_size
        self.input_feeding = input_feeding
        self.fused = fused
        cell_class = step_cell(decoder_cell or cell)
        self.decoder = cell_class(embedding_size + (decoder_size if input_feeding else 0), decoder_size)
        self.upper = nn.ModuleList(cell_class(memory_size + decoder_size, decoder_size)
                                   for _ in range(decoder_layers - 1))
        self.bridge = nn.Linear(memory_size, decoder_layers * sum(self.decoder.state_sizes))
        self.attention = Attention(attention, decoder_size, memory_size, decoder_size)
        self.combine = nn.Linear(memory_size + decoder_size, decoder_size)
        self.output = nn.Linear(decoder_size, target_vocab_size)
        self.dropout = Dropout(dropout)
        self.ctc_output = nn.Linear(memory_size, CTC_SLOTS * target_vocab_size) if ctc else None
        # The right-to-left decoder: the same architecture reading the same memory, without an encoder.
        self.reverse = Seq2Seq(source_vocab_size, target_vocab_size, embedding_size=embedding_size,
                               hidden_size=hidden_size, decoder_size=reverse_decoder_size, cell=cell,
                               attention=attention, input_feeding=input_feeding, dropout=dropout, fused=fused,
                               with_encoder=False, decoder_layers=reverse_decoder_layers,
                               decoder_cell=decoder_cell) \
            if reverse_decoder_size else None

    def ctc_logits(self, memory: Tensor) -> Tensor:
        """CTC's logits of every source step's slots: ``memory (B, S, D*H) -> (B, CTC_SLOTS * S, V)``."""
        if self.ctc_output is None:
            raise ValueError("this Seq2Seq has no CTC output layer (build it with ctc=True)")
        logits = self.ctc_output(memory)  # (B, S, CTC_SLOTS * V)
        return logits.view(memory.shape[0], -1, self.output.out_features)  # a letter's slots side by side

    def read(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The encoder over ``source (B, S)`` with ``lengths (B,)``: ``memory (B, S, 2H)`` and its final state."""
        return self.encoder(self.dropout(self.source_embedding(source)), lengths=lengths)

    def start(self, memory: Tensor, final: tuple[Tensor, ...], lengths: Tensor) -> DecoderState:
        """The decoder's state before its first step, from what :meth:`read` returned."""
        initial = torch.tanh(self.bridge(top_layer_state(final, 2)))  # (B, L * sum of state sizes)
        sizes = list(self.decoder.state_sizes)
        cell_state, *upper = [tuple(layer.split(sizes, dim=-1)) for layer in initial.split(sum(sizes), dim=-1)]
        feed = memory.new_zeros(memory.shape[0], self.decoder.output_size)
        mask = length_mask(lengths.to(memory.device), memory.shape[1])
        return DecoderState(cell_state, feed, self.attention.keys(memory), memory, mask, tuple(upper))

    def encode(self, source: Tensor, lengths: Tensor) -> DecoderState:
        """Read ``source (B, S)`` with ``lengths (B,)``: the decoder's state before its first step."""
        return self.start(*self.read(source, lengths), lengths)

    def encode_both(self, source: Tensor, lengths: Tensor) -> tuple[DecoderState, DecoderState | None]:
        """One read of ``source``: the start states of this decoder and of the right-to-left one
        (None without one)."""
        memory, final = self.read(source, lengths)
        reverse = self.reverse.start(memory, final, lengths) if self.reverse is not None else None
        return self.start(memory, final, lengths), reverse

    def right_to_left(self) -> Seq2Seq:
        """The right-to-left decoder, or a clear error for a model built without one."""
        if self.reverse is None:
            raise ValueError("this Seq2Seq has no right-to-left decoder (build it with reverse_decoder_size > 0)")
        return self.reverse

    def reverse_log_probs(self, state: DecoderState, previous: Tensor) -> Tensor:
        """The right-to-left decoder's log-probabilities ``(B, T, V)`` (float32 at least) from its
        start ``state`` when its previous tokens are ``previous (B, T)``."""
        logits = self.right_to_left().teacher_forced(state, previous)
        return logits.to(torch.promote_types(logits.dtype, torch.float32)).log_softmax(-1)

    def project_tokens(self, tokens: Tensor) -> Tensor:
        """The token's part of the decoder cell's projected input, ``(...) -> (..., G)``: with input
        feeding, the cell's input weights split into the token's columns and the feed's, so the token's
        part of every step can be computed at once in training."""
        embedded = self.dropout(self.target_embedding(tokens))
        if not self.input_feeding:
            return self.decoder.project_input(embedded)
        # project_input is affine, W x + b: the token's columns of W, and b as the projection of zeros.
        bias = self.decoder.project_input(embedded.new_zeros(1, self.decoder.input_size))[0]
        return torch.addmm(bias, embedded.flatten(0, -2), self.decoder.weight_ih[:, :embedded.shape[-1]].t()) \
            .view(*embedded.shape[:-1], -1)

    def attentional(self, context: Tensor, top: Tensor) -> Tensor:
        """``h~ = tanh(W_c [c ; u])`` of the context ``(..., D*H)`` and the top layer's output ``(..., Hd)``."""
        return torch.tanh(self.combine(torch.cat([context, top], dim=-1)))

    def attend(self, projected: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoder step from the previous token's ``projected (B, G)`` part of the cell input:
        the attentional vector ``h~_t (B, Hd)``, the new state and the attention weights ``(B, S)``."""
        if self.input_feeding:
            projected = torch.addmm(projected, state.feed, self.decoder.weight_ih[:, -state.feed.shape[-1]:].t())
        cell_state, _ = self.decoder.step(projected, state.cell)
        query = cell_state[0]
        context, weights = self.attention(query, state.keys, state.memory, state.mask)
        below, upper = query, []
        for layer, layer_state in zip(self.upper, state.upper):
            new_state, _ = layer.step(layer.project_input(self.dropout(torch.cat([context, below], -1))), layer_state)
            below = new_state[0]
            upper.append(new_state)
        attentional = self.attentional(context, below)  # h~_t (B, Hd)
        return attentional, state._replace(cell=cell_state, feed=attentional, upper=tuple(upper)), weights

    def decode_step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoder step from the previous ``tokens (B,)``: logits ``(B, V)``, the new state, and the
        attention weights ``(B, S)``."""
        attentional, state, weights = self.attend(self.project_tokens(tokens), state)
        return self.output(self.dropout(attentional)), state, weights

    def forward(self, source: Tensor, source_lengths: Tensor, previous: Tensor, with_ctc: bool = False,
                reverse_previous: Tensor | None = None) -> Tensor | Outputs:
        memory, final = self.read(source, source_lengths)
        logits = self.teacher_forced(self.start(memory, final, source_lengths), previous)
        if not with_ctc and reverse_previous is None:
            return logits
        reverse = None
        if reverse_previous is not None:
            decoder = self.right_to_left()
            reverse = decoder.teacher_forced(decoder.start(memory, final, source_lengths), reverse_previous)
        return Outputs(logits, self.ctc_logits(memory) if with_ctc else None, reverse)

    def teacher_forced(self, state: DecoderState, previous: Tensor) -> Tensor:
        """The decoder's logits ``(B, T, V)`` from ``state`` when its previous tokens are ``previous (B, T)``."""
        if self.fused and not self.input_feeding:
            # Without input feeding no step waits for the previous step's attention: the cell runs over
            # the whole target in one fused kernel, then every step attends at once.
            embedded = self.dropout(self.target_embedding(previous)).transpose(0, 1)  # (T, B, E)
            below = native_unroll(self.decoder, embedded, state.cell)[0]  # (T, B, Hd)
            context = self.attention.contexts(below.transpose(0, 1), state.keys, state.memory, state.mask)  # (B,T,D*H)
            contexts = context.transpose(0, 1)  # (T, B, D*H), as the fused kernels take their input
            for layer, layer_state in zip(self.upper, state.upper):
                below = native_unroll(layer, self.dropout(torch.cat([contexts, below], -1)), layer_state)[0]
            attentional = self.attentional(context, below.transpose(0, 1))
        else:
            projected = self.project_tokens(previous)  # (B, T, G): every step's token part at once
            vectors = []
            for t in range(previous.shape[1]):
                vector, state, _ = self.attend(projected[:, t], state)
                vectors.append(vector)
            attentional = torch.stack(vectors, dim=1)
        return self.output(self.dropout(attentional))  # (B, T, V)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """The step function of :mod:`rnnlab.models.decoding` (state batch-first): log-probabilities ``(B, V)``."""
        logits, state, _ = self.decode_step(tokens, state)
        return logits.float().log_softmax(-1), state

    def export_parts(self) -> list[ExportPart]:
        """Two graphs (:mod:`rnnlab.models.export`): ``"encoder"``, ``source (B, S)`` and ``lengths (B,)`` -> the
        decoder's start state as flat tensors (:class:`DecoderState`'s fields in order, batch first); ``"step"``,
        the previous ``tokens (B,)`` and that state -> ``log_probs (B, V)`` and the new state.  The
        right-to-left decoder, which only rescores a beam, is not exported."""
        source = torch.randint(1, self.source_embedding.num_embeddings, (2, 5))
        inputs = {"source": source, "lengths": torch.tensor([5, 3])}
        dims = {"source": {0: "batch", 1: "source_steps"}, "lengths": {0: "batch"}}
        return step_parts(self, self.encode, inputs, dims, self.step,
                          lambda s: {0: "batch", 1: "source_steps"} if s.dim() == 3 or s.dtype == torch.bool
                          else {0: "batch"}, first="encoder")


class Ensemble(nn.Module):
    r"""Several trained encoder-decoders decoding as one: at every step the mean of their probabilities,

    .. math:: \log p(y_t \mid y_{<t}, x) = \log \frac{1}{N} \sum_{n=1}^{N} p_n(y_t \mid y_{<t}, x),

    so a beam's score is the log-probability of its sequence under that mixture of steps.  The
    models must share their vocabularies; each keeps its own state (``encode`` returns a tuple of
    :class:`DecoderState`, one per model), so :mod:`rnnlab.models.decoding` drives :meth:`step` as it
    drives :meth:`Seq2Seq.step`.  When every model has a right-to-left decoder, those decode as one
    the same way (:meth:`reverse_log_probs`), so the ensemble rescores its beam as a single model does.
    """

    def __init__(self, models: list[Seq2Seq]) -> None:
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        sizes = {m.output.out_features for m in models}
        if len(sizes) > 1:
            raise ValueError(f"the ensemble's models have different target vocabularies (sizes {sorted(sizes)})")
        self.models = nn.ModuleList(models)

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[DecoderState, ...]:
        return tuple(model.encode(source, lengths) for model in self.models)

    def encode_both(self, source: Tensor, lengths: Tensor) -> tuple[tuple[DecoderState, ...],
                                                                    tuple[DecoderState, ...] | None]:
        """Every model's start states (:meth:`Seq2Seq.encode_both`); the right-to-left ones are None
        unless every model has one."""
        both = [model.encode_both(source, lengths) for model in self.models]
        reverse = tuple(r for _, r in both)
        return tuple(state for state, _ in both), (None if any(r is None for r in reverse) else reverse)

    def step(self, tokens: Tensor, states: tuple[DecoderState, ...]) -> tuple[Tensor, tuple[DecoderState, ...]]:
        """Log-probabilities ``(B, V)`` of the mean distribution, and every model's new state."""
        steps = [model.step(tokens, state) for model, state in zip(self.models, states)]
        return mean_distribution([log_p for log_p, _ in steps]), tuple(state for _, state in steps)

    def reverse_log_probs(self, states: tuple[DecoderState, ...], previous: Tensor) -> Tensor:
        """The mean of the right-to-left decoders' distributions at every step, as log-probabilities ``(B, T, V)``."""
        return mean_distribution([model.reverse_log_probs(state, previous)
                                  for model, state in zip(self.models, states)])


def mean_distribution(log_probs: list[Tensor]) -> Tensor:
    """``log (1/N) sum_n p_n`` of ``N`` log-probability tensors of one shape."""
    return torch.logsumexp(torch.stack(log_probs), dim=0) - math.log(len(log_probs))
