"""The network: token embedding → recurrent stack → dropout → linear head over the vocabulary.

    x_t = E[id_t]                          (emb)
    h_t^l = cell(h_{t-1}^l, h_t^{l-1})     (hidden), l = 1…layers, h_t^0 = x_t
    p(id_{t+1} | id_≤t) = softmax(W h_t^L + b)

`forward(ids, state)` returns the state so a sampler can carry it and pay O(1) per new token.
Cells: `lstm`, `gru`, `rnn` use torch's fused modules (cuDNN on GPU); `scratch_lstm` writes the
gates out and matches nn.LSTM weight for weight; `peephole_lstm` adds Gers & Schmidhuber's
peepholes from the cell state to the gates. Knows nothing about music or files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from composer.errors import InputError

CELLS = ("lstm", "gru", "rnn", "scratch_lstm", "peephole_lstm")

# A recurrent state: (h, c) for the LSTM family, h alone for gru/rnn; each (layers, B, hidden).
State = Tensor | tuple[Tensor, Tensor]


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network. `tie_weights` shares the embedding with the head.

    Tying needs emb == hidden: no projection is added, so a tied model is the same network minus V·hidden
    weights (a projection would add hidden·emb back and a layer the state format does not show)."""

    vocab_size: int
    cell: str = "lstm"
    layers: int = 2
    emb: int = 256
    hidden: int = 512
    dropout: float = 0.2
    tie_weights: bool = False

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise InputError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.tie_weights and self.emb != self.hidden:
            raise InputError(f"tie_weights needs emb == hidden, got emb={self.emb} hidden={self.hidden}")
        if min(self.vocab_size, self.layers, self.emb, self.hidden) < 1:
            raise InputError("vocab_size, layers, emb and hidden must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), not {self.dropout}")


class ScratchLSTM(nn.Module):
    """A multi-layer LSTM with the gate equations written out; parameters named and laid out as nn.LSTM's.

    For each layer, with W_ih (4H, I), W_hh (4H, H) stacked as [input, forget, candidate, output]:
        i, f, g, o = split(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)
        h_t = σ(o) ⊙ tanh(c_t)
    With `peephole`, the gates also see the cell (diagonal weights p_i, p_f, p_o):
        i += p_i ⊙ c_{t-1},  f += p_f ⊙ c_{t-1},  o += p_o ⊙ c_t
    """

    def __init__(self, input_size: int, hidden: int, layers: int, dropout: float, peephole: bool = False) -> None:
        super().__init__()
        self.hidden, self.layers, self.dropout, self.peephole = hidden, layers, dropout, peephole
        k = 1.0 / math.sqrt(hidden)
        for layer in range(layers):
            in_size = input_size if layer == 0 else hidden
            for name, shape in (
                ("weight_ih", (4 * hidden, in_size)),
                ("weight_hh", (4 * hidden, hidden)),
                ("bias_ih", (4 * hidden,)),
                ("bias_hh", (4 * hidden,)),
            ):
                self.register_parameter(f"{name}_l{layer}", nn.Parameter(torch.empty(shape).uniform_(-k, k)))
            if peephole:
                self.register_parameter(f"peephole_l{layer}", nn.Parameter(torch.zeros(3, hidden)))

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h0, c0 = state  # (layers, B, H) each
        hs, cs = [], []
        for layer in range(self.layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}")
            b = getattr(self, f"bias_ih_l{layer}") + getattr(self, f"bias_hh_l{layer}")
            peep = getattr(self, f"peephole_l{layer}") if self.peephole else None
            gates_x = x @ w_ih.T + b  # (B, T, 4H): the input part of every gate, for all steps at once
            x, h, c = _lstm_scan(gates_x, w_hh, h0[layer], c0[layer], peep)
            hs.append(h)
            cs.append(c)
            if layer < self.layers - 1 and self.dropout > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
        return x, (torch.stack(hs), torch.stack(cs))


def _lstm_scan(
    gates_x: Tensor, w_hh: Tensor, h: Tensor, c: Tensor, peep: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one LSTM layer over time given the precomputed input projections; returns (outputs, h_T, c_T).

    Plain Python on purpose: torch.jit.script and a fused addmm measured no faster on CPU (torch 2.13)."""
    outputs = []
    for gx in gates_x.unbind(1):  # unbind, not gates_x[:, t]: each index's backward would fill a (B, T, 4H) zero grad
        i, f, g, o = (gx + h @ w_hh.T).chunk(4, dim=-1)  # each (B, H)
        if peep is not None:
            i = i + peep[0] * c
            f = f + peep[1] * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if peep is not None:
            o = o + peep[2] * c
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h, c  # (B, T, H), (B, H), (B, H)


class Model(nn.Module):
    """Next-token language model over event ids; `forward(ids, state) -> (logits, state)`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        cfg = config
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb)
        inner_dropout = cfg.dropout if cfg.layers > 1 else 0.0
        if cfg.cell in ("lstm", "gru", "rnn"):
            rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cfg.cell]
            self.rnn = rnn_class(cfg.emb, cfg.hidden, cfg.layers, batch_first=True, dropout=inner_dropout)
        else:
            self.rnn = ScratchLSTM(cfg.emb, cfg.hidden, cfg.layers, inner_dropout, peephole=cfg.cell == "peephole_lstm")
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)
        if cfg.tie_weights:
            self.head.weight = self.embed.weight  # (V, emb) shared; emb == hidden

    @property
    def is_lstm(self) -> bool:
        """True for the cells whose state is (h, c)."""
        return self.config.cell in ("lstm", "scratch_lstm", "peephole_lstm")

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        """The all-zero state for `batch` rows."""
        zeros = torch.zeros(self.config.layers, batch, self.config.hidden, device=device)
        return (zeros, zeros.clone()) if self.is_lstm else zeros

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """ids (B, T) → logits (B, T, V) and the state after the last step."""
        y, state = self.hidden_states(ids, state)
        return self.head(self.drop(y)), state  # (B, T, V)

    def hidden_states(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """ids (B, T) → the top layer's outputs h_t (B, T, hidden), before the head; what the cache keys on."""
        if state is None:
            state = self.init_state(ids.size(0), ids.device)
        return self.rnn(self.embed(ids), state)

    def num_parameters(self) -> int:
        """Trainable weights, a tied matrix counted once."""
        return sum(p.numel() for p in self.parameters())


def repeat_state(state: State, n: int) -> State:
    """A batch-1 state copied to `n` rows (batch is dim 1)."""
    if isinstance(state, tuple):
        return tuple(s.expand(-1, n, -1).contiguous() for s in state)
    return state.expand(-1, n, -1).contiguous()


def select_state(state: State, index: Tensor | int) -> State:
    """The rows `index` of a batched state."""
    if isinstance(state, tuple):
        return tuple(s[:, index] for s in state)
    return state[:, index]
