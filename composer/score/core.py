"""The one score type every source becomes: plain notes and maps, times in integer ticks of a beat.

A beat is a quarter note (MIDI's convention). `Score.tpq` ticks make one beat, so times are exact
integers: MIDI keeps its file's resolution, ABC/MusicXML use 480 (divisible by 2⁵·3·5, so
triplets, quintuplets and 1/32 notes are exact). The tempo map turns ticks into seconds.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from composer.errors import InputError

if TYPE_CHECKING:
    from composer.score.form import Form

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
