"""music21 streams (from ABC or MusicXML) to Score, directly: no detour through music21's MIDI writer.

Rules (docs/io.md): repeats and endings expanded; every pitch of a chord is a note; tied notes of
one pitch merge into one long note; grace notes are dropped (they take no time in the written
rhythm); rests are implicit. Offsets become ticks at tpq 480, exactly for any 2ᵃ·3ᵇ·5ᶜ division.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from composer.errors import InputError
from composer.io.limits import DEFAULT_LIMITS, ReadLimits, check_notes, check_qpm, check_seconds, read_bytes
from composer.score import DEFAULT_QPM, DEFAULT_TPQ, MODES, KeySignature, Note, Score, TempoChange, TimeSignature

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
    expanded, repeats_expanded = _expand_repeats(m21_stream)
    parts = list(expanded.parts) if hasattr(expanded, "parts") and len(expanded.parts) else [expanded]
    notes: list[Note] = []
    inexact = 0
    for part in parts:
        part_notes, part_inexact = _part_notes(part.flatten())
        notes.extend(part_notes)
        inexact += part_inexact
    check_notes(len(notes), limits, source or None)
    first = parts[0]
    tempos = _tempos(first, default_qpm, limits, source)
    md = getattr(m21_stream, "metadata", None)
    score = Score(
        notes=notes,
        tpq=DEFAULT_TPQ,
        tempos=tempos,
        time_signatures=_time_signatures(first),
        key_signatures=_key_signatures(first),
        title=title if title is not None else ((md.bestTitle or "") if md is not None else ""),
        tune_type=tune_type,
        source=source,
        metadata={"repeats_expanded": repeats_expanded, "parts": len(parts), "inexact_ticks": inexact,
                  "pickup_ticks": _pickup_ticks(first)},
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


def _expand_repeats(m21_stream):
    """The stream with repeats expanded, and whether that worked ("badly formed repeats" happen)."""
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


def _part_notes(flat) -> tuple[list[Note], int]:
    """Notes of one flattened part: chords split, ties merged, grace notes dropped."""
    notes: list[Note] = []
    open_ties: dict[int, int] = {}  # MIDI pitch → index in notes of the note a tie continues
    inexact = 0
    for el in flat.notes:
        if el.duration.isGrace:
            continue
        start, ok1 = _ticks(flat.elementOffset(el))
        end, ok2 = _ticks(flat.elementOffset(el) + el.duration.quarterLength)
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


def _placed(part, cls: str):
    """(tick, element) for each `cls` element in the part, offsets taken in place: music21's ABC parser
    may put one TimeSignature object into two measures, which `.flatten()` would list only once."""
    for el in part.recurse().getElementsByClass(cls):
        yield _ticks(el.getOffsetInHierarchy(part))[0], el


def _tempos(part, default_qpm: float, limits: ReadLimits, source: str) -> list[TempoChange]:
    """Tempo marks as changes; the default tempo holds until the first mark."""
    tempos: list[TempoChange] = []
    for tick, mark in _placed(part, "MetronomeMark"):
        qpm = mark.getQuarterBPM()
        if qpm is None:
            continue
        qpm = check_qpm(float(qpm), limits, source or None)
        if not tempos or tempos[-1].qpm != qpm:
            tempos.append(TempoChange(tick, qpm))
    if not tempos or tempos[0].tick > 0:
        tempos.insert(0, TempoChange(0, float(default_qpm)))
    return [t for i, t in enumerate(tempos) if i + 1 == len(tempos) or tempos[i + 1].tick != t.tick]


def _time_signatures(part) -> list[TimeSignature]:
    """Time signatures where they change (music21 repeats one in every measure after expansion)."""
    out: list[TimeSignature] = []
    for tick, ts in _placed(part, "TimeSignature"):
        sig = TimeSignature(tick, int(ts.numerator), int(ts.denominator))
        if not out or out[-1][1:] != sig[1:]:
            out.append(sig)
    return out


def _key_signatures(part) -> list[KeySignature]:
    """Keys where they change; a bare key signature (no mode) counts as major."""
    out: list[KeySignature] = []
    for tick, ks in _placed(part, "KeySignature"):
        mode = {"ionian": "major", "aeolian": "minor"}.get(getattr(ks, "mode", None), getattr(ks, "mode", None))
        if hasattr(ks, "tonic") and mode in MODES:
            sig = KeySignature(tick, ks.tonic.pitchClass, mode)
        else:
            sig = KeySignature(tick, (ks.sharps * 7) % 12, "major")
        if not out or out[-1][1:] != sig[1:]:
            out.append(sig)
    return out
