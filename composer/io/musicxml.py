"""music21 streams (from ABC or MusicXML) to Score, directly: no detour through music21's MIDI writer.

Rules (docs/io.md): repeats and endings expanded; every pitch of a chord is a note; tied notes of
one pitch merge into one long note; grace notes are dropped (they take no time in the written
rhythm); rests are implicit. Offsets become ticks at tpq 480, exactly for any 2ᵃ·3ᵇ·5ᶜ division.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from composer.errors import InputError
from composer.io.limits import DEFAULT_LIMITS, ReadLimits, check_notes, check_qpm, check_seconds, read_bytes
from composer.score import (
    DEFAULT_QPM,
    DEFAULT_TPQ,
    MODES,
    BarMarks,
    Form,
    KeySignature,
    Note,
    RepeatError,
    Score,
    TempoChange,
    TimeSignature,
    play_order,
)

MUSICXML_SUFFIXES = (".musicxml", ".xml", ".mxl")


def stream_to_score(
    m21_stream,
    source: str = "",
    *,
    title: str | None = None,
    tune_type: str | None = None,
    default_qpm: float = DEFAULT_QPM,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Score:
    """Convert a music21 Score/Part/Stream into a Score at tpq 480, expanding repeats when it can.

    Each part keeps its own notes (all at program 0); metadata records `repeats_expanded`, `parts`
    and `inexact_ticks` (onsets that were not whole ticks and had to be rounded; 0 for O'Neill's).
    """
    parts = list(m21_stream.parts) if hasattr(m21_stream, "parts") and len(m21_stream.parts) else [m21_stream]
    brackets = list(m21_stream.recurse().getElementsByClass("RepeatBracket"))  # in the part (ABC) or score (MusicXML)
    timelines = [_timeline(part, brackets) for part in parts]
    notes: list[Note] = []
    inexact = 0
    for timeline in timelines:
        part_notes, part_inexact = _part_notes(timeline.notes)
        notes.extend(part_notes)
        inexact += part_inexact
    check_notes(len(notes), limits, source or None)
    first = timelines[0]
    md = getattr(m21_stream, "metadata", None)
    score = Score(
        notes=notes,
        tpq=DEFAULT_TPQ,
        tempos=_tempos(first.marks("MetronomeMark"), default_qpm, limits, source),
        time_signatures=_time_signatures(first.marks("TimeSignature")),
        key_signatures=_key_signatures(first.marks("KeySignature")),
        title=title if title is not None else ((md.bestTitle or "") if md is not None else ""),
        tune_type=tune_type,
        source=source,
        form=first.form if all(t.form is not None and t.form.order == first.form.order for t in timelines) else None,
        metadata={"repeats_expanded": all(t.expanded for t in timelines), "parts": len(parts),
                  "inexact_ticks": inexact, "pickup_ticks": _pickup_ticks(parts[0])},
    )
    check_seconds(score.duration_seconds, limits, source or None)
    return score


def load_musicxml(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> list[Score]:
    """Read a .musicxml/.xml/.mxl file through music21 into one Score."""
    path = Path(path)
    read_bytes(path, limits)
    from music21 import converter

    try:
        parsed = converter.parse(str(path), forceSource=True)
    except Exception as e:  # music21 raises many types on bad input; all mean "unreadable"
        raise InputError(f"not readable MusicXML: {type(e).__name__}: {e}"[:300], path) from None
    try:
        return [stream_to_score(parsed, str(path), limits=limits)]
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"cannot convert MusicXML: {type(e).__name__}: {e}"[:300], path) from None


def _pickup_ticks(part) -> int:
    """Length of an anacrusis (a first measure music21 padded on the left), 0 when the tune has none."""
    first = part.getElementsByClass("Measure").first()
    if first is None or not first.paddingLeft:
        return 0
    return _ticks(first.duration.quarterLength)[0]


@dataclass
class _Timeline:
    """One part as it sounds: (offset, element) for each note and for each mark of tempo, meter and key."""

    notes: list[tuple[Any, Any]]
    placed: list[tuple[Any, Any]]  # TimeSignature, KeySignature and MetronomeMark elements
    expanded: bool  # False when the repeat marks could not be unfolded
    form: Form | None = None  # the written bars' marks and where each played bar sounds

    def marks(self, cls: str) -> list[tuple[int, Any]]:
        """(tick, element) of each `cls` mark, in time order."""
        return sorted(((_ticks(offset)[0], el) for offset, el in self.placed if cls in el.classSet),
                      key=lambda pair: pair[0])


_MARKS = ("TimeSignature", "KeySignature", "MetronomeMark")
_SECTION_ENDS = ("double", "light-light", "final", "light-heavy")


def _timeline(part, brackets: list) -> _Timeline:
    """The part's measures in play order (composer.score.play_order), each shifted to where it sounds."""
    measures = list(part.getElementsByClass("Measure"))
    top_level = [(part.elementOffset(el), el) for el in part.getElementsByClass(_MARKS)]
    if not measures or part.getElementsByClass("GeneralNote").first() is not None:
        return _flat_timeline(part)
    marks = _bar_marks(measures, brackets)
    try:
        order = play_order(marks)
    except RepeatError:
        order, expanded = list(range(len(measures))), False
    else:
        expanded = True
    starts = [part.elementOffset(m) for m in measures]
    lengths = [b - a for a, b in itertools.pairwise(starts)] + [measures[-1].highestTime]
    notes: list[tuple[Any, Any]] = []
    placed = top_level
    at = starts[0]
    played = []
    for i in order:
        played.append(_ticks(at)[0])
        m = measures[i]
        inner = m.flatten() if m.hasVoices() else m
        notes.extend((at + inner.elementOffset(el), el) for el in inner.notes)
        placed.extend((at + m.elementOffset(el), el) for el in m.getElementsByClass(_MARKS))
        at += lengths[i]
    form = Form(tuple(marks), tuple(order), (*played, _ticks(at)[0])) if expanded else None
    return _Timeline(notes, placed, expanded, form)


def _flat_timeline(part) -> _Timeline:
    """A part without measures (or with notes outside them): as written, through music21's own expansion."""
    expanded, ok = _expand_repeats(part)
    flat = expanded.flatten()
    notes = [(flat.elementOffset(el), el) for el in flat.notes]
    placed = [(el.getOffsetInHierarchy(expanded), el) for el in expanded.recurse().getElementsByClass(_MARKS)]
    return _Timeline(notes, placed, ok)


def _bar_marks(measures: list, brackets: list) -> list[BarMarks]:
    """The repeat marks of each measure, read off its barlines and the RepeatBracket spanners over it."""
    index = {id(m): i for i, m in enumerate(measures)}
    endings: dict[int, frozenset[int]] = {}
    for bracket in brackets:
        numbers = frozenset(n for n in bracket.numberRange if n > 0)
        spanned = [index[id(m)] for m in bracket.getSpannedElements() if id(m) in index]
        for i in range(min(spanned, default=0), max(spanned, default=-1) + 1):  # music21 keeps only the ends
            endings[i] = numbers
    marks = []
    for i, m in enumerate(measures):
        left, right = (_direction(m.leftBarline), _direction(m.rightBarline))
        ends = "end" in (left, right)
        if left == "end" and i and i not in endings:  # music21's re-barring split an over-long bar and left
            endings[i] = endings.get(i - 1, frozenset())  # its `:|` on the left of the new bar, outside the ending
        times = next((b.times for b in (m.rightBarline, m.leftBarline) if _direction(b) == "end"), None)
        before = _direction(measures[i - 1].rightBarline) if i else None
        marks.append(BarMarks(start_repeat="start" in (left, before), end_repeat=(times or 2) if ends else 0,
                              section_end=not ends and getattr(m.rightBarline, "type", None) in _SECTION_ENDS,
                              endings=endings.get(i, frozenset())))
    return marks


def _direction(barline) -> str | None:
    """'start' or 'end' for a repeat barline, None for a plain one or none."""
    return getattr(barline, "direction", None)


def _expand_repeats(m21_stream):
    """The stream with repeats expanded by music21, and whether that worked ("badly formed repeats" happen)."""
    if not m21_stream.recurse().getElementsByClass(("Repeat", "RepeatBracket")).first():
        return m21_stream, True
    try:
        return m21_stream.expandRepeats(), True
    except Exception:  # music21 raises ExpanderException, AttributeError, ... on odd repeat marks
        return m21_stream, False


def _ticks(offset) -> tuple[int, bool]:
    """Tick of a music21 offset (quarter lengths) and whether it was exact."""
    t = Fraction(offset).limit_denominator(65535) * DEFAULT_TPQ  # music21 may hand over floats like 1/3
    return (t.numerator, True) if t.denominator == 1 else (round(t), False)


def _part_notes(timeline: list[tuple[Any, Any]]) -> tuple[list[Note], int]:
    """Notes of one part from its (offset, note or chord) pairs: chords split, ties merged, grace notes dropped."""
    notes: list[Note] = []
    open_ties: dict[int, int] = {}  # MIDI pitch → index in notes of the note a tie continues
    inexact = 0
    for offset, el in timeline:
        if el.duration.isGrace:
            continue
        start, ok1 = _ticks(offset)
        end, ok2 = _ticks(offset + el.duration.quarterLength)
        inexact += (not ok1) + (not ok2)
        chord_tie = getattr(el, "tie", None)
        members = el.notes if el.isChord else (el,)
        for member in members:
            pitch = getattr(member, "pitch", None)
            if pitch is None:
                continue
            midi = int(round(pitch.ps))
            tie = member.tie or chord_tie
            tie_type = tie.type if tie is not None else None
            prev = open_ties.get(midi)
            if tie_type in ("stop", "continue") and prev is not None and notes[prev].end == start:
                notes[prev] = notes[prev]._replace(duration=end - notes[prev].start)
                if tie_type == "stop":
                    del open_ties[midi]
                continue
            if end <= start or not 0 <= midi <= 127:
                continue
            notes.append(Note(midi, start, end - start))
            if tie_type in ("start", "continue"):
                open_ties[midi] = len(notes) - 1
            else:
                open_ties.pop(midi, None)
    return notes, inexact


def _tempos(marks: list[tuple[int, Any]], default_qpm: float, limits: ReadLimits, source: str) -> list[TempoChange]:
    """Tempo marks (tick, MetronomeMark) as changes; the default tempo holds until the first mark."""
    tempos: list[TempoChange] = []
    for tick, mark in marks:
        qpm = mark.getQuarterBPM()
        if qpm is None:
            continue
        qpm = check_qpm(float(qpm), limits, source or None)
        if not tempos or tempos[-1].qpm != qpm:
            tempos.append(TempoChange(tick, qpm))
    if not tempos or tempos[0].tick > 0:
        tempos.insert(0, TempoChange(0, float(default_qpm)))
    return [t for i, t in enumerate(tempos) if i + 1 == len(tempos) or tempos[i + 1].tick != t.tick]


def _time_signatures(marks: list[tuple[int, Any]]) -> list[TimeSignature]:
    """Time signatures where they change (music21 may repeat one in every measure)."""
    out: list[TimeSignature] = []
    for tick, ts in marks:
        sig = TimeSignature(tick, int(ts.numerator), int(ts.denominator))
        if not out or out[-1][1:] != sig[1:]:
            out.append(sig)
    return out


def _key_signatures(marks: list[tuple[int, Any]]) -> list[KeySignature]:
    """Keys where they change; a bare key signature (no mode) counts as major."""
    out: list[KeySignature] = []
    for tick, ks in marks:
        mode = {"ionian": "major", "aeolian": "minor"}.get(getattr(ks, "mode", None), getattr(ks, "mode", None))
        if hasattr(ks, "tonic") and mode in MODES:
            sig = KeySignature(tick, ks.tonic.pitchClass, mode)
        else:
            sig = KeySignature(tick, (ks.sharps * 7) % 12, "major")
        if not out or out[-1][1:] != sig[1:]:
            out.append(sig)
    return out
