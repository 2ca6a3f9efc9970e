"""A tune-type classifier (reel, jig, hornpipe, …) over metric tokens, to check what a model was asked for.

The header (BOS METER KEY TYPE TEMPO) is stripped, so the classifier must tell the type from the music:
positions, durations and pitches of the bars. An LSTM reads the body (first `max_len` tokens), its
outputs are mean-pooled over the real tokens, and a linear layer gives the type. Trained on the pieces
of one or more corpora whose index names a type with at least `min_pieces` pieces, split by piece with
data.split_pieces (identical pieces on one side), each training body moved to a random key: the type is
in the rhythm and the shape of the tune, not in its key.
Saved as one torch file of tensors and plain values (loaded with weights_only=True), written atomically.
"""

from __future__ import annotations

import io
import math
import pickle
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from composer.corpus.data import open_corpus, piece_hash, require_same_tokenizer, split_pieces
from composer.errors import CheckpointError, InputError, OutputError
from composer.files import atomic_write_bytes
from composer.score import Score
from composer.tokenize.base import EOS, PAD, Tokenizer
from composer.tokenize.metric import MetricTokenizer

FORMAT = "composer-type-classifier"
FORMAT_VERSION = 1
HEADER_LEN = MetricTokenizer.header_length  # BOS METER KEY TYPE TEMPO


@dataclass(frozen=True)
class ClassifierConfig:
    """Network size, which types to learn, the piece split, and training length."""

    emb: int = 64
    hidden: int = 128
    min_pieces: int = 30
    max_len: int = 768
    transpose: tuple[int, int] = (0, 0)  # training augmentation, semitones (inclusive); shifts a body survives
    val_fraction: float = 0.2
    split_seed: int = 0
    epochs: int = 6  # about 3.5 minutes on O'Neill's 882 typed tunes, 2 CPU cores
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    max_minutes: float | None = None  # a wall-clock cap makes the result depend on machine load

    def __post_init__(self) -> None:
        object.__setattr__(self, "transpose", tuple(int(t) for t in self.transpose))


@dataclass(frozen=True)
class ClassifierReport:
    """Held-out accuracy and confusion matrix (rows: true type, columns: predicted), in `classes` order."""

    classes: tuple[str, ...]
    n_train: int
    n_val: int
    accuracy: float
    train_accuracy: float
    confusion: tuple[tuple[int, ...], ...]
    epochs: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {k: (list(map(list, v)) if k == "confusion" else list(v) if k == "classes" else v)
                for k, v in asdict(self).items()}

    def to_table(self) -> str:
        """Accuracy line, then the confusion matrix as text."""
        width = max(10, *(len(c) + 2 for c in self.classes))
        lines = [f"held-out accuracy {self.accuracy:.3f} on {self.n_val} pieces (train {self.train_accuracy:.3f} on "
                 f"{self.n_train}); {self.epochs} epochs, {self.seconds:.0f} s",
                 "true \\ predicted".ljust(width) + "".join(f"{c:>{width}}" for c in self.classes)]
        for c, row in zip(self.classes, self.confusion, strict=True):
            lines.append(c.ljust(width) + "".join(f"{v:>{width}}" for v in row))
        return "\n".join(lines)


class TypeNet(nn.Module):
    """Embedding → 1-layer LSTM → masked mean over time → linear over the classes."""

    def __init__(self, vocab_size: int, n_classes: int, emb: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=PAD)
        self.rnn = nn.LSTM(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T), PAD at the end → logits (B, C)."""
        h, _ = self.rnn(self.embed(ids))  # (B, T, H)
        mask = (ids != PAD).unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, H)
        return self.head(pooled)


def body(ids: Sequence[int] | np.ndarray, max_len: int) -> np.ndarray:
    """The tokens after the header, without EOS, at most `max_len` of them (at least one PAD-free token)."""
    ids = np.asarray(ids, dtype=np.int64)[HEADER_LEN:]
    ids = ids[ids != EOS][:max_len]
    return ids if ids.size else np.array([EOS], dtype=np.int64)


def _batch(bodies: Sequence[np.ndarray]) -> torch.Tensor:
    width = max(len(b) for b in bodies)
    out = torch.full((len(bodies), width), PAD, dtype=torch.long)  # (B, T)
    for i, b in enumerate(bodies):
        out[i, : len(b)] = torch.from_numpy(b)
    return out


class TypeClassifier:
    """A trained TypeNet with its tokenizer and class names; `classify` takes Scores."""

    def __init__(self, net: TypeNet, tokenizer: Tokenizer, classes: Sequence[str], config: ClassifierConfig,
                 trained_on: Sequence[str] = ()) -> None:
        self.net, self.tokenizer, self.classes, self.config = net.eval(), tokenizer, tuple(classes), config
        self.trained_on = frozenset(trained_on)  # piece_key() of every training piece: keep them out of tests

    @torch.no_grad()
    def predict_ids(self, pieces: Sequence[Sequence[int] | np.ndarray], batch_size: int = 64) -> list[str]:
        """Type name for each token sequence (BOS header … EOS, as the tokenizer encodes)."""
        bodies = [body(p, self.config.max_len) for p in pieces]
        order = sorted(range(len(bodies)), key=lambda i: len(bodies[i]))  # similar lengths share a batch
        out: list[str] = [""] * len(bodies)
        for s in range(0, len(order), batch_size):
            rows = order[s : s + batch_size]
            logits = self.net(_batch([bodies[i] for i in rows]))  # (B, C)
            for i, c in zip(rows, logits.argmax(1).tolist(), strict=True):
                out[i] = self.classes[c]
        return out

    def classify(self, scores: Sequence[Score]) -> list[str]:
        """Type name for each Score, from its music alone (encoded with the classifier's tokenizer)."""
        return self.predict_ids([self.tokenizer.encode(s) for s in scores])

    def save(self, path: str | Path, report: ClassifierReport | None = None) -> Path:
        """Write weights, config, classes, tokenizer and report atomically to `path`."""
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": asdict(self.config),
                   "classes": list(self.classes), "tokenizer": self.tokenizer.to_dict(),
                   "model": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
                   "report": report.to_dict() if report is not None else None, "trained_on": sorted(self.trained_on)}
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return atomic_write_bytes(path, buffer.getvalue())


def load_classifier(path: str | Path) -> TypeClassifier:
    """Read a classifier written by `train_classifier`; CheckpointError naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such classifier file", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"not a classifier file, or corrupt: {str(e)[:200]}", path) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError("not a tune-type classifier (train one with `composer classify train`)", path)
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"classifier format {payload.get('format_version')} is not {FORMAT_VERSION}", path)
    try:
        config = ClassifierConfig(**payload["config"])
        tokenizer = Tokenizer.from_dict(payload["tokenizer"], path)
        net = TypeNet(tokenizer.vocab_size, len(payload["classes"]), config.emb, config.hidden)
        net.load_state_dict(payload["model"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"classifier file is damaged: {str(e)[:200]}", path) from None
    return TypeClassifier(net, tokenizer, payload["classes"], config, payload.get("trained_on") or ())


def piece_key(entry: dict[str, Any]) -> str:
    """A corpus piece's identity across corpora of the same files: 'sha1:piece'."""
    return f"{entry.get('sha1')}:{entry.get('piece')}"


def _labelled(data_dirs: Sequence[str | Path],
              config: ClassifierConfig) -> tuple[Tokenizer, list[np.ndarray], list[dict[str, Any]], list[str]]:
    """The tokenizer, the pieces with a common type and their index entries (over every corpus), the types."""
    corpora = [open_corpus(d) for d in data_dirs]
    for corpus in corpora:
        if corpus.tokenizer.name != "metric":
            raise InputError(f"the classifier reads metric tokens; this corpus holds {corpus.tokenizer.name}",
                             corpus.root)
        require_same_tokenizer(corpus, corpora[0])
    entries = [(c, i, e) for c in corpora for i, e in enumerate(c.index) if e.get("tune_type")]
    counts = Counter(e["tune_type"] for _, _, e in entries)
    classes = sorted(t for t, c in counts.items() if c >= config.min_pieces)
    if len(classes) < 2:
        raise InputError(f"need two or more tune types with ≥ {config.min_pieces} pieces; the index has "
                         f"{dict(counts) or 'none'}", data_dirs[0])
    keep = [(c, i, e) for c, i, e in entries if e["tune_type"] in classes]
    return corpora[0].tokenizer, [c.piece(i) for c, i, _ in keep], [e for _, _, e in keep], classes


def _accuracy(clf: TypeClassifier, pieces: list[np.ndarray], labels: np.ndarray) -> tuple[float, np.ndarray]:
    pred = np.array([clf.classes.index(p) for p in clf.predict_ids(pieces)])
    confusion = np.zeros((len(clf.classes),) * 2, dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    return float((pred == labels).mean()) if len(labels) else math.nan, confusion


def _transposer(tokenizer: Tokenizer, config: ClassifierConfig) -> np.ndarray:
    """(K, V) id tables, one per semitone shift of `config.transpose` the tokenizer can make (shift 0 first)."""
    shifts = [0, *(k for k in range(config.transpose[0], config.transpose[1] + 1) if k)]
    tables = [t for t in (tokenizer.transposition_table(k) for k in shifts) if t is not None]
    return np.stack([np.asarray(t, dtype=np.int64) for t in tables]) if tables else np.arange(tokenizer.vocab_size)[None]


def _moved(bodies: Sequence[np.ndarray], tables: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Each body under a random one of `tables` that keeps every token in the vocabulary."""
    out = []
    for b in bodies:
        mapped = tables[:, b]  # (K, T)
        ok = np.flatnonzero((mapped >= 0).all(axis=1))  # shift 0 always survives
        out.append(mapped[rng.choice(ok)])
    return out


def train_classifier(data_dir: str | Path | Sequence[str | Path], out_path: str | Path,
                     config: ClassifierConfig = ClassifierConfig(), force: bool = False) -> ClassifierReport:
    """Train the tune-type classifier on one or more metric corpora, save it to `out_path`, report held-out accuracy."""
    if Path(out_path).exists() and not force:
        raise OutputError("already exists; pass --force to replace it", out_path)
    dirs = [data_dir] if isinstance(data_dir, str | Path) else list(data_dir)
    tokenizer, pieces, entries, classes = _labelled(dirs, config)
    labels = np.array([classes.index(e["tune_type"]) for e in entries])
    train_at, val_at = split_pieces(len(pieces), config.val_fraction, config.split_seed,
                                    [piece_hash(p) for p in pieces])
    bodies = [body(p, config.max_len) for p in pieces]
    tables = _transposer(tokenizer, config)
    torch.manual_seed(config.seed)
    net = TypeNet(tokenizer.vocab_size, len(classes), config.emb, config.hidden)
    clf = TypeClassifier(net, tokenizer, classes, config, [piece_key(entries[i]) for i in train_at])
    weights = torch.tensor(len(train_at) / (len(classes) * np.maximum(np.bincount(labels[train_at],
                           minlength=len(classes)), 1)), dtype=torch.float32)  # balance rare types
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr)
    rng, start, done = np.random.default_rng(config.seed), time.monotonic(), 0
    y_all = torch.from_numpy(labels)
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = rng.permutation(train_at)
        for s in range(0, len(order), config.batch_size):
            rows = order[s : s + config.batch_size]
            batch = _moved([bodies[i] for i in rows], tables, rng)
            loss = F.cross_entropy(net(_batch(batch)), y_all[rows], weight=weights)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        done = epoch
        if config.max_minutes is not None and time.monotonic() - start > 60 * config.max_minutes:
            break
    net.eval()
    train_acc, _ = _accuracy(clf, [pieces[i] for i in train_at], labels[train_at])
    val_acc, confusion = _accuracy(clf, [pieces[i] for i in val_at], labels[val_at])
    report = ClassifierReport(classes=tuple(classes), n_train=len(train_at), n_val=len(val_at), accuracy=val_acc,
                              train_accuracy=train_acc, confusion=tuple(map(tuple, confusion.tolist())),
                              epochs=done, seconds=time.monotonic() - start)
    clf.save(out_path, report)
    return report
