"""What every task model does with its recurrent layer's final state.

Shapes: ``L`` layers, ``D`` directions, ``B`` batch, ``H`` hidden features.
"""

from __future__ import annotations

from torch import Tensor

from rnnlab.nn.layers import merge_directions


def top_layer_state(h_n: Tensor | tuple[Tensor, ...], num_directions: int, merge_mode: str = "concat") -> Tensor:
    """The top layer's final output state, directions concatenated: ``h_n`` as a layer returns it
    (``(L * D, B, H)``, or a tuple whose first tensor is that, for an LSTM) -> ``(B, D * H)``; or merged
    by ``merge_mode`` (``"sum"``, ``"mul"``, ``"ave"``) -> ``(B, H)``, as the layer merges its outputs.

    With ``lengths``, the forward direction's state is each sequence's at its last real step and the
    backward direction's at step 0: the ends of what each direction read.
    """
    h = h_n if isinstance(h_n, Tensor) else h_n[0]
    top = h[-num_directions:]  # (D, B, H), forward first
    return merge_directions(top.transpose(0, 1).reshape(h.shape[1], -1), merge_mode)
