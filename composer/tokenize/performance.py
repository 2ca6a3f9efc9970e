"""Performance RNN events (Magenta): NOTE_ON/NOTE_OFF/TIME_SHIFT/VELOCITY, plus PROGRAM for ensembles.

Times live in seconds on a 10 ms grid, so the tempo map is spent on the way in; decode gives a
Score at tpq 500 and 120 qpm, where one tick is one millisecond. The id layout, the ordering rules
and every lossy step are in docs/tokens/performance.md; `normalize` is exactly the loss.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from composer.errors import InputError
from composer.score import Note, Score, TempoChange
from composer.tokenize.base import BOS, EOS, Tokenizer

DECODE_TPQ = 500
DECODE_QPM = 120.0
TICKS_PER_MS = DECODE_TPQ * DECODE_QPM / 60_000  # 1.0: a decoded tick is one millisecond
MAX_SECONDS = 24 * 60 * 60  # longest piece encode accepts; keeps sort keys and shift counts bounded
DRUMS = 128  # instrument number of drum notes (GM programs are 0-127)
_ON, _OFF, _SHIFT, _VEL, _PROG = 0, 1, 2, 3, 4
_KINDS = ("NOTE_ON", "NOTE_OFF", "TIME_SHIFT", "VELOCITY", "PROGRAM")


@dataclass(frozen=True)
class PerformanceConfig:
    """Grid, ranges and limits of the performance vocabulary (defaults are Magenta's)."""

    time_step_ms: int = 10  # one TIME_SHIFT step
    max_shift_steps: int = 100  # longest single TIME_SHIFT (1 s); longer gaps take several
    velocity_bins: int = 32  # bins of ceil(127/bins) velocities over 1-127
    pitch_low: int = 0  # notes outside pitch_low..pitch_high are dropped
    pitch_high: int = 127
    max_polyphony: int = 64  # notes starting while this many sound are dropped (bounds the grammar)
    unclosed_note_ms: int = 5000  # decode: a note never closed ends this long after onset at most

    def __post_init__(self) -> None:
        if not 1 <= self.time_step_ms <= 1000:
            raise InputError(f"time_step_ms must be 1-1000 (whole milliseconds), not {self.time_step_ms}")
        if self.max_shift_steps < 1:
            raise InputError(f"max_shift_steps must be at least 1, not {self.max_shift_steps}")
        if not 0 <= self.pitch_low <= self.pitch_high <= 127:
            raise InputError(f"need 0 <= pitch_low <= pitch_high <= 127, got {self.pitch_low}..{self.pitch_high}")
        if self.velocity_bins < 1 or -(-127 // _bin_width(self.velocity_bins)) != self.velocity_bins:
            raise InputError(f"velocity_bins={self.velocity_bins} cannot be met by bins of one width "
                             "over 1-127; use e.g. 8, 16, 32, 64 or 127")
        if self.max_polyphony < 1 or self.unclosed_note_ms < 1:
            raise InputError("max_polyphony and unclosed_note_ms must be positive")


def _bin_width(bins: int) -> int:
    return -(-127 // bins)


def _voice_order(notes: np.ndarray) -> np.ndarray:
    """Notes sorted by instrument and pitch, then onset, then end, then velocity."""
    voice = (notes[:, 4] << 7) + notes[:, 0]
    return notes[np.lexsort(((notes[:, 2] << 7) + notes[:, 3], (voice << 40) + notes[:, 1]))]


def _paired(notes: np.ndarray) -> np.ndarray:
    """Notes in `_voice_order` with the ends decode gives them (`_pairing` until nothing changes: a
    re-pairing can move a note past another of its onset)."""
    notes = _voice_order(notes)
    for _ in range(8):
        ends, _ = _pairing(notes)
        if (ends == notes[:, 2]).all():
            break
        notes[:, 2] = ends
        notes = _voice_order(notes)
    return notes


def _pairing(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For notes in `_voice_order`: the ends decode gives them, and which NOTE_OFFs carry the mark.

    A NOTE_OFF ends the note of its instrument and pitch begun first; marked (a PROGRAM token naming
    the instrument in force, which encode writes for nothing else), the one begun last. That holds
    any overlap of two notes on one pitch (unisons, crossing and nested); where more overlap and the
    note that ends is neither, the first-begun ends and takes over that note's end."""
    ends, marked = notes[:, 2].copy(), np.zeros(len(notes), dtype=bool)
    if not len(notes):
        return ends, marked
    voice = (notes[:, 4] << 7) + notes[:, 0]
    running = np.maximum.accumulate((voice << 40) + notes[:, 2])
    overlap = np.concatenate([[False], (voice[1:] == voice[:-1]) & (running[:-1] - (voice[1:] << 40) > notes[1:, 1])])
    for v in np.unique(voice[overlap]).tolist():
        idx = np.flatnonzero(voice == v)
        target = notes[idx, 2].tolist()
        events = sorted([(t, 1, i) for i, t in enumerate(notes[idx, 1].tolist())] + [(t, 0, i) for i, t in enumerate(target)])
        sounding: list[int] = []
        for time, is_on, i in events:
            if is_on:
                sounding.append(i)
                continue
            first, last = sounding[0], sounding[-1]
            if target[first] != time and target[last] == time:
                first = last
                marked[idx[last]] = True
            elif target[first] != time:
                want = next(j for j in sounding if target[j] == time)
                target[want], target[first] = target[first], time
            ends[idx[first]] = time
            sounding.remove(first)
    return ends, marked


class PerformanceTokenizer(Tokenizer):
    """Score ↔ Performance RNN event ids; see docs/tokens/performance.md for the exact ids."""

    name = "performance"
    Config = PerformanceConfig

    def __init__(self, config: PerformanceConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        width = _bin_width(c.velocity_bins)
        velocity = np.arange(128)
        self._velocity_bin = (np.clip(velocity, 1, 127) - 1) // width  # velocity → bin 0..bins-1
        self._bin_velocity = np.minimum((np.arange(c.velocity_bins) + 1) * width, 127)  # bin → its top
        self._on0, self._off0 = self.table.offsets["NOTE_ON"], self.table.offsets["NOTE_OFF"]
        self._shift0, self._vel0 = self.table.offsets["TIME_SHIFT"], self.table.offsets["VELOCITY"]
        self._prog0 = self.table.offsets["PROGRAM"]
        self._kind_code = np.full(self.vocab_size, -1, dtype=np.int64)
        self._value = np.zeros(self.vocab_size, dtype=np.int64)
        for code, kind in enumerate(_KINDS):
            ids = self.table.ids_of(kind)
            self._kind_code[ids] = code
            self._value[ids] = np.arange(len(ids))
        self._value[self.table.ids_of("NOTE_ON")] += c.pitch_low
        self._value[self.table.ids_of("NOTE_OFF")] += c.pitch_low
        self._value[self.table.ids_of("TIME_SHIFT")] += 1
        self._value[self.table.ids_of("VELOCITY")] = self._bin_velocity

    def token_ranges(self) -> list[tuple[str, Sequence[Any]]]:
        c = self.config
        pitches = range(c.pitch_low, c.pitch_high + 1)
        tops = [min((b + 1) * _bin_width(c.velocity_bins), 127) for b in range(c.velocity_bins)]
        return [
            ("NOTE_ON", pitches),
            ("NOTE_OFF", pitches),
            ("TIME_SHIFT", range(1, c.max_shift_steps + 1)),
            ("VELOCITY", tops),
            ("PROGRAM", [*range(128), "drums"]),
        ]

    # --- score → ids --------------------------------------------------------------------------
    def encode(self, score: Score) -> list[int]:
        """BOS, the events of the normalized score in canonical order, EOS."""
        notes = self._quantised(score)
        return self._events(notes).tolist()

    def normalize(self, score: Score) -> Score:
        """The score as decode(encode(score)) returns it: 10 ms grid at tpq 500/120 qpm. Its metadata
        counts `overlaps_repaired`: notes of one instrument and pitch overlapping so that the later one
        ends first, which this scheme cannot tell apart and pairs first-begun, first-ended
        (docs/tokens/performance.md)."""
        counts: dict[str, int] = {}
        notes = self._quantised(score, counts)
        return self._to_score(notes).replace(metadata=counts)

    def _quantised(self, score: Score, counts: dict[str, int] | None = None) -> np.ndarray:
        """Notes on the step grid, cleaned up, as int64 (N, 5): pitch, start, end, velocity, instrument."""
        n = len(score.notes)
        if n == 0:
            return np.zeros((0, 5), dtype=np.int64)
        a = np.fromiter(itertools.chain.from_iterable(score.notes), dtype=np.int64, count=6 * n).reshape(n, 6)
        if a[:, 1].min() < 0 or a[:, 2].min() < 0:
            raise self._error(score, "a note has a negative start or duration")
        if score.tpq <= 0 or any(not t.qpm > 0 for t in score.tempos):
            raise self._error(score, f"tpq ({score.tpq}) and every tempo must be positive")
        seconds = score.ticks_to_seconds(np.concatenate([a[:, 1], a[:, 1] + a[:, 2]]))
        if not (np.isfinite(seconds).all() and seconds.min() >= 0 and seconds.max() <= MAX_SECONDS):
            raise self._error(score, f"note times through the tempo map must lie in 0-{MAX_SECONDS:,} s "
                                     "(a tempo map or duration out of bounds)")
        steps = np.rint(seconds * (1000.0 / self.config.time_step_ms)).astype(np.int64)
        velocity = self._bin_velocity[self._velocity_bin[np.clip(a[:, 3], 0, 127)]]
        instrument = np.where(a[:, 5] != 0, DRUMS, a[:, 4])
        if instrument.min() < 0 or instrument.max() > DRUMS:
            raise self._error(score, "a note has a program outside 0-127")
        raw = np.stack([a[:, 0], steps[:n], steps[n:], velocity, instrument], axis=1)
        return self._cleanup(raw, counts)

    def _cleanup(self, raw: np.ndarray, counts: dict[str, int] | None = None) -> np.ndarray:
        """Drop out-of-range pitches, lengthen empty notes to 1 step, pair the notes of one instrument and
        pitch as decode does (`_pairing`: unisons and overlaps between voices are kept), enforce
        max_polyphony. Idempotent; `counts["overlaps_repaired"]` says how many notes changed length."""
        c = self.config
        notes = raw[(raw[:, 0] >= c.pitch_low) & (raw[:, 0] <= c.pitch_high)]
        notes[:, 2] = np.maximum(notes[:, 2], notes[:, 1] + 1)
        before = notes.copy()
        notes = _paired(notes)
        if counts is not None:
            counts["overlaps_repaired"] = len(notes) - sum((Counter(map(tuple, before.tolist()))
                                                            & Counter(map(tuple, notes.tolist()))).values())
        capped = self._cap_polyphony(notes)
        return capped if len(capped) == len(notes) else _paired(capped)  # re-pairing keeps the polyphony

    def _cap_polyphony(self, notes: np.ndarray) -> np.ndarray:
        """Drop each note whose onset (in event order) finds max_polyphony notes already sounding."""
        n = len(notes)
        if n <= self.config.max_polyphony:
            return notes
        starts, ends = np.sort(notes[:, 1]), np.sort(notes[:, 2])
        if (np.arange(1, n + 1) - np.searchsorted(ends, starts, side="right")).max() <= self.config.max_polyphony:
            return notes
        order, _ = self._event_order(notes)
        keep = np.ones(n, dtype=bool)
        sounding = 0
        for e in order.tolist():
            if e >= n:
                sounding -= int(keep[e - n])
            elif sounding >= self.config.max_polyphony:
                keep[e] = False
            else:
                sounding += 1
        return notes[keep]

    @staticmethod
    def _event_order(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Canonical event order over 2N events (index < N: onset of note i, else offset of note i-N):
        by time, offsets before onsets, then instrument, then pitch. Returns (order, is_onset)."""
        n = len(notes)
        voice = (notes[:, 4] << 7) + notes[:, 0]  # instrument, pitch
        key = np.concatenate([(notes[:, 2] << 1) * 16512 + voice, ((notes[:, 1] << 1) + 1) * 16512 + voice])
        order = np.argsort(key, kind="stable")  # unisons keep their cleanup order: shortest first
        order = np.where(order < n, order + n, order - n)  # key lists offsets first; events list onsets first
        return order, order < n

    def _events(self, notes: np.ndarray) -> np.ndarray:
        """Ids for cleaned notes: per event, TIME_SHIFTs, then PROGRAM and VELOCITY when they change."""
        n = len(notes)
        if n == 0:
            return np.array([BOS, EOS], dtype=np.int64)
        order, is_on = self._event_order(notes)
        note = order % n
        time = np.where(is_on, notes[note, 1], notes[note, 2])
        pitch, instrument, velocity = notes[note, 0], notes[note, 4], notes[note, 3]
        delta = np.diff(time, prepend=0)
        shifts = -(-delta // self.config.max_shift_steps)
        program = instrument != np.concatenate([[0], instrument[:-1]])
        flag = ~is_on & _pairing(notes)[1][note]  # a NOTE_OFF that ends the latest-begun note of its pitch
        on_velocity = velocity[is_on]
        vel_change = np.zeros(len(order), dtype=bool)
        vel_change[is_on] = on_velocity != np.concatenate([[-1], on_velocity[:-1]])
        count = shifts + program + flag + vel_change + 1
        end = np.cumsum(count) + 1  # position after each event's last token (BOS at 0)
        out = np.empty(int(end[-1]) + 1, dtype=np.int64)
        out[0], out[-1] = BOS, EOS
        start = end - count
        out[end - 1] = np.where(is_on, self._on0, self._off0) + pitch - self.config.pitch_low
        out[(end - 2)[vel_change]] = self._vel0 + self._velocity_bin[on_velocity[vel_change[is_on]]]
        out[(start + shifts)[program]] = self._prog0 + instrument[program]
        out[(start + shifts + program)[flag]] = self._prog0 + instrument[flag]
        has = shifts > 0
        if shifts.max() > 1:  # gaps over max_shift_steps: full-length shifts, then the remainder
            total = int(shifts.sum())
            first = np.repeat(start, shifts) + np.arange(total) - np.repeat(np.cumsum(shifts) - shifts, shifts)
            out[first] = self._shift0 + self.config.max_shift_steps - 1
            delta = delta - (shifts - 1) * self.config.max_shift_steps
        out[(start + shifts - 1)[has]] = self._shift0 + delta[has] - 1
        return out

    # --- ids → score --------------------------------------------------------------------------
    def decode(self, ids: Sequence[int]) -> Score:
        """The score any in-range id sequence describes; never raises for ids in 0..vocab_size-1.

        Stray NOTE_OFFs are ignored; a NOTE_ON of a sounding pitch adds a note (a unison or an overlap
        between voices), and a NOTE_OFF ends the one of that pitch begun first; a note never closed
        ends at the last time reached, at most unclosed_note_ms after its onset.
        """
        return self._to_score(self._cleanup(self._read(self.checked_ids(ids))))

    def _read(self, ids: np.ndarray) -> np.ndarray:
        """Run the event state machine; raw notes (pitch, start, end, velocity, instrument) in steps."""
        kinds = self._kind_code[ids].tolist()
        values = self._value[ids].tolist()
        max_open = max(1, self.config.unclosed_note_ms // self.config.time_step_ms)
        time, velocity, instrument, latest = 0, int(self._bin_velocity[self._velocity_bin[80]]), 0, False
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
        notes: list[tuple[int, int, int, int, int]] = []
        for kind, value in zip(kinds, values, strict=True):
            if kind == _SHIFT:
                time += value
            elif kind == _ON or kind == _OFF:
                key = (instrument, value)
                if kind == _ON:
                    sounding.setdefault(key, []).append((time, velocity))
                elif sounding.get(key):
                    onset, vel = sounding[key].pop(-1 if latest else 0)
                    notes.append((value, onset, time, vel, instrument))
                latest = False
            elif kind == _VEL:
                velocity = value
            elif kind == _PROG:
                latest, instrument = value == instrument, value
        for (inst, pitch), held in sounding.items():
            notes.extend((pitch, onset, min(time, onset + max_open), vel, inst) for onset, vel in held)
        return np.array(notes, dtype=np.int64).reshape(-1, 5)

    def _to_score(self, notes: np.ndarray) -> Score:
        ticks = round(self.config.time_step_ms * TICKS_PER_MS)
        built = [
            Note(p, s * ticks, (e - s) * ticks, v, 0 if i == DRUMS else i, i == DRUMS)
            for p, s, e, v, i in notes.tolist()
        ]
        return Score(notes=built, tpq=DECODE_TPQ, tempos=(TempoChange(0, DECODE_QPM),))

    # --- augmentation -------------------------------------------------------------------------
    def transposition_table(self, semitones: int) -> np.ndarray:
        """Id → id moving every NOTE_ON/NOTE_OFF by `semitones` (−1 where it leaves the pitch range).

        An id map cannot see the PROGRAM context, so it moves drum notes too: use `transpose_ids`
        for sequences that hold PROGRAM:drums.
        """
        table = np.arange(self.vocab_size, dtype=np.int64)
        c = self.config
        for base in (self._on0, self._off0):
            pitch = np.arange(c.pitch_low, c.pitch_high + 1)
            moved = pitch + semitones
            ok = (moved >= c.pitch_low) & (moved <= c.pitch_high)
            table[base + pitch - c.pitch_low] = np.where(ok, base + moved - c.pitch_low, -1)
        return table

    def transpose_ids(self, ids: Sequence[int], semitones: int) -> np.ndarray | None:
        """Ids with pitched (non-drum) notes moved by `semitones`; None when one leaves the range."""
        arr = np.asarray(ids, dtype=np.int64)
        kind = self._kind_code[arr]
        program_at = np.where(kind == _PROG, np.arange(len(arr)), -1)
        last = np.maximum.accumulate(program_at) if len(arr) else program_at
        drums = (last >= 0) & (arr[np.maximum(last, 0)] == self._prog0 + DRUMS)
        moved = np.where(drums, arr, self.transposition_table(semitones)[arr])
        return None if (moved < 0).any() else moved

    def stretch_table(self, factor: float) -> np.ndarray:
        """Id → id with TIME_SHIFT k becoming round(k·factor) clipped to 1..max_shift_steps.

        Approximate: each shift rounds on its own, so errors add up along a piece, and full-length
        shifts cannot grow. Ids that are not TIME_SHIFTs map to themselves.
        """
        if not factor > 0:
            raise InputError(f"stretch factor must be positive, not {factor}")
        table = np.arange(self.vocab_size, dtype=np.int64)
        k = np.arange(1, self.config.max_shift_steps + 1)
        stretched = np.clip(np.rint(k * factor).astype(np.int64), 1, self.config.max_shift_steps)
        table[self._shift0 + k - 1] = self._shift0 + stretched - 1
        return table
