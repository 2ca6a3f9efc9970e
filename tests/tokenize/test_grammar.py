"""Grammar-constrained sampling: with an untrained (so unruly) model, every sample is valid music."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from composer.generate.composer import Composer
from composer.model.network import Model, ModelConfig
from composer.tokenize import EOS, Tokenizer


def random_composer(name: str, seed: int = 0) -> Composer:
    tok = Tokenizer.create(name)
    torch.manual_seed(seed)
    return Composer(Model(ModelConfig(tok.vocab_size, layers=1, emb=16, hidden=32, dropout=0.0)), tok)


def test_1000_metric_samples_all_decode_to_valid_music_and_reencode_exactly() -> None:
    composer = random_composer("metric")
    tok = composer.tokenizer
    rows = composer.compose_ids([1], n=1000, bars=2, rng_seed=7)
    kinds = tok.table.kinds
    for ids in rows:
        assert ids[-1] == EOS and kinds[ids[-2]] == "DURATION"
        score = tok.decode(ids)
        assert tok.encode(score) == ids  # canonical: nothing the decoder had to repair or drop
        assert len(score.notes) >= 1
        meter = tok.table.values[ids[1]]
        assert sum(k == "BAR" for k in (kinds[i] for i in ids)) <= 2
        positions = [tok.table.values[i] for i in ids if kinds[i] == "POSITION"]
        assert max(positions) < tok.bar_length(meter)


def test_forced_header_is_obeyed_and_free_slots_are_sampled() -> None:
    composer = random_composer("metric")
    tok = composer.tokenizer
    rows = composer.compose_ids([1], n=50, bars=2, key="G major", tune_type="jig", meter="6/8", rng_seed=3)
    for ids in rows:
        assert tok.tokens(ids[1:5]) == ["METER:6/8", "KEY:G major", "TYPE:jig", ids and tok.vocab[ids[4]]]
        assert tok.vocab[ids[4]].startswith("TEMPO:")
    only_key = composer.compose_ids([1], n=50, bars=2, key="A dorian", rng_seed=4)
    assert {tok.vocab[r[2]] for r in only_key} == {"KEY:A dorian"}
    # the meter, which comes before the key, is drawn per row from the model's posterior given the key
    assert all(tok.vocab[r[1]].startswith("METER:") for r in only_key) and len({r[1] for r in only_key}) > 1
    assert len({r[4] for r in only_key}) > 1  # the tempo, after the key, is sampled per row


def test_performance_grammar_never_releases_a_silent_note_and_closes_all() -> None:
    composer = random_composer("performance")
    tok = composer.tokenizer
    rows = composer.compose_ids([1], n=200, bars=None, seconds=2.0, max_tokens=300, rng_seed=5)
    on0, off0 = tok.table.offsets["NOTE_ON"], tok.table.offsets["NOTE_OFF"]
    cap = tok.config.max_polyphony
    for ids in rows:
        sounding: set[int] = set()
        for i in ids:
            if on0 <= i < on0 + 128:
                assert i - on0 not in sounding
                sounding.add(i - on0)
                assert len(sounding) <= cap
            elif off0 <= i < off0 + 128:
                assert i - off0 in sounding
                sounding.remove(i - off0)
        assert not sounding and ids[-1] == EOS
        assert tok.encode(tok.decode(ids))  # decodes and re-encodes without error


@pytest.mark.parametrize("top_k,top_p", [(5, None), (None, 0.5)])
def test_filtering_keeps_rows_inside_the_grammar(top_k: int | None, top_p: float | None) -> None:
    composer = random_composer("metric", seed=1)
    rows = composer.compose_ids([1], n=100, bars=2, top_k=top_k, top_p=top_p, rng_seed=11)
    tok = composer.tokenizer
    assert all(tok.encode(tok.decode(ids)) == ids for ids in rows)
    assert np.mean([len(r) for r in rows]) > 10


def test_freely_sampled_repeat_marks_leave_no_written_bar_unheard() -> None:
    """With `bars` asked (no form plan), an unruly model's marks are still ones a player can follow: every written
    bar is heard and every `:|` closes a `|:` (before, a `|1` after a first ending's `:|` went unheard)."""
    tok = Tokenizer.create("metric", form=True)
    torch.manual_seed(0)
    model = Model(ModelConfig(tok.vocab_size, layers=1, emb=16, hidden=32, dropout=0.0))
    with torch.no_grad():
        model.head.bias[tok.table.ids_of("FORM")] += 4.0  # marks as often as the grammar lets them be written
    rows = Composer(model, tok).compose_ids([1], n=400, bars=6, rng_seed=5)
    values = [[tok.table.values[i] for i in ids if tok.table.kinds[i] == "FORM"] for ids in rows]
    assert sum(":|" in v for v in values) > 100 and sum("|1" in v for v in values) > 20 and sum("|2" in v for v in values) > 3
    for ids in rows:
        score = tok.decode(ids)
        assert score.form is None or score.form.plays_every_bar, tok.tokens(ids)
        assert tok.decode(tok.encode(score)).notes == score.notes  # marks no fold writes (`||` mid-part) drop out
