"""The linear recurrence ``h_t = a_t * h_{t-1} + b_t``, computed for a whole sequence at once.

When a cell's gates depend on the input only (minGRU, minLSTM), its recurrence is linear in
``h`` and element-wise, so no matrix product has to wait for the previous step.  What is left is a
*scan*: ``h_t`` is a weighted sum of every ``b_s`` with ``s <= t``, each weighted by the product of
the ``a`` between ``s`` and ``t``, plus ``h_0`` weighted by the product of all of them.

Two ways to run it, with the same result:

* ``sequential``: one element-wise multiply-add per step over ``(B, H)``; the fewest passes over
  memory, so the fastest on a CPU.
* ``chunked``: the steps are cut into chunks of ``C``; every chunk is scanned from a zero state,
  all chunks at once (``C`` steps over ``(K, B, H)``), then the state entering each chunk is
  carried across chunks (``K`` steps) and added in, weighted by the running product of ``a``
  inside the chunk.  About ``2 sqrt(T)`` steps instead of ``T``: the choice on a GPU, where each
  step costs a kernel launch.

Neither forms a product of ``a`` across chunks or divides by one (the closed form
``h_t = A_t (h_0 + sum_s b_s / A_s)`` with ``A_t = prod a`` overflows as soon as ``A_t`` underflows),
so long sequences with ``a_t`` near 0 or near 1 stay exact to rounding.

The backward pass is itself a reverse-time scan of the same kind:

    g_t = dL/dh_t + a_{t+1} g_{t+1},   dL/db_t = g_t,   dL/da_t = g_t h_{t-1},   dL/dh_0 = a_1 g_1

so memory holds ``a``, ``b`` and ``h``, not an autograd graph per step, and because the backward
is written with the scan itself, it can be differentiated again.

Shapes: ``T`` time steps, ``B`` batch, ``H`` features (any number of trailing dimensions works);
time-major ``(T, B, H)`` unless ``batch_first``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab.nn.sequence import check_lengths, padding_mask, reverse_in_time

METHODS = ("auto", "sequential", "chunked")


def linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None, *, lengths: Tensor | None = None,
                reverse: bool = False, batch_first: bool = False, method: str = "auto") -> Tensor:
    """Every state of ``h_t = a_t * h_{t-1} + b_t``.

    Args:
        a: ``(T, B, H)`` (``(B, T, H)`` with ``batch_first``), the weight of the previous state.
        b: the same shape, dtype and device as ``a``, what each step adds.
        h0: ``(B, H)`` initial state; zeros if omitted.
        lengths: ``(B,)`` integer lengths in ``1..T``: a sequence's state is frozen after its last
            step, so ``h`` at its padded steps (and at ``T - 1``) is its final state.
        reverse: run from each sequence's last step back to its first (``h`` stays aligned with
            the input, so ``h[0]`` is the final state of a whole-length sequence).
        method: ``"sequential"``, ``"chunked"`` or ``"auto"`` (chunked on a GPU, sequential otherwise).

    Returns:
        ``h``: every state, shaped as ``b``.
    """
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
        raise ValueError(f"linear_scan: a and b must have the same shape, dtype and device, got "
                         f"{tuple(a.shape)} {a.dtype} {a.device} and {tuple(b.shape)} {b.dtype} {b.device}")
    if a.dim() < 2:
        raise ValueError(f"linear_scan: a and b must be at least 2-D (time, ...), got shape {tuple(a.shape)}")
    if method not in METHODS:
        raise ValueError(f"linear_scan: method must be one of {METHODS}, got {method!r}")
    if batch_first:
        a, b = a.transpose(0, 1), b.transpose(0, 1)
    steps = a.shape[0]
    if h0 is None:
        h0 = b.new_zeros(b.shape[1:])
    elif h0.shape != b.shape[1:]:
        raise ValueError(f"linear_scan: h0 must have shape {tuple(b.shape[1:])}, got {tuple(h0.shape)}")
    if lengths is not None:
        lengths = check_lengths(lengths, a.shape[1], steps, a.device)
    flip = reverse and lengths is None  # whole sequences: scan backwards in place, no reversed copies
    if reverse and not flip:
        a, b = reverse_in_time(a, lengths), reverse_in_time(b, lengths)
    if lengths is not None and int(lengths.min()) < steps:
        padded = padding_mask(lengths, steps).view(steps, -1, *[1] * (a.dim() - 2))
        a, b = a.masked_fill(padded, 1.0), b.masked_fill(padded, 0.0)  # frozen: h_t = h_{t-1}
    if method == "auto":
        method = "chunked" if a.is_cuda else "sequential"
    h = _LinearScan.apply(a, b, h0, method == "chunked", flip)
    if reverse and not flip:
        h = reverse_in_time(h, lengths)
    return h.transpose(0, 1) if batch_first else h


class _LinearScan(torch.autograd.Function):
    """``h = scan(a, b, h0)``, time-major, forwards in time or (``backwards``) from ``T - 1`` to 0,
    with the scan in the other direction as its backward."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor, chunked: bool, backwards: bool) -> Tensor:
        if chunked:
            h = _chunked(a.flip(0), b.flip(0), h0).flip(0) if backwards else _chunked(a, b, h0)
        else:
            h = _sequential(a, b, h0, backwards)
        ctx.save_for_backward(a, h0, h)
        ctx.chunked, ctx.backwards = chunked, backwards
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor):
        a, h0, h = ctx.saved_tensors
        zero = torch.zeros_like(a[:1])
        if ctx.backwards:  # h_t = a_t h_{t+1} + b_t:  g_t = grad_h_t + a_{t-1} g_{t-1}
            a_next, h_prev, first = torch.cat([zero, a[:-1]]), torch.cat([h[1:], h0.unsqueeze(0)]), -1
        else:  # h_t = a_t h_{t-1} + b_t:  g_t = grad_h_t + a_{t+1} g_{t+1}
            a_next, h_prev, first = torch.cat([a[1:], zero]), torch.cat([h0.unsqueeze(0), h[:-1]]), 0
        g = _LinearScan.apply(a_next, grad_h, torch.zeros_like(h0), ctx.chunked, not ctx.backwards)
        grad_a = g * h_prev if ctx.needs_input_grad[0] else None
        grad_h0 = a[first] * g[first] if ctx.needs_input_grad[2] else None
        return grad_a, g, grad_h0, None, None


def _sequential(a: Tensor, b: Tensor, h0: Tensor, backwards: bool = False) -> Tensor:
    """One multiply-add per step: ``h[t] = a[t] * h[t-1] + b[t]`` (``h[t + 1]`` when ``backwards``)."""
    h = torch.empty_like(b)
    previous = h0
    for t in (reversed(range(a.shape[0])) if backwards else range(a.shape[0])):
        previous = torch.addcmul(b[t], a[t], previous, out=h[t])
    return h


def _chunked(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """Scan chunks of ``C`` steps in parallel, then carry each chunk's entering state across chunks."""
    steps = a.shape[0]
    size = max(1, math.isqrt(steps))
    count = -(-steps // size)
    extra = count * size - steps
    if extra:  # identity steps (a = 1, b = 0) fill the last chunk
        a = torch.cat([a, a.new_ones(extra, *a.shape[1:])])
        b = torch.cat([b, b.new_zeros(extra, *b.shape[1:])])
    a = a.reshape(count, size, *a.shape[1:])  # (K, C, B, H)
    b = b.reshape(count, size, *b.shape[1:])
    local = _sequential(a.transpose(0, 1), b.transpose(0, 1), torch.zeros_like(b[:, 0])).transpose(0, 1)
    decay = a.cumprod(dim=1)  # product of a from the chunk's start to each step (underflows to 0, never divides)
    entering = _sequential(decay[:, -1], local[:, -1], h0)  # state after each chunk, (K, B, H)
    entering = torch.cat([h0.unsqueeze(0), entering[:-1]])  # state before each chunk
    h = torch.addcmul(local, decay, entering.unsqueeze(1))
    return h.reshape(count * size, *h.shape[2:])[:steps]


# ------------------------------------------------------------------ minGRU and minLSTM, fused
CHUNK = 32
"""Steps per block in :func:`gated_scan`: a block of every array fits in cache while it is worked on."""

GATED_KINDS = ("mingru", "minlstm")


def gated_scan(gates: Tensor, h0: Tensor, kind: str = "mingru", reverse: bool = False) -> Tensor:
    """The recurrence of minGRU or minLSTM from its projected input, fused with the gates.

    Both are ``h_t = a_t * h_{t-1} + (1 - a_t) * c_t`` (``h_{t+1}`` with ``reverse``), ``a_t`` the share
    of the old state that stays:

    * ``"mingru"``: ``gates (T, B, 2H)`` = ``[k, c]``, ``a = 1 - sigmoid(k)``;
    * ``"minlstm"``: ``gates (T, B, 3H)`` = ``[k_f, k_i, c]``, ``f, i = sigmoid(k_f), sigmoid(k_i)``,
      ``a = f / (f + i)``.

    Returns ``h (T, B, H)``, time-major.  The same function as :func:`linear_scan` of the cell's
    ``a, b``, in one pass over memory forwards and one backwards: time is cut into blocks of
    ``CHUNK`` steps and the element-wise work of a block is done while the block is in cache.
    """
    if kind not in GATED_KINDS:
        raise ValueError(f"gated_scan: kind must be one of {GATED_KINDS}, got {kind!r}")
    return _GatedScan.apply(gates, h0, kind, reverse)


class _GatedScan(torch.autograd.Function):
    """Only ``gates``, ``h`` and ``h0`` are kept for the backward pass; ``a`` and ``dL/dh_t`` live in
    block-sized buffers, recomputed block by block."""

    @staticmethod
    def forward(ctx, gates: Tensor, h0: Tensor, kind: str, reverse: bool) -> Tensor:
        hidden = h0.shape[-1]
        c = gates[..., -hidden:]
        h = torch.empty_like(c)
        write = c.new_empty(min(CHUNK, c.shape[0]), *c.shape[1:])  # 1 - a_t of one block
        previous = h0
        for block in _blocks(c.shape[0], reverse):
            w = _written(gates[block], hidden, kind, out=write[: block.stop - block.start])
            for t in _steps(block, reverse):
                previous = torch.lerp(previous, c[t], w[t - block.start], out=h[t])  # h + (1 - a) (c - h)
        ctx.save_for_backward(gates, h, h0)
        ctx.kind, ctx.reverse = kind, reverse
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h: Tensor):
        gates, h, h0 = ctx.saved_tensors
        kind, reverse, hidden = ctx.kind, ctx.reverse, h0.shape[-1]
        c = gates[..., -hidden:]
        grad_gates = torch.empty_like(gates)
        write = c.new_empty(min(CHUNK, c.shape[0]), *c.shape[1:])
        keep, grad = torch.empty_like(write), torch.empty_like(write)  # a_t, and g_t = dL/dh_t through all later steps
        a_next = g_next = None  # a and g of the step after the current one, in scan order
        for block in reversed(_blocks(c.shape[0], reverse)):
            n = block.stop - block.start
            w, g = _written(gates[block], hidden, kind, out=write[:n]), grad[:n]
            a = torch.neg(w, out=keep[:n]).add_(1)
            for t in reversed(_steps(block, reverse)):
                j = t - block.start
                if g_next is None:
                    g[j] = grad_h[t]
                else:
                    torch.addcmul(grad_h[t], a_next, g_next, out=g[j])  # g_t = dL/dh_t + a_{t+1} g_{t+1}
                a_next, g_next = a[j], g[j]
            a_next, g_next = a_next.clone(), g_next.clone()  # the buffers are refilled for the next block
            grad_c = grad_gates[block, ..., -hidden:]
            torch.mul(g, w, out=grad_c)  # dc = g (1 - a)
            # dL/da = g (h_prev - c), and da/dlogit carries a factor a (1 - a): u = -dL/da a (1 - a)
            u = grad_c * a * (c[block] - _previous(h, h0, block, reverse))
            if kind == "mingru":  # a = sigmoid(-k)
                grad_gates[block, ..., :hidden] = u
            else:  # a = f / (f + i):  da/dk_f = a (1 - a) (1 - f),  da/dk_i = -a (1 - a) (1 - i)
                torch.mul(u, torch.sigmoid(gates[block, ..., :hidden]) - 1, out=grad_gates[block, ..., :hidden])
                torch.mul(u, 1 - torch.sigmoid(gates[block, ..., hidden:2 * hidden]),
                          out=grad_gates[block, ..., hidden:2 * hidden])
        return grad_gates, a_next * g_next, None, None  # dL/dh0 = a g at the first step


def _written(gates: Tensor, hidden: int, kind: str, out: Tensor) -> Tensor:
    """``1 - a``, the share of the candidate written into the state, from a block of gates, into ``out``:
    ``z`` for minGRU, ``i / (f + i)`` for minLSTM."""
    if kind == "mingru":
        return torch.sigmoid(gates[..., :hidden], out=out)
    f, i = torch.sigmoid(gates[..., :hidden]), torch.sigmoid(gates[..., hidden:2 * hidden])
    return torch.div(i, f + i, out=out)


def _blocks(steps: int, reverse: bool) -> list[slice]:
    """Blocks of ``CHUNK`` steps in scan order."""
    blocks = [slice(s, min(s + CHUNK, steps)) for s in range(0, steps, CHUNK)]
    return blocks[::-1] if reverse else blocks


def _steps(block: slice, reverse: bool) -> range:
    return range(block.stop - 1, block.start - 1, -1) if reverse else range(block.start, block.stop)


def _previous(h: Tensor, h0: Tensor, block: slice, reverse: bool) -> Tensor:
    """The state before each step of ``block`` in scan order: ``h[t - 1]`` (``h[t + 1]`` reversed), ``h0`` at
    the start."""
    steps = h.shape[0]
    if not reverse:
        if block.start == 0:
            return torch.cat([h0.unsqueeze(0), h[: block.stop - 1]])
        return h[block.start - 1: block.stop - 1]
    if block.stop == steps:
        return torch.cat([h[block.start + 1:], h0.unsqueeze(0)])
    return h[block.start + 1: block.stop + 1]
