"""Repeats and endings as a play order of bars: which written bar sounds at each step, as players read it.

The readers unfold a tune by walking this order instead of deep-copying a music21 stream
(music21's `expandRepeats` copies every note of every pass and took a third of ABC reading time).
Rules, as ABC players read the marks:
- `:|` sends the player back to the section's start: the last `|:`, else the bar after the last
  `:|` or `||` (a tune's first part often has no `|:`); `|:` never closed is ignored.
- a bar under ending *k* (`|1`, `|2`, `[1,3`) sounds only on pass *k* of its repeat. The last
  ending runs on (as ABC reads it) to the next `:|`, `||` or `|:`; a `:|` there closes the part
  and is not a repeat (transcribers write `[2 … :|`). A new first ending after it starts a new
  section from the first bar after the last ending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
    """Indices of `bars` in the order they sound; raises RepeatError past `max_bars` (default 16 × written)."""
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
