"""Token corpus folder → train/val split by piece → batches of (x, y) windows, augmented by id mapping.

The shards are memory-mapped, so a corpus larger than memory trains: a batch gathers its windows
from the maps with numpy fancy indexing. The training stream is the train pieces concatenated
(each already BOS … EOS); epoch e cuts it into windows of seq_len + 1 tokens at a random phase and
visits them in a random order, both drawn from (seed, e), so batch s of epoch e is the same batch
whenever it is asked for — which is what lets a resumed run see exactly the data order it would
have seen. Transposition and tempo stretch are id → id tables (`Tokenizer.transposition_table`,
`stretch_table`) applied as `table[window]`; a shift that moves a pitch of the window out of range
is never drawn for that window.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from composer.errors import InputError
from composer.tokenize.base import PAD, Tokenizer

CORPUS_FORMAT_VERSION = 1
IGNORE = -100  # target id that cross_entropy skips (padding of the last validation window)
STRETCH_STEPS = 5  # tempo factors drawn from, evenly spaced over [1 − stretch, 1 + stretch]


@dataclass(frozen=True)
class DataConfig:
    """Windows and batches, the train/val split, and augmentation (transpose range inclusive, stretch ±)."""

    seq_len: int = 256
    batch_size: int = 32
    val_fraction: float = 0.05
    split_seed: int = 0
    transpose: tuple[int, int] = (-5, 6)
    stretch: float = 0.0
    duplicates_together: bool = True  # identical pieces (O'Neill prints 53 twice) share a side of the split
    header_prefix: bool = True  # a window from mid-piece opens with its piece's header
    header_targets: bool = True  # …and learns to predict that header (only the jump out of it is masked)
    also_train: tuple[str, ...] = ()  # more corpus folders, every piece on the training side (none held out)

    LEGACY: ClassVar[dict[str, Any]] = {"duplicates_together": False, "header_prefix": False,  # checkpoints
                                        "header_targets": False}
    # older than a field were made without it

    def __post_init__(self) -> None:
        if self.seq_len < 1 or self.batch_size < 1:
            raise ValueError("seq_len and batch_size must be positive")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), not {self.val_fraction}")
        if len(self.transpose) != 2 or self.transpose[0] > 0 or self.transpose[1] < 0:
            raise ValueError(f"transpose must be a (low ≤ 0, high ≥ 0) pair, not {self.transpose}")
        if not 0.0 <= self.stretch < 1.0:
            raise ValueError(f"stretch must be in [0, 1), not {self.stretch}")
        object.__setattr__(self, "transpose", tuple(int(t) for t in self.transpose))
        object.__setattr__(self, "also_train", tuple(str(p) for p in self.also_train))


class TokenCorpus:
    """A tokenized corpus folder, read-only: tokenizer, per-piece index, memory-mapped shards."""

    def __init__(self, root: Path, tokenizer: Tokenizer, meta: dict[str, Any], index: list[dict[str, Any]],
                 shards: dict[str, np.ndarray]) -> None:
        self.root, self.tokenizer, self.meta, self.index, self.shards = root, tokenizer, meta, index, shards

    def __len__(self) -> int:
        return len(self.index)

    @property
    def n_tokens(self) -> int:
        return sum(int(e["length"]) for e in self.index)

    def piece(self, i: int) -> np.ndarray:
        """Token ids of piece `i` (BOS … EOS) as int64."""
        e = self.index[i]
        return np.asarray(self.shards[e["shard"]][e["offset"] : e["offset"] + e["length"]], dtype=np.int64)

    def pieces(self, which: np.ndarray) -> list[np.ndarray]:
        """Token ids of several pieces, in the order given."""
        return [self.piece(int(i)) for i in which]

    def piece_hashes(self) -> list[bytes]:
        """`piece_hash` of every piece."""
        return [piece_hash(self.piece(i)) for i in range(len(self))]

    def split(self, config: DataConfig) -> tuple[np.ndarray, np.ndarray]:
        """(train, val) piece numbers for a config's split; identical pieces stay together when it asks."""
        keys = self.piece_hashes() if config.duplicates_together else None
        return split_pieces(len(self), config.val_fraction, config.split_seed, keys)


def piece_hash(ids: np.ndarray) -> bytes:
    """SHA-1 of a piece's token ids (int64): equal pieces, equal hashes."""
    return hashlib.sha1(ids.tobytes()).digest()


def require_same_tokenizer(corpus: TokenCorpus, reference: TokenCorpus) -> None:
    """InputError naming `corpus` unless it was tokenized exactly like `reference`."""
    a, b = corpus.tokenizer, reference.tokenizer
    if a != b:
        raise InputError(f"tokenized differently from {reference.root} ({a.name}, {a.vocab_size} ids vs {b.name}, "
                         f"{b.vocab_size}); re-tokenize it alike", corpus.root)


def open_extra_corpora(main: TokenCorpus, config: DataConfig) -> list[TokenCorpus]:
    """The config's `also_train` corpora, each checked to use the main corpus's tokenizer."""
    extra = []
    for path in config.also_train:
        if not Path(path).is_dir():
            raise InputError("no such corpus folder: the run also trained on it (DataConfig.also_train, paths "
                             "relative to where it ran); make it with `composer tokenize`, or run from there", path)
        extra.append(open_corpus(path))
        require_same_tokenizer(extra[-1], main)
    return extra


def split_corpora(corpus: TokenCorpus, config: DataConfig, extra: Sequence[TokenCorpus] = ()
                  ) -> tuple[np.ndarray, np.ndarray, list[tuple[TokenCorpus, np.ndarray]]]:
    """(train, val) pieces of `corpus` under `config`, and the pieces of each `extra` corpus that join training:
    all of them but any identical to a held-out piece."""
    train, val = corpus.split(config)
    if not extra:
        return train, val, []
    held_out = {piece_hash(p) for p in corpus.pieces(val)}
    kept = [(c, np.array([i for i, h in enumerate(c.piece_hashes()) if h not in held_out], dtype=np.int64))
            for c in extra]
    return train, val, kept


def training_pieces(corpus: TokenCorpus, train: np.ndarray,
                    extra: Sequence[tuple[TokenCorpus, np.ndarray]]) -> list[np.ndarray]:
    """Token ids of the training side: `corpus`'s `train` pieces, then the kept pieces of each extra corpus."""
    return corpus.pieces(train) + [p for c, ids in extra for p in c.pieces(ids)]


def open_corpus(root: str | Path) -> TokenCorpus:
    """Open a folder written by `composer tokenize`, checking its format and that every piece is on disk."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("no such corpus folder (make one with `composer tokenize`)", root)
    meta = _read_json(root / "corpus.json")
    if meta.get("format_version") != CORPUS_FORMAT_VERSION:
        raise InputError(f"corpus format version {meta.get('format_version')} is not {CORPUS_FORMAT_VERSION}; "
                         "re-tokenize with this composer version", root / "corpus.json")
    if meta.get("dtype") not in ("uint16", "uint32"):
        raise InputError(f"unknown token dtype {meta.get('dtype')!r}", root / "corpus.json")
    tokenizer = Tokenizer.load(root / "tokenizer.json")
    if meta.get("vocab_size") != tokenizer.vocab_size:
        raise InputError(f"corpus.json says {meta.get('vocab_size')} tokens, tokenizer.json has "
                         f"{tokenizer.vocab_size}", root)
    index = _read_index(root / "index.jsonl")
    dtype = np.dtype(meta["dtype"]).newbyteorder("<")
    shards: dict[str, np.ndarray] = {}
    for name in sorted({e["shard"] for e in index}):
        path = root / "shards" / name
        if not path.is_file():
            raise InputError(f"index.jsonl names a missing shard {name}", root)
        shards[name] = np.memmap(path, dtype=dtype, mode="r") if path.stat().st_size else np.zeros(0, dtype)
    for e in index:
        if e["offset"] < 0 or e["length"] < 1 or e["offset"] + e["length"] > len(shards[e["shard"]]):
            raise InputError(f"piece {e.get('title', '')!r} of {e.get('file')} lies outside {e['shard']} "
                             "(truncated corpus? re-run `composer tokenize` on the folder)", root)
    return TokenCorpus(root, tokenizer, meta, index, shards)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("missing: not a corpus folder written by `composer tokenize`", path) from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"cannot read JSON: {e}", path) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", path)
    return data


def _read_index(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError("missing: not a corpus folder written by `composer tokenize`", path) from None
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except ValueError as e:
        raise InputError(f"bad JSON line in the index: {e}", path) from None


def split_pieces(n_pieces: int, val_fraction: float, seed: int,
                 keys: Sequence[Hashable] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted piece numbers (train, val): a seeded shuffle, never splitting a piece across the two.

    Pieces with equal `keys` land on the same side, so a duplicate never scores as held out.
    With 2+ pieces and val_fraction > 0 each side gets at least one piece."""
    n_val = int(round(n_pieces * val_fraction))
    if val_fraction > 0 and n_pieces >= 2:
        n_val = min(max(n_val, 1), n_pieces - 1)
    if keys is None:
        order = np.random.default_rng(seed).permutation(n_pieces)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    groups: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    members = list(groups.values())
    val: list[int] = []
    for g in np.random.default_rng(seed).permutation(len(members)):
        if len(val) >= n_val:
            break
        if len(val) + len(members[g]) < n_pieces:
            val.extend(members[g])
    if n_val and not val:  # every piece alike: keep the promise of a piece on each side
        return split_pieces(n_pieces, val_fraction, seed)
    in_val = np.zeros(n_pieces, dtype=bool)
    in_val[val] = True
    return np.flatnonzero(~in_val), np.flatnonzero(in_val)


class _Stream:
    """Pieces (of one or more corpora) laid end to end without copying: stream position → (shard, offset)."""

    def __init__(self, parts: Sequence[tuple[TokenCorpus, np.ndarray]]) -> None:
        lengths, offsets, shard_of, self.maps = [], [], [], []
        for corpus, pieces in parts:
            names = sorted(corpus.shards)
            entries = [corpus.index[int(i)] for i in pieces]
            lengths += [e["length"] for e in entries]
            offsets += [e["offset"] for e in entries]
            shard_of += [len(self.maps) + names.index(e["shard"]) for e in entries]
            self.maps += [corpus.shards[n] for n in names]
        self.starts = np.concatenate([[0], np.cumsum(np.array(lengths, dtype=np.int64))])  # (P + 1,)
        self.offsets = np.array(offsets, dtype=np.int64)
        self.shard_of = np.array(shard_of, dtype=np.int64)
        self.n_tokens = int(self.starts[-1])

    def gather(self, positions: np.ndarray) -> np.ndarray:
        """Token ids at stream `positions` (any shape), as int64."""
        flat = positions.ravel()
        piece = np.searchsorted(self.starts, flat, side="right") - 1
        where = self.offsets[piece] + flat - self.starts[piece]
        shard = self.shard_of[piece]
        out = np.empty(flat.shape, dtype=np.int64)
        for s, mm in enumerate(self.maps):
            sel = shard == s
            if sel.any():
                out[sel] = mm[where[sel]]
        return out.reshape(positions.shape)


class Augmenter:
    """Per-window transposition and tempo stretch as id tables; a window only gets a shift it survives."""

    def __init__(self, tokenizer: Tokenizer, config: DataConfig) -> None:
        low, high = config.transpose
        shifts = [k for k in range(low, high + 1)]
        tables = [tokenizer.transposition_table(k) for k in shifts]
        if any(t is None for t in tables) or shifts == [0]:
            shifts, tables = [0], [np.arange(tokenizer.vocab_size)]
        self.shifts = np.array(shifts)
        self.tables = np.stack([np.asarray(t, dtype=np.int64) for t in tables])  # (K, V)
        stretch = getattr(tokenizer, "stretch_table", None)
        if config.stretch > 0 and stretch is not None:
            factors = np.linspace(1 - config.stretch, 1 + config.stretch, STRETCH_STEPS)
            self.stretches = np.stack([np.asarray(stretch(float(f)), dtype=np.int64) for f in factors])
        else:
            self.stretches = np.arange(tokenizer.vocab_size, dtype=np.int64)[None]  # (S, V)

    def __call__(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """windows (B, L) → the same windows moved by a random allowed shift and stretched."""
        mapped = self.tables[:, windows]  # (K, B, L)
        ok = (mapped >= 0).all(axis=2).T  # (B, K); shift 0 is always allowed
        u = rng.random(len(windows))
        rank = np.floor(u * ok.sum(axis=1)).astype(np.int64)  # (B,) uniform among the allowed shifts
        choice = (np.cumsum(ok, axis=1) > rank[:, None]).argmax(axis=1)  # (B,)
        out = mapped[choice, np.arange(len(windows))]  # (B, L)
        s = rng.integers(0, len(self.stretches), size=len(windows))
        return self.stretches[s[:, None], out]


class TrainData:
    """The training and validation sides of a corpus for one DataConfig; knows nothing of models.

    `extra` corpora (the config's `also_train`, opened by the caller) join the training side whole,
    less any piece identical to a held-out one, so validation stays the main corpus's split."""

    def __init__(self, corpus: TokenCorpus, config: DataConfig, augment: bool = True,
                 extra: Sequence[TokenCorpus] = ()) -> None:
        self.corpus, self.config, self.tokenizer = corpus, config, corpus.tokenizer
        self.train_pieces, self.val_pieces, self.extra = split_corpora(corpus, config, extra)
        self.train = _Stream([(corpus, self.train_pieces), *self.extra])
        self.val = _Stream([(corpus, self.val_pieces)])
        self.augment = Augmenter(corpus.tokenizer, config) if augment else None
        self._starts, self._starts_key = np.zeros(0, dtype=np.int64), (-1, -1)
        t = config.seq_len
        self.windows_per_epoch = (self.train.n_tokens - t) // t
        self.steps_per_epoch = self.windows_per_epoch // config.batch_size
        if self.steps_per_epoch < 1:
            raise InputError(
                f"the training split holds {self.train.n_tokens} tokens: too few for one batch of "
                f"{config.batch_size} windows of {t}; lower --seq-len or --batch-size, or add music", corpus.root)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def _epoch_starts(self, epoch: int, seed: int) -> np.ndarray:
        """(W,) window starts of `epoch`, in visiting order; kept while that epoch is being read."""
        if self._starts_key != (epoch, seed):
            rng = np.random.default_rng([seed, epoch])
            t = self.config.seq_len
            phase = int(rng.integers(0, t))
            self._starts, self._starts_key = phase + t * rng.permutation(self.windows_per_epoch), (epoch, seed)
        return self._starts

    def batch(self, epoch: int, step: int, seed: int = 0, rank: int = 0, world: int = 1) -> tuple[Tensor, Tensor]:
        """Batch `step` of `epoch` — rank's share (batch_size / world rows) — as (x, y) LongTensors (B, T)."""
        b, t = self.config.batch_size, self.config.seq_len
        if b % world:
            raise InputError(f"batch size {b} does not split evenly over {world} processes")
        starts = self._epoch_starts(epoch, seed)[step * b : (step + 1) * b]  # (B,)
        rng = np.random.default_rng([seed, epoch, step, 1])
        rows = slice(rank * b // world, (rank + 1) * b // world)
        windows = self.train.gather(starts[:, None] + np.arange(t + 1))  # (B, T + 1)
        prefixed = np.zeros(len(starts), dtype=bool)
        if self.config.header_prefix and self.tokenizer.header_length > 1:
            windows, prefixed = self._with_headers(windows, starts)
        if self.augment is not None:
            windows = self.augment(windows, rng)
        x, y = windows[:, :-1], windows[:, 1:].copy()
        h = self.tokenizer.header_length
        # The jump from the header into mid-piece is no real transition; the header itself is (the meter
        # given a reel, …), and with few windows opening a tune it is seldom a target otherwise.
        y[prefixed, h - 1 if self.config.header_targets else 0 : h] = IGNORE
        return torch.from_numpy(np.ascontiguousarray(x[rows])), torch.from_numpy(np.ascontiguousarray(y[rows]))

    def _with_headers(self, windows: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows whose first tokens are overwritten by their piece's header, and which ones were.

        Sampling always starts from a header (BOS METER KEY TYPE TEMPO), so every window carries one:
        the tune type conditions every training target, not only those near a piece's start."""
        h = self.tokenizer.header_length
        piece = np.searchsorted(self.train.starts, starts, side="right") - 1  # (B,)
        first = self.train.starts[piece]  # (B,)
        prefixed = (starts - first >= h) & (self.train.starts[piece + 1] - first > h)
        windows = windows.copy()
        windows[prefixed, :h] = self.train.gather(first[prefixed, None] + np.arange(h))
        return windows, prefixed

    def epoch(self, epoch: int, seed: int = 0, start_step: int = 0, rank: int = 0,
              world: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches start_step… of `epoch`, in order."""
        for step in range(start_step, self.steps_per_epoch):
            yield self.batch(epoch, step, seed, rank, world)

    def val_batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The val stream (unaugmented) cut into `batch_size` contiguous rows, walked window by window
        along time, so a caller that carries the recurrent state gives every token its full context.
        Every val token after the first is a target exactly once (padding has target IGNORE)."""
        b, t, n = self.config.batch_size, self.config.seq_len, self.val.n_tokens
        if n < 2:
            return
        rows = max(1, min(b, (n - 1) // t))
        span = -(-(n - 1) // rows)  # targets per row
        for w in range(0, span, t):
            offset = np.arange(rows)[:, None] * span + w + np.arange(t + 1)  # (rows, T + 1)
            in_row = (w + np.arange(t + 1)) <= span  # (T + 1,): stays inside the row's stretch
            valid = (offset < n) & in_row
            windows = np.where(valid, self.val.gather(np.minimum(offset, n - 1)), PAD)
            x = torch.from_numpy(windows[:, :-1].copy())
            y = torch.from_numpy(np.where(valid[:, 1:], windows[:, 1:], IGNORE))
            yield x, y

    def split_sequences(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(train, val) pieces as id arrays — the same split the trainer uses (extra corpora included), for baselines."""
        return training_pieces(self.corpus, self.train_pieces, self.extra), self.corpus.pieces(self.val_pieces)


def load_data(root: str | Path, config: DataConfig = DataConfig(), augment: bool = True) -> TrainData:
    """Open the corpus at `root` (and the config's `also_train` corpora) and split it for training under `config`."""
    corpus = open_corpus(root)
    return TrainData(corpus, config, augment, open_extra_corpora(corpus, config))
