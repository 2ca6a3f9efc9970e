"""Form tokens for the metric scheme: a tune's repeats and endings written as `|:` `:|` `||` `|1` `|2`.

Folding works on the metric bars of the tune as heard (each a token chunk `BAR … notes`). Where the
source wrote a repeat (the Score's `Form`), a bar heard again is the same written place with the same
tokens, and is not written twice: the folded stream marks the section with `|:` … `:|` and the bars
of first and second endings with `|1`/`|2`, as ABC does. Unfolding walks `composer.score.play_order`
over the marks. Encode keeps a fold only when unfolding it gives back the very same chunks, so a
repeat is exact by construction; otherwise the tune is written out (unfolded), as before.

Marks sit in a bar's chunk: `BAR [|:] [|1|2] notes… [:| or ||]`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from composer.errors import InputError
from composer.score import BarMarks, Form, play_order

FORM_VALUES = ("|:", ":|", "||", "|1", "|2")
START_MARKS = ("|:", "|1", "|2")
END_MARKS = (":|", "||")


def bar_keys(chunks: Sequence[tuple[int, ...]], bar_ticks: np.ndarray, form: Form) -> list[tuple]:
    """Per heard bar: its tokens and the written places where it starts and ends (one key = one written bar)."""
    first = form.first_playing()
    lengths = [form.starts[k + 1] - form.starts[k] for k in first]
    written = np.concatenate([[0], np.cumsum(lengths)])
    starts = np.asarray(form.starts, dtype=np.int64)

    def place(tick: int) -> int:
        k = int(np.clip(np.searchsorted(starts, tick, side="right") - 1, 0, len(form.order) - 1))
        return int(written[form.order[k]] + tick - starts[k])

    last = int(starts[-1]) - 1
    return [(chunk, place(int(np.clip(a, 0, last))), place(int(np.clip(b - 1, 0, last))))
            for chunk, a, b in zip(chunks, bar_ticks[:-1], bar_ticks[1:], strict=True)]


def fold_bars(keys: Sequence[tuple]) -> tuple[list[int], list[BarMarks]] | None:
    """The heard bars to write (indices into `keys`) and each one's marks, or None when the marks could
    not say the heard order exactly (then the tune is written out)."""
    kept: list[int] = []
    marks: list[dict] = []
    seen: dict[tuple, int] = {}
    closed = 0  # bars before this are in a finished section: no repeat may jump back into them
    m = 0
    while m < len(keys):
        j = seen.get(keys[m], -1)
        if j < closed:
            seen[keys[m]] = len(kept)
            kept.append(m)
            marks.append({})
            m += 1
            continue
        r = 0
        while m + r < len(keys) and j + r < len(kept) and keys[m + r] == keys[kept[j + r]]:
            r += 1
        marks[j]["start_repeat"] = True
        marks[-1]["end_repeat"] = 2
        first_ending = range(j + r, len(kept))
        for f in first_ending:
            marks[f]["endings"] = frozenset({1})
        m += r
        for _ in first_ending:  # the second ending: as many new bars as the first had
            if m >= len(keys) or keys[m] in seen:
                return None
            seen[keys[m]] = len(kept)
            kept.append(m)
            marks.append({"endings": frozenset({2})})
            m += 1
        if len(first_ending):
            marks[-1]["section_end"] = True
        closed = len(kept)
    bar_marks = [BarMarks(**mk) for mk in marks]
    order = play_order(bar_marks)
    if [keys[kept[i]] for i in order] != list(keys):
        return None
    return kept, bar_marks


def mark_values(marks: BarMarks) -> tuple[list[str], list[str]]:
    """The FORM values a bar carries after its BAR token, and at its end."""
    head = (["|:"] if marks.start_repeat else []) + [f"|{e}" for e in sorted(marks.endings)]
    tail = [":|"] if marks.end_repeat else (["||"] if marks.section_end else [])
    return head, tail


def marks_from_values(head: Sequence[str], tail: Sequence[str]) -> BarMarks:
    """A bar's marks from the FORM values read in its chunk."""
    return BarMarks(start_repeat="|:" in head, end_repeat=2 if ":|" in tail else 0,
                    section_end="||" in tail and ":|" not in tail,
                    endings=frozenset(int(v[1]) for v in head if v in ("|1", "|2")))


@dataclass(frozen=True)
class FormPlan:
    """A form asked for: the full bars at which a section ends with `:|` (repeated) or `||`, and the length."""

    ends: tuple[tuple[int, str], ...]  # (number of full bars when the section ends, ":|" or "||")

    @property
    def bars(self) -> int:
        return self.ends[-1][0]

    @staticmethod
    def parse(text: str, part_bars: int = 8) -> FormPlan:
        """'AABB', 'ABAB', 'AABBCC', 'AB' … with `part_bars` bars per letter."""
        letters = text.strip().upper()
        if not letters.isalpha() or not 1 <= len(letters) <= 12 or part_bars < 1:
            raise InputError(f"form {text!r}: give letters such as AABB, ABAB, AABBCC (and parts of at least 1 bar)")
        half = letters[: len(letters) // 2]
        if len(letters) % 2 == 0 and half * 2 == letters and len(set(half)) == len(half) and len(half) > 1:
            return FormPlan(((len(half) * part_bars, ":|"),))  # ABAB: one section, played twice
        runs = [(k, len(list(g))) for k, g in itertools.groupby(letters)]
        if any(n > 2 for _, n in runs) or len({k for k, _ in runs}) != len(runs):
            raise InputError(f"form {text!r}: each part may be played once or twice in a row (AABB, ABC, AABBCC, ABAB)")
        ends, total = [], 0
        for _, n in runs:
            total += part_bars
            ends.append((total, ":|" if n == 2 else "||"))
        return FormPlan(tuple(ends))

    @staticmethod
    def parts(n: int, part_bars: int = 8) -> FormPlan:
        """`n` parts, each played twice (AABB for 2)."""
        if not 1 <= n <= 6:
            raise InputError(f"--parts must be 1 to 6, not {n}")
        return FormPlan(tuple(((k + 1) * part_bars, ":|") for k in range(n)))
