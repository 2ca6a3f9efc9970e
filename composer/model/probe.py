"""The network as the judge of its own drafts: a linear probe on its states names a piece's tune type.

The network predicts the next note well from the tune itself, so it barely uses the TYPE token of the
header (typed right, a held-out O'Neill tune is only ~1 nat likelier over ~500 tokens). Its states
know the type all the same: a softmax over the mean of the top layer's outputs, with the header
typed "unknown" so the label cannot leak in, tells held-out tunes' types right 98 times in 100.
Asked for a type, `Composer` samples `drafts` pieces for each one it returns and keeps the draft
the probe finds likeliest to be that type (best-of-k reranking, one extra forward pass per draft).

    f(x) = mean_t h_t^L(x with TYPE → unknown),  t over the body (after the header)
    p(type | x) = softmax(W f(x) + b)
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from composer.errors import InputError
from composer.tokenize.base import PAD, Tokenizer
from composer.tokenize.metric import UNKNOWN_TYPE as UNKNOWN


@dataclass(frozen=True)
class ProbeConfig:
    """The probe's tune types (() = no probe), drafts per asked piece, and its fit (L2 weight, Adam steps)."""

    types: tuple[str, ...] = ()
    drafts: int = 4
    l2: float = 1e-3
    steps: int = 500
    min_pieces: int = 30  # a type needs this many training pieces to be learnt

    def __post_init__(self) -> None:
        if self.drafts < 1 or self.steps < 1 or self.min_pieces < 1:
            raise InputError("drafts, steps and min_pieces must be positive")

    @property
    def enabled(self) -> bool:
        return bool(self.types)


@dataclass(frozen=True)
class ProbeFit:
    """What a fit learnt from: pieces per type, and accuracy on the training and held-out pieces."""

    counts: dict[str, int]
    train_accuracy: float
    val_accuracy: float | None
    n_val: int


class TypeProbe:
    """W (K, hidden) and b (K,) over the network's mean top-layer state; `log_probs` scores whole pieces."""

    def __init__(self, config: ProbeConfig, weight: Tensor, bias: Tensor) -> None:
        if weight.shape[0] != len(config.types) or bias.shape != (len(config.types),):
            raise InputError(f"probe weights {tuple(weight.shape)} do not fit its {len(config.types)} types")
        self.config, self.weight, self.bias = config, weight.float(), bias.float()

    def state(self) -> dict[str, Tensor]:
        return {"weight": self.weight.cpu(), "bias": self.bias.cpu()}

    def knows(self, tune_type: str | None) -> bool:
        return tune_type in self.config.types

    @torch.no_grad()
    def log_probs(self, model: torch.nn.Module, tokenizer: Tokenizer, rows: Sequence[Sequence[int]]) -> Tensor:
        """log p(type | piece) (N, K) for token rows that open with the tokenizer's header."""
        f = features(model, tokenizer, rows)
        return F.log_softmax(f @ self.weight.to(f.device).T + self.bias.to(f.device), dim=-1)


@torch.no_grad()
def features(model: torch.nn.Module, tokenizer: Tokenizer, rows: Sequence[Sequence[int]],
             batch_size: int = 32) -> Tensor:
    """f(x) (N, hidden): the mean top-layer state over each row's body, its TYPE token read as unknown."""
    table, head = tokenizer.table, tokenizer.header_length
    unknown = table.id("TYPE", UNKNOWN)
    is_type = torch.as_tensor(table.kind_array() == "TYPE")
    device = next(model.parameters()).device
    model.eval()
    out = []
    for s in range(0, len(rows), batch_size):
        chunk = [np.asarray(r, dtype=np.int64) for r in rows[s : s + batch_size]]
        width = max(len(r) for r in chunk)
        ids = torch.full((len(chunk), width), PAD, dtype=torch.long)  # (B, T), padded at the end
        for i, r in enumerate(chunk):
            ids[i, : len(r)] = torch.as_tensor(r)
        ids[:, :head] = torch.where(is_type[ids[:, :head]], unknown, ids[:, :head])
        hidden, _ = model.hidden_states(ids.to(device))  # (B, T, H)
        lengths = torch.tensor([len(r) for r in chunk], device=device)
        t = torch.arange(width, device=device)
        body = ((t >= head) & (t < lengths[:, None])).float()  # (B, T)
        out.append((hidden.float() * body[..., None]).sum(1) / body.sum(1, keepdim=True).clamp(min=1))
    return torch.cat(out) if out else torch.zeros(0, model.config.hidden)


def piece_types(tokenizer: Tokenizer, pieces: Sequence[np.ndarray]) -> list[str | None]:
    """The tune type each piece's header names (None where it names none or "unknown")."""
    table = tokenizer.table
    out: list[str | None] = []
    for p in pieces:
        named = [table.values[int(i)] for i in p[: tokenizer.header_length] if table.kinds[int(i)] == "TYPE"]
        out.append(named[0] if named and named[0] != UNKNOWN else None)
    return out


def fit_probe(model: torch.nn.Module, tokenizer: Tokenizer, pieces: Sequence[np.ndarray],
              config: ProbeConfig = ProbeConfig(), val: Sequence[np.ndarray] = (),
              seed: int = 0) -> tuple[TypeProbe, ProbeFit]:
    """Fit W, b by L2-regularised softmax regression on `pieces`' types (those with min_pieces or more);
    `val` pieces, if given, are only scored."""
    if "TYPE" not in tokenizer.table.offsets:
        raise InputError(f"the {tokenizer.name} vocabulary names no tune types to probe for")
    labels = piece_types(tokenizer, pieces)
    counts = Counter(t for t in labels if t is not None)
    types = tuple(sorted(t for t, k in counts.items() if k >= config.min_pieces))
    if len(types) < 2:
        raise InputError(f"the probe needs two tune types with {config.min_pieces}+ pieces each; found {dict(counts)}")
    keep = [i for i, t in enumerate(labels) if t in types]
    x = features(model, tokenizer, [pieces[i] for i in keep])
    y = torch.tensor([types.index(labels[i]) for i in keep], device=x.device)
    torch.manual_seed(seed)
    weight = torch.zeros(len(types), x.shape[1], device=x.device, requires_grad=True)
    bias = torch.zeros(len(types), device=x.device, requires_grad=True)
    opt = torch.optim.Adam([weight, bias], lr=1e-2)
    for _ in range(config.steps):  # full batch: a few thousand rows of `hidden` features
        loss = F.cross_entropy(x @ weight.T + bias, y) + config.l2 * weight.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    probe = TypeProbe(dataclasses.replace(config, types=types), weight.detach(), bias.detach())
    train_acc = float(((x @ probe.weight.T + probe.bias).argmax(1) == y).float().mean())
    val_acc, n_val = accuracy(probe, model, tokenizer, val)
    return probe, ProbeFit({t: counts[t] for t in types}, train_acc, val_acc, n_val)


def accuracy(probe: TypeProbe, model: torch.nn.Module, tokenizer: Tokenizer,
             pieces: Sequence[np.ndarray]) -> tuple[float | None, int]:
    """(share of the pieces of a known type that the probe names right, how many there were)."""
    labels = piece_types(tokenizer, pieces)
    keep = [i for i, t in enumerate(labels) if probe.knows(t)]
    if not keep:
        return None, 0
    pred = probe.log_probs(model, tokenizer, [pieces[i] for i in keep]).argmax(1).tolist()
    right = sum(probe.config.types[p] == labels[i] for p, i in zip(pred, keep, strict=True))
    return right / len(keep), len(keep)


def best_drafts(scores: Tensor, drafts: int) -> list[int]:
    """Row numbers of the best-scoring draft in each consecutive block of `drafts` rows."""
    blocks = scores.reshape(-1, drafts)
    return (blocks.argmax(1) + torch.arange(len(blocks), device=scores.device) * drafts).tolist()


def fit_record(fit: ProbeFit) -> dict[str, Any]:
    """What a checkpoint keeps of how its probe was fit."""
    return {"counts": fit.counts, "train_accuracy": fit.train_accuracy, "val_accuracy": fit.val_accuracy,
            "n_val": fit.n_val}

