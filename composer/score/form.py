"""A tune's form: each written bar's repeat marks, the order players read them in, and folding/unfolding.

`play_order` reads the marks as ABC players do; `Form` ties it to a Score whose notes are as heard;
`fold` gives the tune as written (each written bar once), `unfold` the tune as heard from that.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from composer.score.core import Note, Score


@dataclass(frozen=True)
class BarMarks:
    """The repeat marks of one written bar."""

    start_repeat: bool = False  # `|:` on its left
    end_repeat: int = 0  # `:|` on its right: the section sounds this many times in all (0: no mark)
    section_end: bool = False  # `||`, `|]` … on its right: a later `:|` without `|:` repeats from after it
    endings: frozenset[int] = frozenset()  # the passes (1, 2 …) this bar sounds on; empty: every pass


class RepeatError(ValueError):
    """The marks unfold to more bars than allowed (nested or contradictory marks)."""


def play_order(bars: Sequence[BarMarks], max_bars: int | None = None) -> list[int]:
    """Indices of `bars` in the order they sound, as ABC players read the marks; raises RepeatError past
    `max_bars` (default 16 × written).

    `:|` sends the player back to the section's start: the last `|:`, else the bar after the last `:|` or
    `||` (a tune's first part often has no `|:`); `|:` never closed is ignored. A bar under ending *k*
    sounds only on pass *k* of its repeat. The last ending runs on to the next `:|`, `||` or `|:`; a `:|`
    there closes the part and is not a repeat (transcribers write `[2 … :|`). A new first ending after
    it starts a new section from the first bar after the last ending.
    """
    limit = 16 * len(bars) if max_bars is None else max_bars
    order: list[int] = []
    start, pass_no, turned_at, opened = 0, 1, -1, False  # section start; pass; the `:|` that sent us back; `|:` seen
    tail = -1  # first bar after the last ending, while its pass lasts
    i = 0
    while i < len(bars):
        bar = bars[i]
        if pass_no > 1 and i > turned_at:  # past the bar that sent us back: the last ending, then its tail
            if bar.start_repeat or (bar.endings and 1 in bar.endings and tail >= 0):  # a new section began
                start, pass_no, turned_at, opened = (i if bar.start_repeat else tail), 1, -1, False
            elif not bar.endings and tail < 0:
                tail = i
        if bar.start_repeat and pass_no == 1:
            start, opened = i, True
        if bar.endings and pass_no > 1 and pass_no not in bar.endings:
            i += 1
            continue
        order.append(i)
        if len(order) > limit:
            raise RepeatError(f"repeat marks unfold to over {limit} bars")
        if bar.end_repeat and pass_no < bar.end_repeat:
            pass_no, turned_at, tail, i = pass_no + 1, i, -1, start
            continue
        if bar.end_repeat or (bar.section_end and pass_no > 1 and i > turned_at):
            start, pass_no, turned_at, opened, tail = i + 1, 1, -1, False, -1
        elif bar.section_end and pass_no == 1 and not opened:
            start = i + 1
        i += 1
    return order


@dataclass(frozen=True)
class Form:
    """How a tune is written: each written bar's repeat marks, and where each played bar lies in the notes.

    The notes of a Score are as heard (unfolded); `order[k]` is the written bar heard k-th, sounding from
    tick `starts[k]` to `starts[k + 1]`.
    """

    marks: tuple[BarMarks, ...]
    order: tuple[int, ...]
    starts: tuple[int, ...]  # len(order) + 1 ticks

    def __post_init__(self) -> None:
        if len(self.starts) != len(self.order) + 1:
            raise ValueError(f"a form needs one more bar start than bars played, not {len(self.starts)} for {len(self.order)}")

    @property
    def repeats(self) -> bool:
        """Whether any bar is heard more than once."""
        return len(set(self.order)) < len(self.order)

    @property
    def plays_every_bar(self) -> bool:
        """Whether every written bar is heard (marks a player can follow; a sampled `|1` after `:|` is not)."""
        return min(self.first_playing(), default=0) >= 0

    def first_playing(self) -> list[int]:
        """For each written bar, the step at which it is first heard (-1: never)."""
        first = [-1] * len(self.marks)
        for k, i in enumerate(self.order):
            if first[i] < 0:
                first[i] = k
        return first

    def parts(self) -> list[tuple[int, int]]:
        """The written parts as (first bar, last bar): a part ends at a `:|` or `||` (its endings included)."""
        out, begin = [], 0
        for i, m in enumerate(self.marks):
            nxt = self.marks[i + 1] if i + 1 < len(self.marks) else None
            ends_here = (m.end_repeat or m.section_end) and not (nxt is not None and nxt.endings and not m.endings)
            if ends_here and nxt is not None and nxt.endings and max(nxt.endings) > max(m.endings, default=0):
                ends_here = False  # a first ending's `:|`: the part goes on into its second ending
            if ends_here or i == len(self.marks) - 1:
                out.append((begin, i))
                begin = i + 1
        return out


def heard_parts(form: Form) -> list[tuple[int, int]]:
    """(part number, play step) at which each part starts as heard: A A B B is [(0, 0), (0, k), (1, m), (1, n)]."""
    part_of = {bar: n for n, (first, last) in enumerate(form.parts()) for bar in range(first, last + 1)}
    out, previous = [], None
    for k, bar in enumerate(form.order):
        part = part_of.get(bar)
        if part is not None and (part != previous or form.order[k - 1] >= bar):
            out.append((part, k))
        previous = part
    return out


def fold(score: Score) -> tuple[Score, list[int]]:
    """The score as written: each written bar once (its first playing), one after another; and the written
    bars' start ticks (one more than bars). Raises ValueError when the score has no form."""
    form = score.form
    if form is None:
        raise ValueError("the score has no form to fold")
    first = form.first_playing()
    if min(first) < 0:
        raise ValueError("a written bar is never played")
    lengths = [form.starts[k + 1] - form.starts[k] for k in first]
    written = [0, *itertools.accumulate(lengths)]
    src = np.array([form.starts[k] for k in first], dtype=np.int64)  # where written bar i sounds first
    shift = np.array(written[:-1], dtype=np.int64) - src
    played_bar = np.searchsorted(np.array(form.starts[1:-1], dtype=np.int64), [n.start for n in score.notes], side="right")
    notes = []
    for n, k in zip(score.notes, played_bar.tolist(), strict=True):
        i = form.order[k]
        if first[i] == k:
            notes.append(n._replace(start=n.start + int(shift[i])))
    moved = _moved_maps(score, lambda t: _to_written(t, form, first, written))
    return score.replace(notes=notes, form=None, **moved), written


def unfold(written: Score, bar_starts: Sequence[int], marks: Sequence[BarMarks]) -> Score:
    """The score as heard from a written one (bars at `bar_starts`, one more than marks), with its Form."""
    order = play_order(marks)
    ends = list(bar_starts)
    starts = [0]
    for i in order:
        starts.append(starts[-1] + ends[i + 1] - ends[i])
    bar_of = np.searchsorted(np.array(ends[1:-1], dtype=np.int64), [n.start for n in written.notes], side="right")
    by_bar: list[list[Note]] = [[] for _ in marks]
    for n, b in zip(written.notes, bar_of.tolist(), strict=True):
        by_bar[min(b, len(marks) - 1)].append(n)
    notes = [n._replace(start=n.start - ends[i] + starts[k]) for k, i in enumerate(order) for n in by_bar[i]]
    form = Form(tuple(marks), tuple(order), tuple(starts))
    first = form.first_playing()
    moved = _moved_maps(written, lambda t: _to_heard(t, ends, first, starts, len(marks)))
    return written.replace(notes=notes, form=form, **moved)


def _to_written(tick: int, form: Form, first: list[int], written: list[int]) -> int | None:
    k = max(0, int(np.searchsorted(form.starts, tick, side="right")) - 1)
    if k >= len(form.order) or first[form.order[k]] != k:
        return None if k < len(form.order) else written[-1]
    return tick - form.starts[k] + written[form.order[k]]


def _to_heard(tick: int, ends: list[int], first: list[int], starts: list[int], n_bars: int) -> int:
    i = min(max(0, int(np.searchsorted(ends, tick, side="right")) - 1), n_bars - 1)
    return tick - ends[i] + starts[first[i]] if first[i] >= 0 else starts[-1]


def _moved_maps(score: Score, move) -> dict:
    """Tempo, meter and key changes moved by `move(tick)` (None: dropped; the first of each stays at 0)."""
    out = {}
    for name in ("tempos", "time_signatures", "key_signatures"):
        items = []
        for x in getattr(score, name):
            t = 0 if x.tick == 0 else move(x.tick)
            if t is not None:
                items.append(x._replace(tick=t))
        out[name] = items
    return out
