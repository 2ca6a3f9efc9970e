"""Readers and writer: MIDI, ABC and MusicXML files become Scores; Scores become MIDI files.

`load(path)` picks the reader by extension. An ABC file may hold many tunes: `load_report` gives
the tunes that parse and one problem line per tune skipped; `load` raises only when none parse.
"""

from __future__ import annotations

from pathlib import Path

from composer.errors import InputError
from composer.io.abc import load_abc_errors, none_readable
from composer.io.limits import DEFAULT_LIMITS, ReadLimits
from composer.io.midi import MIDI_SUFFIXES, load_midi, save_midi
from composer.io.musicxml import MUSICXML_SUFFIXES, load_musicxml
from composer.score import Score

ABC_SUFFIXES = (".abc",)
SUFFIXES = MIDI_SUFFIXES + ABC_SUFFIXES + MUSICXML_SUFFIXES

__all__ = ["ReadLimits", "SUFFIXES", "load", "load_report", "save_midi"]


def load_report(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[list[Score], list[str]]:
    """Every piece in the file that can be read, and a problem line (naming the file) for each piece skipped."""
    scores, errors = _read(Path(path), limits)
    return scores, [str(e) for e in errors]


def load(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> list[Score]:
    """The pieces in a .mid/.midi/.abc/.musicxml/.xml/.mxl file; InputError when none can be read."""
    scores, errors = _read(Path(path), limits)
    if not scores:
        raise none_readable(errors, path)
    return scores


def _read(path: Path, limits: ReadLimits) -> tuple[list[Score], list[InputError]]:
    """Dispatch on the extension; each reader returns its pieces and the errors of pieces it skipped."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"unknown file type {path.suffix or '(none)'!r}; expected one of {', '.join(SUFFIXES)}", path)
    if suffix in MIDI_SUFFIXES:
        return load_midi(path, limits), []
    if suffix in ABC_SUFFIXES:
        return load_abc_errors(path, limits)
    return load_musicxml(path, limits), []
