"""ABC token values → ABC text, repairing what a model may get wrong so music21 can always read it.

Repairs (docs/tokens/abc.md): the first R:/M:/K: go to the header, later ones are dropped; a duration
not right after a note, rest or chord is dropped; a tie not after a note or chord is dropped; `>`/`<`
without a note on both sides is dropped; a tuplet not filled before the next bar line is dropped;
`[` inside a chord and a stray `]` are dropped, a chord is closed by any non-note token, an empty
chord vanishes; a bar line with no note since the last one is dropped (except `|:` opening the tune
and an ending `[1`/`[2` after a bar line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

HEADER_KINDS = ("R", "M", "K")
DEFAULT_HEADER = {"R": "none", "M": "4/4", "K": "Cmaj"}
BARS_PER_LINE = 8


@dataclass
class _Body:
    """The state of the repair pass over body tokens."""

    out: list[str] = field(default_factory=list)
    notes: int = 0  # note tokens written outside dropped chords
    atom_open: bool = False  # the last atom may still take a duration
    can_tie: bool = False
    broken_at: int | None = None  # index of a `>`/`<` waiting for its second note
    broken_target: bool = False  # the last atom was the second note of a broken pair
    last_atom: bool = False  # the last written token belongs to an atom (so `>` may follow)
    tuplet_at: int | None = None
    tuplet_left: int = 0
    chord_at: int | None = None
    chord_notes: int = 0
    atoms_since_bar: int = 0
    last_bar: str | None = None
    bars: int = 0

    def atom(self, text: str, *, tie: bool) -> None:
        """An atom (note, rest or finished chord) starts: settle a waiting `>` and count tuplet members."""
        self.broken_target = self.broken_at is not None
        self.broken_at = None
        if self.tuplet_at is not None:
            self.tuplet_left -= 1
            if self.tuplet_left == 0:
                self.tuplet_at = None
        self.out.append(text)
        self.atom_open, self.can_tie, self.last_atom = True, tie, True
        self.atoms_since_bar += 1

    def unsettled(self) -> None:
        """Before a bar line or the end: drop a `>` and a tuplet still waiting for notes."""
        for at in sorted((i for i in (self.broken_at, self.tuplet_at) if i is not None), reverse=True):
            self.out[at] = ""
        self.broken_at, self.tuplet_at = None, None

    def close_chord(self) -> None:
        if self.chord_at is None:
            return
        at, count = self.chord_at, self.chord_notes
        self.chord_at, self.chord_notes = None, 0
        if count == 0:
            del self.out[at:]
            return
        text = "".join(self.out[at:]) + "]"
        del self.out[at:]
        self.notes += count
        self.atom(text, tie=True)


def body_text(tokens: Sequence[tuple[str, str]]) -> tuple[dict[str, str], str, int]:
    """Header fields (R, M, K), repaired ABC body text, and how many notes it holds."""
    header: dict[str, str] = {}
    b = _Body()
    for kind, value in tokens:
        if kind in HEADER_KINDS:
            header.setdefault(kind, value)
            continue
        if b.chord_at is not None and kind != "note":
            if kind == "chord" and value == "[":
                continue
            b.close_chord()
            if kind == "chord":
                continue
        _step(b, kind, value)
    b.close_chord()
    b.unsettled()
    if b.out and b.out[-1] == "-":
        b.out.pop()
    return {**DEFAULT_HEADER, **header}, "".join(b.out).strip(), b.notes


def _step(b: _Body, kind: str, value: str) -> None:
    """Apply one body token outside a chord (or a note inside one)."""
    if kind == "note":
        if b.chord_at is not None:
            b.out.append(value)
            b.chord_notes += 1
        else:
            b.notes += 1
            b.atom(value, tie=True)
    elif kind == "rest":
        b.atom(value, tie=False)
    elif kind == "chord":
        if value == "[":
            b.chord_at, b.chord_notes = len(b.out), 0
            b.out.append(" [")
    elif kind == "dur":
        if b.atom_open:
            b.out.append(value)
            b.atom_open = False
    elif kind == "tie":
        if b.can_tie:
            b.out.append("-")
            b.atom_open = b.can_tie = b.last_atom = False
    elif kind == "broken":
        if b.last_atom and b.broken_at is None and not b.broken_target and b.tuplet_at is None:
            b.broken_at = len(b.out)
            b.out.append(value)
            b.atom_open = b.can_tie = b.last_atom = False
    elif kind == "tuplet":
        if b.tuplet_at is None and b.broken_at is None:
            b.tuplet_at, b.tuplet_left = len(b.out), int(value[1:])
            b.out.append(" " + value)
            b.atom_open = b.can_tie = b.last_atom = False
    elif kind == "bar":
        _bar(b, value)


def _bar(b: _Body, value: str) -> None:
    b.unsettled()
    if b.atoms_since_bar == 0:
        opening = b.last_bar is None and value == "|:"
        ending = b.last_bar is not None and value in ("[1", "[2") and b.last_bar not in ("[1", "[2")
        if not (opening or ending):
            return
    b.bars += 1
    b.out.append(f" {value}" + ("\n" if b.bars % BARS_PER_LINE == 0 else " "))
    b.last_bar = value
    b.atoms_since_bar = 0
    b.atom_open = b.last_atom = b.broken_target = b.can_tie = False


def abc_text(header: dict[str, str], body: str, title: str = "") -> str:
    """A whole tune: X:1, T:, M:, L:1/8, R: (unless 'none'), K:, then the body."""
    lines = ["X:1", f"T:{title}", f"M:{header['M']}", "L:1/8"]
    if header["R"] != "none":
        lines.append(f"R:{header['R']}")
    lines += [f"K:{header['K']}", body, ""]
    return "\n".join(lines)
