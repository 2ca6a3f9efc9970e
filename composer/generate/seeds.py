"""Seeds as the composer takes them: the melody of a file of several tracks, the seed's exact tempo map, where
it ends, and a continuation without it."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from composer.errors import InputError
from composer.io import load
from composer.io.midi import MIDI_SUFFIXES, load_midi_tracks
from composer.score import (
    Score,
    TempoChange,
    bar_grid,
    highest_voice,
    melody_track,
)
from composer.tokenize.base import BOS, EOS, Tokenizer


def meter_text(score: Score) -> str | None:
    """'6/8' for a score's first time signature, None without one."""
    ts = score.time_signature
    return f"{ts.numerator}/{ts.denominator}" if ts is not None else None


def octave_shift(lowest: int, highest: int, low: int, high: int) -> int:
    """Whole octaves that bring the seed's lowest (or highest) pitch into low…high."""
    return math.ceil((low - lowest) / 12) if lowest < low else -math.ceil((highest - high) / 12)


def seed_end_tick(tokenizer: Tokenizer, ids: list[int]) -> int:
    """Tick where the seed's music ends (the end of its last note), 0 for no seed."""
    return tokenizer.decode(ids + [EOS]).end_tick if len(ids) > 1 else 0


def drop_before(score: Score, tick: int) -> Score:
    """The score from `tick` on, moved to start at 0: the maps in force there move to 0, and the rest
    of the bar `tick` falls in becomes a pickup, so the continuation keeps its bar lines."""
    notes = [n._replace(start=n.start - tick) for n in score.notes if n.start >= tick]

    def moved(changes):
        before = [c for c in changes if c.tick <= tick][-1:]
        return [c._replace(tick=0) for c in before] + [c._replace(tick=c.tick - tick) for c in changes if c.tick > tick]

    _, offset = bar_grid(score, [tick])
    meter = moved(score.time_signatures)
    length = round(meter[0].bar_beats * score.tpq) if meter else 4 * score.tpq
    pickup = int(length - offset[0]) if 0 < offset[0] < length else 0
    return score.replace(notes=notes, tempos=moved(score.tempos), time_signatures=meter,
                         key_signatures=moved(score.key_signatures), metadata={**score.metadata, "pickup_ticks": pickup})


def melody_seed(path: Path, track: int | None = None) -> Score:
    """The seed file's tune. Of a MIDI file with several tracks of notes, the melody track (of the
    pitched tracks a monophonic one, then the highest, then the fullest: `melody_track`) or track
    number `track`; of other files with several parts, the highest voice. Says in one line what it dropped."""
    if path.suffix.lower() not in MIDI_SUFFIXES:
        if track is not None:
            raise InputError("--track chooses a track of a MIDI seed; read this seed's parts as one", path)
        score = load(path)[0]
        if (score.metadata.get("parts") or 1) > 1:
            top = highest_voice(score)
            warnings.warn(f"seed {path.name}: {score.metadata['parts']} parts; kept the highest voice "
                          f"({len(top.notes)} notes), dropped {len(score.notes) - len(top.notes)} notes", stacklevel=3)
            return top
        return score
    tracks = joined_tracks(load_midi_tracks(path))
    if track is not None and not 1 <= track <= len(tracks):
        raise InputError(f"--track {track}: this file has {len(tracks)} track(s) with notes, 1–{len(tracks)}", path)
    if len(tracks) == 1:
        return tracks[0]
    i = track - 1 if track is not None else melody_track(tracks)

    def name(t: Score) -> str:
        return f"{tracks.index(t) + 1} {t.metadata['track_name']!r} ({len(t.notes)} notes)"

    how = "chosen with --track" if track is not None else "the melody: monophonic, highest"
    warnings.warn(f"seed {path.name}: kept track {name(tracks[i])}, {how}; dropped "
                  f"{', '.join(name(t) for j, t in enumerate(tracks) if j != i)}; --track N chooses another", stacklevel=3)
    return tracks[i].replace(title=path.stem)


def joined_tracks(tracks: list[Score]) -> list[Score]:
    """Tracks of one name and program joined: writers (composer's own among them) spread one part over
    several tracks where its notes of one pitch overlap."""
    groups: dict[tuple, Score] = {}
    for t in tracks:
        key = (t.metadata["track_name"], tuple(sorted({(n.program, n.is_drum) for n in t.notes})))
        groups[key] = groups[key].replace(notes=groups[key].notes + t.notes) if key in groups else t
    return list(groups.values())


def exact_tempos(tokenizer: Tokenizer, score: Score) -> tuple[TempoChange, ...]:
    """The seed's tempo map at the decoded resolution, for schemes that keep beats (not performance,
    whose seconds already hold the tempo); () when the scheme keeps seconds."""
    if tokenizer.name == "performance":
        return ()
    tpq = tokenizer.decode([BOS, EOS]).tpq
    tempos = score.tempos if score.tempos and score.tempos[0].tick == 0 else (TempoChange(0, 120.0), *score.tempos)
    return tuple(TempoChange(round(t.tick * tpq / score.tpq), t.qpm) for t in tempos)
