"""MIDI → tokens throughput against MidiTok's REMI on the same real files, in one run; plus the
seconds to tokenize all of O'Neill's tunes cold and warm.

    python bench/bench_tokenize.py [--files 400] [--skip-corpus]

(Not bench/tokenize.py: that name would shadow the standard library's `tokenize` for every
script in bench/.)

Needs the `bench` extra (miditok). Real MIDI: O'Neill's tunes and Bach chorales from music21's
corpus, written once with composer.save_midi into bench/.cache/ (git-ignored).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


def real_midi_files(n: int) -> list[Path]:
    """At least `n` real MIDI files: O'Neill tunes (monophonic) and Bach chorales (four voices)."""
    from music21 import corpus

    from composer.corpus.build import build_bach, tunes_to_midi

    oneills = sorted(Path(p) for p in corpus.getPaths(fileExtensions=("abc",)) if "oneills1850" in str(p))
    tunes_to_midi(oneills[:6], CACHE / "oneills-midi")
    build_bach(CACHE / "bach", limit=100)
    files = sorted((CACHE / "oneills-midi").glob("*.mid"))[: n - 100] + sorted((CACHE / "bach").glob("*.mid"))
    return files[:n]


def ours(files: list[Path], name: str) -> tuple[float, int]:
    """Seconds to load and tokenize every file with composer, and the tokens made."""
    from composer.io import load
    from composer.tokenize import Tokenizer

    tok = Tokenizer.create(name)
    start, tokens = time.perf_counter(), 0
    for f in files:
        for score in load(f):
            tokens += len(tok.encode(score))
    return time.perf_counter() - start, tokens


def remi(files: list[Path]) -> tuple[float, int]:
    """Seconds for MidiTok REMI (symusic reader underneath) on the same files."""
    from miditok import REMI, TokenizerConfig

    tok = REMI(TokenizerConfig(use_programs=True))
    start, tokens = time.perf_counter(), 0
    for f in files:
        out = tok(f)
        tokens += sum(len(s.ids) for s in out) if isinstance(out, list) else len(out.ids)
    return time.perf_counter() - start, tokens


def corpus_cold_warm() -> tuple[float, float, int]:
    """Seconds for `tokenize_corpus` over O'Neill's 39 ABC files (2,009 tunes) cold, then warm."""
    from music21 import corpus

    from composer.corpus import tokenize_corpus
    from composer.tokenize import Tokenizer

    paths = sorted(Path(p) for p in corpus.getPaths(fileExtensions=("abc",)) if "oneills1850" in str(p))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "oneills"
        src.mkdir()
        for p in paths:
            shutil.copy(p, src / p.name)
        tok = Tokenizer.create("metric")
        start = time.perf_counter()
        report = tokenize_corpus([src], tok, Path(tmp) / "out", workers=2, progress=False)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        tokenize_corpus([src], tok, Path(tmp) / "out", workers=2, progress=False)
        warm = time.perf_counter() - start
    return cold, warm, report.pieces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--skip-corpus", action="store_true", help="skip the cold/warm O'Neill corpus run")
    args = ap.parse_args()
    files = real_midi_files(args.files)
    print(f"{len(files)} real MIDI files (O'Neill tunes + Bach chorales), one process")
    ours(files[:20], "metric"), remi(files[:20])  # warm imports and caches
    base_s, base_tokens = remi(files)
    print(f"  MidiTok REMI      {len(files) / base_s:8.0f} files/s  ({base_tokens:,} tokens)")
    for name in ("performance", "metric"):
        s, tokens = ours(files, name)
        print(f"  composer {name:<11} {len(files) / s:6.0f} files/s  ({tokens:,} tokens)  "
              f"ratio vs REMI {base_s / s:5.2f}× (goal ≥ 1.0)")
    if not args.skip_corpus:
        cold, warm, pieces = corpus_cold_warm()
        print(f"O'Neill's corpus, metric, 2 workers: {pieces} tunes cold {cold:.1f} s (goal ≤ 40 s), "
              f"warm {warm:.2f} s, {cold / warm:.0f}× faster (goal ≥ 100×)")


if __name__ == "__main__":
    main()
