"""The neural cache (Grave, Joulin & Usunier 2017): the model also copies from earlier in the same piece.

Folk tunes repeat: the second A part is the first one again. An LSTM forgets the exact notes of
eight bars ago, but its hidden state on reaching the repeat looks like its state the first time.
So every step keeps (h_i, x_{i+1}) — the top layer's output and the token that followed it — and
the next-token distribution becomes

    p_cache(v | h_t) = Σ_{i<t, x_{i+1}=v} softmax_i(θ · h_t·h_i)       over the last `window` steps
    p(v)             = (1 − λ) · p_model(v | h_t) + λ · p_cache(v | h_t)

θ (sharpness) and λ (weight) are two numbers fit on training pieces after training; nothing is
learnt. Per step it costs O(window · hidden), constant in the piece's length.

With token `groups` (the tokenizer's kinds: pitch, duration, position, …) the cache only helps
choose *within* a kind: the model alone decides how likely a pitch is next, versus a position, and
the cache re-weights which pitch, as strongly as its own weight c_g = P_cache(g) on that kind. So it
never adds a chord note where the model expects a duration, or skips a beat where it expects a position:

    p(v) = (1 − λ · c_g(v)) · p_model(v) + λ · P_model(g(v)) · p_cache(v)     (each kind keeps P_model(g))

With one group (c = 1 once anything is cached) this is the plain mixture above.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from composer.errors import InputError

if TYPE_CHECKING:
    from composer.corpus.data import TokenCorpus

SHARPNESS_GRID = (0.1, 0.2, 0.3, 0.5, 1.0, 2.0)
WEIGHT_GRID = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


@dataclass(frozen=True)
class CacheConfig:
    """λ = `weight` (0: no cache), θ = `sharpness`, and how many past steps are kept."""

    weight: float = 0.0
    sharpness: float = 0.5
    window: int = 512

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight < 1.0:
            raise InputError(f"cache weight must be in [0, 1), not {self.weight}")
        if self.sharpness < 0 or self.window < 1:
            raise InputError(f"cache sharpness must be ≥ 0 and window ≥ 1, not {self.sharpness}, {self.window}")

    @property
    def enabled(self) -> bool:
        return self.weight > 0.0


def cache_weights(hidden: Tensor, sharpness: float, window: int) -> Tensor:
    """(B, T, T) attention of each step t over the steps i < t within `window`; rows with no past are 0."""
    T = hidden.size(1)
    scores = sharpness * hidden @ hidden.transpose(1, 2)  # (B, T, T): query t, key i
    pos = torch.arange(T, device=hidden.device)
    lag = pos[:, None] - pos[None, :]
    scores = scores.masked_fill(~((lag >= 1) & (lag <= window)), float("-inf"))
    return torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)  # row 0: all −inf → 0


def kind_index(kinds: Sequence[str]) -> Tensor:
    """(V,) group index of every id from its kind name (e.g. `tokenizer.table.kind_array()`)."""
    return torch.as_tensor(np.unique(np.asarray(kinds, dtype=object).astype(str), return_inverse=True)[1].reshape(-1))


def mix_sequence(log_probs: Tensor, hidden: Tensor, targets: Tensor, config: CacheConfig,
                 groups: Tensor | None = None) -> Tensor:
    """(B, T, V) log-probabilities of model and cache mixed, for whole sequences read at once.

    `targets[:, i]` is the token that followed step i; step t sees only targets[:, :t]."""
    if not config.enabled:
        return log_probs
    w = cache_weights(hidden.float(), config.sharpness, config.window)  # (B, T, T)
    one_hot = F.one_hot(targets.clamp(min=0), log_probs.size(-1)).float()  # (B, T, V)
    return _mix(log_probs.float(), w @ one_hot, config.weight, groups)


def _mix(log_probs: Tensor, p_cache: Tensor, weight: float, groups: Tensor | None) -> Tensor:
    """log p(v) of the module docstring; one group (None) is Grave et al.'s (1 − λ) p_model + λ p_cache."""
    p_model = log_probs.exp()
    groups = torch.zeros(p_model.size(-1), dtype=torch.long) if groups is None else groups
    index = groups.to(p_model.device).expand_as(p_model)
    mass_model, mass_cache = (torch.zeros(*p.shape[:-1], int(groups.max()) + 1, device=p.device)
                              .scatter_add_(-1, index, p).gather(-1, index) for p in (p_model, p_cache))
    return torch.log((1 - weight * mass_cache) * p_model + weight * mass_model * p_cache).clamp(min=-1e4)


class CacheMemory:
    """The cache of a batch being sampled: a ring of the last `window` (h, next token) pairs per row."""

    def __init__(self, config: CacheConfig, batch: int, hidden: int, device: torch.device,
                 groups: Tensor | None = None) -> None:
        self.config, self.groups = config, groups
        size = config.window
        self.keys = torch.zeros(batch, size, hidden, device=device)
        self.values = torch.zeros(batch, size, dtype=torch.long, device=device)
        self.count = 0

    def prime(self, hidden: Tensor, tokens: Tensor) -> None:
        """Fill an empty memory from a prefix read in one pass: hidden (T, H) of steps 0…T−1, tokens (T,) that
        followed each; every row gets the same last `window` of them."""
        k = min(len(tokens), self.config.window)
        self.keys[:, :k] = hidden[len(tokens) - k :]
        self.values[:, :k] = tokens[len(tokens) - k :]
        self.count = k

    def push(self, hidden: Tensor, tokens: Tensor) -> None:
        """Remember that `tokens` (B,) followed the states `hidden` (B, H)."""
        slot = self.count % self.config.window
        self.keys[:, slot] = hidden
        self.values[:, slot] = tokens
        self.count += 1

    def mix(self, logits: Tensor, hidden: Tensor) -> Tensor:
        """(B, V) log-probabilities of the next token: the model's `logits` mixed with the cache's guess."""
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        n = min(self.count, self.config.window)
        if n == 0 or not self.config.enabled:
            return log_probs
        scores = self.config.sharpness * torch.einsum("bh,bwh->bw", hidden.float(), self.keys[:, :n])
        w = torch.softmax(scores, dim=-1)  # (B, n)
        p_cache = torch.zeros_like(log_probs).scatter_add_(1, self.values[:, :n], w)
        return _mix(log_probs, p_cache, self.config.weight, self.groups)


@dataclass(frozen=True)
class CacheFit:
    """The chosen cache and the mean NLL per token of the fitting pieces without and with it."""

    config: CacheConfig
    nll_without: float
    nll_with: float
    n_pieces: int


@torch.no_grad()
def fit_cache(model: torch.nn.Module, pieces: Sequence[np.ndarray], window: int = 512,
              sharpness_grid: Sequence[float] = SHARPNESS_GRID, weight_grid: Sequence[float] = WEIGHT_GRID,
              device: str | torch.device = "cpu", groups: Tensor | None = None) -> CacheFit:
    """Grid-search θ and λ for the lowest NLL on `pieces` (each read whole, from its BOS), mixing as `_mix` does."""
    pieces = [p for p in pieces if len(p) >= 2]
    if not pieces:
        raise InputError("fitting the cache needs pieces of two or more tokens")
    model.eval()
    p_model, mass_model, p_cache = [], [], {s: [] for s in sharpness_grid}  # per target, as in _mix
    for piece in pieces:
        ids = torch.as_tensor(np.asarray(piece, dtype=np.int64), device=device)[None]  # (1, T+1)
        hidden, _ = model.hidden_states(ids[:, :-1])  # (1, T, H)
        target = ids[0, 1:]  # (T,)
        probs = torch.softmax(model.head(hidden).float(), dim=-1)[0]  # (T, V)
        group = (torch.zeros_like(target) if groups is None else groups.to(target.device)[target])  # (T,)
        p_model.append(probs.gather(1, target[:, None])[:, 0].double())
        if groups is None:
            mass_model.append(torch.ones_like(p_model[-1]))
        else:  # P_model(kind of the target)
            mass_model.append((probs * (groups.to(probs.device)[None, :] == group[:, None])).sum(-1).double())
        same_token = (target[None, :] == target[:, None]).float()  # (T, T): target i equals target t
        same_group = (group[None, :] == group[:, None]).float()
        for s in sharpness_grid:
            w = cache_weights(hidden.float(), s, window)[0]
            p_cache[s].append(((w * same_token).sum(-1).double(), (w * same_group).sum(-1).double()))
    pm, mm = torch.cat(p_model), torch.cat(mass_model)
    n_tokens = pm.numel()
    best = (float(-pm.log().mean()), CacheConfig(0.0, sharpness_grid[0], window))
    nll_without = best[0]
    for s, lam in itertools.product(sharpness_grid, weight_grid):
        pc = torch.cat([p for p, _ in p_cache[s]])
        mc = torch.cat([m for _, m in p_cache[s]])
        p = (1 - lam * mc) * pm + lam * mm * pc
        nll = float(-torch.log(p.clamp(min=1e-300)).sum() / n_tokens)
        if math.isfinite(nll) and nll < best[0]:
            best = (nll, CacheConfig(lam, s, window))
    return CacheFit(best[1], nll_without, best[0], len(pieces))


def fit_on_corpus(model: torch.nn.Module, corpus: TokenCorpus, train_ids: np.ndarray, window: int = 512,
                  n_pieces: int = 200, seed: int = 0, device: str | torch.device = "cpu") -> CacheFit:
    """Fit on up to `n_pieces` training pieces drawn at random: never the held-out ones, which stay for evaluation.
    The cache works within the corpus tokenizer's kinds."""
    pick = np.random.default_rng(seed).choice(train_ids, min(n_pieces, len(train_ids)), replace=False)
    return fit_cache(model, corpus.pieces(np.sort(pick)), window=window, device=device,
                     groups=kind_index(corpus.tokenizer.table.kind_array()))


def fit_record(fit: CacheFit) -> dict[str, float | int]:
    """What a checkpoint keeps of how its cache was chosen."""
    return {"pieces": fit.n_pieces, "nll_without": fit.nll_without, "nll_with": fit.nll_with}
