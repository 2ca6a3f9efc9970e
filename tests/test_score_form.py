"""composer.io.repeats: play orders of repeat marks and endings, and the unfolded O'Neill tunes."""

from __future__ import annotations

import pytest

from composer.score import BarMarks, RepeatError, play_order

PLAIN = BarMarks()
START = BarMarks(start_repeat=True)
END = BarMarks(end_repeat=2)
DOUBLE = BarMarks(section_end=True)


def ending(*passes: int, end: int = 0) -> BarMarks:
    return BarMarks(end_repeat=end, endings=frozenset(passes))


def test_no_marks_plays_as_written():
    assert play_order([PLAIN] * 4) == [0, 1, 2, 3]


def test_a_repeat_from_the_top_without_a_start_mark():
    assert play_order([PLAIN, PLAIN, END, PLAIN]) == [0, 1, 2, 0, 1, 2, 3]


def test_aabb_with_start_marks():
    bars = [START, END, START, END]
    assert play_order(bars) == [0, 1, 0, 1, 2, 3, 2, 3]


def test_second_part_without_start_mark_repeats_from_after_the_first_repeat():
    # |: A B :| C D :|   — the second :| goes back to C, not to the top
    assert play_order([START, END, PLAIN, END]) == [0, 1, 0, 1, 2, 3, 2, 3]


def test_repeat_from_after_a_double_bar():
    # A || B C :|  — repeats from B
    assert play_order([DOUBLE, PLAIN, END]) == [0, 1, 2, 1, 2]


def test_double_bar_inside_an_open_repeat_does_not_move_its_start():
    assert play_order([START, DOUBLE, END]) == [0, 1, 2, 0, 1, 2]


def test_first_and_second_endings():
    # |: A B |1 C :|2 D || E
    bars = [START, PLAIN, ending(1, end=2), ending(2), PLAIN]
    assert play_order(bars) == [0, 1, 2, 0, 1, 3, 4]


def test_endings_spanning_several_bars_then_a_new_part_with_endings():
    # A |1 B C :|2 D E || |: F |1 G :|2 H |]
    bars = [PLAIN, ending(1), ending(1, end=2), ending(2), BarMarks(section_end=True, endings=frozenset({2})),
            START, ending(1, end=2), ending(2)]
    assert play_order(bars) == [0, 1, 2, 0, 3, 4, 5, 6, 5, 7]


def test_three_times_through():
    assert play_order([START, BarMarks(end_repeat=3)]) == [0, 1, 0, 1, 0, 1]


def test_an_unclosed_start_is_ignored():
    assert play_order([PLAIN, START, PLAIN]) == [0, 1, 2]


def test_a_second_ending_reached_on_the_first_pass_still_sounds():
    # |1 without its :| — nothing to skip to; every bar sounds once
    assert play_order([PLAIN, ending(1), ending(2), PLAIN]) == [0, 1, 2, 3]


def test_runaway_marks_are_refused():
    with pytest.raises(RepeatError):
        play_order([BarMarks(end_repeat=1000)] * 3)


def test_the_last_ending_runs_on_to_the_next_mark_and_its_repeat_sign_closes_the_part():
    # A |1 B :|2 C | D :|   (a transcriber's `:|` after the second ending: play C D once)
    bars = [PLAIN, ending(1, end=2), ending(2), END, START, END]
    assert play_order(bars) == [0, 1, 0, 2, 3, 4, 5, 4, 5]


def test_a_new_first_ending_after_the_last_one_starts_a_new_section():
    # A |1 B :|2 C | D |1 E :|2 F   — the second part (D…) has no |:
    bars = [PLAIN, ending(1, end=2), ending(2), PLAIN, ending(1, end=2), ending(2)]
    assert play_order(bars) == [0, 1, 0, 2, 3, 4, 3, 5]
