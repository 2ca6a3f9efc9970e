"""Tokenize a corpus of files into a folder of token shards plus an index, in parallel and resumably.

Folder layout (read by composer.corpus.data): tokenizer.json, corpus.json, shards/shard-NNNNN.bin (raw
little-endian ids, pieces concatenated, each BOS … EOS), index.jsonl (one line per piece),
files.jsonl (one commit line per file done, failed files included, so a re-run skips it) and
report.json. Tokens stream to the open shard as results arrive; a file's index lines are written
only after its shard bytes are flushed, and its files.jsonl line last, so an interrupted run
resumes exactly: uncommitted index lines are dropped and shard bytes past the last one truncated.

To split a corpus across machines, run with shard=(i, n) (CLI `--shard i/n`) on each, each into
its own folder, then combine the folders with `merge_corpora([part0, part1, …], out)`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from composer.corpus.store import ShardWriter, merge_corpora, open_store
from composer.errors import ComposerError, InputError, LimitError
from composer.files import atomic_write_text
from composer.io import load_report
from composer.io.limits import DEFAULT_LIMITS
from composer.tokenize.base import Tokenizer

__all__ = ["CorpusReport", "find_files", "merge_corpora", "parse_shard", "select_shard", "tokenize_corpus"]

SUFFIXES = (".mid", ".midi", ".abc", ".musicxml", ".xml", ".mxl")
SHARD_TOKENS = 1 << 24  # a shard is closed once the next piece would take it past this many tokens


@dataclass(frozen=True)
class CorpusReport:
    """What one `tokenize_corpus` run saw and did; `pieces`/`tokens` count every file of the selection."""

    files_seen: int
    files_done: int
    files_skipped_cached: int
    files_failed: tuple[tuple[str, str], ...]
    pieces: int
    tokens: int
    seconds: float
    files_per_second: float
    pieces_failed: tuple[tuple[str, str], ...] = ()
    files_duplicate: int = 0
    out_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["files_failed"] = [{"file": f, "reason": r} for f, r in self.files_failed]
        d["pieces_failed"] = [{"file": f, "reason": r} for f, r in self.pieces_failed]
        return d

    def summary(self) -> str:
        """One line for the terminal: counts, speed, and how many files or tunes were skipped."""
        parts = [
            f"{self.files_seen} files: {self.files_done} tokenized, {self.files_skipped_cached} already done",
            f"{len(self.files_failed)} failed",
        ]
        if self.files_duplicate:
            parts.append(f"{self.files_duplicate} duplicates skipped")
        text = ", ".join(parts) + f"; {self.pieces:,} pieces, {self.tokens:,} tokens"
        if self.pieces_failed:
            text += f" ({len(self.pieces_failed)} pieces skipped)"
        return text + f"; {self.seconds:.1f} s ({self.files_per_second:.1f} files/s)"


def find_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Every readable-type file under `inputs` (files or folders), sorted and without repeats."""
    found: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        elif path.is_file():
            found.add(path)
        else:
            raise InputError("no such file or folder", path)
    return sorted(found, key=lambda p: p.as_posix())


def select_shard(files: Sequence[Path], shard: tuple[int, int] | None) -> list[Path]:
    """Files whose sorted position % n == i, so n machines can split one corpus between them."""
    if shard is None:
        return list(files)
    i, n = shard
    if n < 1 or not 0 <= i < n:
        raise InputError(f"bad shard {i}/{n}: need 0 <= i < n")
    return [p for k, p in enumerate(files) if k % n == i]


def parse_shard(text: str) -> tuple[int, int]:
    """'1/4' → (1, 4), for the CLI's --shard."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise InputError(f"bad --shard {text!r}: write it as i/n, e.g. 0/4") from None
    select_shard([], (i, n))
    return i, n


def file_sha1(path: Path) -> str:
    """Hex sha1 of a file's bytes: the identity used to skip files already tokenized."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else uint32."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


# --- worker side: top-level functions so they pickle under spawn as well as fork ----------------
_WORKER_TOKENIZER: list[Tokenizer] = []  # the tokenizer of this worker process, set by _init_worker


def _init_worker(tokenizer: Tokenizer) -> None:
    """Keep the tokenizer; leave Ctrl-C to the main process, which stops the pool and saves what is done
    (a terminal sends SIGINT to every worker too, which would print one traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_TOKENIZER[:] = [tokenizer]


def _work(path: str, sha1: str) -> dict[str, Any]:
    return tokenize_file(Path(path), sha1, _WORKER_TOKENIZER[0])


def tokenize_file(path: Path, sha1: str, tokenizer: Tokenizer) -> dict[str, Any]:
    """Load one file and encode its pieces; failures become reasons, never exceptions."""
    dtype = token_dtype(tokenizer.vocab_size)
    result: dict[str, Any] = {"file": path.as_posix(), "sha1": sha1, "pieces": [], "problems": [], "error": None}
    try:
        scores, problems = load_report(path)
    except ComposerError as e:
        result["error"] = e.problem
        return result
    except Exception as e:  # a reader bug must cost one file, not the run
        result["error"] = f"unexpected {type(e).__name__}: {e}"[:300]
        return result
    result["problems"] = [_strip_path(p, path) for p in problems]
    for piece, score in enumerate(scores):
        try:
            ids = tokenizer.encode(score)
            if len(ids) > DEFAULT_LIMITS.max_piece_tokens:
                raise LimitError(f"{len(ids):,} tokens, over the limit of {DEFAULT_LIMITS.max_piece_tokens:,} per piece")
            ids = np.asarray(ids, dtype=dtype)
        except ComposerError as e:
            result["problems"].append(f"piece {piece} ({score.title or 'untitled'}): {e.problem}")
            continue
        except Exception as e:
            result["problems"].append(f"piece {piece}: unexpected {type(e).__name__}: {e}"[:300])
            continue
        result["pieces"].append((piece, ids, _piece_meta(score)))
    if not result["pieces"]:
        result["error"] = "; ".join(result["problems"][:3]) or "no pieces"
    return result


def _strip_path(problem: str, path: Path) -> str:
    return problem.removeprefix(f"{path}: ")


def _piece_meta(score: Any) -> dict[str, Any]:
    ks, ts = score.key_signature, score.time_signature
    return {
        "title": score.title or "",
        "tune_type": score.tune_type,
        "key": ks.name if ks else None,
        "meter": f"{ts.numerator}/{ts.denominator}" if ts else None,
    }


# --- the main process -----------------------------------------------------------------------------
def tokenize_corpus(
    inputs: Sequence[str | Path],
    tokenizer: Tokenizer,
    out_dir: str | Path,
    workers: int | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    force: bool = False,
    shard_tokens: int = SHARD_TOKENS,
) -> CorpusReport:
    """Tokenize every file under `inputs` into `out_dir` (see the module doc), skipping files done before.

    workers=None uses every core, 1 works in this process. A folder made with another tokenizer is
    refused; `force` starts the folder afresh. Bad files are skipped and listed in the report.
    """
    t0 = time.perf_counter()
    files = select_shard(find_files(inputs), shard)
    out = Path(out_dir)
    store = open_store(out, tokenizer, token_dtype(tokenizer.vocab_size), force=force)
    writer = ShardWriter(store, shard_tokens)
    todo: list[tuple[Path, str]] = []
    cached: list[dict[str, Any]] = []
    seen_now: set[str] = set()
    duplicates = 0
    for path in files:
        sha1 = file_sha1(path)
        if sha1 in seen_now:
            duplicates += 1
            continue
        seen_now.add(sha1)
        if sha1 in store.done:
            cached.append(store.done[sha1])
        else:
            todo.append((path, sha1))
    fresh: list[dict[str, Any]] = []
    try:
        with _Progress(progress, len(todo)) as bar:
            for result in _results(todo, tokenizer, workers):
                fresh.append(writer.commit(result))
                bar.advance(result)
    finally:
        writer.close()
    seconds = time.perf_counter() - t0
    report = _report(files, fresh, cached, duplicates, seconds, out)
    atomic_write_text(out / "report.json", json.dumps(report.to_dict(), indent=1))
    return report


def _results(todo: list[tuple[Path, str]], tokenizer: Tokenizer, workers: int | None) -> Iterator[dict[str, Any]]:
    """Results in input order, from a pool with a bounded number of files in flight."""
    workers = min(workers or os.cpu_count() or 1, len(todo))
    if workers <= 1 or len(todo) <= 1:
        for path, sha1 in todo:
            yield tokenize_file(path, sha1, tokenizer)
        return
    window = 4 * workers
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(tokenizer,)) as pool:
        pending: deque[tuple[Path, Future]] = deque()
        queue = iter(todo)
        try:
            for path, sha1 in queue:
                pending.append((path, pool.submit(_work, str(path), sha1)))
                if len(pending) >= window:
                    yield _result(*pending.popleft())
            while pending:
                yield _result(*pending.popleft())
        finally:
            for _, f in pending:
                f.cancel()


def _result(path: Path, future: Future) -> dict[str, Any]:
    try:
        return future.result()
    except BrokenProcessPool:
        raise ComposerError(
            "a worker process died (out of memory, or a crash in a reader) near this file; the files "
            "finished so far are saved: run again to resume, with --workers 1 to find the culprit", path) from None


def _report(files, fresh, cached, duplicates, seconds, out) -> CorpusReport:
    records = fresh + cached
    order = {p.as_posix(): k for k, p in enumerate(files)}
    records.sort(key=lambda r: order.get(r["file"], len(order)))
    failed = tuple((r["file"], r["error"]) for r in records if r["error"])
    piece_problems = tuple((r["file"], p) for r in records if not r["error"] for p in r["problems"])
    return CorpusReport(
        files_seen=len(files),
        files_done=sum(1 for r in fresh if not r["error"]),
        files_skipped_cached=len(cached),
        files_failed=failed,
        pieces=sum(r["pieces"] for r in records),
        tokens=sum(r["tokens"] for r in records),
        seconds=round(seconds, 3),
        files_per_second=round(len(files) / seconds, 2) if seconds > 0 else 0.0,
        pieces_failed=piece_problems,
        files_duplicate=duplicates,
        out_dir=str(out),
    )


class _Progress:
    """A rich progress bar (files/s and ETA) on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled and sys.stderr.isatty() and total > 0
        self.total = total

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("tokenizing"), BarColumn(), MofNCompleteColumn(),
                TextColumn("[progress.data.speed]{task.fields[rate]}"),
                TimeRemainingColumn(), console=Console(stderr=True), transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("files", total=self.total, rate="")
        return self

    def advance(self, result: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if result["error"]:
            self.bar.console.print(f"[yellow]skipped[/] {result['file']}: {result['error']}", markup=True, highlight=False)
        self.bar.advance(self.task)
        speed = self.bar.tasks[0].speed
        self.bar.update(self.task, rate=f"{speed:.1f} files/s" if speed else "")

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()

