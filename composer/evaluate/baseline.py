"""The yardstick: an interpolated (modified) Kneser–Ney n-gram model over token ids, n = 1…10.

For order n, with context h of n−1 tokens, h' its last n−2 tokens, and a count function a_k:
    p_k(w | h) = max(a_k(h w) − D_k(a), 0) / A_k(h)  +  γ_k(h) · p_{k−1}(w | h')
    γ_k(h)     = (D_k1 N1(h •) + D_k2 N2(h •) + D_k3 N3+(h •)) / A_k(h),   A_k(h) = Σ_w a_k(h w)
    p_0(w)     = 1 / V                      (so unseen tokens keep a non-zero probability)
a_n is the raw count c(h w); a lower level k < n uses the continuation count N1+(• h w), the number
of distinct tokens seen before h w. A context never seen (A_k(h) = 0) falls through to p_{k−1}.

Every sequence is read as if preceded by PAD tokens (an extra id V, never predicted); its first
token is given and every later one is scored. One fit at the highest order holds the statistics
of every lower order too, so `perplexity_by_order` counts the corpus once.

n-grams get exact integer ids level by level with numpy: the k-gram ending at t is the pair
(id of the (k−1)-gram ending at t−1, token t), and np.unique numbers the distinct pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from composer.errors import InputError

MAX_ORDER = 10


@dataclass(frozen=True)
class NGramConfig:
    """Order n (1…10) and discount: None estimates modified-KN D1, D2, D3+ per level; a float fixes one D."""

    order: int = 7
    discount: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.order <= MAX_ORDER:
            raise InputError(f"order must be in 1…{MAX_ORDER}, not {self.order}")
        if self.discount is not None and not 0.0 < self.discount <= 1.0:
            raise InputError(f"discount must be in (0, 1], not {self.discount}")


@dataclass(frozen=True)
class _Level:
    """Counts of one kind (raw or continuation) for the k-grams of one level, and their contexts' sums."""

    counts: np.ndarray  # (U_k,) a_k per k-gram id
    discounts: np.ndarray  # (4,) D for a = 0, 1, 2, 3+
    total: np.ndarray  # (U_{k-1},) A_k(h) per context id
    backoff: np.ndarray  # (U_{k-1},) γ_k(h) A_k(h), the mass the discounts free


def _discounts(counts: np.ndarray, fixed: float | None) -> np.ndarray:
    """D for a = 0, 1, 2, 3+: modified KN from counts-of-counts (Chen & Goodman 1998), or `fixed`.

    Each D_c is kept in [0.1, c] so that every seen context leaves some mass for unseen tokens."""
    if fixed is not None:
        return np.array([0.0, fixed, fixed, fixed])
    n1, n2, n3, n4 = (np.count_nonzero(counts == c) for c in (1, 2, 3, 4))
    if n1 == 0 or n2 == 0:
        return np.array([0.0, 0.75, 0.75, 0.75])  # too few counts to estimate from
    y = n1 / (n1 + 2 * n2)
    d1, d2 = 1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2
    d3 = 3 - 4 * y * n4 / n3 if n3 else d2
    return np.array([0.0, min(max(d1, 0.1), 1), min(max(d2, 0.1), 2), min(max(d3, 0.1), 3)])


def _level(counts: np.ndarray, context: np.ndarray, n_contexts: int, fixed: float | None) -> _Level:
    seen = counts > 0
    d = _discounts(counts[seen], fixed)
    freed = d[np.minimum(counts, 3)]  # (U_k,) discount taken from each k-gram
    return _Level(
        counts=counts,
        discounts=d,
        total=np.bincount(context, weights=counts, minlength=n_contexts),
        backoff=np.bincount(context, weights=freed * seen, minlength=n_contexts),
    )


def _concat(sequences: Iterable[np.ndarray], pad: int, width: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """All sequences in one array, each after `width` PADs; and the mask of scored positions."""
    parts, scored = [], []
    for i, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=np.int64).ravel()
        if seq.size and (seq.min() < 0 or seq.max() >= vocab_size):
            raise InputError(f"sequence {i}: token ids must lie in 0…{vocab_size - 1}")
        parts += [np.full(width, pad, np.int64), seq]
        mask = np.ones(width + seq.size, bool)
        mask[: width + 1] = False  # PADs and the given first token
        scored.append(mask)
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    return np.concatenate(parts), np.concatenate(scored)


class NGramModel:
    """Interpolated Kneser–Ney n-gram model; `fit` once, then `log_prob` / `perplexity` at any order ≤ fitted."""

    def __init__(
        self, config: NGramConfig, vocab_size: int, keys: list[np.ndarray], raw: list[_Level], cont: list[_Level]
    ) -> None:
        self.config, self.vocab_size = config, vocab_size
        self._keys, self._raw, self._cont = keys, raw, cont  # index k-1 for level k

    @classmethod
    def fit(
        cls, sequences: Sequence[np.ndarray], order: int, vocab_size: int, discount: float | None = None
    ) -> NGramModel:
        """Count every k-gram (k ≤ order) of `sequences` (token ids < vocab_size)."""
        config = NGramConfig(order, discount)
        base = vocab_size + 1  # ids 0…V−1 and PAD = V
        x, scored = _concat(sequences, vocab_size, order - 1, vocab_size)
        ids, keys = [x], [np.arange(base, dtype=np.int64)]  # level 1: a token is its own id
        for _ in range(2, order + 1):
            prev = np.concatenate([[0], ids[-1][:-1]])  # (L,) id of the (k−1)-gram ending at t−1
            uniq, inv = np.unique(prev * base + x, return_inverse=True)
            keys.append(uniq)
            ids.append(inv.reshape(-1))
        raw, cont = [], []
        for k in range(1, order + 1):
            n_ctx = 1 if k == 1 else len(keys[k - 2])
            context = np.zeros(len(keys[k - 1]), np.int64) if k == 1 else keys[k - 1] // base
            counts = np.bincount(ids[k - 1][scored], minlength=len(keys[k - 1]))
            raw.append(_level(counts, context, n_ctx, discount))
            if k < order:  # N1+(• h w): distinct (k+1)-grams seen whose suffix is the k-gram h w
                _, first = np.unique(ids[k][scored], return_index=True)
                suffix = ids[k - 1][scored][first]
                ccounts = np.bincount(suffix, minlength=len(keys[k - 1]))
                cont.append(_level(ccounts, context, n_ctx, discount))
        return cls(config, vocab_size, keys, raw, cont)

    def _lookup(self, x: np.ndarray, order: int) -> list[np.ndarray]:
        """Per level k ≤ order, the fitted id of the k-gram ending at each position of x, −1 where unseen."""
        base = self.vocab_size + 1
        ids = [x]
        for k in range(2, order + 1):
            prev = np.concatenate([[-1], ids[-1][:-1]])
            key = np.where(prev >= 0, prev * base + x, -1)
            table = self._keys[k - 1]
            at = np.minimum(np.searchsorted(table, key), len(table) - 1)
            ids.append(np.where(table[at] == key, at, -1))
        return ids

    def _scores(self, x: np.ndarray, scored: np.ndarray, order: int) -> np.ndarray:
        """Natural-log probabilities of the scored tokens of x under the order-`order` model."""
        every = self._lookup(x, order)
        ids = [i[scored] for i in every]  # level k−1: the k-gram h w at each scored position
        prev = [np.concatenate([[-1], i[:-1]])[scored] for i in every[:-1]]  # level k−2: its context h
        p = np.full(int(scored.sum()), 1.0 / self.vocab_size)
        for k in range(1, order + 1):
            level = self._raw[k - 1] if k == order else self._cont[k - 1]
            ctx = np.zeros_like(p, dtype=np.int64) if k == 1 else prev[k - 2]
            has_ctx = ctx >= 0
            total = np.where(has_ctx, level.total[np.maximum(ctx, 0)], 0.0)
            known = ids[k - 1] >= 0
            a = np.where(known, level.counts[np.maximum(ids[k - 1], 0)], 0)
            live = total > 0
            denom = np.where(live, total, 1.0)
            own = (a - level.discounts[np.minimum(a, 3)]) / denom
            gamma = np.where(has_ctx, level.backoff[np.maximum(ctx, 0)], 0.0) / denom
            p = np.where(live, own + gamma * p, p)
        return np.log(p)

    def _order(self, order: int | None) -> int:
        order = self.config.order if order is None else order
        if not 1 <= order <= self.config.order:
            raise InputError(f"order must be in 1…{self.config.order} (the fitted order), not {order}")
        return order

    def log_probs(self, sequences: Sequence[np.ndarray], order: int | None = None) -> list[np.ndarray]:
        """Per-token natural-log probabilities of each sequence (all tokens after its first)."""
        order = self._order(order)
        sequences = [np.asarray(s).ravel() for s in sequences]
        x, scored = _concat(sequences, self.vocab_size, self.config.order - 1, self.vocab_size)
        flat = self._scores(x, scored, order) if x.size else np.zeros(0)
        lengths = [max(s.size - 1, 0) for s in sequences]
        return np.split(flat, np.cumsum(lengths)[:-1]) if lengths else []

    def log_prob(self, sequence: np.ndarray, order: int | None = None) -> np.ndarray:
        """Natural-log probability of every token of `sequence` after its first, given the ones before."""
        return self.log_probs([sequence], order)[0]

    def perplexity(self, sequences: Sequence[np.ndarray], order: int | None = None) -> float:
        """exp of the mean negative log-probability over every scored token of `sequences`."""
        parts = self.log_probs(sequences, order)
        n = sum(p.size for p in parts)
        if n == 0:
            raise InputError("perplexity needs at least one sequence of two or more tokens")
        return float(np.exp(-sum(p.sum() for p in parts) / n))

    def distribution(self, context: Sequence[int], order: int | None = None) -> np.ndarray:
        """(V,) probabilities of every next token after `context` (which may be empty: PADs only)."""
        order = self._order(order)
        v, width = self.vocab_size, self.config.order - 1
        ctx = np.asarray(context, dtype=np.int64)[-width:] if width else np.zeros(0, np.int64)
        rows = [np.concatenate([np.full(width - ctx.size + 1, v), ctx, [w]]) for w in range(v)]
        x = np.concatenate(rows)  # (V·(width+2),) rows of PADs, context, candidate
        scored = np.zeros(x.size, bool)
        scored[width + 1 :: width + 2] = True
        return np.exp(self._scores(x, scored, order))


def perplexity_by_order(
    train: Sequence[np.ndarray],
    val: Sequence[np.ndarray],
    vocab_size: int,
    orders: Iterable[int] = range(1, MAX_ORDER + 1),
    discount: float | None = None,
) -> dict[int, float]:
    """Validation perplexity of the KN model for each order, from one fit at the highest order."""
    orders = list(orders)
    model = NGramModel.fit(train, max(orders), vocab_size, discount)
    return {n: model.perplexity(val, n) for n in orders}
