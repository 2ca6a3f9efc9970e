"""The on-disk side of a tokenized corpus: open or create the folder, recover after a crash, append shards.

A file counts as done only once its line is in files.jsonl; that line is written after its index
lines, which are written after its shard bytes are flushed. Recovery keeps exactly the committed
files whose bytes are all on disk, rewrites the index to match, and truncates the last shard.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from composer.errors import OutputError
from composer.files import atomic_write_text
from composer.tokenize.base import Tokenizer

FORMAT_VERSION = 1
CORPUS_FILES = ("tokenizer.json", "corpus.json", "index.jsonl", "files.jsonl", "report.json")
FSYNC_SECONDS = 2.0  # shards and logs are fsynced at most this often (and on close)


@dataclass
class Store:
    """A corpus folder after recovery: files done (by sha1) and where the next tokens go."""

    out: Path
    dtype: np.dtype
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    shard_index: int = 0
    shard_len: int = 0  # tokens already in the current shard


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.bin"


def wipe_corpus(out: Path) -> None:
    """Remove the files a corpus folder is made of (and nothing else), for a fresh start."""
    for name in CORPUS_FILES:
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "shards", ignore_errors=True)


def open_store(out: Path, tokenizer: Tokenizer, dtype: np.dtype, *, force: bool = False) -> Store:
    """Create `out` for `tokenizer`, or reopen and recover it; another tokenizer's corpus is refused.

    `force` wipes any corpus in `out` first (only the files a corpus is made of).
    """
    tok_path = out / "tokenizer.json"
    if force:
        wipe_corpus(out)
    if tok_path.exists():
        try:
            same = json.loads(tok_path.read_text(encoding="utf-8")) == json.loads(tokenizer.to_json())
        except (OSError, ValueError):
            same = False
        if not same:
            raise OutputError(
                f"holds a corpus made with another tokenizer than {tokenizer.name!r}; "
                "choose a new --out folder, or pass --force to start this one afresh", out)
    if not tok_path.exists():
        if out.exists() and not out.is_dir():
            raise OutputError("exists and is not a folder", out)
        wipe_corpus(out)
        tokenizer.save(tok_path)
    meta = {"format_version": FORMAT_VERSION, "dtype": "uint16" if dtype.itemsize == 2 else "uint32",
            "tokenizer": tokenizer.name, "vocab_size": tokenizer.vocab_size}
    atomic_write_text(out / "corpus.json", json.dumps(meta, indent=1))
    (out / "shards").mkdir(exist_ok=True)
    return _recover(out, dtype)


def _iter_jsonl(path: Path, torn: list[bool]) -> Iterator[dict[str, Any]]:
    """The complete JSON lines of a file, streamed; sets torn[0] when a line (a torn tail) is skipped."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                torn[0] = True
                continue
            if not line.endswith(b"\n"):
                torn[0] = True
            yield row


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], bool]:
    torn = [False]
    rows = list(_iter_jsonl(path, torn))
    return rows, torn[0]


def _recover(out: Path, dtype: np.dtype) -> Store:
    """Keep the committed files whose pieces are all on disk; drop the rest; truncate the last shard.

    Streams index.jsonl twice and holds only per-file counts, so memory does not grow with pieces.
    """
    files, files_torn = _read_jsonl(out / "files.jsonl")
    done = {r["sha1"]: r for r in files}
    sizes = {p.name: p.stat().st_size // dtype.itemsize for p in (out / "shards").glob("shard-*.bin")}
    counts: dict[str, int] = {}
    lost: set[str] = set()
    index_torn = [False]
    for e in _iter_jsonl(out / "index.jsonl", index_torn):
        counts[e["sha1"]] = counts.get(e["sha1"], 0) + 1
        if e["offset"] + e["length"] > sizes.get(e["shard"], 0):
            lost.add(e["sha1"])
    lost |= {s for s, r in done.items() if counts.get(s, 0) != r["pieces"]}
    done = {s: r for s, r in done.items() if s not in lost}
    if files_torn or len(done) != len(files):
        _rewrite_jsonl(out / "files.jsonl", done.values())
    ends: dict[str, int] = {}
    stale = index_torn[0] or any(s not in done for s in counts)
    kept = (e for e in _iter_jsonl(out / "index.jsonl", [False]) if e["sha1"] in done)
    if stale:
        kept = list(kept)  # only after a crash; a clean folder is never held in memory
        _rewrite_jsonl(out / "index.jsonl", kept)
    for e in kept:
        ends[e["shard"]] = max(ends.get(e["shard"], 0), e["offset"] + e["length"])
    last = max(ends, default=shard_name(0))
    for name in sizes:
        if name > last:
            (out / "shards" / name).unlink()
    end = ends.get(last, 0)
    if sizes.get(last, 0) > end:
        with open(out / "shards" / last, "r+b") as f:
            f.truncate(end * dtype.itemsize)
    return Store(out, dtype, done, int(last[6:11]), end)


def _rewrite_jsonl(path: Path, rows: Any) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


class ShardWriter:
    """Appends each file's pieces to the open shard, rolling to a new one past `shard_tokens`."""

    def __init__(self, store: Store, shard_tokens: int) -> None:
        self.store = store
        self.shard_tokens = shard_tokens
        self._shard: IO[bytes] | None = None
        try:
            self._index = open(store.out / "index.jsonl", "a", encoding="utf-8")
            self._files = open(store.out / "files.jsonl", "a", encoding="utf-8")
        except OSError as e:
            raise _write_error(e, store.out) from None
        self._synced = time.monotonic()

    def _open_shard(self) -> IO[bytes]:
        if self._shard is None:
            self._shard = open(self.store.out / "shards" / shard_name(self.store.shard_index), "ab")
        return self._shard

    def commit(self, result: dict[str, Any]) -> dict[str, Any]:
        """Write one file's pieces, then its index lines, then its files.jsonl line; return that line.

        A failed write (disk full, permissions) raises OutputError; what was committed before is kept,
        and the next run drops the half-written file's bytes (see `_recover`) and resumes."""
        try:
            return self._commit(result)
        except OSError as e:
            raise _write_error(e, self.store.out) from None

    def _commit(self, result: dict[str, Any]) -> dict[str, Any]:
        st = self.store
        lines = []
        for piece, ids, meta in result["pieces"]:
            if st.shard_len and st.shard_len + len(ids) > self.shard_tokens:
                self._roll()
            self._open_shard().write(np.ascontiguousarray(ids, dtype=st.dtype).tobytes())
            lines.append({"file": result["file"], "sha1": result["sha1"], "piece": piece,
                          "shard": shard_name(st.shard_index), "offset": st.shard_len, "length": len(ids), **meta})
            st.shard_len += len(ids)
        if self._shard is not None:
            self._shard.flush()
        self._sync()
        self._index.write("".join(json.dumps(line) + "\n" for line in lines))
        self._index.flush()
        record = {"file": result["file"], "sha1": result["sha1"], "pieces": len(lines),
                  "tokens": sum(line["length"] for line in lines), "error": result["error"],
                  "problems": result["problems"]}
        self._files.write(json.dumps(record) + "\n")
        self._files.flush()
        st.done[result["sha1"]] = record
        return record

    def _roll(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            os.fsync(self._shard.fileno())
            self._shard.close()
            self._shard = None
        self.store.shard_index += 1
        self.store.shard_len = 0

    def _sync(self, always: bool = False) -> None:
        if always or time.monotonic() - self._synced > FSYNC_SECONDS:
            for f in (self._shard, self._index, self._files):
                if f is not None:
                    f.flush()
                    os.fsync(f.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        """Flush and fsync everything written, and close the files (all of them, even when one fails)."""
        failed: OSError | None = None
        try:
            self._sync(always=True)
        except OSError as e:
            failed = e
        for f in (self._shard, self._index, self._files):
            if f is not None:
                try:
                    f.close()
                except OSError as e:
                    failed = failed or e
        if failed is not None:
            raise _write_error(failed, self.store.out) from None


def _write_error(e: OSError, out: Path) -> OutputError:
    return OutputError(f"cannot write the corpus: {os.strerror(e.errno or errno.EIO)}; the files finished so far "
                       "are kept: fix that and run the same command again to resume", out)


def merge_corpora(parts: list[Path], out: Path, *, force: bool = False) -> Path:
    """Combine corpus folders written by `--shard i/n` runs (same tokenizer) into one folder `out`.

    Shards are copied and renumbered, index and file logs concatenated; a file seen by two parts
    (same sha1) is kept once. The parts are left as they are.
    """
    if not parts:
        raise OutputError("nothing to merge")
    first = (parts[0] / "tokenizer.json").read_text(encoding="utf-8")
    for part in parts[1:]:
        if (part / "tokenizer.json").read_text(encoding="utf-8") != first:
            raise OutputError(f"was made with another tokenizer than {parts[0]}; cannot merge", part)
    if out.exists() and any(out.iterdir()) and not force:
        raise OutputError("exists and is not empty; pass --force to replace the corpus in it", out)
    wipe_corpus(out)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    shutil.copy(parts[0] / "tokenizer.json", out / "tokenizer.json")
    shutil.copy(parts[0] / "corpus.json", out / "corpus.json")
    seen: set[str] = set()
    index, files, next_shard = [], [], 0
    for part in parts:
        rows, _ = _read_jsonl(part / "files.jsonl")
        entries, _ = _read_jsonl(part / "index.jsonl")
        rename = {}
        for p in sorted((part / "shards").glob("shard-*.bin")):
            rename[p.name] = shard_name(next_shard)
            shutil.copy(p, out / "shards" / rename[p.name])
            next_shard += 1
        fresh = {r["sha1"] for r in rows if r["sha1"] not in seen}
        files += [r for r in rows if r["sha1"] in fresh]
        index += [{**e, "shard": rename[e["shard"]]} for e in entries if e["sha1"] in fresh]
        seen |= fresh
    _rewrite_jsonl(out / "files.jsonl", files)
    _rewrite_jsonl(out / "index.jsonl", index)
    return out
