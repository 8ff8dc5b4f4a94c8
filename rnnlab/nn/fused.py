r"""Fused sequences: every step of a recurrence as one autograd node, its backward written by hand (the LSTM
below; the layer-norm and peephole LSTMs, the layer-norm GRU, JANET, the IndRNN and the orthogonal RNN in their
functions' docstrings).

Unrolled step by step, autograd records each operation of each step and walks them back one by one; that
bookkeeping, more than the arithmetic, is what makes the unrolled engine slower than oneDNN's or cuDNN's fused
LSTM.  Here the forward pass runs with no graph recorded, keeping per step only what the backward pass needs,
and the backward pass is written out (the equations below): one matrix product and a few element-wise
operations per step, the weight gradient one product over all steps.  One sigmoid serves all four gates
(``tanh(a) = 2 sigmoid(2a) - 1``, the ``g`` rows doubled beforehand), and a float32 recurrent product large
enough to gain runs through oneDNN with its weight packed once per sequence.  Where the compiled kernels
(:mod:`rnnlab.nn.kernels`) can be had, the same steps run there instead: each step's element-wise part is one
pass of compiled code over the batch rather than a dozen PyTorch operations.

Backward through time, with ``i, f, g, o`` the gates after their nonlinearities, ``u_t = tanh(c_t)``, and
``dh_t``, ``dc_t`` the total derivatives of the loss:

.. math::
    dh_t &= \partial L / \partial h_t + W_{hh}^\top\, d\mathrm{pre}_{t+1} \\
    dc_t &= \partial L / \partial c_t + f_{t+1} \odot dc_{t+1} + o_t \odot (1 - u_t^2) \odot dh_t \\
    d\mathrm{pre}_t &= [\,dc_t\, g_t\, i_t (1 - i_t),\; dc_t\, c_{t-1} f_t (1 - f_t),\;
        dc_t\, i_t (1 - g_t^2),\; dh_t\, u_t\, o_t (1 - o_t)\,]

``dpre_t`` is the gradient of step ``t``'s projected input; lengths, directions and stacking stay with
:func:`~rnnlab.nn.unroll.unroll` around it.

Shapes: ``T`` steps, ``B`` batch, ``H`` hidden features; projected inputs ``(T, B, 4H)``, gate order
``i, f, g, o`` as torch.nn's.
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnlab.nn.kernels import compiled_kernels


def lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, *, mask: Tensor | None = None,
                  zoneout: list[Tensor] | float | None = None) -> tuple[Tensor, Tensor]:
    """Every step of the LSTM ``pre_t = x_t + h_{t-1} W_hh^T``, ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``.

    Args:
        x: ``(T, B, 4H)`` projected inputs with both biases added.
        h0: ``(B, H)`` initial output.
        c0: ``(B, H)`` initial memory.
        weight_hh: ``(4H, H)``.
        mask: recurrent dropout: ``h_{t-1} * mask`` enters ``W_hh``, ``mask (B, H)``; ``None``: off.
        zoneout: ``[for_h, for_c]``, each a ``(T, B, H)`` boolean mask, true where a unit keeps its previous
            value (training); or the probability ``p``, every state becoming ``p s_{t-1} + (1 - p) s_t``
            (evaluation); ``None``: off.

    Returns:
        ``(h, c)``: every step's output and memory, each ``(T, B, H)``.
    """
    keep_h = keep_c = None  # the weight of each new value
    if isinstance(zoneout, float):
        keep_h = keep_c = x.new_tensor(1.0 - zoneout)
    elif zoneout is not None:
        keep_h, keep_c = ((~held).to(x.dtype) for held in zoneout)
    sequence = _CompiledLSTMSequence if _kernels_for(x, h0, c0, weight_hh) is not None else _LSTMSequence
    return sequence.apply(x, h0, c0, weight_hh, mask, keep_h, keep_c)


def layer_norm_lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, bias: Tensor,
                             norm_ih: torch.nn.LayerNorm, norm_hh: torch.nn.LayerNorm,
                             norm_c: torch.nn.LayerNorm) -> tuple[Tensor, Tensor] | None:
    r"""Every step of the layer-normalised LSTM (:class:`~rnnlab.nn.cells.LayerNormLSTMCell`):
    ``pre_t = LN_ih(x_t) + LN_hh(h_{t-1} W_hh^T) + b``, ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(LN_c(c_t))``,
    through the compiled kernels, which normalise each step's input rows as they reach them; ``None`` where
    they cannot serve (no compiler, not a CPU float tensor, a layer norm without its affine parameters), and
    the cell then steps.

    Backward through time, beside the LSTM's: with ``n_t = LN_c(c_t)`` and ``r_t = h_{t-1} W_hh^T``, the
    gradient reaching ``c_t`` from ``h_t`` is ``LN_c'(dh_t o_t (1 - tanh(n_t)^2))``, ``dr_t = LN_hh'(dpre_t)``
    and ``dx_t = LN_ih'(dpre_t)``, where for a layer norm ``y = gamma v_hat + beta`` of a row ``v`` with
    ``v_hat = (v - mean(v)) / sigma``, ``LN'(d) = (e - mean(e) - v_hat mean(e v_hat)) / sigma`` with
    ``e = gamma d``; ``dW_hh = sum_t dr_t^T h_{t-1}``.  The three biases (``b`` and the two layer norms'
    ``beta``) add into one before the kernel, and autograd hands each the same gradient, ``sum_t dpre_t``.

    Args:
        x: ``(T, B, 4H)``: ``W_ih x_t``, before its layer norm.
        h0: ``(B, H)`` initial output.
        c0: ``(B, H)`` initial memory.
        weight_hh: ``(4H, H)``.
        bias: ``(4H,)``: ``b``.
        norm_ih: the layer norm over ``4H`` features of the input projection.
        norm_hh: the layer norm over ``4H`` features of the recurrent product.
        norm_c: the layer norm over ``H`` features of the memory.

    Returns:
        ``(h, c)``, each ``(T, B, H)``, or ``None``.
    """
    norms = (norm_ih.weight, norm_ih.bias, norm_hh.weight, norm_hh.bias, norm_c.weight, norm_c.bias)
    if any(p is None for p in norms) or _kernels_for(x, h0, c0, weight_hh, bias, *norms) is None:
        return None
    biases = bias + norm_ih.bias + norm_hh.bias
    return _CompiledLayerNormLSTMSequence.apply(x, h0, c0, weight_hh, norm_ih.weight, norm_hh.weight, biases,
                                                norm_c.weight, norm_c.bias, norm_ih.eps, norm_hh.eps, norm_c.eps)


def layer_norm_gru_sequence(x: Tensor, h0: Tensor, weight_hh: Tensor, norm_hh: torch.nn.LayerNorm) -> Tensor | None:
    r"""Every step of the layer-normalised GRU (:class:`~rnnlab.nn.variants.LayerNormGRUCell`) from its input part
    ``a_t``: with ``u_t = LN_hh(h_{t-1} W_hh^T)``, ``r = sigmoid(a_r + u_r)``, ``z = sigmoid(a_z + u_z)``,
    ``n = tanh(a_n + r u_n)``, ``h_t = (1 - z) n + z h_{t-1}``, through the compiled kernels; ``None`` where they
    cannot serve (no compiler, not a CPU float tensor, a layer norm without its affine parameters), and the cell
    then steps.

    Backward through time, with ``dh_t`` the total derivative: ``da_n = dh_t (1 - z)(1 - n^2)``,
    ``da_r = da_n u_n r (1 - r)``, ``da_z = dh_t (h_{t-1} - n) z (1 - z)``; ``da_t = [da_r, da_z, da_n]``, and the
    recurrent part's ``du = [da_r, da_z, r da_n]`` passes back through the layer norm (:func:`layer_norm_lstm_sequence`
    gives ``LN'``) to ``dq_t``; ``dh_{t-1} = dL/dh_{t-1} + z dh_t + dq_t W_hh``, ``dW_hh = sum_t dq_t^T h_{t-1}``.

    Args:
        x: ``(T, B, 3H)``: ``a_t = LN_ih(W_ih x_t) + b``.
        h0: ``(B, H)``.
        weight_hh: ``(3H, H)``.
        norm_hh: the layer norm over ``3H`` features of the recurrent product.

    Returns:
        ``h``: every step's state, ``(T, B, H)``, or ``None``.
    """
    if norm_hh.weight is None or norm_hh.bias is None or \
            _kernels_for(x, h0, weight_hh, norm_hh.weight, norm_hh.bias) is None:
        return None
    return _CompiledLayerNormGRUSequence.apply(x, h0, weight_hh, norm_hh.weight, norm_hh.bias, norm_hh.eps)


def peephole_lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, weight_ci: Tensor,
                           weight_cf: Tensor, weight_co: Tensor) -> tuple[Tensor, Tensor] | None:
    r"""Every step of the peephole LSTM (:class:`~rnnlab.nn.variants.PeepholeLSTMCell`), ``pre_t = x_t +
    h_{t-1} W_hh^T``, ``i = sigmoid(pre_i + w_ci c_{t-1})``, ``f = sigmoid(pre_f + w_cf c_{t-1})``,
    ``g = tanh(pre_g)``, ``c_t = f c_{t-1} + i g``, ``o = sigmoid(pre_o + w_co c_t)``, ``h_t = o tanh(c_t)``,
    through the compiled kernels; ``None`` where they cannot serve, and the cell then steps.

    Backward through time, with ``u_t = tanh(c_t)`` and ``dh_t``, ``dc_t`` the total derivatives: the output
    gate's ``dpre_o = dh_t u_t o (1 - o)`` reaches ``c_t`` through its peephole as well,
    ``dc = dc_t + dh_t o (1 - u_t^2) + w_co dpre_o``; then ``dpre_i = dc g i (1 - i)``,
    ``dpre_f = dc c_{t-1} f (1 - f)``, ``dpre_g = dc i (1 - g^2)``, and the memory's gradient passes back through
    the forget gate and both input-side peepholes, ``dc_{t-1} = dL/dc_{t-1} + dc f + w_ci dpre_i + w_cf dpre_f``;
    ``dh_{t-1} = dL/dh_{t-1} + dpre_t W_hh``, ``dw_ci = sum_t dpre_i c_{t-1}``, ``dw_cf = sum_t dpre_f c_{t-1}``,
    ``dw_co = sum_t dpre_o c_t``, ``dW_hh = sum_t dpre_t^T h_{t-1}``.

    Args:
        x: ``(T, B, 4H)`` projected inputs with both biases added.
        h0: ``(B, H)`` initial output.
        c0: ``(B, H)`` initial memory.
        weight_hh: ``(4H, H)``.
        weight_ci, weight_cf, weight_co: ``(H,)``, the peepholes.

    Returns:
        ``(h, c)``, each ``(T, B, H)``, or ``None``.
    """
    if _kernels_for(x, h0, c0, weight_hh, weight_ci, weight_cf, weight_co) is None:
        return None
    return _CompiledPeepholeLSTMSequence.apply(x, h0, c0, weight_hh, weight_ci, weight_cf, weight_co)


def indrnn_sequence(x: Tensor, h0: Tensor, u: Tensor) -> Tensor | None:
    """Every step of the IndRNN (:class:`~rnnlab.nn.long_memory.IndRNNCell`), ``h_t = relu(x_t + u h_{t-1})``,
    through the compiled kernels; ``None`` where they cannot serve, and the cell then steps.

    The recurrence is element-wise, so each step is one pass over the batch, forward and back: with
    ``g_t = dh_t [h_t > 0]`` (``dh_t`` the total derivative), ``dx_t = g_t``, ``du = sum_t g_t h_{t-1}`` (over the
    batch too) and ``dh_{t-1} = dL/dh_{t-1} + u g_t`` (the loss's own partial derivative plus what comes back).

    Args:
        x: ``(T, B, H)``: ``W x_t + b``.
        h0: ``(B, H)``.
        u: ``(H,)``, the recurrent weight of every unit.

    Returns:
        ``h``: every step's state, ``(T, B, H)``, or ``None``.
    """
    if _kernels_for(x, h0, u) is None:
        return None
    return _CompiledIndRNNSequence.apply(x, h0, u)


def janet_sequence(x: Tensor, h0: Tensor, weight_hh: Tensor, beta: float) -> Tensor | None:
    """Every step of JANET (:class:`~rnnlab.nn.long_memory.JANETCell`): ``[s, c~] = x_t + h_{t-1} W_hh^T``,
    ``h_t = f h_{t-1} + q g`` with ``f = sigmoid(s)``, ``q = 1 - sigmoid(s - beta)``, ``g = tanh(c~)``, through the
    compiled kernels; ``None`` where they cannot serve, and the cell then steps.

    Backward: ``ds = dh_t (h_{t-1} f (1 - f) - g q (1 - q))``, ``dc~ = dh_t q (1 - g^2)``, and
    ``dh_{t-1} = dL/dh_{t-1} + dh_t f + [ds, dc~] W_hh``; ``dW_hh = sum_t [ds, dc~]^T h_{t-1}``.

    Args:
        x: ``(T, B, 2H)``: ``W_ih x_t + b`` (rows ``s``, then ``c~``).
        h0: ``(B, H)``.
        weight_hh: ``(2H, H)``.
        beta: the shift of the input gate.

    Returns:
        ``h``: every step's state, ``(T, B, H)``, or ``None``.
    """
    if _kernels_for(x, h0, weight_hh) is None:
        return None
    return _CompiledJANETSequence.apply(x, h0, weight_hh, float(beta))


def modrelu_sequence(x: Tensor, h0: Tensor, weight_hh: Tensor, bias: Tensor) -> Tensor | None:
    """Every step of the orthogonal RNN (:class:`~rnnlab.nn.long_memory.OrthogonalCell`):
    ``z_t = x_t + h_{t-1} W_hh^T``, ``h_t = modReLU(z_t) = sign(z_t) relu(|z_t| + bias)``, through the compiled
    kernels; ``None`` where they cannot serve, and the cell then steps.

    Backward: with ``a_t = [|z_t| + bias > 0]``, ``dz_t = dh_t a_t sign(z_t)^2``, ``dbias = sum_t dh_t a_t sign(z_t)``
    and ``dh_{t-1} = dL/dh_{t-1} + dz_t W_hh``; ``dW_hh = sum_t dz_t^T h_{t-1}`` (and on, by autograd, to the
    parameters that make ``W_hh``).

    Args:
        x: ``(T, B, H)``: ``W_ih x_t + b_ih``.
        h0: ``(B, H)``.
        weight_hh: ``(H, H)``.
        bias: ``(H,)``, modReLU's.

    Returns:
        ``h``: every step's state, ``(T, B, H)``, or ``None``.
    """
    if _kernels_for(x, h0, weight_hh, bias) is None:
        return None
    return _CompiledModReLUSequence.apply(x, h0, weight_hh, bias)


def _kernels_for(*tensors: Tensor):
    """The compiled kernels (:mod:`rnnlab.nn.kernels`), if they can serve these tensors (CPU, all float32 or
    all float64), else ``None``."""
    dtype = tensors[0].dtype
    if dtype not in (torch.float32, torch.float64) or any(t.device.type != "cpu" or t.dtype != dtype
                                                           for t in tensors):
        return None
    return compiled_kernels()


def _per_step(weights: Tensor | None, steps: int) -> list | None:
    """Zoneout's weights of the new values, ``(T, B, H)`` or one number (a 0-dimensional tensor) -> one per
    step."""
    if weights is None:
        return None
    return list(weights.unbind(0)) if weights.dim() == 3 else [weights] * steps


def _scaled_g(tensor: Tensor, dim: int = -1) -> Tensor:
    """``tensor`` with its ``g`` block (the third quarter along ``dim``) doubled: ``tanh(a) = 2 sigmoid(2a) - 1``
    lets one sigmoid serve all four gates."""
    width = tensor.shape[dim]
    scale = tensor.new_ones(width)
    scale[width // 2:3 * width // 4] = 2
    shape = [1] * tensor.dim()
    shape[dim] = width
    return tensor * scale.view(shape)


def _packs(weight: Tensor, batch: int) -> bool:
    """Whether ``h weight^T`` for ``h (B, in)``, ``weight (out, in)``, runs through oneDNN with the weight packed
    once for the whole sequence: a float32 product on the CPU large enough to gain (``B * out * in >= 2**21``)
    that the compiled kernels do not multiply in panels of their own (:func:`_in_panels`)."""
    return (weight.dtype == torch.float32 and weight.device.type == "cpu" and torch.backends.mkldnn.is_available()
            and batch * weight.numel() >= 2 ** 21 and not _in_panels(weight))


def _in_panels(weight: Tensor) -> bool:
    """Whether the compiled kernels multiply by ``weight`` in panels of their own (``recurrences.cpp``, a step's
    product): where they are built for AVX-512, a float32 weight of at most 1 MiB, which a core's cache keeps from
    step to step (over sequences of at least 64 rows times steps; shorter ones take ATen's product)."""
    return (weight.dtype == torch.float32 and weight.numel() * weight.element_size() <= 2 ** 20
            and torch.backends.cpu.get_cpu_capability() == "AVX512" and compiled_kernels() is not None)


def _packed(weight: Tensor, batch: int) -> tuple[Tensor, bool]:
    """``(weight, packed)``: ``weight (out, in)`` packed by oneDNN for ``batch`` rows where :func:`_packs`, else
    as it is."""
    if _packs(weight, batch):
        return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), batch), True
    return weight.detach(), False


def _recurrent_product(weight: Tensor, batch: int):
    """``product(h, x)``: ``x + h weight^T`` for ``h (B, in)``, ``weight (out, in)``, packed where :func:`_packs`,
    else ``torch.addmm``."""
    kept, packed = _packed(weight, batch)
    if packed:
        return lambda h, x: torch.ops.mkldnn._linear_pointwise.binary(h, x, kept, None, "add")
    transposed = weight.t()
    return lambda h, x: torch.addmm(x, h, transposed)


class _Step(NamedTuple):
    """What one forward step keeps for the backward pass (each a tensor of its own: small allocations are
    reused from one call to the next, where whole-sequence buffers would fault in fresh pages every call).

    ``forget (B, H)``; ``to_memory (B, H)``: ``o (1 - u^2)``, which takes ``dh_t`` to the tanh's argument;
    ``factors_ifg (B, 3, H)`` and ``factor_o (B, H)``: what multiplies ``dc_t`` and ``dh_t`` in ``dpre_t``."""

    forget: Tensor
    to_memory: Tensor
    factors_ifg: Tensor
    factor_o: Tensor


def _lstm_step(pre: Tensor, c: Tensor, kept: list[_Step] | None, h_out: Tensor,
               c_out: Tensor) -> tuple[Tensor, Tensor]:
    """One step from the pre-activations ``pre (B, 4H)`` (``g``'s doubled; overwritten) and ``c_{t-1} (B, H)``:
    ``(h_t, c_t)``, written into ``h_out`` and ``c_out``, appending a :class:`_Step` to ``kept`` unless it is
    ``None`` (no gradient needed)."""
    batch, width = pre.shape
    gates = pre.sigmoid_().view(batch, 4, width // 4)
    i, f, g, o = gates.unbind(1)
    slopes = torch.addcmul(gates, gates, gates, value=-1) if kept is not None else None  # s (1 - s)
    g.mul_(2.0).sub_(1.0)  # 2 sigmoid(2a) - 1 = tanh(a)
    c_prev, c = c, torch.addcmul(torch.mul(f, c, out=c_out), i, g, out=c_out)
    u = torch.tanh(c)
    h = torch.mul(o, u, out=h_out)
    if kept is not None:  # tanh' = 4 s (1 - s) for g, sigmoid' = s (1 - s) for the others
        slope_i, slope_f, slope_g, slope_o = slopes.unbind(1)
        slope_i.mul_(g)
        slope_f.mul_(c_prev)
        slope_g.mul_(i).mul_(4.0)
        slope_o.mul_(u)
        kept.append(_Step(f, torch.addcmul(o, h, u, value=-1), slopes[:, :3], slope_o))
    return h, c


class _LSTMSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, mask: Tensor | None,
                keep_h: Tensor | None, keep_c: Tensor | None) -> tuple[Tensor, Tensor]:
        steps = x.shape[0]
        product = _recurrent_product(_scaled_g(weight_hh, 0), x.shape[1])
        kept: list[_Step] | None = [] if any(ctx.needs_input_grad) else None
        hs, cs = (x.new_empty(*x.shape[:2], h0.shape[1]) for _ in range(2))
        keeps_h, keeps_c = _per_step(keep_h, steps), _per_step(keep_c, steps)
        h, c = h0, c0
        for t, (x_t, h_t, c_t) in enumerate(zip(_scaled_g(x).unbind(0), hs.unbind(0), cs.unbind(0))):
            h_new, c_new = _lstm_step(product(h if mask is None else h * mask, x_t), c, kept, h_t, c_t)
            if keeps_h is None:
                h, c = h_new, c_new
            else:  # zoneout: each unit's new value or its previous one (or between them, in evaluation)
                h, c = torch.lerp(h, h_new, keeps_h[t], out=h_t), torch.lerp(c, c_new, keeps_c[t], out=c_t)
        ctx.kept = kept
        ctx.save_for_backward(h0, weight_hh, hs, mask, keep_h, keep_c)
        return hs, cs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs: Tensor, grad_cs: Tensor):
        h0, weight_hh, hs, mask, keep_h, keep_c = ctx.saved_tensors
        grad_pre, grad_h0, grad_c0 = _lstm_backward(grad_hs, grad_cs, weight_hh, ctx.kept, mask, keep_h, keep_c)
        if mask is not None:  # what entered W_hh
            h0, hs = h0 * mask, hs * mask
        return grad_pre, grad_h0, grad_c0, _weight_grad(grad_pre, h0, hs), None, None, None


def _per_step_weights(keep: Tensor | None, steps: int, batch: int, hidden: int) -> Tensor | None:
    """Zoneout's weights of the new values for the compiled kernels: ``(T, B, H)``, contiguous, or one number
    spread over ``(B, H)`` and expanded over the steps (first stride 0)."""
    if keep is None:
        return None
    if keep.dim() == 3:
        return keep.contiguous()
    return keep.expand(1, batch, hidden).contiguous().expand(steps, batch, hidden)


class _CompiledLSTMSequence(torch.autograd.Function):
    """:class:`_LSTMSequence` through the compiled kernels (``recurrences.cpp``): each step's element-wise part one
    pass over the batch, with no doubled ``g`` rows (the kernel computes ``tanh`` itself)."""

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, mask: Tensor | None,
                keep_h: Tensor | None, keep_c: Tensor | None) -> tuple[Tensor, Tensor]:
        steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[1]
        keeps = [_per_step_weights(k, steps, batch, hidden) for k in (keep_h, keep_c)]
        needed = any(ctx.needs_input_grad)
        hs, cs, *saved = compiled_kernels().lstm_forward(x.detach().contiguous(), h0.detach(), c0.detach(),
                                                         *_packed(weight_hh, batch), mask, *keeps, needed)
        ctx.kept, ctx.keeps = saved, keeps
        ctx.save_for_backward(h0, weight_hh, hs, mask)
        return hs, cs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs: Tensor, grad_cs: Tensor):
        h0, weight_hh, hs, mask = ctx.saved_tensors
        grad_pre, grad_h0, grad_c0 = compiled_kernels().lstm_backward(
            grad_hs, grad_cs, *_packed(weight_hh.t(), hs.shape[1]), ctx.kept, mask, *ctx.keeps)
        if mask is not None:  # what entered W_hh
            h0, hs = h0 * mask, hs * mask
        return grad_pre, grad_h0, grad_c0, _weight_grad(grad_pre, h0, hs), None, None, None


class _CompiledLayerNormLSTMSequence(torch.autograd.Function):
    """:func:`layer_norm_lstm_sequence` as one autograd node (``recurrences.cpp``)."""

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, gamma_ih: Tensor, gamma_hh: Tensor,
                bias: Tensor, gamma_c: Tensor, beta_c: Tensor, eps_ih: float, eps_hh: float,
                eps_c: float) -> tuple[Tensor, Tensor]:
        needed = any(ctx.needs_input_grad)
        x = x.detach().contiguous()
        hs, cs, *saved = compiled_kernels().ln_lstm_forward(
            x, h0.detach(), c0.detach(), *_packed(weight_hh, x.shape[1]),
            *(p.detach().contiguous() for p in (gamma_ih, gamma_hh, bias, gamma_c, beta_c)), eps_ih, eps_hh, eps_c,
            needed)
        ctx.kept = saved
        ctx.save_for_backward(x, h0, c0, weight_hh, gamma_ih, gamma_hh, gamma_c, beta_c, hs, cs)
        return hs, cs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs: Tensor, grad_cs: Tensor):
        x, h0, c0, weight_hh, gamma_ih, gamma_hh, gamma_c, beta_c, hs, cs = ctx.saved_tensors
        grad_r = _workspace((*hs.shape[:2], weight_hh.shape[0]), hs.dtype)
        grad_x, grad_h0, grad_c0, grad_gamma_ih, *grad_rest = compiled_kernels().ln_lstm_backward(
            grad_hs, grad_cs, cs, c0, x, *_packed(weight_hh.t(), hs.shape[1]), ctx.kept,
            *(p.detach().contiguous() for p in (gamma_ih, gamma_hh, gamma_c, beta_c)), grad_r)
        return (grad_x, grad_h0, grad_c0, _weight_grad(grad_r, h0, hs), grad_gamma_ih, *grad_rest,
                None, None, None)


class _CompiledLayerNormGRUSequence(torch.autograd.Function):
    """:func:`layer_norm_gru_sequence` as one autograd node (``recurrences.cpp``)."""

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, weight_hh: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> Tensor:
        gamma, beta = gamma.detach().contiguous(), beta.detach().contiguous()
        hs, *saved = compiled_kernels().ln_gru_forward(x.detach().contiguous(), h0.detach(),
                                                       *_packed(weight_hh, x.shape[1]), gamma, beta, eps,
                                                       any(ctx.needs_input_grad))
        ctx.kept, ctx.gamma = saved, gamma
        ctx.save_for_backward(h0, weight_hh, hs)
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs: Tensor):
        h0, weight_hh, hs = ctx.saved_tensors
        grad_q = _workspace((*hs.shape[:2], weight_hh.shape[0]), hs.dtype)
        grad_x, grad_h0, grad_gamma, grad_beta = compiled_kernels().ln_gru_backward(
            grad_hs, hs, h0.detach(), *_packed(weight_hh.t(), hs.shape[1]), ctx.kept, ctx.gamma, grad_q)
        return grad_x, grad_h0, _weight_grad(grad_q, h0, hs), grad_gamma, grad_beta, None


class _CompiledPeepholeLSTMSequence(torch.autograd.Function):
    """:func:`peephole_lstm_sequence` as one autograd node (``recurrences.cpp``)."""

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, weight_ci: Tensor, weight_cf: Tensor,
                weight_co: Tensor) -> tuple[Tensor, Tensor]:
        peepholes = [p.detach().contiguous() for p in (weight_ci, weight_cf, weight_co)]
        hs, cs, *saved = compiled_kernels().peephole_forward(
            x.detach().contiguous(), h0.detach(), c0.detach(), *_packed(weight_hh, x.shape[1]), *peepholes,
            any(ctx.needs_input_grad))
        ctx.kept, ctx.peepholes = saved, peepholes
        ctx.save_for_backward(h0, c0, weight_hh, hs, cs)
        return hs, cs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs: Tensor, grad_cs: Tensor):
        h0, c0, weight_hh, hs, cs = ctx.saved_tensors
        grad_pre, grad_h0, grad_c0, *grad_peepholes = compiled_kernels().peephole_backward(
            grad_hs, grad_cs, cs, c0.detach(), *_packed(weight_hh.t(), hs.shape[1]), ctx.kept, *ctx.peepholes)
        return grad_pre, grad_h0, grad_c0, _weight_grad(grad_pre, h0, hs), *grad_peepholes


_workspaces = threading.local()


def _workspace(shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """A CPU scratch tensor of ``shape``, a view of one buffer this thread keeps and reuses from call to call
    (grown when too small): the layer-norm LSTM's backward pass writes ``dr`` there, which only feeds the weight
    gradient, and a fresh buffer of that size (``T B 4H`` numbers) would fault in fresh pages on every call."""
    buffers = _workspaces.__dict__.setdefault("buffers", {})
    needed = math.prod(shape)
    if dtype not in buffers or buffers[dtype].numel() < needed:
        buffers[dtype] = torch.empty(needed, dtype=dtype)
    return buffers[dtype][:needed].view(shape)


class _CompiledIndRNNSequence(torch.autograd.Function):
    """:func:`indrnn_sequence` as one autograd node (``recurrences.cpp``)."""

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, u: Tensor) -> Tensor:
        hs = compiled_kernels().indrnn_forward(x.detach(), h0.detach(), u.detach())
        ctx.save_for_backward(hs, h0, u)
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs: Tensor):
        hs, h0, u = ctx.saved_tensors
        grad_x, grad_h0, grad_u = compiled_kernels().indrnn_backward(grad_hs, hs, h0.detach(), u.detach())
        return grad_x, grad_h0, grad_u


class _CompiledJANETSequence(torch.autograd.Function):
    """:func:`janet_sequence` as one autograd node (``recurrences.cpp``)."""

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, weight_hh: Tensor, beta: float) -> Tensor:
        hs, *saved = compiled_kernels().janet_forward(x.detach().contiguous(), h0.detach(),
                                                      *_packed(weight_hh, x.shape[1]), beta,
                                                      any(ctx.needs_input_grad))
        ctx.kept = saved
        ctx.save_for_backward(h0, weight_hh, hs)
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs: Tensor):
        h0, weight_hh, hs = ctx.saved_tensors
        grad_pre, grad_h0 = compiled_kernels().janet_backward(grad_hs, hs, h0.detach(),
                                                              *_packed(weight_hh.t(), hs.shape[1]), ctx.kept)
        return grad_pre, grad_h0, _weight_grad(grad_pre, h0, hs), None


class _CompiledModReLUSequence(torch.autograd.Function):
    """:func:`modrelu_sequence` as one autograd node (``recurrences.cpp``)."""

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, weight_hh: Tensor, bias: Tensor) -> Tensor:
        hs, zs = compiled_kernels().modrelu_forward(x.detach().contiguous(), h0.detach(),
                                                    *_packed(weight_hh, x.shape[1]), bias.detach())
        ctx.save_for_backward(h0, weight_hh, bias, hs, zs)
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs: Tensor):
        h0, weight_hh, bias, hs, zs = ctx.saved_tensors
        grad_z, grad_h0, grad_bias = compiled_kernels().modrelu_backward(
            grad_hs, zs, *_packed(weight_hh.t(), hs.shape[1]), bias.detach())
        return grad_z, grad_h0, _weight_grad(grad_z, h0, hs), grad_bias


def _weight_grad(grad_pre: Tensor, h0: Tensor, hs: Tensor) -> Tensor:
    """``dW_hh (4H, H)``: the sum over steps of ``dpre_t^T h_{t-1}``, ``grad_pre (T, B, 4H)``, ``hs (T, B, H)``."""
    grad = grad_pre[0].t() @ h0
    if len(grad_pre) > 1:
        grad.addmm_(grad_pre[1:].flatten(0, 1).t(), hs[:-1].flatten(0, 1))
    return grad


def _lstm_backward(grad_hs: Tensor, grad_cs: Tensor, weight_hh: Tensor, kept: list[_Step], mask: Tensor | None,
                   keep_h: Tensor | None, keep_c: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Backward through time (the equations in the module docstring; with zoneout, the part of a state's
    gradient that its previous value kept passes straight back, ``(1 - keep)`` of it).

    Args:
        grad_hs: ``(T, B, H)``, the loss's partial derivatives by every ``h_t``.
        grad_cs: ``(T, B, H)``, by every ``c_t``.
        weight_hh: ``(4H, H)``.
        kept: the forward's :class:`_Step` of every step.
        mask: recurrent dropout's ``(B, H)``, or ``None``.
        keep_h: zoneout's weights of the new ``h``: ``(T, B, H)`` of 0 and 1, or a number; or ``None``.
        keep_c: the same for ``c``.

    Returns:
        ``dpre (T, B, 4H)``, ``dh_0 (B, H)`` and ``dc_0 (B, H)``.
    """
    steps, batch, hidden = grad_hs.shape
    grad_pre = grad_hs.new_empty(steps, batch, 4, hidden)
    blocks_ifg, block_o = grad_pre[:, :, :3].unbind(0), grad_pre[:, :, 3].unbind(0)
    per_step = grad_pre.flatten(2).unbind(0)
    product = _recurrent_product(weight_hh.t(), batch)
    zero = grad_hs.new_zeros(batch, hidden)
    grads_h, grads_c = (*grad_hs.unbind(0)[:-1], zero), (*grad_cs.unbind(0)[:-1], zero)  # t - 1 from t; 0 before
    keeps_h, keeps_c = _per_step(keep_h, steps), _per_step(keep_c, steps)
    passes_h, passes_c = _per_step(None if keep_h is None else 1 - keep_h, steps), \
        _per_step(None if keep_c is None else 1 - keep_c, steps)
    grad_h, grad_c = grad_hs[-1], grad_cs[-1]  # the total derivatives by h_t and c_t
    for t in range(steps - 1, -1, -1):
        step = kept[t]
        grad_h_new = grad_h if keeps_h is None else grad_h * keeps_h[t]
        grad_c_new = grad_c if keeps_c is None else grad_c * keeps_c[t]
        dc = torch.addcmul(grad_c_new, grad_h_new, step.to_memory)
        torch.mul(step.factors_ifg, dc.unsqueeze(1), out=blocks_ifg[t])
        torch.mul(step.factor_o, grad_h_new, out=block_o[t])
        if mask is None:
            previous_h = product(per_step[t], grads_h[t - 1])
        else:
            previous_h = torch.addcmul(grads_h[t - 1], product(per_step[t], zero), mask)
        previous_c = torch.addcmul(grads_c[t - 1], dc, step.forget)
        if passes_h is not None:
            previous_h.addcmul_(grad_h, passes_h[t])
            previous_c.addcmul_(grad_c, passes_c[t])
        grad_h, grad_c = previous_h, previous_c
    return grad_pre.flatten(2), grad_h, grad_c
