"""Where bars and main beats fall, and how a tune ends: facts of a Score's meter that renderers,
the composer's cadence check and the form statistics all read."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np

from composer.score.core import Note, Score, TimeSignature

MAX_BARS = 4000


def bar_starts(score: Score, end_tick: int | None = None) -> list[int]:
    """Ticks where bars begin, from the time-signature map (4/4 when there is none), after any pickup."""
    end = score.end_tick if end_tick is None else end_tick
    sigs = list(score.time_signatures)
    tick, i = int(score.metadata.get("pickup_ticks", 0) or 0), 0
    length = _bar_ticks(score, sigs[0]) if sigs else 4 * score.tpq
    starts = [0] if tick > 0 else []
    while tick < end and len(starts) < MAX_BARS:
        while i + 1 < len(sigs) and sigs[i + 1].tick <= tick:
            i += 1
            length = _bar_ticks(score, sigs[i])
        starts.append(tick)
        tick += length
    return starts


def _bar_ticks(score: Score, sig) -> int:
    return max(1, round(sig.bar_beats * score.tpq))


def main_beats(numerator: int, denominator: int) -> tuple[float, ...]:
    """Main beats of a bar in quarter notes: compound meters (6/8, 9/8, 12/8) every dotted quarter,
    even simple meters (2/4, 4/4, 2/2) the downbeat and the middle, others (3/4, 5/4) the downbeat."""
    bar = numerator * 4 / denominator
    if denominator == 8 and numerator % 3 == 0 and numerator > 3:
        return tuple(1.5 * k for k in range(numerator // 3))
    if numerator % 2 == 0:
        return (0.0, bar / 2)
    return (0.0,)


def last_note(score: Score) -> Note | None:
    """The melody's last note: the highest of the notes at the latest onset (None without notes)."""
    notes = [n for n in score.notes if not n.is_drum]
    if not notes:
        return None
    last = max(n.start for n in notes)
    return max((n for n in notes if n.start == last), key=lambda n: n.pitch)


def in_force(items: Sequence[Any], tick: int) -> Any:
    """The last of `items` (sorted by tick) at or before `tick`, else the first, else None."""
    before = [x for x in items if x.tick <= tick]
    return before[-1] if before else (items[0] if items else None)


def last_on_main_beat(score: Score, grid_per_beat: int = 12) -> bool | None:
    """Whether the last note starts on a main beat of its bar (a note in the pickup bar counts from
    where a full bar would start); None for an empty piece."""
    note = last_note(score)
    if note is None:
        return None
    starts = bar_starts(score)
    i = max(bisect.bisect_right(starts, note.start) - 1, 0)
    sig = in_force(score.time_signatures, starts[i] if starts else 0)
    num, den = (sig.numerator, sig.denominator) if sig else (4, 4)
    bar_ticks = num * 4 / den * score.tpq
    pickup = int(score.metadata.get("pickup_ticks", 0) or 0)
    offset = note.start - starts[i] + (bar_ticks - pickup if pickup > 0 and i == 0 else 0)
    position = round(offset / (score.tpq / grid_per_beat))
    return any(position == round(b * grid_per_beat) for b in main_beats(num, den))


def ends_on_tonic(score: Score) -> bool | None:
    """Whether the last note's pitch class is the tonic of the key in force there (the mode's tonic:
    A dorian → A); None without notes or key signature."""
    note = last_note(score)
    key = in_force(score.key_signatures, note.start) if note else None
    if key is None:
        return None
    return note.pitch % 12 == key.tonic


def ends_home(score: Score) -> bool:
    """A cadence: the last note on the key's tonic and on a main beat."""
    return bool(ends_on_tonic(score)) and bool(last_on_main_beat(score))

def pickup_ticks(score: Score) -> int:
    """The score's pickup (anacrusis) in ticks: `metadata["pickup_ticks"]` when it is shorter than the
    first bar, else 0. Tick 0 is then the start of a short bar 0 and the first full bar starts there."""
    value = score.metadata.get("pickup_ticks")
    ts = score.time_signature
    bar = round(ts.bar_beats * score.tpq) if ts else 4 * score.tpq
    return int(value) if isinstance(value, (int, np.integer)) and 0 < value < bar else 0


def bar_grid(score: Score, ticks: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Bar index and offset in ticks from that bar's start, for each tick, from the time-signature map
    (4/4 without one) and the pickup. A pickup is bar 0, right-aligned: its offsets count from where a
    full bar would have started, so a one-beat pickup in 4/4 sits at offset 3 beats."""
    ticks = np.asarray(ticks, dtype=np.int64)
    end = int(ticks.max()) + 1 if ticks.size else 1
    sigs = list(score.time_signatures) or [TimeSignature(0, 4, 4)]
    length = max(1, round(sigs[0].bar_beats * score.tpq))
    pickup = pickup_ticks(score)
    starts, tick, i = [], (pickup - length if pickup else 0), 0
    while tick < end:
        while i + 1 < len(sigs) and sigs[i + 1].tick <= max(tick, 0):
            i += 1
            length = max(1, round(sigs[i].bar_beats * score.tpq))
        starts.append(tick)
        tick += length
    bars = np.searchsorted(np.array(starts, dtype=np.int64), ticks, side="right") - 1
    return bars, ticks - np.array(starts, dtype=np.int64)[np.maximum(bars, 0)]
