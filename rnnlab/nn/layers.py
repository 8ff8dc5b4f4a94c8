"""Recurrent layers: cells unfolded over time, stacked, optionally bidirectional.

:class:`Recurrent` builds a layer from any :class:`~rnnlab.nn.cell.Cell`;
:class:`RNN`, :class:`LSTM` and :class:`GRU` are drop-in replacements for
torch.nn's modules of the same names: the same constructor arguments, input
forms (3-D, 2-D unbatched, ``PackedSequence``), return values, parameter names
(``weight_ih_l0_reverse``), initialisation and ``state_dict``.

Three engines compute the same function:

* ``"unrolled"``: our cells through :func:`rnnlab.nn.unroll.unroll`.  Works for any
  cell and can record a trace of every step.
* ``"native"``: PyTorch's fused kernels (oneDNN on CPU, cuDNN on GPU), for the
  standard cells.
* ``"scan"``: for cells whose step is linear in the state (:class:`MinGRU`,
  :class:`MinLSTM`), every step at once through :func:`rnnlab.nn.scan.linear_scan`.

``engine="auto"`` (the default) uses ``native`` when the cell has one, else ``scan``
when the cell has one, else ``unrolled``; :meth:`Recurrent.trace` always unrolls.  Under ``torch.export``
(and so ``torch.onnx.export(..., dynamo=True)``), every engine runs as one loop of the graph,
:func:`rnnlab.nn.unroll.graph_unroll`, so that the number of steps stays dynamic.

Shapes: ``T`` time steps, ``B`` batch, ``L`` layers, ``D`` directions (2 if
bidirectional), ``I`` input features, ``H`` the cell's output size.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab.nn.cell import Cell, ShapeError, State, check_dtype_device, check_state
from rnnlab.nn.cells import GRUCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnlab.nn.sequence import check_lengths, padding_mask
from rnnlab.nn.unroll import Trace, graph_unroll, unroll

ENGINES = ("auto", "native", "scan", "unrolled")

_NATIVE_KERNELS = {
    "LSTM": torch._VF.lstm,
    "GRU": torch._VF.gru,
    "RNN_TANH": torch._VF.rnn_tanh,
    "RNN_RELU": torch._VF.rnn_relu,
}


class Recurrent(nn.Module):
    """A stacked, optionally bidirectional recurrent layer built from any cell.

    Args:
        cell: a :class:`~rnnlab.nn.cell.Cell` class (or factory) called as
            ``cell(input_size, hidden_size, **cell_kwargs)`` once per layer and direction.
        input_size: ``I``, features of each input step (as torch.nn.LSTM).
        hidden_size: ``H``, the cell's size (as torch.nn.LSTM).
        num_layers: layers stacked, each reading the outputs of the one below.
        batch_first: inputs and outputs ``(B, T, features)`` instead of ``(T, B, features)``.
        dropout: applied to the outputs of every layer but the last, in training mode.
        bidirectional: also read every sequence backwards; outputs concatenate both directions.
        engine: ``"auto"``, ``"native"``, ``"scan"`` or ``"unrolled"`` (see the module docstring).
        merge_mode: how a bidirectional layer's output joins its directions: ``"concat"`` (torch.nn's,
            ``2H`` features), ``"sum"``, ``"mul"`` or ``"ave"`` (``H`` features, Keras' ``merge_mode``).  Only
            the last layer's output is merged (the layers below read both directions side by side, as
            torch.nn's); ``h_n`` keeps torch.nn's layout.
        recurrent_dropout: variational dropout of the recurrent state (Gal & Ghahramani 2016; Keras'
            ``recurrent_dropout``): in training, ``h_{t-1}`` is multiplied by one mask per sequence, the same at
            every step, where it enters the recurrent matrices (the memory it carries, as the GRU's
            ``z * h_{t-1}`` or an LSTM's ``c``, is not dropped: :meth:`~rnnlab.nn.cell.Cell.dropped_step`);
            the input is not dropped by it.  Runs the unrolled engine in training; the identity in evaluation.
            0: off.
        weight_drop: DropConnect on the recurrent matrices (Merity et al. 2018, AWD-LSTM): in training,
            each ``weight_hh_*`` is dropped with this probability, one mask per forward call (the same
            at every step), and the native kernel runs with the dropped matrices.  0: off.
        zoneout: (Krueger et al. 2017) in training each unit of the state keeps its previous value with
            this probability at every step; in evaluation the state is the expectation.  Runs the
            unrolled engine.  0: off.
        cell_kwargs: passed to every cell (for example ``bias``, ``device``, ``dtype``).

    Parameters are registered under torch.nn's names: a cell's ``weight_ih`` of layer ``k`` is
    ``weight_ih_lk``, and ``weight_ih_lk_reverse`` in the reverse direction (dots in nested names
    become underscores: ``ln_ih.weight`` -> ``ln_ih_weight_l0``).

    Forward: ``layer(input, hx=None, *, lengths=None) -> (output, h_n)``

    * ``input``: ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``), ``(T, I)`` unbatched, or a
      ``PackedSequence``.
    * ``hx``: the initial state, each tensor ``(L * D, B, size)`` (``(L * D, size)`` unbatched); a
      tensor for one-tensor states (RNN, GRU), a tuple otherwise (LSTM: ``(h_0, c_0)``).
    * ``lengths`` (rnnlab's addition): ``(B,)`` lengths of padded sequences, an alternative to packing;
      padded outputs are zero and ``h_n`` is each sequence's state at its own last step.
    * ``output``: ``(T, B, D * H)`` (``(T, B, H)`` with a merging ``merge_mode``) in the input's layout
      (a ``PackedSequence`` for packed input);
      ``h_n``: the final state in ``hx``'s form.
    """

    def __init__(
        self,
        cell: Callable[..., Cell],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        engine: str = "auto",
        merge_mode: str = "concat",
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        **cell_kwargs,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"{name}: merge_mode must be one of {MERGE_MODES}, got {merge_mode!r}")
        if merge_mode != "concat" and not bidirectional:
            raise ValueError(f"{name}: merge_mode={merge_mode!r} merges the two directions of a bidirectional "
                             "layer; give bidirectional=True")
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name}: {arg} must be an int, got {type(value).__name__} {value!r}")
            if value <= 0:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}")
        for arg, value in (("batch_first", batch_first), ("bias", cell_kwargs.get("bias", True))):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {arg} must be a bool (True or False), got {type(value).__name__} {value!r}")
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} has no effect with num_layers=1 "
                          "(it applies between layers)", stacklevel=2)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.cell_kwargs = dict(cell_kwargs)

        # The cells live in a plain list, not as submodules: their parameters (and buffers) are
        # registered on the layer itself under torch.nn's flat names and bound back into the cells
        # at each call, so that the layer's state_dict and attributes are exactly torch.nn's.
        cells: list[Cell] = []
        self._binding: list[tuple[int, str, str, bool]] = []  # (cell index, inner name, flat name, is buffer)
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                in_size = input_size if layer == 0 else cells[0].output_size * self.num_directions
                c = cell(in_size, hidden_size, **cell_kwargs)
                if not isinstance(c, Cell):
                    raise TypeError(f"{name}: cell must build an rnnlab Cell, got {type(c).__name__}")
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for is_buffer, named in ((False, c.named_parameters()), (True, c.named_buffers())):
                    for inner, tensor in named:
                        flat = inner.replace(".", "_") + suffix
                        if hasattr(self, flat):
                            raise ValueError(f"{name}: two tensors of the cell map to the same name {flat!r}")
                        if is_buffer:
                            self.register_buffer(flat, tensor)
                        else:
                            self.register_parameter(flat, tensor)
                        self._binding.append((len(cells), inner, flat, is_buffer))
                cells.append(c)
        self._cells = cells
        self.engine = engine  # validated by the setter below
        self.regularise(recurrent_dropout=recurrent_dropout, zoneout=zoneout, weight_drop=weight_drop)

    def regularise(self, *, recurrent_dropout: float | None = None, zoneout: float | None = None,
                   weight_drop: float | None = None) -> Recurrent:
        """Set the recurrent regularisers (see the class docstring; ``None`` leaves one as it is), checked:
        each a probability in ``[0, 1)``, and ``weight_drop`` and ``recurrent_dropout`` only on a cell with
        recurrent matrices (not the parallel-scan cells)."""
        name = type(self).__name__
        given = {"recurrent_dropout": recurrent_dropout, "zoneout": zoneout, "weight_drop": weight_drop}
        for arg, value in given.items():
            if value is None:
                continue
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value < 1:
                raise ValueError(f"{name}: {arg} must be a probability in [0, 1), got {value!r}")
            if arg == "weight_drop" and value and not self.has_recurrent_matrices:
                raise ValueError(f"{name}: weight_drop={value} drops recurrent weights (weight_hh_*), and "
                                 f"{type(self._cells[0]).__name__} has none")
            if arg == "recurrent_dropout" and value and self.scannable:
                raise ValueError(f"{name}: recurrent_dropout={value} drops h_(t-1) where it enters the recurrent "
                                 f"matrices, and {type(self._cells[0]).__name__} has none (its state is only "
                                 "carried, h_t = a_t * h_(t-1) + b_t)")
            setattr(self, arg, float(value))
        return self

    # ----------------------------------------------------------------- engine
    @property
    def engine(self) -> str:
        return self._engine

    @engine.setter
    def engine(self, value: str) -> None:
        if value not in ENGINES:
            raise ValueError(f"{type(self).__name__}: engine must be one of {ENGINES}, got {value!r}")
        if value == "native" and self.native_mode is None:
            raise ValueError(f"{type(self).__name__}: engine='native' needs a standard cell (RNN, LSTM, GRU); "
                             f"{type(self._cells[0]).__name__} has none")
        if value == "scan" and not self.scannable:
            raise ValueError(f"{type(self).__name__}: engine='scan' needs a cell whose step is linear in the state "
                             f"(MinGRUCell, MinLSTMCell: a scan method); {type(self._cells[0]).__name__} "
                             "has none")
        self._engine = value

    @property
    def has_recurrent_matrices(self) -> bool:
        """Whether the cell has recurrent weights (``weight_hh_*``) for ``weight_drop`` to drop: not the
        parallel-scan cells, whose gates read the input alone."""
        return any(flat.startswith("weight_hh") for flat in self._flat_weights_names)

    @property
    def scannable(self) -> bool:
        """Whether the cell can run every step at once (it has a ``scan`` method, as the cells whose
        recurrence is ``h_t = a_t * h_{t-1} + b_t``), so the ``"scan"`` engine can run it."""
        return callable(getattr(self._cells[0], "scan", None)) and len(self.state_sizes) == 1

    @property
    def native_mode(self) -> str | None:
        """The fused kernel for this layer's cell, or ``None`` when it has none."""
        mode = getattr(self._cells[0], "native_mode", None)
        return mode if mode in _NATIVE_KERNELS and type(self._cells[0]) in (RNNCell, LSTMCell, GRUCell) else None

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Features of each output step: ``D * H`` (``H`` when ``merge_mode`` merges the directions)."""
        return self.state_sizes[0] * (1 if self.merge_mode != "concat" else self.num_directions)

    @property
    def state_sizes(self) -> tuple[int, ...]:
        """Feature size of each state tensor (for an LSTM with projection: ``(proj_size, hidden_size)``)."""
        return self._cells[0].state_sizes

    def cells(self) -> list[Cell]:
        """The cell of every layer and direction (index ``layer * D + direction``), bound to the current parameters."""
        for index, inner, flat, is_buffer in self._binding:
            owner, _, leaf = inner.rpartition(".")
            module = self._cells[index].get_submodule(owner)
            if is_buffer:
                module._buffers[leaf] = self._buffers[flat]
            else:  # through the attribute, so a parametrisation (weight_norm, spectral_norm, ...) applies
                module._parameters[leaf] = self._weight(flat)
        return self._cells

    def __getstate__(self) -> dict:
        """The layer for a copy or a pickle, its cells unbound from the parameters first (:meth:`cells` binds them
        again on its next call): a binding may hold a tensor that cannot be copied, such as weight-drop's dropped
        matrix after a training step, a parametrisation's output, or an export's placeholder tensors."""
        for index, inner, _, is_buffer in self._binding:
            owner, _, leaf = inner.rpartition(".")
            module = self._cells[index].get_submodule(owner)
            (module._buffers if is_buffer else module._parameters)[leaf] = None
        return super().__getstate__()

    def _weight(self, flat: str) -> Tensor:
        """The parameter ``flat`` as the cells and kernels use it: read through its attribute (so that
        parametrisations apply), and with ``weight_drop`` in training, a recurrent matrix dropped
        (DropConnect: a fresh mask per forward call, rescaled by ``1 / (1 - p)``)."""
        weight = getattr(self, flat)
        if self.weight_drop and self.training and flat.startswith("weight_hh"):
            return F.dropout(weight, self.weight_drop, training=True)
        return weight

    @torch.no_grad()
    def constrain_(self) -> None:
        """Project the parameters of every cell that constrains them back onto their set, in place
        (:meth:`~rnnlab.nn.long_memory.IndRNNCell.constrain_`); the training step calls it after every
        update, on every module that has it."""
        for cell in self.cells():
            constrain = getattr(cell, "constrain_", None)
            if callable(constrain):
                constrain()

    # ---------------------------------------------------------------- forward
    _recorder: Callable | None = None  # set by rnnlab.nn.diagnostics.recording: receives every forward's traces

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | State | None = None, *,
                lengths: Tensor | None = None):
        recorder = self._recorder
        output, state, traces = self._run(input, hx, lengths, trace=recorder is not None)
        if recorder is not None:
            recorder(self, input, lengths, traces)
        return output, state

    def trace(self, input: Tensor | PackedSequence, hx: Tensor | State | None = None, *,
              lengths: Tensor | None = None) -> tuple[Tensor | PackedSequence, Tensor | State, list[Trace]]:
        """Like ``forward``, through the unrolled engine, also returning a :class:`~rnnlab.nn.unroll.Trace`
        for every layer and direction (index ``layer * D + direction``), time-major ``(T, B, ...)``."""
        return self._run(input, hx, lengths, trace=True)

    def _run(self, input, hx, lengths, trace: bool):
        """Check the input, pick the engine, and return ``(output, h_n, traces)`` in torch.nn's forms."""
        self._check_input(input, lengths)
        stepwise = trace or self.zoneout or (self.recurrent_dropout and self.training)
        engine = "unrolled" if stepwise else self.engine
        if engine == "auto":
            engine = "native" if self.native_mode is not None else ("scan" if self.scannable else "unrolled")
        if torch.compiler.is_exporting():
            engine = self._export_engine(input, trace)
        if isinstance(input, PackedSequence):
            output, final, traces = self._run_packed(input, hx, engine, trace)
        else:
            output, final, traces = self._run_padded(input, hx, lengths, engine, trace)
        h_n = final[0] if len(final) == 1 else final
        output = merge_directions(output, self.merge_mode)
        return output, h_n, traces

    def _export_engine(self, input, trace: bool) -> str:
        """``"graph"``: under ``torch.export``, every engine runs as one loop of the graph
        (:func:`~rnnlab.nn.unroll.graph_unroll`), the same function in evaluation, with ``T`` symbolic."""
        name = type(self).__name__
        if self.training:
            raise ValueError(f"{name}: export runs the layer in evaluation; call model.eval() first")
        if trace:
            raise ValueError(f"{name}: a traced (recorded) forward cannot be exported")
        if isinstance(input, PackedSequence):
            raise ValueError(f"{name}: a PackedSequence cannot be exported; give the padded batch and lengths")
        return "graph"

    def _run_packed(self, packed: PackedSequence, hx, engine: str, trace: bool):
        state = self._initial_state(hx, int(packed.batch_sizes[0]), False, packed.data)
        if engine == "native":
            output, final = self._native_packed(packed, state)
            return output, final, []
        padded, lengths = pad_packed_sequence(packed)  # batch in the original order, as hx and h_n
        out, final, traces = self._stacked(padded, state, lengths.to(padded.device), engine, trace)
        return _repack(out, lengths, packed), final, traces

    def _run_padded(self, input: Tensor, hx, lengths, engine: str, trace: bool):
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        if x.shape[0] == 0:  # torch.nn's layers refuse it with this message, whichever engine runs
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        if engine == "graph":  # the values of lengths are unknown while exporting: trusted, not checked
            lengths = None if lengths is None else torch.as_tensor(lengths, device=x.device)
        else:
            lengths = check_lengths(lengths, x.shape[1], x.shape[0], x.device)
        if engine != "graph" and lengths is not None and int(lengths.min()) == x.shape[0]:
            lengths = None  # every sequence fills the batch: nothing to mask or pack
        state = self._initial_state(hx, x.shape[1], unbatched, x)
        traces: list[Trace] = []
        if engine == "native" and lengths is not None:
            packed_out, final = self._native_packed(pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False),
                                                    state)
            out = pad_packed_sequence(packed_out, total_length=x.shape[0])[0]
        elif engine == "native":
            out, final = self._native(x, state)
        else:
            out, final, traces = self._stacked(x, state, lengths, engine, trace)
        if unbatched:
            return out.squeeze(1), tuple(s.squeeze(1) for s in final), traces
        return (out.transpose(0, 1) if self.batch_first else out), final, traces

    def _check_input(self, input, lengths) -> None:
        name = type(self).__name__
        reference = next(self.parameters(), None)
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(f"{name}: lengths cannot be given with a PackedSequence, which carries its own")
            self._check_features(input.data, "input (PackedSequence.data)")
            check_dtype_device(name, "input", input.data, reference)
            return
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor or PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            layout = "(batch, seq_len, input_size)" if self.batch_first else "(seq_len, batch, input_size)"
            raise ShapeError(f"{name}: input must be 3-D {layout} or 2-D (seq_len, input_size), "
                             f"got {input.dim()}-D with shape {tuple(input.shape)}")
        self._check_features(input, "input")
        check_dtype_device(name, "input", input, reference)
        if input.dim() == 2 and lengths is not None:
            raise ShapeError(f"{name}: lengths needs batched input, got unbatched input of shape "
                             f"{tuple(input.shape)}")

    def _check_features(self, x: Tensor, label: str) -> None:
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__}: {label} must have input_size={self.input_size} features "
                             f"in its last dimension, got shape {tuple(x.shape)}")

    def _initial_state(self, hx, batch: int, unbatched: bool, like: Tensor) -> State:
        """``hx`` checked and as a tuple of batched ``(L * D, B, size)`` tensors; zeros when omitted."""
        name, sizes, layers = type(self).__name__, self.state_sizes, self.num_layers * self.num_directions
        if hx is None:
            return tuple(like.new_zeros(layers, batch, size) for size in sizes)
        if len(sizes) == 1 and not isinstance(hx, Tensor):
            raise TypeError(f"{name}: hx must be a Tensor, got {type(hx).__name__}")
        if len(sizes) > 1 and (isinstance(hx, Tensor) or len(hx) != len(sizes)):
            raise TypeError(f"{name}: hx must be a tuple of {len(sizes)} tensors, got {_describe(hx)}")
        given = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        shapes = [(layers, size) if unbatched else (layers, batch, size) for size in sizes]
        form = "(num_layers * num_directions, " + ("" if unbatched else "batch, ") + "size)"
        state = check_state(name, "hx", given, shapes, like, form)
        return tuple(h.unsqueeze(1) for h in state) if unbatched else state

    # ---------------------------------------------------------------- engines
    def _stacked(self, x: Tensor, state: State, lengths: Tensor | None, engine: str, trace: bool):
        """``x (T, B, I)`` through every layer and direction, each unrolled, scanned (``engine="scan"``) or
        as one loop of the graph (``"graph"``); returns ``(T, B, D * H)``, the final state and the traces."""
        cells, directions = self.cells(), self.num_directions
        finals: list[State] = []
        traces: list[Trace] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                initial = tuple(s[k] for s in state)
                if engine == "scan":
                    out, final = _scanned(cells[k], layer_input, initial, lengths, reverse=direction == 1)
                elif engine == "graph":
                    out, final = graph_unroll(cells[k], layer_input, initial, lengths=lengths,
                                              reverse=direction == 1, zoneout=self.zoneout)
                else:
                    run = unroll(cells[k], layer_input, initial, lengths=lengths, reverse=direction == 1, trace=trace,
                                 zoneout=self.zoneout, recurrent_dropout=self.recurrent_dropout,
                                 training=self.training)
                    out, final = run.outputs, run.state
                    if trace:
                        traces.append(run.trace)
                outputs.append(out)
                finals.append(final)
            layer_input = torch.cat(outputs, dim=-1) if directions == 2 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        return layer_input, tuple(torch.stack(s) for s in zip(*finals)), traces

    def _native_args(self, state: State):
        hx = state if len(state) > 1 else state[0]
        return hx, self._flat_weights, self._cells[0].bias, self.num_layers, self.dropout, self.training, \
            self.bidirectional

    def _native(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        kernel = _NATIVE_KERNELS[self._require_native()]
        result = call_kernel(kernel, x, *self._native_args(state), False)
        return result[0], tuple(result[1:])

    def _native_packed(self, packed: PackedSequence, state: State) -> tuple[PackedSequence, State]:
        kernel = _NATIVE_KERNELS[self._require_native()]
        if packed.sorted_indices is not None:
            state = tuple(s.index_select(1, packed.sorted_indices) for s in state)
        result = call_kernel(kernel, packed.data, packed.batch_sizes, *self._native_args(state))
        final = tuple(result[1:])
        if packed.unsorted_indices is not None:
            final = tuple(s.index_select(1, packed.unsorted_indices) for s in final)
        output = PackedSequence(result[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return output, final

    def _require_native(self) -> str:
        mode = self.native_mode
        if mode is None:
            raise ValueError(f"{type(self).__name__}: no native engine for {type(self._cells[0]).__name__}")
        return mode

    # ------------------------------------------------- torch.nn compatibility
    @property
    def _flat_weights_names(self) -> list[str]:
        return [flat for _, _, flat, is_buffer in self._binding if not is_buffer]

    @property
    def _flat_weights(self) -> list[Tensor]:
        """The weights in the fused kernels' order, each read through its attribute, so that a
        parametrisation registered on the layer (``torch.nn.utils.parametrizations.weight_norm``,
        ``spectral_norm``, ``orthogonal``, ``register_parametrization``) gives the kernel its result."""
        return [self._weight(name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped by layer and direction, as torch.nn's ``all_weights``."""
        groups: list[list[nn.Parameter]] = [[] for _ in self._cells]
        for index, _, flat, is_buffer in self._binding:
            if not is_buffer:
                groups[index].append(getattr(self, flat))
        return groups

    def flatten_parameters(self) -> None:
        """Accepted for compatibility: the native kernels read the parameters where they are."""

    def reset_parameters(self) -> None:
        """Re-initialise every cell as at construction (torch.nn's uniform rule for the standard cells)."""
        for c in self.cells():
            c.reset_parameters()

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if getattr(self, "proj_size", 0):
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.cell_kwargs.get("bias", True) is not True:
            text += f", bias={self.cell_kwargs['bias']}"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        if self.merge_mode != "concat":
            text += f", merge_mode={self.merge_mode!r}"
        for option in ("recurrent_dropout", "zoneout", "weight_drop"):
            if getattr(self, option):
                text += f", {option}={getattr(self, option)}"
        if type(self) is Recurrent and self.native_mode is None:
            text += f", cell={type(self._cells[0]).__name__}"
        if self.engine != "auto":
            text += f", engine={self.engine!r}"
        return text


class RNN(Recurrent):
    """Drop-in for ``torch.nn.RNN`` (vanilla tanh or relu recurrence); see :class:`Recurrent`, whose keyword-only
    options (``engine``, ``merge_mode``, ``recurrent_dropout``, ``zoneout``, ``weight_drop``) it also takes."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, proj_size: int = 0, **options) -> None:
        _refuse_projection(proj_size)
        super().__init__(RNNCell, input_size, hidden_size, num_layers, batch_first=batch_first, dropout=dropout,
                         bidirectional=bidirectional, bias=bias, nonlinearity=nonlinearity, device=device,
                         dtype=dtype, **options)
        self.bias, self.nonlinearity, self.proj_size = bias, nonlinearity, 0
        self.mode = self.native_mode


class LSTM(Recurrent):
    """Drop-in for ``torch.nn.LSTM`` (with ``proj_size``); see :class:`Recurrent` (and its keyword-only options).
    ``hx`` is ``(h_0, c_0)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None, **options) -> None:
        super().__init__(LSTMCell, input_size, hidden_size, num_layers, batch_first=batch_first, dropout=dropout,
                         bidirectional=bidirectional, bias=bias, proj_size=proj_size, device=device, dtype=dtype,
                         **options)
        self.bias, self.proj_size, self.mode = bias, proj_size, "LSTM"


class GRU(Recurrent):
    """Drop-in for ``torch.nn.GRU``; see :class:`Recurrent` (and its keyword-only options)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, proj_size: int = 0, **options) -> None:
        _refuse_projection(proj_size)
        super().__init__(GRUCell, input_size, hidden_size, num_layers, batch_first=batch_first, dropout=dropout,
                         bidirectional=bidirectional, bias=bias, device=device, dtype=dtype, **options)
        self.bias, self.proj_size, self.mode = bias, 0, "GRU"


MERGE_MODES = ("concat", "sum", "mul", "ave")
"""How a bidirectional layer's output joins its two directions (Keras' ``merge_mode``): side by side
(torch.nn's ``(..., 2H)``), or element-wise sum, product or mean ``(..., H)``."""


def merge_directions(output: Tensor | PackedSequence, mode: str) -> Tensor | PackedSequence:
    """Both directions' features ``(..., 2H)`` (forward, then backward) merged by ``mode`` (one of
    :data:`MERGE_MODES`) into ``(..., H)``; ``"concat"`` leaves them as they are."""
    if mode == "concat":
        return output
    if isinstance(output, PackedSequence):
        return output._replace(data=merge_directions(output.data, mode))
    forward, backward = output.chunk(2, dim=-1)
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    return (forward + backward) / 2


def _refuse_projection(proj_size: int) -> None:
    """torch.nn's RNN and GRU take ``proj_size`` only to refuse any but 0: so do these."""
    if proj_size != 0:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")


def native_unroll(cell: Cell, x: Tensor, state: State) -> tuple[Tensor, State]:
    """One standard cell (``cell.native_mode`` set) over every step of ``x (T, B, I)`` through PyTorch's
    fused kernel, from ``state`` (each tensor ``(B, size)``, as :meth:`~rnnlab.nn.cell.Cell.step` takes it):
    outputs ``(T, B, P)`` and the final state, the same function as stepping the cell ``T`` times."""
    kernel = _NATIVE_KERNELS[cell.native_mode]
    hx = tuple(s.unsqueeze(0) for s in state)
    weights = [p for p in (getattr(cell, name, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                                                    "weight_hr")) if p is not None]
    result = call_kernel(kernel, x, hx if len(hx) > 1 else hx[0], weights, cell.bias, 1, 0.0, cell.training, False,
                         False)
    return result[0], tuple(s.squeeze(0) for s in result[1:])


AUTOCAST_LOWERED = (torch._VF.lstm, torch._VF.rnn_tanh, torch._VF.rnn_relu)
"""The fused kernels CPU autocast runs in its 16-bit dtype (it leaves the GRU's in float32)."""


def call_kernel(kernel: Callable, x: Tensor, *args) -> tuple[Tensor, ...]:
    """``kernel(x, *args)``, one of PyTorch's fused recurrent kernels.

    Under ``torch.compile`` it runs eagerly (a graph break, as torch.nn's recurrent layers get): inductor
    cannot lower the oneDNN kernel (``aten.mkldnn_rnn_layer``), so compiling through it fails.  The
    eager wrapper is made on first use, so that importing rnnlab does not import the compiler.

    oneDNN has no 16-bit recurrent kernel on a CPU without native bfloat16 (AVX512-BF16 or AMX): there a
    bf16 or fp16 call (under autocast, or with 16-bit tensors) fails inside torch, torch.nn's layers
    included.  It runs in float32 instead, and its results come back in the 16-bit dtype.  Under
    autocast, only the kernels autocast lowers (:data:`AUTOCAST_LOWERED`) come back in 16 bits: a GRU
    stays in float32, as torch.nn's does.
    """
    if torch.compiler.is_compiling():
        return _eager_kernel_call()(kernel, x, *args)
    return _kernel_call(kernel, x, *args)


_EAGER_KERNEL_CALL: list[Callable] = []


def _eager_kernel_call() -> Callable:
    """:func:`_kernel_call`, never traced by the compiler (made once, on first use)."""
    if not _EAGER_KERNEL_CALL:
        _EAGER_KERNEL_CALL.append(torch.compiler.disable(_kernel_call))
    return _EAGER_KERNEL_CALL[0]


def _kernel_call(kernel: Callable, x: Tensor, *args) -> tuple[Tensor, ...]:
    """The kernel call of :func:`call_kernel`, with its float32 fallback for 16-bit on CPUs without bf16."""
    lowered = torch.is_autocast_enabled("cpu") and any(kernel is k for k in AUTOCAST_LOWERED)
    low = torch.get_autocast_dtype("cpu") if lowered else x.dtype
    if x.device.type != "cpu" or low not in (torch.bfloat16, torch.float16) or native_cpu_bf16():
        return kernel(x, *args)
    with torch.autocast("cpu", enabled=False):
        result = kernel(_in_float32(x), *_in_float32(args))
    return tuple(r.to(low) for r in result)


def _in_float32(value):
    """``value`` with every floating-point tensor in it (also inside lists and tuples) as float32."""
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_in_float32(v) for v in value)
    return value


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX512-BF16 or AMX)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def _scanned(cell: Cell, x: Tensor, state: State, lengths: Tensor | None, reverse: bool) -> tuple[Tensor, State]:
    """One layer and direction of a linear-recurrence cell over ``x (T, B, I)``, every step at once:
    outputs ``(T, B, H)`` (zero at padded steps) and the final state, as :func:`~rnnlab.nn.unroll.unroll`."""
    h = cell.scan(cell.project_input(x), state[0], lengths, reverse)
    final = h[0] if reverse else h[-1]  # the state is frozen after each sequence's end
    if lengths is not None:
        h = h.masked_fill(padding_mask(lengths, h.shape[0]).unsqueeze(-1), 0.0)
    return h, (final,)


def _repack(padded: Tensor, lengths: Tensor, like: PackedSequence) -> PackedSequence:
    """Pack ``padded (T, B, H)`` (batch in original order) with exactly ``like``'s layout."""
    if like.sorted_indices is not None:
        padded, lengths = padded.index_select(1, like.sorted_indices), lengths[like.sorted_indices.cpu()]
    data = pack_padded_sequence(padded, lengths.cpu(), enforce_sorted=True).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class _MinimalLayer(Recurrent):
    """A layer of :attr:`cell_class` (a cell linear in its one-tensor state) with torch.nn.GRU's interface."""

    cell_class: type[Cell]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, **options) -> None:
        super().__init__(self.cell_class, input_size, hidden_size, num_layers, batch_first=batch_first,
                         dropout=dropout, bidirectional=bidirectional, bias=bias, device=device, dtype=dtype,
                         **options)
        self.bias, self.proj_size = bias, 0


class MinGRU(_MinimalLayer):
    """Stacked, optionally bidirectional minGRU (:class:`~rnnlab.nn.cells.MinGRUCell`), with torch.nn.GRU's
    interface; see :class:`Recurrent`.  ``engine="auto"`` scans in parallel over time; ``"unrolled"``
    steps the cell (the reference, and traces).  Parameters: ``weight_ih_l{k}[_reverse]``, ``bias_ih_l{k}...``."""

    cell_class = MinGRUCell


class MinLSTM(_MinimalLayer):
    """Stacked, optionally bidirectional minLSTM (:class:`~rnnlab.nn.cells.MinLSTMCell`), with a GRU-like
    one-tensor state ``h`` (a minLSTM has no separate cell state); see :class:`MinGRU`."""

    cell_class = MinLSTMCell


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f"a Tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} of length {len(value)}" if hasattr(value, "__len__") else type(value).__name__
