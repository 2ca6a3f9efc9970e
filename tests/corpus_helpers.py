"""Tiny token corpus folders written by hand in the agreed format (what composer/corpus.py writes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from composer.tokenize import Tokenizer

SMALL_PERFORMANCE = {"pitch_low": 60, "pitch_high": 72, "max_shift_steps": 4, "velocity_bins": 8}


def small_tokenizer() -> Tokenizer:
    """A performance tokenizer over one octave (60-72), 4 shift steps, 8 velocities: 170 ids."""
    return Tokenizer.create("performance", **SMALL_PERFORMANCE)


def melody_piece(tok: Tokenizer, pitches: list[int]) -> np.ndarray:
    """BOS, then per pitch VELOCITY, NOTE_ON, TIME_SHIFT 2, NOTE_OFF; EOS."""
    t = tok.table
    ids = [1]
    for p in pitches:
        ids += [t.id("VELOCITY", 80), t.id("NOTE_ON", p), t.id("TIME_SHIFT", 2), t.id("NOTE_OFF", p)]
    return np.array(ids + [2], dtype=np.int64)


def synthetic_pieces(tok: Tokenizer, n: int, seed: int = 0) -> list[np.ndarray]:
    """`n` scale-wise melodies of 10-30 notes inside 62-70, so every piece can move by ±2."""
    rng = np.random.default_rng(seed)
    scale = [62, 64, 65, 67, 69, 70]
    out = []
    for _ in range(n):
        start = int(rng.integers(0, len(scale)))
        length = int(rng.integers(10, 31))
        out.append(melody_piece(tok, [scale[(start + i) % len(scale)] for i in range(length)]))
    return out


def write_corpus(root: Path, tok: Tokenizer, pieces: list[np.ndarray], shard_tokens: int = 1 << 30,
                 dtype: str = "uint16") -> Path:
    """Write `pieces` as a corpus folder at `root`, starting a new shard past `shard_tokens`."""
    (root / "shards").mkdir(parents=True)
    tok.save(root / "tokenizer.json")
    meta = {"format_version": 1, "dtype": dtype, "tokenizer": tok.name, "vocab_size": tok.vocab_size}
    (root / "corpus.json").write_text(json.dumps(meta))
    shards: list[list[np.ndarray]] = [[]]
    lines, offset = [], 0
    for i, ids in enumerate(pieces):
        if offset and offset + len(ids) > shard_tokens:
            shards.append([])
            offset = 0
        name = f"shard-{len(shards) - 1:05d}.bin"
        lines.append({"file": f"f{i}.mid", "sha1": f"{i:040d}", "piece": 0, "shard": name, "offset": offset,
                      "length": len(ids), "title": f"tune {i}", "tune_type": None, "key": None, "meter": None})
        shards[-1].append(ids)
        offset += len(ids)
    for s, parts in enumerate(shards):
        np.concatenate(parts).astype(np.dtype(dtype).newbyteorder("<")).tofile(root / "shards" / f"shard-{s:05d}.bin")
    (root / "index.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    return root
