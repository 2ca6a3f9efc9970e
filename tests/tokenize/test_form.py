"""FORM tokens: repeats the source writes are written once and unfold to exactly the tune as heard."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import composer
from composer.score import BarMarks, fold, play_order, unfold
from composer.tokenize import Tokenizer
from composer.tokenize.form import fold_bars
from composer.tokenize.grammar import grammar_for

SEEDS = sorted((Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds").glob("*.abc"))
PLAIN, FORM = Tokenizer.create("metric"), Tokenizer.create("metric", form=True)


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_a_seed_folds_and_unfolds_to_the_tune_as_heard(path):
    tune = composer.load(path)[0]
    ids = FORM.encode(tune)
    marks = [FORM.table.values[i] for i in ids if FORM.table.kinds[i] == "FORM"]
    assert ":|" in marks and len(ids) < 0.8 * len(PLAIN.encode(tune))  # the bundled tunes all repeat their parts
    heard = FORM.decode(ids)
    assert heard.notes == PLAIN.normalize(tune).notes  # the very notes the plain scheme gives, repeats played
    assert FORM.encode(heard) == ids
    assert len(heard.form.parts()) >= 2


def test_the_form_vocabulary_extends_the_plain_one():
    n = PLAIN.vocab_size
    assert FORM.vocab_size == n + 5
    assert list(FORM.table.values[:n]) == list(PLAIN.table.values) and FORM.table.kinds[n] == "FORM"
    assert Tokenizer.from_dict(PLAIN.to_dict()) == PLAIN  # old checkpoints (no `form` key) keep their vocabulary


def test_fold_bars_writes_aabb_with_endings():
    a = [("a", i) for i in range(4)]
    keys = a + a[:3] + [("a2", 3)] + [("b", i) for i in range(4)] * 2
    kept, marks = fold_bars(keys)
    assert kept == [0, 1, 2, 3, 7, 8, 9, 10, 11]
    assert marks[0].start_repeat and marks[3].endings == {1} and marks[3].end_repeat == 2
    assert marks[4].endings == {2} and marks[4].section_end
    assert marks[5].start_repeat and marks[8].end_repeat == 2
    assert [keys[kept[i]] for i in play_order(marks)] == keys


def test_a_return_after_another_part_is_written_out():
    keys = ["a1", "a2", "b1", "b2", "a1", "a2"]  # ABA: no repeat sign says it
    assert fold_bars(keys) is None or [keys[k] for k in fold_bars(keys)[0]] == keys


def test_score_fold_and_unfold_round_trip_a_real_tune():
    tune = composer.load(SEEDS[0])[0]
    written, bars = fold(tune)
    assert len(written.notes) < len(tune.notes)
    assert unfold(written, bars, tune.form.marks).notes == tune.notes


@pytest.mark.parametrize("path", SEEDS[:3], ids=lambda p: p.stem)
def test_the_grammar_allows_every_folded_tune(path):
    ids = FORM.encode(composer.load(path)[0])
    grammar = grammar_for(FORM)
    state = grammar.start(ids[:1], 1, torch.device("cpu"))
    for token in ids[1:]:
        assert grammar.mask(state)[0, token], FORM.table.kinds[token]
        state = grammar.advance(state, torch.tensor([token]))
    assert grammar.complete(ids) == ids


def test_oneills_tunes_with_repeats_unfold_exactly(oneills_paths):
    """Every tune with repeats in two O'Neill files: folded tokens → notes equal today's unfolded reading."""
    folded = 0
    for path in oneills_paths[:2]:
        for tune in composer.load(path):
            ids = FORM.encode(tune)
            assert FORM.decode(ids).notes == PLAIN.normalize(tune).notes, tune.title
            folded += any(FORM.table.kinds[i] == "FORM" for i in ids)
    assert folded >= 5


def test_unfolding_marks_that_repeat_nothing_is_the_identity():
    assert play_order([BarMarks()] * 3) == [0, 1, 2]
