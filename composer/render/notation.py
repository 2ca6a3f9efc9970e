"""Scores as MusicXML through music21: measures, ties, meters, keys, tempo and pickup bars, one staff per voice.

What `composer.render` writes for `.musicxml`; MuseScore and music21 open it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from composer.errors import OutputError
from composer.score import PITCH_CLASS_NAMES, Note, Score, bar_starts


def musicxml_bytes(score: Score, path: Path | None = None) -> bytes:
    """MusicXML of the score through music21 (measures, ties, meter, key, tempo, pickup bar): opens in
    MuseScore. Voices that overlap go on separate staves."""
    from music21 import metadata, stream

    sigs = [t for t in score.time_signatures if t.denominator & (t.denominator - 1) == 0]  # notation: 2^n only
    score = score.replace(time_signatures=sigs)
    q = _quarter_grid(score)
    pickup, bar = score.metadata.get("pickup_ticks") or 0, bar_starts(score)
    shift = q(bar[2] - bar[1]) - q(pickup) if len(bar) > 2 and 0 < pickup < bar[2] - bar[1] else Fraction(0)
    parts = [_part(score, lane, q, shift, tempos=i == 0) for i, lane in enumerate(_lanes(score.notes))]
    s = stream.Score(parts or [_part(score, [], q, shift, tempos=True)])
    s.metadata = metadata.Metadata(title=score.title or "composition")
    try:
        if shift:
            s = s.makeNotation()
            for part in s.parts:
                _make_pickup(part, shift)
        with tempfile.TemporaryDirectory() as tmp:
            return Path(s.write("musicxml", fp=str(Path(tmp) / "out.musicxml"))).read_bytes()
    except Exception as e:  # music21 raises many types for notation it cannot spell
        raise OutputError(f"music21 could not write this score as MusicXML: {e}", path) from None


def _part(score: Score, lane: list, q: _Grid, shift: Fraction, tempos: bool):
    """One music21 Part: the meter, key (and tempo) maps and the lane's notes, shifted by `shift` beats."""
    from music21 import chord, key, meter, note, stream, tempo

    def at(tick: int) -> Fraction:
        return q(tick) + shift if tick else Fraction(0)

    part = stream.Part()
    for ts in score.time_signatures:
        part.insert(at(ts.tick), meter.TimeSignature(f"{ts.numerator}/{ts.denominator}"))
    for ks in score.key_signatures:
        part.insert(at(ks.tick), key.Key(PITCH_CLASS_NAMES[ks.tonic].replace("b", "-"), ks.mode))
    for t in score.tempos if tempos else ():
        part.insert(at(t.tick), tempo.MetronomeMark(number=round(t.qpm, 2), referent=1.0))
    for start, duration, pitches in lane:
        element = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(sorted(pitches))
        element.quarterLength = max(q(start + duration) - q(start), q.step)
        part.insert(q(start) + shift, element)
    return part


def _make_pickup(part, shift: Fraction) -> None:
    """Turn a first bar that starts with `shift` beats of rest into an anacrusis (paddingLeft), written
    as notation programs write one: measure 0, implicit (uncounted), the first full bar numbered 1."""
    from music21 import stream

    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        return
    for m in measures:
        m.number -= 1
    measure = measures[0]
    measure.showNumber = stream.enums.ShowNumber.NEVER
    for rest in list(measure.getElementsByClass("Rest")):
        if rest.offset < shift:
            measure.remove(rest)
    for element in measure.notesAndRests:
        measure.setElementOffset(element, element.offset - shift)
    measure.paddingLeft = shift


def _quarter_grid(score: Score) -> _Grid:
    """Ticks → quarter lengths: exact when every time sits on a 1/24-beat grid, else rounded to 1/12 beat."""
    times = {0} | {t for n in score.notes for t in (n.start, n.end)}
    exact = all((t * 24) % score.tpq == 0 for t in times)
    return _Grid(score.tpq, Fraction(1, 24) if exact else Fraction(1, 12))


@dataclass(frozen=True)
class _Grid:
    tpq: int
    step: Fraction

    def __call__(self, tick: int) -> Fraction:
        return round(Fraction(tick, self.tpq) / self.step) * self.step


def _lanes(notes: tuple[Note, ...]) -> list[list[tuple[int, int, list[int]]]]:
    """Notes spread over monophonic lanes (one staff each, never mixing programs); notes sharing start
    and length make a chord. Items are (start tick, duration ticks, pitches)."""
    lanes: list[list] = []
    ends: list[tuple[int, int]] = []  # per lane: program, end tick
    for n in sorted(notes, key=lambda n: (n.program, n.start, -n.duration, n.pitch)):
        for i, lane in enumerate(lanes):
            (start, duration, pitches), (program, end) = lane[-1], ends[i]
            if program != n.program:
                continue
            if (start, duration) == (n.start, n.duration):
                pitches.append(n.pitch)
                break
            if end <= n.start:
                lane.append((n.start, n.duration, [n.pitch]))
                ends[i] = (n.program, n.end)
                break
        else:
            lanes.append([(n.start, n.duration, [n.pitch])])
            ends.append((n.program, n.end))
    return lanes
