"""Scores as MusicXML through music21: measures, ties, meters, keys, tempo and pickup bars, one staff per voice.

What `composer.render` writes for `.musicxml`; MuseScore and music21 open it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from composer.errors import OutputError
from composer.score import PITCH_CLASS_NAMES, Note, Score, bar_starts, fold


def musicxml_bytes(score: Score, path: Path | None = None) -> bytes:
    """MusicXML of the score through music21 (measures, ties, meter, key, tempo, pickup bar): opens in
    MuseScore. Voices that overlap go on separate staves. A Form that repeats is written as it is read:
    each written bar once, with repeat barlines, double bars and first/second-ending brackets."""
    from music21 import metadata, stream

    marks = score.form.marks if _folds_on_bar_lines(score) else None
    if marks is not None:
        score = fold(score)[0]
    sigs = [t for t in score.time_signatures if t.denominator & (t.denominator - 1) == 0]  # notation: 2^n only
    score = score.replace(time_signatures=sigs)
    q = _quarter_grid(score)
    pickup, bar = score.metadata.get("pickup_ticks") or 0, bar_starts(score)
    shift = q(bar[2] - bar[1]) - q(pickup) if len(bar) > 2 and 0 < pickup < bar[2] - bar[1] else Fraction(0)
    parts = [_part(score, lane, q, shift, tempos=i == 0) for i, lane in enumerate(_lanes(score.notes))]
    s = stream.Score(parts or [_part(score, [], q, shift, tempos=True)])
    s.metadata = metadata.Metadata(title=score.title or "composition")
    try:
        if shift or marks is not None:
            s = s.makeNotation()
        for part in s.parts if shift else ():
            _make_pickup(part, shift)
        for part in s.parts if marks is not None else ():
            _mark_repeats(part, marks)
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


def _folds_on_bar_lines(score: Score) -> bool:
    """Whether the score's Form repeats and its written bars are whole bars (a first pickup and a short last bar
    aside), so music21's measures are the written bars; a source's own short bars (a part's last bar shortened
    for the next pickup) are written out instead."""
    form, ts = score.form, score.time_signature
    if form is None or not form.repeats or not form.plays_every_bar or ts is None or len(score.time_signatures) > 1:
        return False
    bar, first = round(ts.bar_beats * score.tpq), form.first_playing()
    lengths = [form.starts[k + 1] - form.starts[k] for k in first]
    return 0 < lengths[0] <= bar and all(n == bar for n in lengths[1:-1]) and 0 < lengths[-1] <= bar


def _mark_repeats(part, marks) -> None:
    """Repeat barlines, double bars and ending brackets on the part's measures, one per written bar."""
    from music21 import bar, spanner

    measures = list(part.getElementsByClass("Measure"))
    for m, mark in zip(measures, marks, strict=False):
        if mark.start_repeat:
            m.leftBarline = bar.Repeat(direction="start")
        if mark.end_repeat:
            m.rightBarline = bar.Repeat(direction="end", times=mark.end_repeat)
        elif mark.section_end:
            m.rightBarline = bar.Barline("double")
    i = 0
    while i < min(len(measures), len(marks)):
        if marks[i].endings:
            j = i
            while j + 1 < min(len(measures), len(marks)) and marks[j + 1].endings == marks[i].endings:
                j += 1
            part.insert(0, spanner.RepeatBracket(measures[i : j + 1], number=min(marks[i].endings)))
            i = j + 1
        else:
            i += 1


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
