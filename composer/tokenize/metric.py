"""Beat-based tokens for folk tunes and quantised MIDI: a header (METER KEY TYPE TEMPO), then bars.

Each bar is BAR, optional METER/KEY changes, then for each occupied position POSITION followed by
its notes ([PROGRAM] PITCH [VELOCITY] DURATION…, pitch ascending). Positions count `positions_per_beat`
steps of a quarter note (12: triplets and jig eighths are exact). A pickup goes at the end of bar 0;
an empty POSITION in bar 0 marks tick 0 when the first note is not there (a leading rest). A note
longer than the largest DURATION, or between two DURATION values, takes several DURATIONs that add
up. Decode gives a Score at tpq 480. Rules and exact ids: docs/tokens/metric.md; value lists and config:
metric_config.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from composer.errors import InputError
from composer.score import (
    DEFAULT_QPM,
    PITCH_CLASS_NAMES,
    Score,
    key_name_to_signature,
)
from composer.tokenize.base import BOS, EOS, Tokenizer
from composer.tokenize.form import (
    FORM_VALUES,
    bar_keys,
    fold_bars,
    mark_values,
)
from composer.tokenize.metric_config import (
    DECODE_TPQ,
    DRUMS,
    HEADER_KINDS,
    KEYS,
    KINDS,
    MAX_BARS,
    NO_KEY,
    OTHER_METER,
    UNKNOWN_TYPE,
    MetricConfig,
    bar_positions,
    key_value,
    parse_meter,
    tempo_centres,
)
from composer.tokenize.metric_decode import MetricDecoding
from composer.tokenize.metric_layout import Layout, sorted_unique


class MetricTokenizer(MetricDecoding, Tokenizer):
    """Score ↔ bar/position ids with a forceable header; see docs/tokens/metric.md for the exact ids."""

    name = "metric"
    header_length = len(HEADER_KINDS)
    Config = MetricConfig

    def __init__(self, config: MetricConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self._ppb = c.positions_per_beat
        self._tick = DECODE_TPQ // self._ppb  # decoded ticks per position
        self._fine, self._max_dur = c.fine_duration_beats * self._ppb, c.max_duration_beats * self._ppb
        self._bar_len = {m: bar_positions(m, self._ppb) for m in self._values("METER")}
        self._tempos = np.array(self._values("TEMPO"), dtype=np.float64)
        self._tempo_mids = np.sqrt(self._tempos[1:] * self._tempos[:-1])
        self._vel_width = -(-127 // max(c.velocity_bins, 1))
        self._vel_tops = np.array(self._values("VELOCITY") if c.velocity_bins else [80], dtype=np.int64)
        self._off = dict(self.table.offsets)
        self._kind_code = np.full(self.vocab_size, -1, dtype=np.int64)
        for code, kind in enumerate(KINDS):
            if kind in self.table.offsets:
                self._kind_code[self.table.ids_of(kind)] = code

    def _values(self, kind: str) -> list[Any]:
        return [self.table.values[i] for i in self.table.ids_of(kind)]

    # --- vocabulary ---------------------------------------------------------------------------
    def token_ranges(self) -> list[tuple[str, Sequence[Any]]]:
        c = self.config
        ppb = c.positions_per_beat
        meters = [m for m in c.meters if bar_positions(m, ppb)] + [OTHER_METER]
        fine, top = c.fine_duration_beats * ppb, c.max_duration_beats * ppb
        ranges: list[tuple[str, Sequence[Any]]] = [
            ("BAR", ("|",)),
            ("METER", meters),
            ("KEY", [*KEYS, NO_KEY]),
            ("TYPE", [*c.tune_types, UNKNOWN_TYPE]),
            ("TEMPO", tempo_centres(c)),
            ("POSITION", range(max(bar_positions(m, ppb) for m in meters))),
        ]
        if c.use_programs:
            ranges.append(("PROGRAM", [*range(128), "drums"]))
        ranges.append(("PITCH", range(c.pitch_low, c.pitch_high + 1)))
        if c.velocity_bins:
            w = -(-127 // c.velocity_bins)
            ranges.append(("VELOCITY", sorted({min((b + 1) * w, 127) for b in range(c.velocity_bins)})))
        ranges.append(("DURATION", [*range(1, fine + 1), *range(fine + ppb, top + 1, ppb)]))
        if c.form:
            ranges.append(("FORM", FORM_VALUES))  # last, so a form vocabulary extends the plain one
        return ranges

    # --- header values, for the sampler and grammar ------------------------------------------
    def meter_value(self, numerator: int, denominator: int) -> str:
        """METER value of a time signature: itself if listed, else a listed meter of equal bar length,
        else 'other'."""
        text = f"{numerator}/{denominator}"
        if numerator < 1 or denominator < 1:
            return OTHER_METER
        if text in self._bar_len:
            return text
        length = Fraction(4 * numerator * self._ppb, denominator)
        same = [m for m, n in self._bar_len.items() if n == length and m != OTHER_METER]
        return same[0] if same else OTHER_METER

    def tempo_value(self, qpm: float) -> int:
        """TEMPO value (a bin centre, qpm) nearest to `qpm` on a log scale."""
        return int(self._tempos[np.searchsorted(self._tempo_mids, qpm)])

    def type_value(self, tune_type: str | None) -> str:
        """TYPE value of a tune type: itself if listed, else 'unknown'."""
        return tune_type if tune_type in self.config.tune_types else UNKNOWN_TYPE

    def header_ids(self, meter: str | None = None, key: str | None = None, tune_type: str | None = None,
                   qpm: float | None = None) -> list[int | None]:
        """[BOS, METER, KEY, TYPE, TEMPO] ids for what is asked, None where the model should choose.

        `meter` "6/8"; `key` "D major", "Ador", "E minor"; `tune_type` "reel" (or "unknown"); `qpm` any
        tempo (its nearest bin). Raises InputError for values the vocabulary cannot hold.
        """
        out: list[int | None] = [BOS, None, None, None, None]
        if meter is not None:
            value = meter if meter == OTHER_METER else self.meter_value(*parse_meter(meter))
            if value == OTHER_METER and meter != OTHER_METER:
                raise InputError(f"meter {meter!r} is not in this vocabulary; choose one of {list(self._bar_len)}")
            out[1] = self.table.id("METER", value)
        if key is not None:
            ks = key if key == NO_KEY else key_name_to_signature(key)
            out[2] = self.table.id("KEY", NO_KEY if ks == NO_KEY else key_value(ks))
        if tune_type is not None:
            if tune_type != UNKNOWN_TYPE and tune_type not in self.config.tune_types:
                raise InputError(f"tune type {tune_type!r} is not in this vocabulary; choose one of "
                                 f"{[*self.config.tune_types, UNKNOWN_TYPE]}")
            out[3] = self.table.id("TYPE", tune_type)
        if qpm is not None:
            if not qpm > 0:
                raise InputError(f"tempo must be positive, not {qpm}")
            out[4] = self.table.id("TEMPO", self.tempo_value(qpm))
        return out

    def bar_length(self, meter: str) -> int:
        """Positions in one bar of a METER value ('6/8' → 36 at 12 per beat); KeyError if not in the vocabulary."""
        return self._bar_len[meter]

    def kind_of(self, token_id: int) -> str:
        """Kind name of an id ('BAR', 'PITCH', …; 'PAD'/'BOS'/'EOS' for the specials)."""
        return self.table.kinds[token_id]

    # --- score → ids --------------------------------------------------------------------------
    def encode(self, score: Score) -> list[int]:
        """BOS METER KEY TYPE TEMPO, then per bar BAR [METER] [KEY] and (POSITION notes…)…, then EOS; with
        `form`, a repeat the source writes is written once, between FORM marks."""
        lay = self._layout(score)
        ids = self._ids(lay)
        if self.config.form and score.form is not None and not lay.meters and not lay.keys:
            return self._folded(ids, lay, score)
        return ids.tolist()

    def normalize(self, score: Score) -> Score:
        """decode(encode(score)): notes on the grid at tpq 480, first tempo binned, changes on bar lines."""
        if self.config.form and score.form is not None:
            return self.decode(self.encode(score))
        return self._to_score(self._layout(score))

    def _folded(self, ids: np.ndarray, lay: Layout, score: Score) -> list[int]:
        """The ids with each repeated bar written once and FORM marks around the sections (else `ids`)."""
        bar_at = np.flatnonzero(ids == self._off["BAR"])
        chunks = [tuple(ids[a:b].tolist()) for a, b in zip(bar_at, [*bar_at[1:], len(ids) - 1], strict=True)]
        shift = self._shift(score, self._bar_len[lay.meter])
        edges = np.append(lay.starts, lay.starts[-1] + self._bar_len[lay.meter]) - shift
        folded = fold_bars(bar_keys(chunks, edges * score.tpq // self._ppb, score.form))
        if folded is None:
            return ids.tolist()
        out = ids[:5].tolist()
        for m, marks in zip(*folded, strict=True):
            head, tail = mark_values(marks)
            out += [chunks[m][0], *(self.table.id("FORM", v) for v in head), *chunks[m][1:],
                    *(self.table.id("FORM", v) for v in tail)]
        return out + [EOS]

    def _layout(self, score: Score) -> Layout:
        """The score on the position grid: header values, bar starts, meter/key changes, notes."""
        if score.tpq <= 0:
            raise self._error(score, f"tpq must be positive, not {score.tpq}")
        ts = score.time_signature
        meter = OTHER_METER if ts is None else self.meter_value(ts.numerator, ts.denominator)
        shift = self._shift(score, self._bar_len[meter])
        notes = self._grid_notes(score, shift)
        last = int(notes[-1, 0]) if len(notes) else 0
        if last > MAX_BARS * self._bar_len[meter]:
            raise self._error(score, f"a note starts after bar {MAX_BARS:,}; this scheme writes every bar")
        segs = self._segments(score, meter, shift, last)
        ends = [s for s, _, _ in segs[1:]] + [None]
        starts = np.concatenate([
            np.arange(s, e if e is not None else s + (last - s) // n * n + 1, n) for (s, n, _), e in zip(segs, ends, strict=True)])
        meters = [(int(np.searchsorted(starts, s)), v) for s, _, v in segs[1:]]
        key = key_value(score.key_signature) if score.key_signature else NO_KEY
        return Layout(meter, key, self.type_value(score.tune_type), self.tempo_value(self._first_qpm(score)),
                       starts, meters, self._keychanges(score, key, shift, starts), notes, shift)

    @staticmethod
    def _first_qpm(score: Score) -> float:
        t = score.tempos
        qpm = t[0].qpm if t and t[0].tick == 0 else DEFAULT_QPM
        return qpm if qpm > 0 and np.isfinite(qpm) else DEFAULT_QPM

    def _shift(self, score: Score, bar0: int) -> int:
        """Positions added to every time so a pickup ends bar 0: bar length − pickup, or 0."""
        ticks = score.metadata.get("pickup_ticks")
        pickup = Fraction(ticks * self._ppb, score.tpq) if isinstance(ticks, (int, np.integer)) else Fraction(0)
        if pickup.denominator != 1 or not 0 < pickup < bar0:
            return 0
        return bar0 - int(pickup)

    def _to_pos(self, ticks: np.ndarray | int, tpq: int) -> np.ndarray:
        return (np.asarray(ticks, dtype=np.int64) * (2 * self._ppb) + tpq) // (2 * tpq)  # nearest, halves up

    def _grid_notes(self, score: Score, shift: int) -> np.ndarray:
        """Notes as int64 (N, 5): position, program (128 = drums), pitch, duration, velocity; sorted, unique."""
        n = len(score.notes)
        if n == 0:
            return np.zeros((0, 5), dtype=np.int64)
        a = np.fromiter(itertools.chain.from_iterable(score.notes), dtype=np.int64, count=6 * n).reshape(n, 6)
        if a[:, 1].min() < 0 or a[:, 2].min() < 0:
            raise self._error(score, "a note has a negative start or duration")
        c = self.config
        a = a[(a[:, 0] >= c.pitch_low) & (a[:, 0] <= c.pitch_high) & (c.use_programs | (a[:, 5] == 0))]
        pos = self._to_pos(a[:, 1], score.tpq)
        dur = np.maximum(self._to_pos(a[:, 1] + a[:, 2], score.tpq) - pos, 1)
        program = np.where(a[:, 5] != 0, DRUMS, np.clip(a[:, 4], 0, 127)) if c.use_programs else 0 * pos
        g = np.stack([pos + shift, program, a[:, 0], self._duration(dur), self._velocity(a[:, 3])], axis=1)
        return sorted_unique(g)

    def _duration(self, dur: np.ndarray) -> np.ndarray:
        """Durations in positions, as they are: longer or in-between ones are written as pieces (`_pieces`)."""
        return dur

    def _pieces(self, dur: int) -> list[int]:
        """DURATION values adding up to `dur`: the largest ones first, then whole beats, then the rest."""
        top, ppb = self._max_dur, self._ppb
        out = [top] * ((dur - 1) // top)
        rest = dur - top * len(out)
        if rest <= self._fine:
            return out + [rest]
        return out + [rest // ppb * ppb] + ([rest % ppb] if rest % ppb else [])

    def _duration_id(self, value: int) -> int:
        fine, ppb = self._fine, self._ppb
        return self._off["DURATION"] + (value - 1 if value <= fine else fine - 1 + value // ppb - fine // ppb)

    def _velocity(self, velocity: np.ndarray) -> np.ndarray:
        if not self.config.velocity_bins:
            return np.full_like(velocity, 80)
        return self._vel_tops[np.minimum((np.clip(velocity, 1, 127) - 1) // self._vel_width, len(self._vel_tops) - 1)]

    def _segments(self, score: Score, meter: str, shift: int, last: int) -> list[tuple[int, int, str]]:
        """(start position, bar length, meter) of each run of equal bars that holds a note or precedes one."""
        segs = [(0, self._bar_len[meter], meter)]
        if not self.config.meter_changes or meter == OTHER_METER:
            return segs
        for ts in score.time_signatures[1:]:
            value = self.meter_value(ts.numerator, ts.denominator)
            start, length, _ = segs[-1]
            at = int(self._to_pos(ts.tick, score.tpq)) + shift
            line = start + max(0, -(-(at - start) // length)) * length  # the bar line at or after it
            if line > last:
                break
            if value == OTHER_METER or line == 0:
                continue
            if line == start:
                segs.pop()
            if value != segs[-1][2]:
                segs.append((line, self._bar_len[value], value))
        return segs

    def _keychanges(self, score: Score, key: str, shift: int, starts: np.ndarray) -> list[tuple[int, str]]:
        """(bar index ≥ 1, KEY value) of each change, moved to the bar line at or after it."""
        out: list[tuple[int, str]] = [(0, key)]
        if not self.config.key_changes or key == NO_KEY:
            return []
        for ks in score.key_signatures[1:]:
            bar = int(np.searchsorted(starts, int(self._to_pos(ks.tick, score.tpq)) + shift))
            if bar >= len(starts):
                break
            if bar == 0:
                continue
            if out[-1][0] == bar:
                out.pop()
            if key_value(ks) != out[-1][1]:
                out.append((bar, key_value(ks)))
        return out[1:]

    def _ids(self, lay: Layout) -> np.ndarray:
        """Lay the tokens out with counts and cumulative sums: per bar its header, per note its tokens."""
        off, notes, starts = self._off, lay.notes, lay.starts
        n_bars = len(starts)
        meter_at = np.full(n_bars, -1, dtype=np.int64)
        key_at = np.full(n_bars, -1, dtype=np.int64)
        for bar, v in lay.meters:
            meter_at[bar] = self.table.id("METER", v)
        for bar, v in lay.keys:
            key_at[bar] = self.table.id("KEY", v)
        pos = notes[:, 0]
        bar_of = np.searchsorted(starts, pos, side="right") - 1
        new_pos = np.concatenate([[True], pos[1:] != pos[:-1]]) if len(pos) else np.zeros(0, dtype=bool)
        use_prog, use_vel = self.config.use_programs, bool(self.config.velocity_bins)
        prog_tok = (notes[:, 1] != np.concatenate([[0], notes[:-1, 1]])) if use_prog else np.zeros(len(pos), dtype=bool)
        count = new_pos.astype(np.int64) + prog_tok + 2 + use_vel
        h = 1 + (meter_at >= 0) + (key_at >= 0)
        cum_h = np.concatenate([[0], np.cumsum(h)])
        cum_c = np.concatenate([[0], np.cumsum(count)])
        bar_i = 5 + cum_h[:-1] + cum_c[np.searchsorted(bar_of, np.arange(n_bars))]
        out = np.empty(5 + int(cum_h[-1]) + int(cum_c[-1]) + 1, dtype=np.int64)
        out[:5] = [BOS, self.table.id("METER", lay.meter), self.table.id("KEY", lay.key),
                   self.table.id("TYPE", lay.tune_type), self.table.id("TEMPO", lay.tempo)]
        out[-1] = EOS
        out[bar_i] = off["BAR"]
        out[(bar_i + 1)[meter_at >= 0]] = meter_at[meter_at >= 0]
        out[(bar_i + 1 + (meter_at >= 0))[key_at >= 0]] = key_at[key_at >= 0]
        i = 5 + cum_h[bar_of + 1] + cum_c[:-1]
        out[i[new_pos]] = off["POSITION"] + (pos - starts[bar_of])[new_pos]
        i = i + new_pos
        if use_prog:
            out[i[prog_tok]] = off["PROGRAM"] + notes[prog_tok, 1]
            i = i + prog_tok
        out[i] = off["PITCH"] + notes[:, 2] - self.config.pitch_low
        if use_vel:
            out[i + 1] = off["VELOCITY"] + np.searchsorted(self._vel_tops, notes[:, 4])
        dur = notes[:, 3]
        fine, ppb = self._fine, self._ppb
        out[i + 1 + use_vel] = off["DURATION"] + np.where(dur <= fine, dur - 1, fine - 1 + dur // ppb - fine // ppb)
        out = self._long_notes(out, notes, i + 1 + use_vel)
        return out if self._origin_fits(lay) else np.insert(out, 6, off["POSITION"] + lay.origin)

    def _long_notes(self, out: np.ndarray, notes: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Notes no single DURATION holds get their pieces in place of the one id laid out for them."""
        split = np.flatnonzero((notes[:, 3] > self._fine) & ((notes[:, 3] > self._max_dur) | (notes[:, 3] % self._ppb != 0)))
        if not len(split):
            return out
        pieces = [[self._duration_id(v) for v in self._pieces(int(notes[k, 3]))] for k in split.tolist()]
        parts, last = [], 0
        for k, ids in zip(split.tolist(), pieces, strict=True):
            j = int(at[k])
            parts += [out[last:j], np.array(ids, dtype=np.int64)]
            last = j + 1
        return np.concatenate([*parts, out[last:]])

    def _origin_fits(self, lay: Layout) -> bool:
        """Whether decode finds tick 0 from the first note alone; else an empty POSITION marks it in bar 0."""
        first = int(lay.notes[0, 0]) if len(lay.notes) else 0
        bar0 = int(lay.starts[1]) if len(lay.starts) > 1 else self._bar_len[lay.meter]
        return not len(lay.notes) or (first if first < bar0 else 0) == lay.origin

    # --- augmentation -------------------------------------------------------------------------
    def transposition_table(self, semitones: int) -> np.ndarray:
        """Id → id moving PITCH by `semitones` (−1 where it leaves the range) and KEY tonics along;
        every other id maps to itself. PROGRAM:drums context is not seen, so drum pitches move too."""
        table = np.arange(self.vocab_size, dtype=np.int64)
        c = self.config
        pitch = np.arange(c.pitch_low, c.pitch_high + 1)
        moved = pitch + semitones
        ok = (moved >= c.pitch_low) & (moved <= c.pitch_high)
        table[self._off["PITCH"] + pitch - c.pitch_low] = np.where(ok, self._off["PITCH"] + moved - c.pitch_low, -1)
        for i in self.table.ids_of("KEY"):
            value = self.table.values[i]
            if value != NO_KEY:
                tonic, mode = value.split(" ")
                name = PITCH_CLASS_NAMES[(PITCH_CLASS_NAMES.index(tonic) + semitones) % 12]
                table[i] = self.table.id("KEY", f"{name} {mode}")
        return table
