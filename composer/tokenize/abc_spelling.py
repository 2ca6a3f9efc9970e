"""Spelling MIDI pitches as ABC notes in a key, readable alike by ABC 2.1 and by music21.

ABC 2.1 carries an accidental to later notes of the same letter and octave in the bar; music21's
reader does not (each accidental holds for its own note only). So every note off the key signature
gets its accidental, and a note back on the signature gets one too after an accidental earlier in
the bar: `=e f =e _e` in G minor reads the same under both rules.
"""

from __future__ import annotations

from collections.abc import Container

from composer.score import MODE_OFFSETS, KeySignature, key_name_to_signature

LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MODE_ABBREVIATIONS = {"major": "maj", "minor": "min", "dorian": "dor", "mixolydian": "mix", "lydian": "lyd",
                      "phrygian": "phr", "locrian": "loc"}
# Sharps (+) or flats (-) of the major key on each pitch class: Db rather than C#, F# rather than Gb.
_FIFTHS = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6, 5: -1, 10: -2, 3: -3, 8: -4, 1: -5}
_ACCIDENTAL = {1: "^", -1: "_", 0: "="}


def key_fifths(key: KeySignature) -> int:
    """Sharps (positive) or flats (negative) in the signature of `key`."""
    return _FIFTHS[(key.tonic - MODE_OFFSETS[key.mode]) % 12]


def key_alterations(key: KeySignature) -> dict[str, int]:
    """Letter → alteration (-1, 0, +1) that the key signature gives it."""
    fifths = key_fifths(key)
    order = "FCGDAEB" if fifths >= 0 else "BEADGCF"
    return {letter: (1 if fifths > 0 else -1) if letter in order[: abs(fifths)] else 0 for letter in LETTER_PC}


def key_token(key: KeySignature) -> str:
    """ABC key name of a key signature: (2, 'major') → 'Dmaj', (9, 'dorian') → 'Ador', (10, 'major') → 'Bbmaj'."""
    alters = key_alterations(key)
    letter = next(x for x in LETTER_PC if (LETTER_PC[x] + alters[x]) % 12 == key.tonic)
    return letter + {1: "#", -1: "b", 0: ""}[alters[letter]] + MODE_ABBREVIATIONS[key.mode]


def parse_key_token(text: str) -> KeySignature:
    """Inverse of `key_token`."""
    return key_name_to_signature(text)


def note_name(letter: str, octave: int) -> str:
    """ABC name of a natural: ('C', 4) → 'C', ('C', 5) → 'c', ('B', 3) → 'B,', ('c', 6) → "c'"."""
    name = letter if octave <= 4 else letter.lower()
    return name + "," * max(0, 4 - octave) + "'" * max(0, octave - 5)


class KeySpeller:
    """Spells pitches in one key, bar by bar: call `spell` per note in order and `new_bar` at each bar line."""


    def __init__(self, key: KeySignature, vocabulary: Container[str]) -> None:
        self.alters = key_alterations(key)
        self.prefer_sharp = key_fifths(key) >= 0
        self.leading_tone = (key.tonic - 1) % 12
        self.vocabulary = vocabulary
        self.state: dict[tuple[str, int], int] = {}

    def new_bar(self) -> None:
        self.state.clear()

    def _rank(self, letter: str, alter: int, pc: int) -> int:
        if alter == self.alters[letter]:
            return 0
        if alter == 0:
            return 1
        sharp_wanted = self.prefer_sharp or pc == self.leading_tone
        return 2 if (alter == 1) == sharp_wanted else 3

    def spell(self, pitch: int) -> str | None:
        """The ABC note token for `pitch` here (accidental only where the bar needs one); None out of range."""
        pc = pitch % 12
        candidates = sorted(
            (self._rank(letter, alter, pc), letter, alter)
            for letter in LETTER_PC
            for alter in (0, 1, -1)
            if (LETTER_PC[letter] + alter) % 12 == pc
        )
        for _, letter, alter in candidates:
            octave = (pitch - alter) // 12 - 1
            name = note_name(letter, octave)
            if name not in self.vocabulary:
                continue
            written = self.state.get((letter, octave), self.alters[letter])
            if alter != self.alters[letter] or written != alter:
                self.state[(letter, octave)] = alter
                return _ACCIDENTAL[alter] + name
            return name
        return None
