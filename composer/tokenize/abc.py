"""folk-rnn style ABC text tokens: `R:reel M:6/8 K:Dmaj` then notes, durations, bars, chords, tuplets.

Encoding spells a Score as one ABC tune at L:1/8 (repeats already expanded, so no repeat signs);
decoding writes ABC text (`ids_to_abc`) and reads it back through composer.io.abc, so "decode gives
ABC text, which load reads back". Rules, repairs and losses: docs/tokens/abc.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from composer.errors import InputError, TokenizeError
from composer.io.abc import DEFAULT_QPM_BY_TYPE, parse_abc_text
from composer.score import DEFAULT_QPM, DEFAULT_TPQ, KeySignature, Note, Score, TempoChange, TimeSignature
from composer.tokenize.abc_spelling import KeySpeller, key_token, note_name, parse_key_token
from composer.tokenize.abc_writer import abc_text, body_text
from composer.tokenize.base import BOS, EOS, Tokenizer

UNIT = DEFAULT_TPQ // 2  # ticks of the unit note length L:1/8 at tpq 480
GRID = UNIT // 4  # finest grid encode accepts (a 1/32 note); triplets aside
DEFAULT_METER = (4, 4)
ABC_MODES = ("major", "minor", "dorian", "mixolydian", "lydian", "phrygian")  # music21 reads no locrian
BARS = ("|", "||", "|:", ":|", "::", "|]", "|1", "|2", ":|1", ":|2", "[1", "[2")
CHORD = ("[", "]")
TUPLETS = ("(2", "(3", "(4", "(5", "(6", "(7", "(9")
BROKEN = (">", "<")


@dataclass(frozen=True)
class AbcConfig:
    """Ranges of the ABC vocabulary: note octaves, the duration list (multiples of L:1/8), types, meters."""

    octave_low: int = 3  # naturals from C3 (ABC `C,`, MIDI 48) ...
    octave_high: int = 6  # ... to B6 (ABC `b'`, MIDI 95); accidentals reach 47-96
    durations: tuple[str, ...] = ("/4", "/2", "3/4", "3/2", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "16")
    tune_types: tuple[str, ...] = ("none", "reel", "jig", "slip jig", "hornpipe", "polka", "slide", "waltz",
                                   "march", "air", "mazurka", "set dance", "barndance", "strathspey", "other")
    meters: tuple[str, ...] = ("2/4", "3/4", "4/4", "5/4", "6/4", "7/4", "3/8", "5/8", "6/8", "7/8", "9/8",
                               "12/8", "2/2", "3/2", "4/2")

    def __post_init__(self) -> None:
        if not 0 <= self.octave_low <= self.octave_high <= 8:
            raise InputError(f"need 0 <= octave_low <= octave_high <= 8, got {self.octave_low}..{self.octave_high}")
        for d in self.durations:
            if d == "1" or _fraction(d) is None or _fraction(d) * UNIT % GRID:
                raise InputError(f"duration {d!r} must be a multiple of 1/4 other than 1 (written '/4', '3/2', '2')")
        if "/4" not in self.durations:
            raise InputError("durations must hold '/4' so that every 1/32-grid length can be written")
        if self.tune_types[:1] != ("none",) or "other" not in self.tune_types:
            raise InputError("tune_types must start with 'none' and hold 'other'")
        for m in self.meters:
            if _meter(m) is None:
                raise InputError(f"meter {m!r} is not 'n/d'")


def _fraction(text: str) -> Fraction | None:
    """ABC length multiplier: '3/2' → 3/2, '/2' → 1/2, '2' → 2."""
    try:
        return Fraction("1" + text) if text.startswith("/") else Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _meter(text: str) -> tuple[int, int] | None:
    parts = text.split("/")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        return None
    return int(parts[0]), int(parts[1])


@dataclass(frozen=True)
class _Piece:
    """One written atom: a note, chord or rest (no pitches) of `ticks`, tied on, inside a tuplet."""

    start: int
    ticks: int
    pitches: tuple[int, ...]
    tie: bool = False
    tuplet: int = 0  # 0: none, 1: inside a triplet, 3: opens one with "(3"
    bar_after: bool = False


class AbcTokenizer(Tokenizer):
    """Score ↔ folk-rnn style ABC tokens; see docs/tokens/abc.md."""

    name = "abc"
    Config = AbcConfig

    def __init__(self, config: AbcConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self._dur_ticks = {int(_fraction(d) * UNIT): d for d in c.durations}
        self._dur_ticks[UNIT] = ""
        self._dur_desc = sorted(self._dur_ticks, reverse=True)
        self._notes = set(_note_tokens(c.octave_low, c.octave_high))

    def token_ranges(self) -> list[tuple[str, Sequence[Any]]]:
        c = self.config
        keys = [key_token(KeySignature(0, t, m)) for m in ABC_MODES for t in range(12)]
        return [
            ("R", c.tune_types),
            ("M", c.meters),
            ("K", keys),
            ("note", _note_tokens(c.octave_low, c.octave_high)),
            ("dur", c.durations),
            ("rest", ("z",)),
            ("tie", ("-",)),
            ("broken", BROKEN),
            ("tuplet", TUPLETS),
            ("chord", CHORD),
            ("bar", BARS),
        ]

    # --- ids → text → score -------------------------------------------------------------------
    def decode(self, ids: Sequence[int]) -> Score:
        """The score of the (repaired) ABC text the ids spell, read back through composer.io.abc."""
        header, body, notes = body_text(self.values(ids))
        if notes == 0:
            return self._header_score(header, [])
        try:
            parsed = parse_abc_text(abc_text(header, body), "<abc tokens>")[0]
        except InputError as e:
            raise TokenizeError(f"{self.name} tokenizer: decoded ABC text is unreadable: {e.problem}") from None
        return self._header_score(header, [Note(n.pitch, n.start, n.duration) for n in parsed.notes])

    def ids_to_abc(self, ids: Sequence[int], title: str = "") -> str:
        """The ABC tune the ids spell (X:1, T:, M:, L:1/8, R:, K: and the repaired body)."""
        header, body, _ = body_text(self.values(ids))
        return abc_text(header, body, title)

    def values(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        """(kind, value) of each id up to the first EOS, specials skipped; TokenizeError for bad ids."""
        kinds, values = self.table.kinds, self.table.values
        return [(kinds[i], values[i]) for i in self.checked_ids(ids).tolist() if i > EOS]

    # --- score → ids --------------------------------------------------------------------------
    def encode(self, score: Score, pickup_ticks: int | None = None) -> list[int]:
        """BOS, R:, M:, K:, the body of the tune spelled in its first key at L:1/8, EOS; `pickup_ticks`
        places the first bar line where a reader found it (else the notes decide)."""
        head, pieces, key = self._plan(score, pickup_ticks)
        ids = [BOS, *(self.table.id(k, v) for k, v in head)]
        speller = KeySpeller(key, self._notes)
        for p in pieces:
            ids.extend(self.table.id(k, v) for k, v in self._piece_tokens(p, speller, score))
        if pieces:
            bar, end = self.table.id("bar", "|"), self.table.id("bar", "|]")
            ids = [*ids[:-1], end] if ids[-1] == bar else [*ids, end]
        return [*ids, EOS]

    def normalize(self, score: Score) -> Score:
        """What decode(encode(score)) gives: the planned pieces as notes, first meter/key, default tempo."""
        head, pieces, key = self._plan(score)
        notes: list[Note] = []
        held: list[int] = []  # indices of the notes the last piece tied on
        for p in pieces:
            if held and sorted(notes[i].pitch for i in held) == sorted(p.pitches):
                for i in held:
                    notes[i] = notes[i]._replace(duration=p.start + p.ticks - notes[i].start)
            else:
                held = list(range(len(notes), len(notes) + len(p.pitches)))
                notes.extend(Note(q, p.start, p.ticks) for q in p.pitches)
            held = held if p.tie else []
        return self._header_score(dict(head), notes)

    def _header_score(self, head: dict[str, str], notes: Sequence[Note]) -> Score:
        tune_type = None if head["R"] == "none" else head["R"]
        n, d = _meter(head["M"])
        return Score(
            notes=notes,
            tpq=DEFAULT_TPQ,
            tempos=(TempoChange(0, DEFAULT_QPM_BY_TYPE.get(tune_type or "", DEFAULT_QPM)),),
            time_signatures=(TimeSignature(0, n, d),),
            key_signatures=(parse_key_token(head["K"]),),
            tune_type=tune_type,
        )

    def _plan(self, score: Score, pickup_ticks: int | None = None) -> tuple[list[tuple[str, str]], list[_Piece], KeySignature]:
        """Header tokens and the written pieces (bars split, ties, tuplets) of `score`; the first bar line at
        `pickup_ticks` (at tpq 480) when given, else where the notes say."""
        score = score.resample(DEFAULT_TPQ)
        ts = score.time_signature
        meter = f"{ts.numerator}/{ts.denominator}" if ts else "{}/{}".format(*DEFAULT_METER)
        if meter not in self.config.meters:
            raise self._error(score, f"meter {meter} is not in the vocabulary {list(self.config.meters)}")
        key = score.key_signature._replace(tick=0) if score.key_signature else KeySignature(0, 0, "major")
        if key.mode not in ABC_MODES:
            raise self._error(score, f"key {key.name}: music21's ABC reader knows no {key.mode} mode")
        tune_type = score.tune_type or "none"
        tune_type = tune_type if tune_type in self.config.tune_types else "other"
        head = [("R", tune_type), ("M", meter), ("K", key_token(key))]
        items = _items(score)
        bar = int(Fraction(4 * _meter(meter)[0], _meter(meter)[1]) * DEFAULT_TPQ)
        phase = pickup_ticks if pickup_ticks is not None and 0 <= pickup_ticks < bar else _pickup(items, bar)
        return head, self._pieces(score, items, bar, phase), key

    def _pieces(self, score: Score, items: list[tuple[int, int, tuple[int, ...]]], bar: int,
                phase: int) -> list[_Piece]:
        """Cut items at bar lines and into writable lengths; group off-grid items into (3 triplets
        (a bar line inside a triplet is left out; after a triplet that leaves the grid, the bars restart)."""
        pieces: list[_Piece] = []
        i = 0
        while i < len(items):
            start, ticks, pitches = items[i]
            next_bar = _next_bar(start, bar, phase)
            if ticks % GRID == 0:
                pieces.extend(self._cut(start, ticks, pitches, bar, phase))
                i += 1
                continue
            group = items[i : i + 3]
            end = group[-1][0] + group[-1][1]
            if (len(group) < 3
                    or any(t * 3 % 2 or t * 3 // 2 not in self._dur_ticks for _, t, _ in group)):
                raise self._error(score, f"a {'note' if pitches else 'rest'} of {ticks} ticks at tick {start} "
                                         f"fits neither the {GRID}-tick duration grid nor a (3 triplet")
            pieces.extend(_Piece(s, t, p, tuplet=3 if k == 0 else 1) for k, (s, t, p) in enumerate(group))
            if end == next_bar:
                pieces[-1] = _replace(pieces[-1], bar_after=True)
            elif (end - phase) % GRID:  # an irregular (3 (`(3d/e/f`, a part's pickup) ends off the bar lines' grid,
                phase = end % bar  # so no later one could be written: the bars start again after it
                pieces[-1] = _replace(pieces[-1], bar_after=True)
            i += 3
        return pieces

    def _cut(self, start: int, ticks: int, pitches: tuple[int, ...], bar: int, phase: int) -> list[_Piece]:
        """Pieces of one item of on-grid length: split at bar lines (those it can reach on the grid),
        then greedily into listed lengths."""
        out: list[_Piece] = []
        t, end = start, start + ticks
        while t < end:
            next_bar = _next_bar(t, bar, phase)
            if (next_bar - t) % GRID:  # off the grid after an odd tuplet: no bar line can be written
                next_bar = end + 1
            stop = min(end, next_bar)
            left = stop - t
            while left:
                d = next(x for x in self._dur_desc if x <= left)
                left -= d
                out.append(_Piece(t, d, pitches, tie=bool(pitches) and t + d < end,
                                  bar_after=left == 0 and stop == next_bar))
                t += d
        return out

    def _piece_tokens(self, p: _Piece, speller: KeySpeller, score: Score) -> list[tuple[str, str]]:
        toks: list[tuple[str, str]] = [("tuplet", "(3")] if p.tuplet == 3 else []
        if not p.pitches:
            toks.append(("rest", "z"))
        else:
            spelled = [speller.spell(q) for q in p.pitches]
            if None in spelled:
                raise self._error(score, f"pitch {p.pitches[spelled.index(None)]} is outside the note range")
            notes = [("note", s) for s in spelled]
            toks.extend(notes if len(notes) == 1 else [("chord", "["), *notes, ("chord", "]")])
        ticks = p.ticks * 3 // 2 if p.tuplet else p.ticks
        if self._dur_ticks[ticks]:
            toks.append(("dur", self._dur_ticks[ticks]))
        if p.tie:
            toks.append(("tie", "-"))
        if p.bar_after:
            toks.append(("bar", "|"))
            speller.new_bar()
        return toks


def _replace(p: _Piece, **changes: Any) -> _Piece:
    from dataclasses import replace

    return replace(p, **changes)


def _note_tokens(low: int, high: int) -> list[str]:
    """`C,` … `b'` with each accidental variant: '', '^', '_', '='."""
    names = [note_name(letter, octave) for octave in range(low, high + 1) for letter in "CDEFGAB"]
    return [acc + name for name in names for acc in ("", "^", "_", "=")]


def _items(score: Score) -> list[tuple[int, int, tuple[int, ...]]]:
    """Onset groups as (start, ticks, pitches), each cut at the next onset, with rests for gaps."""
    by_start: dict[int, list[Note]] = {}
    for n in score.notes:
        if not n.is_drum and n.duration > 0:
            by_start.setdefault(n.start, []).append(n)
    starts = sorted(by_start)
    items: list[tuple[int, int, tuple[int, ...]]] = []
    t = 0
    for i, s in enumerate(starts):
        if s < 0:
            raise TokenizeError("abc tokenizer: a note starts before tick 0", score.source or None)
        if s > t:
            items.append((t, s - t, ()))
        ticks = min(n.duration for n in by_start[s])
        if i + 1 < len(starts):
            ticks = min(ticks, starts[i + 1] - s)
        items.append((s, ticks, tuple(sorted({n.pitch for n in by_start[s]}))))
        t = s + ticks
    return items


def _next_bar(t: int, bar: int, phase: int) -> int:
    """First bar line after tick t, bar lines lying at phase + k·bar."""
    return phase + ((t - phase) // bar + 1) * bar


def _pickup(items: list[tuple[int, int, tuple[int, ...]]], bar: int) -> int:
    """Tick of the first bar line (0 when there is no pickup), found from the notes: fewest notes
    across bar lines, then the tune ending on a bar line (or completing the pickup's bar), then a
    pickup shorter than half a bar, then the most note length on downbeats, then the earliest."""
    if not items:
        return 0
    arr = np.array([(s, t, bool(p)) for s, t, p in items], dtype=np.int64)  # (N, 3): start, ticks, is note
    starts, ends = arr[:, 0], arr[:, 0] + arr[:, 1]
    phases = np.arange(0, bar, GRID)[:, None]  # (P, 1)
    fixed = np.where((starts % GRID != 0) | (ends % GRID != 0), 1000, 1)  # (N,) tuplet members cannot split
    crossings = ((((ends - 1 - phases) // bar) - ((starts - phases) // bar) > 0) * fixed).sum(axis=1)
    ragged_end = ((ends[-1] - phases[:, 0]) % bar != 0) & (ends[-1] % bar != 0)  # last bar completes the pickup
    downbeat = (((starts - phases) % bar == 0) * arr[:, 1] * arr[:, 2]).sum(axis=1)
    long_pickup = phases[:, 0] * 2 >= bar
    order = np.lexsort((phases[:, 0], -downbeat, long_pickup, ragged_end, crossings))
    return int(phases[order[0], 0])
