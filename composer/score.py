"""The one score type every source becomes: plain notes and maps, times in integer ticks of a beat.

A beat is a quarter note (MIDI's convention). `Score.tpq` ticks make one beat, so times are exact
integers: MIDI keeps its file's resolution, ABC/MusicXML use 480 (divisible by 2⁵·3·5, so
triplets, quintuplets and 1/32 notes are exact). The tempo map turns ticks into seconds.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from composer.errors import InputError

DEFAULT_TPQ = 480
DEFAULT_QPM = 120.0

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor", "dorian", "mixolydian", "lydian", "phrygian", "locrian")
# Semitones from the mode's tonic down to its relative major's tonic ("E dorian" is "D major").
MODE_OFFSETS = {"major": 0, "minor": 9, "dorian": 2, "mixolydian": 7, "lydian": 5, "phrygian": 4, "locrian": 11}


class Note(NamedTuple):
    """One sounding note: MIDI pitch, onset and length in ticks, velocity, GM program, drum flag."""

    pitch: int
    start: int
    duration: int
    velocity: int = 80
    program: int = 0
    is_drum: bool = False

    @property
    def end(self) -> int:
        return self.start + self.duration


_NOTE_ORDER = operator.itemgetter(1, 0, 2, 3, 4, 5)  # start, pitch, duration, velocity, program, drum


class TempoChange(NamedTuple):
    """From `tick` on, the tempo is `qpm` quarter notes per minute."""

    tick: int
    qpm: float


class TimeSignature(NamedTuple):
    """From `tick` on, bars hold `numerator` notes of value 1/`denominator`."""

    tick: int
    numerator: int
    denominator: int

    @property
    def bar_beats(self) -> float:
        """Length of one bar in beats (quarter notes)."""
        return self.numerator * 4 / self.denominator


class KeySignature(NamedTuple):
    """From `tick` on, the key is `tonic` (pitch class 0–11, C=0) in `mode` (one of MODES)."""

    tick: int
    tonic: int
    mode: str = "major"

    @property
    def name(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic]} {self.mode}"


@dataclass(frozen=True)
class Score:
    """A piece of music as plain data; readers make it, tokenizers, renderers and metrics read it."""

    notes: tuple[Note, ...] = ()
    tpq: int = DEFAULT_TPQ
    tempos: tuple[TempoChange, ...] = ()
    time_signatures: tuple[TimeSignature, ...] = ()
    key_signatures: tuple[KeySignature, ...] = ()
    title: str = ""
    tune_type: str | None = None
    source: str = ""
    metadata: dict = field(default_factory=dict, compare=False, hash=False)
    form: Form | None = field(default=None, compare=False, hash=False)  # how it is written, when the source says

    def __post_init__(self) -> None:
        # Accept any iterables but store sorted tuples, so equal music compares equal; notes in time order.
        notes = (n if type(n) is Note else Note(*n) for n in self.notes)
        object.__setattr__(self, "notes", tuple(sorted(notes, key=_NOTE_ORDER)))
        object.__setattr__(self, "tempos", tuple(sorted(TempoChange(*t) for t in self.tempos)))
        object.__setattr__(self, "time_signatures", tuple(sorted(TimeSignature(*t) for t in self.time_signatures)))
        object.__setattr__(self, "key_signatures", tuple(sorted(KeySignature(*k) for k in self.key_signatures)))

    def replace(self, **changes) -> Score:
        """A copy with some fields changed (the score itself is frozen)."""
        return dataclasses.replace(self, **changes)

    @property
    def end_tick(self) -> int:
        """Tick at which the last note ends (0 for an empty score)."""
        return max((n.start + n.duration for n in self.notes), default=0)

    @property
    def time_signature(self) -> TimeSignature | None:
        """The first time signature, the one a folk tune is known by."""
        return self.time_signatures[0] if self.time_signatures else None

    @property
    def key_signature(self) -> KeySignature | None:
        """The first key signature."""
        return self.key_signatures[0] if self.key_signatures else None

    def note_array(self) -> np.ndarray:
        """Notes as an int64 array of shape (N, 6): pitch, start, duration, velocity, program, is_drum."""
        if not self.notes:
            return np.zeros((0, 6), dtype=np.int64)
        return np.array(self.notes, dtype=np.int64)

    def ticks_to_seconds(self, ticks: np.ndarray | int) -> np.ndarray:
        """Seconds at each tick, through the tempo map (120 qpm before the first change)."""
        ticks = np.asarray(ticks, dtype=np.float64)
        change_ticks, qpms = _tempo_map(self.tempos)
        sec_per_tick = 60.0 / (qpms * self.tpq)
        seg_seconds = np.concatenate([[0.0], np.cumsum(np.diff(change_ticks) * sec_per_tick[:-1])])
        seg = np.searchsorted(change_ticks, ticks, side="right") - 1
        return seg_seconds[seg] + (ticks - change_ticks[seg]) * sec_per_tick[seg]

    def seconds_to_ticks(self, seconds: np.ndarray | float) -> np.ndarray:
        """Ticks (as floats) at each time in seconds: the inverse of `ticks_to_seconds`."""
        seconds = np.asarray(seconds, dtype=np.float64)
        change_ticks, qpms = _tempo_map(self.tempos)
        sec_per_tick = 60.0 / (qpms * self.tpq)
        seg_seconds = np.concatenate([[0.0], np.cumsum(np.diff(change_ticks) * sec_per_tick[:-1])])
        seg = np.searchsorted(seg_seconds, seconds, side="right") - 1
        return change_ticks[seg] + (seconds - seg_seconds[seg]) / sec_per_tick[seg]

    @property
    def duration_seconds(self) -> float:
        return float(self.ticks_to_seconds(self.end_tick))

    def transpose(self, semitones: int) -> Score:
        """The score shifted by `semitones` (drums and key tonics follow musical sense)."""
        notes = [n if n.is_drum else n._replace(pitch=n.pitch + semitones) for n in self.notes]
        keys = [k._replace(tonic=(k.tonic + semitones) % 12) for k in self.key_signatures]
        return self.replace(notes=notes, key_signatures=keys)

    def resample(self, tpq: int) -> Score:
        """The score at another resolution; times are rounded to the nearest new tick."""
        if tpq == self.tpq:
            return self

        def to(t: int) -> int:
            return int(round(t * tpq / self.tpq))

        notes = [n._replace(start=to(n.start), duration=max(1, to(n.start + n.duration) - to(n.start))) for n in self.notes]
        return self.replace(
            tpq=tpq,
            notes=notes,
            tempos=[t._replace(tick=to(t.tick)) for t in self.tempos],
            time_signatures=[t._replace(tick=to(t.tick)) for t in self.time_signatures],
            key_signatures=[k._replace(tick=to(k.tick)) for k in self.key_signatures],
        )


def _tempo_map(tempos: tuple[TempoChange, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Change ticks (starting at 0) and their tempos, with 120 qpm assumed before the first change."""
    ticks = [0.0]
    qpms = [tempos[0].qpm if tempos and tempos[0].tick == 0 else DEFAULT_QPM]
    for t in tempos:
        if t.tick == 0:
            qpms[0] = t.qpm
        else:
            ticks.append(float(t.tick))
            qpms.append(float(t.qpm))
    return np.array(ticks), np.array(qpms, dtype=np.float64)


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch: 60 → 'C4'."""
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


def key_name_to_signature(name: str, tick: int = 0) -> KeySignature:
    """Parse 'D', 'Dmaj', 'E minor', 'Ador', 'G mixolydian', 'F#m' into a KeySignature."""
    text = name.strip()
    if not text or text[0].upper() not in "ABCDEFG":
        raise InputError(f"unknown key {name!r}: expected a tonic A–G, e.g. 'D', 'Ador', 'E minor'")
    letter, rest = text[0].upper(), text[1:]
    pc = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[letter]
    while rest[:1] in ("#", "b") and rest[:1]:
        pc += 1 if rest[0] == "#" else -1
        rest = rest[1:]
    mode_text = rest.strip().lower()
    if mode_text in ("", "maj", "major", "ion", "ionian"):
        mode = "major"
    elif mode_text in ("m", "min", "minor", "aeo", "aeolian"):
        mode = "minor"
    else:
        matches = [m for m in MODES if m.startswith(mode_text[:3])]
        if not matches:
            raise InputError(f"unknown mode {rest.strip()!r} in key {name!r}")
        mode = matches[0]
    return KeySignature(tick, pc % 12, mode)


# --- form: how a tune is written (repeats, endings) and how it unfolds -----------------------------
@dataclass(frozen=True)
class BarMarks:
    """The repeat marks of one written bar."""

    start_repeat: bool = False  # `|:` on its left
    end_repeat: int = 0  # `:|` on its right: the section sounds this many times in all (0: no mark)
    section_end: bool = False  # `||`, `|]` … on its right: a later `:|` without `|:` repeats from after it
    endings: frozenset[int] = frozenset()  # the passes (1, 2 …) this bar sounds on; empty: every pass


class RepeatError(ValueError):
    """The marks unfold to more bars than allowed (nested or contradictory marks)."""


def play_order(bars: Sequence[BarMarks], max_bars: int | None = None) -> list[int]:
    """Indices of `bars` in the order they sound, as ABC players read the marks; raises RepeatError past
    `max_bars` (default 16 × written).

    `:|` sends the player back to the section's start: the last `|:`, else the bar after the last `:|` or
    `||` (a tune's first part often has no `|:`); `|:` never closed is ignored. A bar under ending *k*
    sounds only on pass *k* of its repeat. The last ending runs on to the next `:|`, `||` or `|:`; a `:|`
    there closes the part and is not a repeat (transcribers write `[2 … :|`). A new first ending after
    it starts a new section from the first bar after the last ending.
    """
    limit = 16 * len(bars) if max_bars is None else max_bars
    order: list[int] = []
    start, pass_no, turned_at, opened = 0, 1, -1, False  # section start; pass; the `:|` that sent us back; `|:` seen
    tail = -1  # first bar after the last ending, while its pass lasts
    i = 0
    while i < len(bars):
        bar = bars[i]
        if pass_no > 1 and i > turned_at:  # past the bar that sent us back: the last ending, then its tail
            if bar.start_repeat or (bar.endings and 1 in bar.endings and tail >= 0):  # a new section began
                start, pass_no, turned_at, opened = (i if bar.start_repeat else tail), 1, -1, False
            elif not bar.endings and tail < 0:
                tail = i
        if bar.start_repeat and pass_no == 1:
            start, opened = i, True
        if bar.endings and pass_no > 1 and pass_no not in bar.endings:
            i += 1
            continue
        order.append(i)
        if len(order) > limit:
            raise RepeatError(f"repeat marks unfold to over {limit} bars")
        if bar.end_repeat and pass_no < bar.end_repeat:
            pass_no, turned_at, tail, i = pass_no + 1, i, -1, start
            continue
        if bar.end_repeat or (bar.section_end and pass_no > 1 and i > turned_at):
            start, pass_no, turned_at, opened, tail = i + 1, 1, -1, False, -1
        elif bar.section_end and pass_no == 1 and not opened:
            start = i + 1
        i += 1
    return order


@dataclass(frozen=True)
class Form:
    """How a tune is written: each written bar's repeat marks, and where each played bar lies in the notes.

    The notes of a Score are as heard (unfolded); `order[k]` is the written bar heard k-th, sounding from
    tick `starts[k]` to `starts[k + 1]`.
    """

    marks: tuple[BarMarks, ...]
    order: tuple[int, ...]
    starts: tuple[int, ...]  # len(order) + 1 ticks

    def __post_init__(self) -> None:
        if len(self.starts) != len(self.order) + 1:
            raise ValueError(f"a form needs one more bar start than bars played, not {len(self.starts)} for {len(self.order)}")

    @property
    def repeats(self) -> bool:
        """Whether any bar is heard more than once."""
        return len(set(self.order)) < len(self.order)

    def first_playing(self) -> list[int]:
        """For each written bar, the step at which it is first heard (-1: never)."""
        first = [-1] * len(self.marks)
        for k, i in enumerate(self.order):
            if first[i] < 0:
                first[i] = k
        return first

    def parts(self) -> list[tuple[int, int]]:
        """The written parts as (first bar, last bar): a part ends at a `:|` or `||` (its endings included)."""
        out, begin = [], 0
        for i, m in enumerate(self.marks):
            nxt = self.marks[i + 1] if i + 1 < len(self.marks) else None
            ends_here = (m.end_repeat or m.section_end) and not (nxt is not None and nxt.endings and not m.endings)
            if ends_here and nxt is not None and nxt.endings and max(nxt.endings) > max(m.endings, default=0):
                ends_here = False  # a first ending's `:|`: the part goes on into its second ending
            if ends_here or i == len(self.marks) - 1:
                out.append((begin, i))
                begin = i + 1
        return out


def fold(score: Score) -> tuple[Score, list[int]]:
    """The score as written: each written bar once (its first playing), one after another; and the written
    bars' start ticks (one more than bars). Raises ValueError when the score has no form."""
    form = score.form
    if form is None:
        raise ValueError("the score has no form to fold")
    first = form.first_playing()
    if min(first) < 0:
        raise ValueError("a written bar is never played")
    lengths = [form.starts[k + 1] - form.starts[k] for k in first]
    written = [0, *itertools.accumulate(lengths)]
    src = np.array([form.starts[k] for k in first], dtype=np.int64)  # where written bar i sounds first
    shift = np.array(written[:-1], dtype=np.int64) - src
    played_bar = np.searchsorted(np.array(form.starts[1:-1], dtype=np.int64), [n.start for n in score.notes], side="right")
    notes = []
    for n, k in zip(score.notes, played_bar.tolist(), strict=True):
        i = form.order[k]
        if first[i] == k:
            notes.append(n._replace(start=n.start + int(shift[i])))
    moved = _moved_maps(score, lambda t: _to_written(t, form, first, written))
    return score.replace(notes=notes, form=None, **moved), written


def unfold(written: Score, bar_starts: Sequence[int], marks: Sequence[BarMarks]) -> Score:
    """The score as heard from a written one (bars at `bar_starts`, one more than marks), with its Form."""
    order = play_order(marks)
    ends = list(bar_starts)
    starts = [0]
    for i in order:
        starts.append(starts[-1] + ends[i + 1] - ends[i])
    bar_of = np.searchsorted(np.array(ends[1:-1], dtype=np.int64), [n.start for n in written.notes], side="right")
    by_bar: list[list[Note]] = [[] for _ in marks]
    for n, b in zip(written.notes, bar_of.tolist(), strict=True):
        by_bar[min(b, len(marks) - 1)].append(n)
    notes = [n._replace(start=n.start - ends[i] + starts[k]) for k, i in enumerate(order) for n in by_bar[i]]
    form = Form(tuple(marks), tuple(order), tuple(starts))
    first = form.first_playing()
    moved = _moved_maps(written, lambda t: _to_heard(t, ends, first, starts, len(marks)))
    return written.replace(notes=notes, form=form, **moved)


def _to_written(tick: int, form: Form, first: list[int], written: list[int]) -> int | None:
    k = max(0, int(np.searchsorted(form.starts, tick, side="right")) - 1)
    if k >= len(form.order) or first[form.order[k]] != k:
        return None if k < len(form.order) else written[-1]
    return tick - form.starts[k] + written[form.order[k]]


def _to_heard(tick: int, ends: list[int], first: list[int], starts: list[int], n_bars: int) -> int:
    i = min(max(0, int(np.searchsorted(ends, tick, side="right")) - 1), n_bars - 1)
    return tick - ends[i] + starts[first[i]] if first[i] >= 0 else starts[-1]


def _moved_maps(score: Score, move) -> dict:
    """Tempo, meter and key changes moved by `move(tick)` (None: dropped; the first of each stays at 0)."""
    out = {}
    for name in ("tempos", "time_signatures", "key_signatures"):
        items = []
        for x in getattr(score, name):
            t = 0 if x.tick == 0 else move(x.tick)
            if t is not None:
                items.append(x._replace(tick=t))
        out[name] = items
    return out
