"""Score → ABC text as a folk musician reads it: X T R M L Q K header, repeat signs and endings kept.

The notes are spelled by the abc scheme (`composer.tokenize.abc`: key-aware accidentals, ties across bar
lines, triplets, a pickup as a short first bar); where the score carries a Form that repeats, each
written bar is spelled once and its bar lines carry the marks (`|:` `:|` `::` `|1` `:|2` `||`).
abc2midi and music21 both read the result; `composer.load` of it gives back the notes as heard.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

from composer.score import DEFAULT_TPQ, BarMarks, Score, bar_starts, fold, pickup_ticks
from composer.score.form import Form
from composer.tokenize.abc import AbcTokenizer
from composer.tokenize.abc_writer import HEADER_KINDS, abc_text, body_text


def abc_tune(score: Score, title: str = "", number: int = 1) -> str:
    """The ABC text of one tune (X:`number`); folded into its repeats when the score has a Form that repeats
    (and plays every bar it writes; else the tune is written out as heard)."""
    tokenizer = AbcTokenizer()
    form = score.form if score.form is not None and score.form.repeats and score.form.plays_every_bar else None
    written = fold(score)[0] if form is not None else score
    pickup = pickup_ticks(written) * DEFAULT_TPQ // written.tpq  # where the score's bar lines are (0: on tick 0)
    values = tokenizer.values(tokenizer.encode(written, pickup))
    values = _rest_to_bar_line(values, written)
    if form is not None:
        values = _marked(values, _opened(form))
    header, body, _ = body_text(values)
    text = abc_text(header, body, title or score.title)
    qpm = round(score.tempos[0].qpm) if score.tempos else None
    if qpm:
        text = text.replace("\nL:1/8\n", f"\nL:1/8\nQ:1/4={qpm}\n", 1)
    return text.replace("X:1\n", f"X:{number}\n", 1)


def _rest_to_bar_line(values: list[tuple[str, str]], score: Score) -> list[tuple[str, str]]:
    """The tune's last bar filled with a rest to its bar line, so a repeat of it starts where the .mid plays it."""
    starts, ts = bar_starts(score), score.time_signature
    if not starts or ts is None or not values or values[-1][0] != "bar":
        return values
    gap = Fraction(starts[-1] + round(ts.bar_beats * score.tpq) - score.end_tick, score.tpq // 2)  # in eighths (L:1/8)
    if gap <= 0 or gap.denominator not in (1, 2, 4):
        return values
    length = "" if gap == 1 else (str(gap.numerator) if gap.denominator == 1 else f"{gap.numerator}/{gap.denominator}")
    return [*values[:-1], ("rest", "z"), ("dur", length), values[-1]] if length else [*values[:-1], ("rest", "z"), values[-1]]


def _marked(values: list[tuple[str, str]], marks: Sequence[BarMarks]) -> list[tuple[str, str]]:
    """The spelled tune with each bar line written as its marks say; an opening `|:` before the first note."""
    out: list[tuple[str, str]] = []
    bar, opened = 0, not (marks and marks[0].start_repeat)
    for kind, value in values:
        if not opened and kind not in HEADER_KINDS:
            out.append(("bar", "|:"))
            opened = True
        if kind == "bar":
            value, bar = _line(marks, bar), bar + 1
        out.append((kind, value))
    return out


def _opened(form: Form) -> list[BarMarks]:
    """The marks with a `|:` on every bar a repeat goes back to: a `:|` after `||` means "from the `||`" to
    composer and music21, but abc2midi goes back to the last `|:` (or the tune's start), so say it outright."""
    targets = {b for a, b in itertools.pairwise(form.order) if 0 < b <= a}
    return [replace(m, start_repeat=True) if i in targets else m for i, m in enumerate(form.marks)]


def _line(marks: Sequence[BarMarks], i: int) -> str:
    """The bar line after written bar `i`."""
    here = marks[i] if i < len(marks) else BarMarks()
    nxt = marks[i + 1] if i + 1 < len(marks) else None
    left = ":|" if here.end_repeat else ("||" if here.section_end else "|")
    if nxt is None:
        return ":|" if here.end_repeat else "|]"
    if nxt.endings and nxt.endings != here.endings:
        return f"{left}{min(nxt.endings)}" if left == ":|" else f"{'|' if left == '|' else left}{min(nxt.endings)}"
    if nxt.start_repeat:
        return "::" if left == ":|" else "|:"  # abc2midi reads no `||:`; `|:` closes the section all the same
    return left
