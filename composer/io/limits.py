"""Resource limits every reader enforces, so a hostile or broken file is refused quickly, never hangs."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from composer.errors import InputError, LimitError


@dataclass(frozen=True)
class ReadLimits:
    """Largest input the readers accept; a file past any of these raises `LimitError`."""

    max_file_bytes: int = 16 * 1024 * 1024  # a whole MIDI file or ABC/MusicXML text
    max_notes: int = 500_000  # notes in one file, counted before Python objects are built
    max_seconds: float = 2 * 60 * 60  # duration of one piece through its tempo map
    max_tracks: int = 256  # MIDI tracks (after splitting by channel)
    max_piece_tokens: int = 1_000_000  # one piece's tokens when a corpus is tokenized (O'Neill's longest: 2,969
    # metric tokens); training windows would take it, but a piece this long is a bomb or a mistake
    max_qpm: float = 2000.0  # tempo above this is absurd; qpm <= 0 is malformed
    max_abc_tune_chars: int = 200_000  # one ABC tune's text; music21 slows badly on huge bodies
    max_abc_bars: int = 600  # bar lines in one tune: O'Neill's longest has 146; 1,144 (a reel 8 times) take 1.6 s
    max_abc_bar_chars: int = 2_000  # characters between two bar lines: O'Neill's widest has 83
    max_abc_bar_meters: float = 32.0  # a bar's length over its meter's (from music21's tokens): music21
    # re-bars an over-long bar in quadratic time (100 quarter notes in a 3/4 bar: 0.16 s, 400: 2.8 s); O'Neill: 4
    max_abc_rebar_beats: int = 160  # music21 gives a bar's overflow of p/q quarter notes a p-beat time signature
    # at a cost ~p² (160/1: 0.43 s), 6× more when q is not a power of two (p ≤ 64 then: 64/5 0.38 s, 487/20 26 s);
    # O'Neill's largest p is 25, music21's 12,978 ABC tunes' 116
    max_abc_meter_terms: int = 64  # M:num/den, each term: music21 takes over 5 s on three bars of M:999/1
    max_abc_tune_seconds: float = 5.0  # a last guard (SIGALRM) against music21 hangs; real tunes take ~30 ms,
    # the caps above keep well-formed ones under ~1.5 s, and a loaded machine must not refuse a real tune


DEFAULT_LIMITS = ReadLimits()


def read_bytes(path: Path, limits: ReadLimits) -> bytes:
    """A file's bytes after checking it exists, is a file, is not empty and is not too big."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError("not a file (a folder?)", path)
    size = st.st_size
    if size == 0:
        raise InputError("empty file", path)
    if size > limits.max_file_bytes:
        raise LimitError(f"file is {size:,} bytes, over the limit of {limits.max_file_bytes:,}", path)
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path) from None


def check_qpm(qpm: float, limits: ReadLimits, path: str | Path | None) -> float:
    """`qpm` itself if it is a sensible tempo; an absurd one raises."""
    if not qpm > 0:
        raise InputError(f"tempo {qpm} quarter notes per minute is not positive", path)
    if qpm > limits.max_qpm:
        raise LimitError(f"tempo {qpm:.1f} qpm is over the limit of {limits.max_qpm:g}", path)
    return qpm


def check_notes(count: int, limits: ReadLimits, path: str | Path | None) -> None:
    """Refuse a file with more notes than the limit, before they become Python objects."""
    if count > limits.max_notes:
        raise LimitError(f"{count:,} notes, over the limit of {limits.max_notes:,}", path)


def check_seconds(seconds: float, limits: ReadLimits, path: str | Path | None) -> None:
    """Refuse a piece longer than the limit."""
    if seconds > limits.max_seconds:
        raise LimitError(f"lasts {seconds:,.0f} s, over the limit of {limits.max_seconds:,.0f} s", path)
