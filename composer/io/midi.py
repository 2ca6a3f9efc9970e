"""Standard MIDI files: read through symusic (fast, vectorised), write through pretty_midi (exact ticks).

Reading keeps the file's ticks per quarter note as the Score's tpq, one program/drum flag per
track, and the tempo, time-signature and key-signature maps. Zero-length notes are dropped.
Pickups travel as notation programs write them: a short first bar (a time signature of the pickup's
length at tick 0, the tune's own at the first downbeat). Reading such a bar gives
`metadata["pickup_ticks"]`; writing a Score with a pickup writes one (docs/io.md).
"""

from __future__ import annotations

import functools
import io
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np

from composer.errors import InputError, LimitError, OutputError
from composer.files import atomic_write_bytes
from composer.io.limits import DEFAULT_LIMITS, ReadLimits, check_notes, check_qpm, check_seconds, read_bytes
from composer.score import MODE_OFFSETS, KeySignature, Note, Score, TempoChange, TimeSignature, pickup_ticks

MIDI_SUFFIXES = (".mid", ".midi")
_new_note = functools.partial(tuple.__new__, Note)  # Note from a 6-tuple, without _make's length check


def load_midi(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> list[Score]:
    """Read a type 0 or 1 MIDI file into one Score; bad or oversized files raise InputError/LimitError."""
    return [symusic_to_score(_symusic(Path(path), limits), path, limits)]


def load_midi_tracks(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> list[Score]:
    """One Score per track that holds notes, in file order (symusic splits a type 0 file by channel),
    each with the whole file's tempo, meter and key maps and pickup; metadata names the track."""
    sm = _symusic(Path(path), limits)
    whole = symusic_to_score(sm, path, limits)
    return [whole.replace(notes=notes, metadata={**whole.metadata, "track": i, "track_name": str(track.name)})
            for i, (track, notes) in enumerate(((t, _track_notes(t)) for t in sm.tracks), start=1) if notes]


def _symusic(path: Path, limits: ReadLimits):
    """The file parsed by symusic in tick time; InputError for what is not a readable MIDI file."""
    data = read_bytes(path, limits)
    if data[:4] != b"MThd":
        raise InputError("not a MIDI file (no MThd header)", path)
    import symusic

    try:
        sm = symusic.Score.from_midi(data, ttype="tick")
    except Exception as e:  # symusic raises RuntimeError/ValueError with its own wording
        raise InputError(_cut_off(data) or f"malformed MIDI: {e}"[:300], path) from None
    return sm


def _cut_off(data: bytes) -> str | None:
    """Why a file symusic refused is truncated (a track or chunk header runs past its end), or None."""
    offset, track = 8 + int.from_bytes(data[4:8], "big"), 0
    while offset + 8 <= len(data):
        kind, length, body = data[offset : offset + 4], int.from_bytes(data[offset + 4 : offset + 8], "big"), offset + 8
        track += kind == b"MTrk"
        if body + length > len(data):
            if kind != b"MTrk":
                return None  # garbage where a chunk should start: malformed, not cut off
            return f"truncated MIDI file: track {track} declares {length:,} bytes but only {len(data) - body:,} follow"
        offset = body + length
    if offset < len(data):
        return "truncated MIDI file: it ends inside a chunk header"
    return None


def symusic_to_score(sm, path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> Score:
    """Convert a symusic Score (tick time) to a Score, checking limits before building Python notes."""
    tpq = int(sm.ticks_per_quarter)
    if tpq <= 0:
        raise InputError(f"ticks per quarter note is {tpq}; SMPTE time division is not supported", path)
    if len(sm.tracks) > limits.max_tracks:
        raise LimitError(f"{len(sm.tracks)} tracks, over the limit of {limits.max_tracks}", path)
    count = int(sm.note_num())
    if count == 0:
        raise InputError("no notes in this MIDI file (empty or truncated)", path)
    check_notes(count, limits, path)
    timing = Score(tpq=tpq, tempos=_tempos(sm, limits, path))
    end = int(sm.end())
    slowest = min([t.qpm for t in timing.tempos] + [120.0])
    if end * 60.0 / (slowest * tpq) > limits.max_seconds:  # exact check only when the bound is exceeded
        check_seconds(float(timing.ticks_to_seconds(end)), limits, path)
    notes: list[Note] = []
    for track in sm.tracks:
        notes.extend(_track_notes(track))
    signatures, pickup = _read_pickup(_time_signatures(sm, path), tpq)
    return timing.replace(
        notes=notes,
        time_signatures=signatures,
        key_signatures=_key_signatures(sm, path),
        title=Path(path).stem,
        source=str(path),
        metadata={"tracks": len(sm.tracks), "pickup_ticks": pickup},
    )


def _read_pickup(signatures: list[TimeSignature], tpq: int) -> tuple[list[TimeSignature], int]:
    """A first bar shorter than the next meter's, ended by that meter's signature one bar later, is a
    pickup: its signature is dropped and the next one moved to tick 0. Returns (signatures, pickup ticks)."""
    sigs = sorted({t.tick: t for t in signatures}.values())  # the last signature at a tick wins
    if len(sigs) < 2 or sigs[0].tick != 0:
        return sigs, 0
    short, full = sigs[0], sigs[1]
    length = short.bar_beats * tpq
    if full.tick != length or not 0 < length < full.bar_beats * tpq:
        return sigs, 0
    return [full._replace(tick=0), *sigs[2:]], full.tick


def _track_notes(track) -> list[Note]:
    """A track's notes as Note tuples, built column-wise from symusic's numpy arrays."""
    arr = track.notes.numpy()
    keep = arr["duration"] > 0
    if not keep.all():
        arr = {k: v[keep] for k, v in arr.items()}
    n = len(arr["time"])
    if n == 0:
        return []
    columns = (
        arr["pitch"].tolist(),
        arr["time"].tolist(),
        arr["duration"].tolist(),
        arr["velocity"].tolist(),
        [int(track.program)] * n,
        [bool(track.is_drum)] * n,
    )
    return list(map(_new_note, zip(*columns, strict=True)))


def _tempos(sm, limits: ReadLimits, path) -> list[TempoChange]:
    arr = sm.tempos.numpy()
    if (arr["mspq"] <= 0).any():
        raise InputError("a tempo of 0 microseconds per quarter note", path)
    return [
        TempoChange(t, check_qpm(mspq_to_qpm(m), limits, path))
        for t, m in zip(arr["time"].tolist(), arr["mspq"].tolist(), strict=True)
    ]


def mspq_to_qpm(mspq: int) -> float:
    """The roundest tempo (fewest decimals, up to 3) that MIDI's integer µs per beat stands for.

    MIDI stores round(6e7 / qpm); 140 qpm becomes 428,571 µs, read back as 140.0, not 140.00014.
    """
    exact = 6e7 / mspq
    for decimals in range(4):
        qpm = round(exact, decimals)
        if qpm > 0 and round(6e7 / qpm) == mspq:
            return qpm
    return exact


def _time_signatures(sm, path) -> list[TimeSignature]:
    arr = sm.time_signatures.numpy()
    out = []
    for t, num, den in zip(arr["time"].tolist(), arr["numerator"].tolist(), arr["denominator"].tolist(), strict=True):
        if num <= 0 or den <= 0:
            raise InputError(f"time signature {num}/{den} at tick {t}", path)
        out.append(TimeSignature(t, num, den))
    return out


def _key_signatures(sm, path) -> list[KeySignature]:
    arr = sm.key_signatures.numpy()
    out = []
    for t, sharps, minor in zip(arr["time"].tolist(), arr["key"].tolist(), arr["tonality"].tolist(), strict=True):
        if not -7 <= sharps <= 7:
            raise InputError(f"key signature with {sharps} sharps at tick {t}", path)
        out.append(KeySignature(t, (sharps * 7 + (9 if minor else 0)) % 12, "minor" if minor else "major"))
    return out


def save_midi(score: Score, path: str | Path, *, force: bool = True) -> Path:
    """Write `score` as a standard MIDI file (type 1, resolution = score.tpq) through pretty_midi.

    One instrument per (program, drum flag), split further where notes of one pitch overlap, so
    loading the file gives back exactly the same notes in ticks. Written atomically.
    """
    import pretty_midi

    path = Path(path)
    bad = [n for n in score.notes if not 0 <= n.pitch <= 127 or not 0 <= n.program <= 127]
    if bad:
        raise OutputError(f"cannot write {bad[0]} to MIDI: pitch and program must be 0–127", path)
    score = _with_short_first_bar(score)
    pm = pretty_midi.PrettyMIDI(resolution=score.tpq)
    pm._tick_scales = _tick_scales(score)
    last_tick = max([score.end_tick] + [e.tick for e in (*score.time_signatures, *score.key_signatures)])
    pm._update_tick_to_time(last_tick + 1)

    def sec(tick: int) -> float:
        return pm.tick_to_time(int(tick))

    for (program, is_drum), voices in _voices(score.notes).items():
        for voice in voices:
            inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
            inst.notes = [
                pretty_midi.Note(min(127, max(1, n.velocity)), n.pitch, sec(n.start), sec(n.end)) for n in voice
            ]
            pm.instruments.append(inst)
    pm.time_signature_changes = [  # MIDI holds only power-of-two denominators: music21's 1/6 bars are left out
        pretty_midi.TimeSignature(t.numerator, t.denominator, sec(t.tick)) for t in score.time_signatures
        if 1 <= t.numerator <= 255 and t.denominator >= 1 and t.denominator & (t.denominator - 1) == 0
    ]
    pm.key_signature_changes = [pretty_midi.KeySignature(_key_number(k), sec(k.tick)) for k in score.key_signatures]
    buffer = io.BytesIO()
    pm.write(buffer)
    return atomic_write_bytes(path, buffer.getvalue(), force=force)


def _with_short_first_bar(score: Score) -> Score:
    """A pickup written as notation programs write it: a time signature of the pickup's length at tick 0,
    the tune's own at the first downbeat, so every bar line lands where the tune has it. A pickup no
    power-of-two meter can measure (a triplet's worth) pads the first bar with rest instead."""
    pickup = pickup_ticks(score)
    first = score.time_signature
    if not pickup or first is None or first.tick != 0:
        return score
    for power in range(first.denominator.bit_length() - 1, 7):
        numerator = Fraction(pickup * 2**power, 4 * score.tpq)
        if numerator.denominator == 1:
            downbeat = [t for t in score.time_signatures if t.tick <= pickup][-1]._replace(tick=pickup)
            later = [t for t in score.time_signatures if t.tick > pickup]
            return score.replace(time_signatures=[TimeSignature(0, int(numerator), 2**power), downbeat, *later])
    pad = round(first.bar_beats * score.tpq) - pickup
    return score.replace(
        notes=[n._replace(start=n.start + pad) for n in score.notes],
        tempos=[t._replace(tick=t.tick + pad if t.tick else 0) for t in score.tempos],
        key_signatures=[k._replace(tick=k.tick + pad if k.tick else 0) for k in score.key_signatures],
        time_signatures=[first, *(t._replace(tick=t.tick + pad) for t in score.time_signatures[1:])])


def _tick_scales(score: Score) -> list[tuple[int, float]]:
    """pretty_midi's tempo map: (tick, seconds per tick), chosen so it writes the exact microseconds/beat."""
    tempos = list(score.tempos)
    if not tempos or tempos[0].tick > 0:
        tempos.insert(0, TempoChange(0, 120.0))
    # pretty_midi writes int(tick_scale · tpq · 1e6); the +0.5 makes that truncation land on round(6e7 / qpm).
    return [(t.tick, (round(6e7 / t.qpm) + 0.5) / (1e6 * score.tpq)) for t in tempos]


def _key_number(key: KeySignature) -> int:
    """pretty_midi's key number (0–11 major, 12–23 minor); modes are written as their relative major."""
    if key.mode == "minor":
        return 12 + key.tonic
    return (key.tonic - MODE_OFFSETS.get(key.mode, 0)) % 12


def _voices(notes) -> dict[tuple[int, bool], list[list[Note]]]:
    """Notes grouped by (program, drum), each group split into voices where one pitch overlaps itself."""
    groups: dict[tuple[int, bool], list[list[Note]]] = defaultdict(list)
    ends: dict[tuple[int, bool], list[np.ndarray]] = defaultdict(list)  # per voice: end tick of each pitch
    for n in notes:  # Score keeps notes sorted by (pitch, start, ...)
        key = (n.program, bool(n.is_drum))
        free = next((i for i, e in enumerate(ends[key]) if e[n.pitch] <= n.start), None)
        if free is None:
            free = len(groups[key])
            groups[key].append([])
            ends[key].append(np.zeros(128, dtype=np.int64))
        groups[key][free].append(n)
        ends[key][free][n.pitch] = n.end
    return groups
