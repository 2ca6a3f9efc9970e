"""Composing whole tunes: a form asked for (AABB, ABAB, n parts) comes out in its parts, repeats exact, ended."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from composer.errors import InputError
from composer.generate.composer import Composer
from composer.io import load
from composer.model.network import Model, ModelConfig
from composer.score import bar_starts, ends_on_tonic, last_on_main_beat
from composer.tokenize import BOS, EOS, Tokenizer
from composer.tokenize.form import FormPlan

FORM = Tokenizer.create("metric", form=True)
SEEDS = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"


@pytest.fixture(scope="module")
def untrained() -> Composer:
    """A random network over the form vocabulary: whatever it samples, the grammar keeps the form."""
    torch.manual_seed(0)
    return Composer(Model(ModelConfig(vocab_size=FORM.vocab_size, layers=1, emb=16, hidden=32, dropout=0.0)), FORM)


def _marks(ids: list[int]) -> list[tuple[int, str]]:
    """(written bar number, FORM value) of each mark."""
    out, bar = [], -1
    for i in ids:
        kind = FORM.table.kinds[i]
        bar += kind == "BAR"
        if kind == "FORM":
            out.append((bar, FORM.table.values[i]))
    return out


@pytest.mark.parametrize(("form", "ends", "times"), [("AABB", [":|", ":|"], 2), ("ABAB", [":|"], 2),
                                                     ("AABBCC", [":|"] * 3, 2), ("ABC", ["||"] * 3, 1)])
def test_an_asked_form_comes_out_in_its_parts(untrained, form, ends, times):
    plan = FormPlan.parse(form)
    for ids in untrained.compose_ids([BOS], n=3, form=form, rng_seed=1, meter="4/4", key="D", drafts=1):
        assert [v for _, v in _marks(ids) if v in (":|", "||")] == ends and ids[-1] == EOS
        written = sum(FORM.table.kinds[i] == "BAR" for i in ids)
        assert written - plan.bars in (0, 1)  # a pickup bar may come first
        heard = FORM.decode(ids)
        order = heard.form.order if heard.form is not None else tuple(range(written))
        counts = Counter(order)
        if written > plan.bars:
            assert counts.pop(0) == 1  # a pickup is heard once: the repeat opens after it
        assert set(counts.values()) == {times}  # every written bar heard once, or twice where repeated
        if times == 2:
            assert FORM.encode(heard) == ids  # the tune as heard folds back into the same tokens
        assert FORM.decode(FORM.encode(heard)).notes == heard.notes  # (a `||` that repeats nothing is not kept)


def test_no_length_asked_means_a_whole_tune_from_a_form_model(untrained):
    ids = untrained.compose_ids([BOS], n=1, rng_seed=2, meter="4/4", key="D", drafts=1)[0]
    assert [v for _, v in _marks(ids) if v == ":|"] == [":|", ":|"]  # AABB from labels alone


@pytest.mark.parametrize(("meter", "key"), [("4/4", "D"), ("6/8", "A dorian"), ("9/8", "G"), ("2/2", "E minor")])
def test_every_whole_tune_ends_home(untrained, meter, key):
    """Even an untrained network ends on the key's tonic (the mode's: A dorian → A) on a main beat."""
    for ids in untrained.compose_ids([BOS], n=4, form="AABB", rng_seed=5, meter=meter, key=key, drafts=1):
        tune = FORM.decode(ids)
        assert ends_on_tonic(tune) and last_on_main_beat(tune), FORM.table.values[ids[2]]
        bar = tune.time_signature.bar_beats * tune.tpq
        last = max(tune.notes, key=lambda n: (n.start, n.pitch))
        assert last.end == [b for b in bar_starts(tune) if b <= last.start][-1] + bar  # held to the bar line


@pytest.mark.parametrize(("meter", "key"), [("4/4", "D"), ("6/8", "A dorian"), ("3/4", "G")])
def test_a_length_in_bars_ends_home_too(untrained, meter, key):
    """`--bars N` closes its last bar as a whole tune does (the tonic on the last main beat, held to the bar
    line), with no bar past the N asked for; before, 3 % of 16-bar reels ended on a main beat."""
    plain = Tokenizer.create("metric")
    torch.manual_seed(1)
    composer = Composer(Model(ModelConfig(plain.vocab_size, layers=1, emb=16, hidden=32, dropout=0.0)), plain)
    for model in (untrained, composer):
        for ids in model.compose_ids([BOS], n=8, bars=3, rng_seed=2, meter=meter, key=key):
            tune = model.tokenizer.decode(ids)
            assert ends_on_tonic(tune) and last_on_main_beat(tune), model.tokenizer.tokens(ids)
            assert sum(model.tokenizer.table.kinds[i] == "BAR" for i in ids) == 3
            bar = tune.time_signature.bar_beats * tune.tpq
            last = max(tune.notes, key=lambda n: (n.start, n.pitch))
            assert last.end == [b for b in bar_starts(tune) if b <= last.start][-1] + bar


def test_a_plain_model_refuses_a_form():
    plain = Tokenizer.create("metric")
    composer = Composer(Model(ModelConfig(vocab_size=plain.vocab_size, layers=1, emb=8, hidden=16)), plain)
    with pytest.raises(InputError, match="no repeat signs"):
        composer.compose_ids([BOS], form="AABB")
    assert len(composer.compose_ids([BOS], n=1, rng_seed=0, meter="4/4")[0]) > 20  # 16 bars, as before


@pytest.mark.parametrize("bad", ["", "AAAB", "ABA1", "ABCA"])
def test_a_bad_form_is_one_clear_error(bad):
    with pytest.raises(InputError, match="form"):
        FormPlan.parse(bad)


def test_a_seed_that_is_an_a_part_is_continued_into_a_whole_tune(untrained):
    """Eight written-out bars of The Kesh: their repeat, then a B part played twice, ended home."""
    kesh = load(SEEDS / "kesh.mid")[0]
    a_part = kesh.replace(notes=[n for n in kesh.notes if n.start < 8 * kesh.time_signature.bar_beats * kesh.tpq])
    prefix = FORM.encode(a_part)[:-1]
    ids = untrained.compose_ids(prefix, n=1, rng_seed=4, drafts=1)[0]
    assert ids[: len(prefix)] == prefix
    assert [v for _, v in _marks(ids) if v in (":|", "||")] == [":|", ":|"]
    heard = FORM.decode(ids)
    assert len(heard.form.order) == 32 and ends_on_tonic(heard)
