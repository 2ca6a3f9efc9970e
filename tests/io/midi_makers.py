"""MIDI files written the way other tools write them, for round-trip tests and bench/roundtrip.py.

Every file is written with mido (event by event, as a DAW or notation program does) from a plan of
notes in beats, so a test knows each note's bar and position without asking composer. The styles:

- a conductor track (type 1) with track name, tempo, time and key signatures, then one track per part
  (track name, program change, NOTE_ON/NOTE_OFF or NOTE_ON velocity 0), or all merged in one (type 0);
- a pickup as a short first bar (Sibelius, Finale, MuseScore's "actual" duration: 1/4 then 4/4),
  or as a padded first bar (a leading rest in a full bar), or not marked at all (the tune's meter at
  tick 0, the pickup on beat 1: what abc2midi writes);
- leading rests, held chords of 20+ beats, four parts with unisons, melody + chord tracks;
- 480, 960 or 1024 ticks per quarter note.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import mido


@dataclass
class Part:
    """One track: notes as (pitch, start beat, length in beats), with a name, program and channel."""

    name: str
    notes: list[tuple[int, Fraction, Fraction]]
    program: int = 0
    channel: int = 0


@dataclass
class Plan:
    """A piece as another tool would hold it: parts in beats, the meter, tempo changes and a pickup style."""

    parts: list[Part]
    meter: tuple[int, int] = (4, 4)
    pickup: Fraction = Fraction(0)  # beats before the first full bar
    pickup_style: str = "short bar"  # "short bar", "padded" or "unmarked"
    tempos: list[tuple[Fraction, float]] = field(default_factory=lambda: [(Fraction(0), 120.0)])
    key: str = "D"
    tpq: int = 480
    midi_type: int = 1
    note_off: bool = True  # NOTE_OFF messages, or NOTE_ON with velocity 0
    gate: Fraction = Fraction(1)  # notes sound this share of their written length (a DAW's humanised gate)

    @property
    def bar_beats(self) -> Fraction:
        return Fraction(4 * self.meter[0], self.meter[1])

    def offset(self) -> Fraction:
        """Beats from the file's tick 0 to the tune's first beat: a padded bar starts the pickup late."""
        return self.bar_beats - self.pickup if self.pickup and self.pickup_style == "padded" else Fraction(0)

    def expected(self) -> list[tuple[int, int, Fraction]]:
        """(pitch, bar index, position in the bar in beats) of every note, as a musician counts them:
        a pickup is bar 0, right-aligned; without a pickup bar 0 is the first full bar."""
        out = []
        for part in self.parts:
            for pitch, start, _ in part.notes:
                beat = start - self.pickup if self.pickup_style != "unmarked" else start + self.offset()
                bar, pos = divmod(beat + (self.bar_beats if self.pickup and self.pickup_style != "unmarked" else 0),
                                  self.bar_beats)
                out.append((pitch, int(bar), pos))
        return sorted(out)


def write(plan: Plan, path: str | Path) -> Path:
    """Write `plan` as a standard MIDI file with mido, event by event."""
    tpq, shift = plan.tpq, plan.offset()

    def tick(beat: Fraction) -> int:
        return round((beat + shift) * tpq) if beat or shift else 0

    conductor: list[tuple[int, int, mido.Message]] = [(0, 0, mido.MetaMessage("track_name", name="Conductor", time=0))]
    num, den = plan.meter
    if plan.pickup and plan.pickup_style == "short bar":
        short = Fraction(plan.pickup * den, 4)
        scale = 1 if short.denominator == 1 else short.denominator
        conductor.append((0, 1, mido.MetaMessage("time_signature", numerator=int(short * scale),
                                                 denominator=den * scale, time=0)))
        conductor.append((round(plan.pickup * tpq), 1, mido.MetaMessage("time_signature", numerator=num,
                                                                         denominator=den, time=0)))
    else:
        conductor.append((0, 1, mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0)))
    conductor.append((0, 2, mido.MetaMessage("key_signature", key=plan.key, time=0)))
    for beat, qpm in plan.tempos:
        conductor.append((tick(beat), 3, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm), time=0)))
    tracks = [conductor]
    for part in plan.parts:
        events = [(0, 0, mido.MetaMessage("track_name", name=part.name, time=0)),
                  (0, 1, mido.Message("program_change", program=part.program, channel=part.channel, time=0))]
        for pitch, start, length in part.notes:
            on, off = tick(start), tick(start + length * plan.gate)
            events.append((on, 3, mido.Message("note_on", note=pitch, velocity=90, channel=part.channel, time=0)))
            message = "note_off" if plan.note_off else "note_on"
            events.append((max(off, on + 1), 2, mido.Message(message, note=pitch, velocity=0, channel=part.channel, time=0)))
        tracks.append(events)
    if plan.midi_type == 0:
        tracks = [sorted((e for t in tracks for e in t), key=lambda e: (e[0], e[1]))]
    mid = mido.MidiFile(type=plan.midi_type, ticks_per_beat=tpq)
    for events in tracks:
        track, now = mido.MidiTrack(), 0
        for at, _, message in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(message.copy(time=at - now))
            now = at
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)
    mid.save(str(path))
    return Path(path)


def melody(rng: random.Random, bars: int, bar_beats: Fraction, pickup: Fraction, steps: list[Fraction],
           low: int = 62, start: Fraction = Fraction(0)) -> list[tuple[int, Fraction, Fraction]]:
    """A stepwise tune of `bars` full bars after a pickup, with rests now and then, from beat `start`."""
    notes, beat, pitch, end = [], start, low + 7, start + pickup + bars * bar_beats
    while beat < end:
        length = min(rng.choice(steps), end - beat)
        if rng.random() > 0.1:
            notes.append((pitch, beat, length))
        pitch = min(max(pitch + rng.choice([-2, -1, 1, 2, 0, 3, -3]), low), low + 19)
        beat += length
    return notes


def chords(bars: int, bar_beats: Fraction, pickup: Fraction, hold: int = 1) -> list[tuple[int, Fraction, Fraction]]:
    """Triads under a melody: one per `hold` bars (hold 6 in 4/4: 24-beat chords)."""
    roots = [50, 55, 57, 52]
    out = []
    for i, bar in enumerate(range(0, bars, hold)):
        length = min(hold, bars - bar) * bar_beats
        out += [(roots[i % 4] + d, pickup + bar * bar_beats, length) for d in (0, 4, 7)]
    return out


def chorale(rng: random.Random, bars: int, bar_beats: Fraction, pickup: Fraction) -> list[Part]:
    """Four parts in quarter and half notes, often meeting on one pitch (unisons between parts)."""
    soprano = melody(rng, bars, bar_beats, pickup, [Fraction(1), Fraction(2), Fraction(1)], low=60)
    parts = [Part("Soprano", soprano, 52, 0)]
    for i, (name, gap) in enumerate([("Alto", 4), ("Tenor", 9), ("Bass", 16)], start=1):
        voice = [(p - gap if rng.random() > 0.3 else parts[-1].notes[k][0], s, d)
                 for k, (p, s, d) in enumerate(soprano)]  # a third of the notes double the part above
        parts.append(Part(name, voice, 52, i))
    return parts


STYLES = ("short bar", "padded", "unmarked")
METERS = ((4, 4), (3, 4), (6, 8), (2, 4), (9, 8), (2, 2))


def random_plan(rng: random.Random) -> Plan:
    """One file as some tool might write it: meter, pickup (and how it is written), texture, resolution."""
    meter = rng.choice(METERS)
    bar_beats = Fraction(4 * meter[0], meter[1])
    unit = Fraction(1, 2) if meter[1] == 8 else Fraction(1)
    pickup = rng.choice([Fraction(0), unit, 2 * unit, unit / 2, 3 * unit]) % bar_beats
    tpq = rng.choice([480, 960, 1024])
    steps = [unit, unit / 2, unit, 2 * unit, 3 * unit] + ([Fraction(1, 3)] if tpq % 3 == 0 else [])
    bars = rng.randint(4, 16)
    texture = rng.choice(["melody", "melody+chords", "held chords", "chorale", "leading rest"])
    start = Fraction(0)
    if texture == "leading rest":
        start, pickup = rng.choice([unit, bar_beats + unit, bar_beats / 2, 2 * bar_beats]), Fraction(0)
    parts = [Part("Melody", melody(rng, bars, bar_beats, pickup, steps, start=start), 73, 0)]
    if texture == "melody+chords":
        parts.append(Part("Chords", chords(bars, bar_beats, pickup), 0, 1))
    elif texture == "held chords":
        parts.append(Part("Pad", chords(bars, bar_beats, pickup, hold=max(1, -(-20 // int(bar_beats)))), 89, 1))
    elif texture == "chorale":
        parts = chorale(rng, bars, bar_beats, pickup)
    tempos = [(Fraction(0), float(rng.choice([96, 120, 132.5, 180, 72])))]
    if rng.random() < 0.3:
        tempos.append((pickup + 2 * bar_beats, float(rng.choice([100, 140]))))
    return Plan(parts, meter, pickup, rng.choice(STYLES) if pickup else "short bar", tempos, rng.choice(["D", "G", "Em", "Bb"]),
                tpq, rng.choice([0, 1]), rng.random() < 0.5, rng.choice([Fraction(1), Fraction(19, 20)]))


def mismatch(original, back, scheme: str) -> str | None:
    """Why `back` (decode(encode(original))) is not the music of `original`, or None when it is: the
    same notes (pitch; onset and length within one grid step: 1/12 beat for metric, 10 ms for
    performance) and the same bar index and position for every note. Performance keeps no bar
    grid of its own, so its notes are placed in the original's through its tempo map."""
    import numpy as np

    from composer.score import bar_grid

    a = sorted(original.notes, key=lambda n: (n.pitch, n.start, n.duration))
    b = sorted(back.notes, key=lambda n: (n.pitch, n.start, n.duration))
    if len(a) != len(b):
        return f"{len(a)} notes read, {len(b)} after the round trip"
    if not a:
        return None
    starts_a, ends_a = np.array([n.start for n in a]), np.array([n.end for n in a])
    starts_b, ends_b = np.array([n.start for n in b]), np.array([n.end for n in b])
    if scheme == "performance":
        sec = original.ticks_to_seconds
        tol = 0.0101
        on_a, on_b = sec(starts_a), back.ticks_to_seconds(starts_b)
        len_a, len_b = sec(ends_a) - on_a, back.ticks_to_seconds(ends_b) - on_b
        ticks_b = original.seconds_to_ticks(on_b)
        step = np.abs(original.seconds_to_ticks(on_b + tol) - ticks_b)
        bars_b = [bar_grid(original, np.rint(ticks_b + d * step).astype(np.int64))[0] for d in (-1, 0, 1)]
        pos_ok = np.ones(len(a), dtype=bool)
    else:
        tol = 1 / 12 + 1e-9
        on_a, on_b = starts_a / original.tpq, starts_b / back.tpq
        len_a, len_b = (ends_a - starts_a) / original.tpq, (ends_b - starts_b) / back.tpq
        bars_b, off_b = bar_grid(back, starts_b)
        bars_b = [bars_b]
        pos_ok = np.abs(bar_grid(original, starts_a)[1] / original.tpq - off_b / back.tpq) <= tol
    bars_a = bar_grid(original, starts_a)[0]
    pitch_ok = np.array([x.pitch for x in a]) == np.array([y.pitch for y in b])
    bar_ok = np.any([bars_a == bb for bb in bars_b], axis=0)
    bad = ~(pitch_ok & (np.abs(on_a - on_b) <= tol) & (np.abs(len_a - len_b) <= tol) & bar_ok & pos_ok)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return (f"{int(bad.sum())} of {len(a)} notes differ; first: {a[i]} (bar {bars_a[i]}) came back as {b[i]} "
                f"(bar {bars_b[len(bars_b) // 2][i]})")
    return None
