"""ids → Score for the metric scheme: the decoding state machine, FORM marks unfolded (MetricTokenizer's half)."""



from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from composer.score import (
    DEFAULT_QPM,
    Form,
    Note,
    Score,
    TempoChange,
    TimeSignature,
    key_name_to_signature,
    play_order,
)
from composer.tokenize.form import (
    END_MARKS,
    FORM_VALUES,
    START_MARKS,
    marks_from_values,
)
from composer.tokenize.metric_config import (
    BAR,
    DECODE_TPQ,
    DRUMS,
    DUR,
    KEY,
    METER,
    NO_KEY,
    OTHER_METER,
    PITCH,
    POS,
    PROG,
    TEMPO,
    TYPE,
    UNKNOWN_TYPE,
    VEL,
    parse_meter,
)
from composer.tokenize.metric_layout import Layout, changes, sorted_unique


class MetricDecoding:
    """Decoding for MetricTokenizer: any in-vocabulary ids give a Score (docs/tokens/metric.md)."""

    # --- ids → score --------------------------------------------------------------------------
    def decode(self, ids: Sequence[int]) -> Score:
        """The score any in-vocabulary id sequence describes; tokens out of place are skipped (never raises
        for ids in 0..vocab_size-1; the rules are in docs/tokens/metric.md). FORM marks are unfolded."""
        arr = self.checked_ids(ids)
        if not self.config.form or not (self._kind_code[arr] < 0).any() or not (arr == self._off["BAR"]).any():
            return self._to_score(self._read(arr))
        return self._unfolded(arr)

    def _unfolded(self, ids: np.ndarray) -> Score:
        """Decode a folded stream: bars in the order the FORM marks play them, with the Form kept."""
        form_id = self._off["FORM"]
        bar_at = np.flatnonzero(ids == self._off["BAR"])
        chunks, marks = [], []
        for a, b in zip(bar_at, [*bar_at[1:], len(ids)], strict=True):
            chunk = ids[a:b]
            is_form = chunk >= form_id
            values = [FORM_VALUES[i - form_id] for i in chunk[is_form].tolist()]
            marks.append(marks_from_values([v for v in values if v in START_MARKS], [v for v in values if v in END_MARKS]))
            chunks.append(chunk[~is_form])
        order = play_order(marks)
        if len(marks) > 1 and 0 in order[1:] and self._is_pickup(chunks[0]):  # a repeat never replays a pickup bar whole
            marks[1] = dataclasses.replace(marks[1], start_repeat=True)
            order = play_order(marks)
        heard = np.concatenate([ids[: bar_at[0]], *(chunks[i] for i in order)])
        lay = self._read(heard)
        score = self._to_score(lay)
        bar = self._bar_len[lay.meter] * self._tick
        pickup = score.metadata.get("pickup_ticks", 0)
        first = pickup if pickup else bar
        starts = [0] + [first + k * bar for k in range(len(order))]
        return score.replace(form=Form(tuple(marks), tuple(order), tuple(starts)))

    def _is_pickup(self, chunk: np.ndarray) -> bool:
        """Whether a bar's first note comes after its downbeat (bar 0 is then a pickup)."""
        at = np.flatnonzero(self._kind_code[chunk] == POS)
        return bool(at.size) and self.table.values[int(chunk[at[0]])] > 0

    def _read(self, ids: np.ndarray) -> Layout:
        """The decoding state machine: header until the first BAR, then bars of positions and notes."""
        values = self.table.values
        head = {METER: OTHER_METER, KEY: NO_KEY, TYPE: UNKNOWN_TYPE, TEMPO: self.tempo_value(DEFAULT_QPM)}
        starts: list[int] = []
        meters: list[tuple[int, str]] = []
        keys: list[tuple[int, str]] = []
        notes: list[tuple[int, int, int, int, int]] = []
        length = pos = pitch = origin = None
        fresh, program, velocity, extend, empty = False, 0, int(self._velocity(np.array([80]))[0]), False, False
        for kind, tid in zip(self._kind_code[ids].tolist(), ids.tolist(), strict=True):
            if empty and kind in (BAR, POS) and origin is None and len(starts) == 1 and not notes:
                origin = pos  # an empty POSITION before bar 0's first note marks tick 0
            empty = kind == POS and len(starts) > 0
            if kind == DUR and extend:
                notes[-1] = (*notes[-1][:3], notes[-1][3] + values[tid], notes[-1][4])
                continue
            extend = kind == DUR and pitch is not None
            if kind == BAR:
                if length is None:
                    length = self._bar_len[head[METER]]
                starts.append(starts[-1] + length if starts else 0)
                fresh, pos, pitch = True, None, None
            elif not starts:
                if kind in head:
                    head[kind] = values[tid]
            elif kind == METER and fresh and len(starts) > 1 and head[METER] != OTHER_METER != values[tid]:
                length = self._bar_len[values[tid]]
                meters.append((len(starts) - 1, values[tid]))
            elif kind == KEY and fresh and len(starts) > 1 and head[KEY] != NO_KEY != values[tid]:
                keys.append((len(starts) - 1, values[tid]))
            elif kind == POS:
                fresh, pitch = False, None
                pos = values[tid] if values[tid] < length else None
                empty = empty and pos is not None
            elif kind == PROG:
                program = DRUMS if values[tid] == "drums" else values[tid]
            elif kind == PITCH and pos is not None:
                pitch, velocity = values[tid], int(self._velocity(np.array([80]))[0])
            elif kind == VEL and pitch is not None:
                velocity = values[tid]
            elif kind == DUR and pitch is not None:
                notes.append((starts[-1] + pos, program, pitch, values[tid], velocity))
                pitch = None
        if empty and origin is None and len(starts) == 1 and not notes:
            origin = pos
        grid = sorted_unique(np.array(notes, dtype=np.int64).reshape(-1, 5))
        bars = np.array(starts or [0])
        last = int(np.searchsorted(bars, grid[-1, 0], side="right")) - 1 if len(grid) else 0
        bar0 = int(bars[1]) if len(bars) > 1 else self._bar_len[head[METER]]
        first = int(grid[0, 0]) if len(grid) else 0
        origin = (first if first < bar0 else 0) if origin is None or not len(grid) else min(origin, first)
        return Layout(head[METER], head[KEY], head[TYPE], head[TEMPO], bars,
                       changes([m for m in meters if m[0] <= last], head[METER]),
                       changes([k for k in keys if k[0] <= last], head[KEY]), grid, origin)

    def _to_score(self, lay: Layout) -> Score:
        """Grid to ticks at tpq 480; the origin (a first note inside bar 0, or an empty POSITION before
        it) becomes tick 0, and the part of bar 0 after it is a pickup."""
        tick, notes, q = self._tick, lay.notes, lay.origin
        bar0 = int(lay.starts[1]) if len(lay.starts) > 1 else self._bar_len[lay.meter]
        built = [Note(p, (s - q) * tick, d * tick, v, 0 if g == DRUMS else g, g == DRUMS)
                 for s, g, p, d, v in notes.tolist()]
        signatures = [(0, lay.meter)] + [(int(lay.starts[b]) - q, v) for b, v in lay.meters]
        keys = [(0, lay.key)] + [(int(lay.starts[b]) - q, v) for b, v in lay.keys]
        return Score(
            notes=built,
            tpq=DECODE_TPQ,
            tempos=(TempoChange(0, float(lay.tempo)),),
            time_signatures=[TimeSignature(p * tick, *parse_meter(v)) for p, v in signatures if v != OTHER_METER],
            key_signatures=[key_name_to_signature(v, p * tick) for p, v in keys if v != NO_KEY],
            tune_type=None if lay.tune_type == UNKNOWN_TYPE else lay.tune_type,
            metadata={"pickup_ticks": (bar0 - q) * tick if q else 0},
        )

