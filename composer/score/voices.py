"""Which line of a score of several voices or tracks is the tune: the rule seeds are reduced by (docs/io.md)."""

from __future__ import annotations

import numpy as np

from composer.score.core import Note, Score


def is_monophonic(score: Score, tolerance: float = 0.1) -> bool:
    """Whether at most `tolerance` of the notes start before the previous one ends (a single line)."""
    notes = sorted(score.notes, key=lambda n: (n.start, -n.pitch))
    overlaps = sum(b.start < a.end for a, b in zip(notes, notes[1:], strict=False))
    return overlaps <= tolerance * max(len(notes), 1)


def melody_track(tracks: list[Score]) -> int:
    """Index of the track that carries the tune: of the pitched tracks, a monophonic one before a
    polyphonic one, then the highest mean pitch, then the most notes (docs/io.md)."""
    def rank(i: int) -> tuple:
        pitched = [n.pitch for n in tracks[i].notes if not n.is_drum]
        return (bool(pitched), is_monophonic(tracks[i]), float(np.mean(pitched)) if pitched else 0.0, len(pitched))

    return max(range(len(tracks)), key=rank)


def highest_voice(score: Score) -> Score:
    """The score's top line (its skyline): at each onset the highest pitched note, ended where the next
    kept note begins. What a seed of merged parts (a chorale read from MusicXML) is reduced to."""
    top: dict[int, Note] = {}
    for n in score.notes:
        if not n.is_drum and (n.start not in top or n.pitch > top[n.start].pitch):
            top[n.start] = n
    line = [top[t] for t in sorted(top)]
    line = [a._replace(duration=min(a.duration, b.start - a.start)) for a, b in zip(line, line[1:], strict=False)] + line[-1:]
    return score.replace(notes=line)
