"""Held-out likelihood: the LSTM's per-token loss next to Kneser–Ney n-grams, overall and per token type.

Both models score the same tokens: every token of each validation piece after its first (BOS), on the
split the checkpoint was trained with (its DataConfig val_fraction and split_seed); the n-grams are fit on
what the model was trained on (the train split plus any `also_train` corpora). A token's type is
the kind of the TARGET token, so "pitch" asks how well each model guesses the next note's pitch.
Per-type NLLs are means over that type's tokens; weighted by token counts they add up to the overall NLL.
A checkpoint with a fitted cache (`composer.model.cache`) is scored with it, as it composes, and without it
(column "no-cache"), so what the cache adds is on the page.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from composer.corpus.data import open_corpus, open_extra_corpora, split_corpora, training_pieces
from composer.errors import InputError
from composer.evaluate.baseline import NGramModel
from composer.model.cache import CacheConfig, kind_index, mix_sequence
from composer.tokenize.base import PAD, Tokenizer
from composer.train.checkpoint import build_model, check_tokenizer, load_checkpoint

GROUP_OF_KIND = {"PITCH": "pitch", "DURATION": "duration", "POSITION": "position", "BAR": "bar",
                 "METER": "header", "KEY": "header", "TYPE": "header", "TEMPO": "header", "EOS": "eos"}
GROUP_ORDER = ("overall", "pitch", "duration", "position", "bar", "header", "eos")
LSTM = "lstm"
NO_CACHE = "lstm-nocache"


@dataclass(frozen=True)
class LikelihoodConfig:
    """Pieces per forward pass, n-gram orders compared, and the device the model runs on."""

    batch_size: int = 16
    orders: tuple[int, ...] = tuple(range(1, 11))
    device: str = "cpu"


@dataclass(frozen=True)
class LikelihoodReport:
    """Mean NLL (nats/token) per model ("lstm", "1"…"10") and per token group, with token counts."""

    nll: dict[str, dict[str, float]]
    tokens: dict[str, int]
    n_train_pieces: int
    n_val_pieces: int
    tokenizer: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ngram_models(self) -> list[str]:
        return [m for m in self.nll if m.isdigit()]

    @property
    def lstm_models(self) -> list[str]:
        return [m for m in (LSTM, NO_CACHE) if m in self.nll]

    def perplexity(self, model: str, group: str = "overall") -> float:
        """exp(mean NLL) of `model` on the tokens of `group`."""
        return math.exp(self.nll[model][group])

    def best_ngram(self, group: str = "overall") -> str:
        """The n-gram order (as a string key) with the lowest NLL on `group`."""
        return min(self.ngram_models, key=lambda m: self.nll[m][group])

    def bits_per_piece(self, model: str = LSTM) -> float:
        """Bits per held-out piece as a whole (all its tokens): comparable across schemes that write the same
        music in more or fewer tokens, e.g. a tune with its repeats folded or written out."""
        return self.nll[model]["overall"] * self.tokens["overall"] / max(self.n_val_pieces, 1) / math.log(2)

    def ratio(self, group: str = "overall") -> float:
        """LSTM perplexity divided by the best n-gram's perplexity on `group` (below 1: the LSTM wins)."""
        return math.exp(self.nll[LSTM][group] - self.nll[self.best_ngram(group)][group])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers: NLL, perplexity and bits per token for every model and group."""
        per_model = {m: {g: {"nll": v, "perplexity": math.exp(v), "bits": v / math.log(2)} for g, v in groups.items()}
                     for m, groups in self.nll.items()}
        groups = [g for g in self.tokens if self.tokens[g] > 0]
        return {"tokenizer": self.tokenizer, "n_train_pieces": self.n_train_pieces, "n_val_pieces": self.n_val_pieces,
                "tokens": self.tokens, "models": per_model,
                "best_ngram": {g: int(self.best_ngram(g)) for g in groups} if self.ngram_models else {},
                "ratio_to_best_ngram": {g: self.ratio(g) for g in groups} if self.ngram_models else {},
                "bits_per_piece": {m: self.bits_per_piece(m) for m in self.nll}, **self.extra}

    def to_table(self) -> str:
        """Perplexity per group (rows) for the LSTM and each n-gram order (columns); * marks each row's best n-gram."""
        models = [*self.lstm_models, *self.ngram_models]
        label = {LSTM: LSTM, NO_CACHE: "no-cache"}
        head = f"{'group':<10}{'tokens':>9}" + "".join(f"{label.get(m, 'n=' + m):>9}" for m in models)
        lines = [f"validation perplexity per token ({self.tokenizer} tokens; {self.n_val_pieces} val pieces, "
                 f"n-grams fit on {self.n_train_pieces} train pieces)", head, "-" * len(head)]
        for g in (g for g in self.tokens if self.tokens[g] > 0):
            best = self.best_ngram(g) if self.ngram_models else None
            cells = "".join(f"{self.perplexity(m, g):>8.3f}{'*' if m == best else ' '}" for m in models)
            lines.append(f"{g:<10}{self.tokens[g]:>9}{cells}")
        lines.append("-" * len(head))
        o = self.nll[LSTM]["overall"]
        lines.append(f"LSTM: NLL {o:.4f} nats/token, perplexity {math.exp(o):.3f}, {o / math.log(2):.3f} bits/token, "
                     f"{self.bits_per_piece():,.0f} bits per whole piece (repeats as the scheme writes them)")
        if NO_CACHE in self.nll:
            c = self.extra.get("cache", {})
            lines.append(f"  with its cache (weight {c.get('weight')}, sharpness {c.get('sharpness')}, window "
                         f"{c.get('window')}); without it {self.nll[NO_CACHE]['overall']:.4f} nats/token, "
                         f"perplexity {self.perplexity(NO_CACHE):.3f}")
        if self.ngram_models:
            for g in ("overall", "pitch"):
                if self.tokens.get(g):
                    lines.append(f"LSTM / best n-gram (n={self.best_ngram(g)}) perplexity, {g}: {self.ratio(g):.3f}")
        return "\n".join(lines)


def token_nll(model: torch.nn.Module, sequences: Sequence[np.ndarray], batch_size: int = 16,
              device: str | torch.device = "cpu", cache: CacheConfig = CacheConfig(),
              cache_groups: torch.Tensor | None = None) -> list[np.ndarray]:
    """Per-token natural-log loss of every token after the first of each sequence, each piece in one pass.

    Pieces are sorted by length and padded at the end (a causal model and its cache never see the padding)."""
    return token_nlls(model, sequences, (cache,), batch_size, device, cache_groups)[0]


@torch.no_grad()
def token_nlls(model: torch.nn.Module, sequences: Sequence[np.ndarray], caches: Sequence[CacheConfig],
               batch_size: int = 16, device: str | torch.device = "cpu",
               cache_groups: torch.Tensor | None = None) -> list[list[np.ndarray]]:
    """`token_nll` under each of `caches`, from one forward pass of the network: one list per cache."""
    model.eval()
    out: list[list[np.ndarray]] = [[np.zeros(0)] * len(sequences) for _ in caches]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    for s in range(0, len(order), max(1, batch_size)):
        chunk = [i for i in order[s : s + batch_size] if len(sequences[i]) >= 2]
        if not chunk:
            continue
        width = max(len(sequences[i]) for i in chunk)
        ids = torch.full((len(chunk), width), PAD, dtype=torch.long)  # (B, T)
        for row, i in enumerate(chunk):
            ids[row, : len(sequences[i])] = torch.as_tensor(np.asarray(sequences[i], dtype=np.int64))
        ids = ids.to(device)
        hidden, _ = model.hidden_states(ids[:, :-1])  # (B, T-1, H)
        model_log_probs = F.log_softmax(model.head(hidden).float(), dim=-1)
        for losses, cache in zip(out, caches, strict=True):
            log_probs = mix_sequence(model_log_probs, hidden, ids[:, 1:], cache, cache_groups)
            loss = -log_probs.gather(2, ids[:, 1:, None])[..., 0].double().cpu().numpy()  # (B, T-1)
            for row, i in enumerate(chunk):
                losses[i] = loss[row, : len(sequences[i]) - 1]
    return out


def token_groups(tokenizer: Tokenizer) -> np.ndarray:
    """(V,) group name of every id: pitch, duration, position, bar, header, eos, or the kind in lower case."""
    return np.array([GROUP_OF_KIND.get(k, k.lower()) for k in tokenizer.table.kind_array()], dtype=object)


def group_means(losses: Sequence[np.ndarray], sequences: Sequence[np.ndarray],
                groups: np.ndarray) -> tuple[dict[str, float], dict[str, int]]:
    """Mean loss overall and per group of the target token, with the token count of each."""
    flat = np.concatenate([np.asarray(x, dtype=np.float64) for x in losses]) if losses else np.zeros(0)
    targets = np.concatenate([np.asarray(s, dtype=np.int64)[1:] for s in sequences]) if sequences else np.zeros(0, int)
    if flat.size != targets.size or flat.size == 0:
        raise InputError(f"need per-token losses for every target token, got {flat.size} for {targets.size}")
    names = groups[targets]
    present = [g for g in GROUP_ORDER[1:] if (names == g).any()]
    present += sorted(set(names.tolist()) - set(present))
    means, counts = {"overall": float(flat.mean())}, {"overall": int(flat.size)}
    for g in present:
        sel = names == g
        means[g], counts[g] = float(flat[sel].mean()), int(sel.sum())
    return means, counts


def likelihood_table(checkpoint_path: str | Path, data_dir: str | Path, orders: Iterable[int] = range(1, 11),
                     config: LikelihoodConfig = LikelihoodConfig()) -> LikelihoodReport:
    """Validation NLL of a checkpoint and of KN n-grams (fit once at the top order on the train split)."""
    ckpt = load_checkpoint(checkpoint_path)
    corpus = open_corpus(data_dir)
    check_tokenizer(ckpt, corpus.tokenizer, data_dir)
    dc = ckpt.data_config
    train_ids, val_ids, extra = split_corpora(corpus, dc, open_extra_corpora(corpus, dc))
    if len(val_ids) == 0:
        raise InputError("no validation pieces: the corpus needs two or more pieces and val_fraction > 0", data_dir)
    val = corpus.pieces(val_ids)
    train = training_pieces(corpus, train_ids, extra)  # what the model learnt from
    groups = token_groups(corpus.tokenizer)
    model = build_model(ckpt, config.device)
    cache = ckpt.cache_config
    kinds = kind_index(corpus.tokenizer.table.kind_array())
    caches = (cache, CacheConfig()) if cache.enabled else (cache,)
    losses = token_nlls(model, val, caches, config.batch_size, config.device, kinds)
    nll, tokens = group_means(losses[0], val, groups)
    table = {LSTM: nll}
    if cache.enabled:
        table[NO_CACHE] = group_means(losses[1], val, groups)[0]
    orders = sorted(set(orders))
    if orders:
        ngram = NGramModel.fit(train, max(orders), corpus.tokenizer.vocab_size)
        for n in orders:
            table[str(n)] = group_means([-lp for lp in ngram.log_probs(val, n)], val, groups)[0]
    return LikelihoodReport(nll=table, tokens=tokens, n_train_pieces=len(train), n_val_pieces=len(val),
                            tokenizer=corpus.tokenizer.name,
                            extra={"checkpoint": str(checkpoint_path), "data": str(data_dir),
                                   "val_fraction": dc.val_fraction, "split_seed": dc.split_seed,
                                   "also_train": list(dc.also_train),
                                   "cache": dataclasses.asdict(cache),
                                   "checkpoint_best_val_loss": ckpt.best_val_loss})
