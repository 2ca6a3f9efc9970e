"""Performance tokenizer: exact ids, ordering rules, normalize's losses, robust decode, round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composer.errors import InputError, TokenizeError
from composer.score import Note, Score, TempoChange
from composer.tokenize.performance import PerformanceConfig, PerformanceTokenizer

TOK = PerformanceTokenizer()
NARROW = PerformanceTokenizer(PerformanceConfig(pitch_low=21, pitch_high=108, max_polyphony=3))
COARSE = PerformanceTokenizer(PerformanceConfig(time_step_ms=20, max_shift_steps=10, velocity_bins=8))
TOKENIZERS = (TOK, NARROW, COARSE)
BOS, EOS = 1, 2


def on(p: int) -> int:
    return 3 + p


def off(p: int) -> int:
    return 131 + p


def shift(k: int) -> int:
    return 258 + k


def vel(v: int) -> int:
    return TOK.table.id("VELOCITY", v)


def prog(p: int | str) -> int:
    return TOK.table.id("PROGRAM", p)


def test_exact_id_layout():
    assert TOK.vocab_size == 520
    assert TOK.table.offsets == {"PAD": 0, "BOS": 1, "EOS": 2, "NOTE_ON": 3, "NOTE_OFF": 131,
                                 "TIME_SHIFT": 259, "VELOCITY": 359, "PROGRAM": 391}
    assert TOK.table.id("NOTE_ON", 60) == 63
    assert TOK.table.id("NOTE_OFF", 72) == 203  # Magenta's 200, after PAD/BOS/EOS
    assert TOK.table.id("TIME_SHIFT", 1) == 259
    assert TOK.table.id("TIME_SHIFT", 100) == 358
    assert TOK.table.id("VELOCITY", 4) == 359
    assert TOK.table.id("VELOCITY", 80) == 378
    assert TOK.table.id("VELOCITY", 127) == 390
    assert TOK.table.id("PROGRAM", 0) == 391
    assert TOK.table.id("PROGRAM", 40) == 431
    assert TOK.table.id("PROGRAM", "drums") == 519
    assert NARROW.vocab_size == 3 + 88 + 88 + 100 + 32 + 129
    assert NARROW.table.id("NOTE_ON", 21) == 3 and NARROW.table.id("NOTE_OFF", 108) == 178


def test_encode_exact_ids_for_a_small_tune():
    # 120 qpm at tpq 480: a quarter is 0.5 s = 50 steps; 2.5 s of rest needs shifts 100, 100, 50.
    score = Score([Note(60, 0, 480, 80), Note(64, 480, 240, 80), Note(67, 480, 480, 100), Note(72, 3360, 480, 100)])
    assert TOK.encode(score) == [
        BOS, vel(80), on(60), shift(50), off(60), on(64), vel(100), on(67), shift(25), off(64), shift(25),
        off(67), shift(100), shift(100), shift(50), on(72), shift(50), off(72), EOS]
    assert TOK.encode(Score()) == [BOS, EOS]


def test_tempo_map_is_spent_and_programs_switch_only_on_change():
    score = Score([Note(60, 0, 480, 64, 40), Note(62, 0, 480, 64, 40), Note(36, 480, 480, 100, 9, True)],
                  tempos=[TempoChange(0, 60.0), TempoChange(480, 240.0)])
    assert TOK.tokens(TOK.encode(score)) == [
        "BOS", "PROGRAM:40", "VELOCITY:64", "NOTE_ON:60", "NOTE_ON:62", "TIME_SHIFT:100", "NOTE_OFF:60",
        "NOTE_OFF:62", "PROGRAM:drums", "VELOCITY:100", "NOTE_ON:36", "TIME_SHIFT:25", "NOTE_OFF:36", "EOS"]
    decoded = TOK.decode(TOK.encode(score))
    assert decoded.tpq == 500 and decoded.tempos == (TempoChange(0, 120.0),)
    assert decoded.notes == (Note(60, 0, 1000, 64, 40), Note(62, 0, 1000, 64, 40), Note(36, 1000, 250, 100, 0, True))


def test_normalize_losses():
    score = Score(
        [Note(60, 0, 960, 81), Note(60, 480, 960, 81),  # same pitch overlapping (two voices): both kept
         Note(64, 0, 1), Note(64, 0, 0),  # zero length: 1 step; a unison, the 2nd over NARROW's 3 voices
         Note(10, 0, 480), Note(62, 2, 478, 0)],  # pitch 10 is below NARROW's range; velocity 0 → 4
        title="The Kesh", tune_type="jig", source="x.abc", time_signatures=[(0, 6, 8)], key_signatures=[(0, 7, "major")])
    assert NARROW.normalize(score) == Score(
        [Note(60, 0, 1000, 84), Note(60, 500, 1000, 84), Note(62, 0, 500, 4), Note(64, 0, 10, 80)],
        tpq=500, tempos=[TempoChange(0, 120.0)])
    assert TOK.normalize(score).notes[0] == Note(10, 0, 500, 80)


def test_velocity_bins_keep_common_velocities():
    velocities = [1, 4, 5, 63, 64, 80, 96, 100, 112, 126, 127]
    score = Score([Note(60, i * 480, 480, v) for i, v in enumerate(velocities)])
    assert [n.velocity for n in TOK.normalize(score).notes] == [4, 4, 8, 64, 64, 80, 96, 100, 112, 127, 127]


def test_polyphony_cap_drops_late_onsets():
    chord = Score([Note(p, 0, 960) for p in (60, 64, 67, 72)] + [Note(48, 480, 480)])
    assert [n.pitch for n in NARROW.normalize(chord).notes] == [60, 64, 67]


def test_decode_is_robust_to_model_output():
    ids = [BOS, off(50), vel(100), on(60), on(60), shift(10), on(60), shift(20), off(60), off(60),
           prog("drums"), on(36), shift(5), on(64), shift(3), EOS, on(70)]
    assert TOK.decode(ids).notes == (
        Note(60, 0, 300, 100), Note(60, 0, 300, 100),  # NOTE_ONs of a sounding pitch add notes;
        Note(60, 100, 280, 100),  # NOTE_OFFs end the first begun; this one is never closed
        Note(36, 300, 80, 100, 0, True),  # never closed: ends at the last time reached
        Note(64, 350, 30, 100, 0, True))
    assert TOK.decode([on(60)]).notes == (Note(60, 0, 10, 80),)  # default velocity; 1 step
    long = [on(60)] + [shift(100)] * 8 + [on(62), shift(1)]
    assert TOK.decode(long).notes == (Note(60, 0, 5000, 80), Note(62, 8000, 10, 80))  # unclosed: ≤ 5 s
    assert TOK.decode([]) == Score(tpq=500, tempos=[TempoChange(0, 120.0)])


def test_overlaps_of_one_pitch_between_voices():
    nested = Score([Note(60, 0, 1500), Note(60, 500, 500)], tpq=500)  # the later note ends first
    ids = TOK.encode(nested)
    assert TOK.tokens(ids) == ["BOS", "VELOCITY:80", "NOTE_ON:60", "TIME_SHIFT:50", "NOTE_ON:60", "TIME_SHIFT:50",
                               "PROGRAM:0", "NOTE_OFF:60",  # the mark: this NOTE_OFF ends the latest-begun note
                               "TIME_SHIFT:50", "NOTE_OFF:60", "EOS"]
    assert TOK.decode(ids).notes == nested.notes and TOK.normalize(nested).metadata["overlaps_repaired"] == 0
    crossing = Score([Note(60, 0, 1000), Note(60, 500, 1000)], tpq=500)
    assert "PROGRAM:0" not in TOK.tokens(TOK.encode(crossing)) and TOK.normalize(crossing).notes == crossing.notes
    three = Score([Note(60, 0, 1000), Note(60, 100, 200), Note(60, 100, 400)], tpq=500)  # the 100-300 one is neither
    assert TOK.normalize(three).notes == (Note(60, 0, 300), Note(60, 100, 400), Note(60, 100, 900))
    assert TOK.normalize(three).metadata["overlaps_repaired"] == 2
    assert TOK.decode(TOK.encode(three)) == TOK.normalize(three)


@pytest.mark.parametrize("bad", [[1, 520, 2], [-1], [1.5, 3], [[1, 2]]])
def test_decode_refuses_ids_outside_the_vocabulary(bad):
    with pytest.raises(TokenizeError):
        TOK.decode(bad)


def test_encode_refuses_broken_scores():
    with pytest.raises(TokenizeError, match="bad.mid"):
        TOK.encode(Score([Note(60, -5, 10)], source="bad.mid"))
    with pytest.raises(TokenizeError):
        TOK.encode(Score([Note(60, 0, 10, 80, 200)]))
    with pytest.raises(TokenizeError, match="tempo must be positive"):
        TOK.encode(Score([Note(60, 0, 10)], tempos=[TempoChange(0, 0.0)]))
    with pytest.raises(TokenizeError, match="tempo map or duration"):
        TOK.encode(Score([Note(60, 10**12, 10)]))


@pytest.mark.parametrize("options", [{"velocity_bins": 30}, {"time_step_ms": 0}, {"pitch_low": 90, "pitch_high": 80}])
def test_bad_config_is_refused(options):
    with pytest.raises(InputError):
        PerformanceConfig(**options)


def test_config_survives_json():
    data = json.loads(COARSE.to_json())
    assert data["name"] == "performance" and data["config"]["time_step_ms"] == 20
    assert PerformanceTokenizer(PerformanceConfig(**data["config"])) == COARSE


def test_transposition_table_and_drums():
    table = TOK.transposition_table(3)
    assert table[on(60)] == on(63) and table[off(72)] == off(75) and table[on(126)] == -1
    assert table[shift(7)] == shift(7) and table[vel(80)] == vel(80) and table[prog(5)] == prog(5)
    ids = [BOS, on(60), prog("drums"), on(36), prog(0), on(64), EOS]
    assert TOK.transpose_ids(ids, 2).tolist() == [BOS, on(62), prog("drums"), on(36), prog(0), on(66), EOS]
    assert TOK.transpose_ids([on(127)], 1) is None
    assert TOK.transpose_ids([prog("drums"), on(127)], 1).tolist() == [prog("drums"), on(127)]


def test_stretch_table():
    table = TOK.stretch_table(1.05)
    assert table[shift(10)] == shift(10) and table[shift(50)] == shift(52) and table[shift(100)] == shift(100)
    assert TOK.stretch_table(0.5)[shift(1)] == shift(1) and TOK.stretch_table(0.5)[shift(3)] == shift(2)
    assert table[on(60)] == on(60)
    with pytest.raises(InputError):
        TOK.stretch_table(0)


notes_st = st.lists(
    st.builds(Note, st.integers(58, 61) | st.integers(0, 127), st.integers(0, 20_000), st.integers(0, 3_000),
              st.integers(0, 127),
              st.sampled_from([0, 1, 40, 127]), st.booleans()),
    max_size=60)
scores_st = st.builds(
    Score, notes_st, st.sampled_from([96, 220, 384, 480, 1000]),
    st.lists(st.builds(TempoChange, st.integers(0, 20_000), st.floats(20, 400)), max_size=3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scores_st, st.sampled_from(TOKENIZERS))
def test_round_trip_random_scores(score, tok):
    ids = tok.encode(score)
    normal = tok.normalize(score)
    assert ids[0] == BOS and ids[-1] == EOS and max(ids) < tok.vocab_size
    assert tok.decode(ids) == normal
    assert tok.encode(normal) == ids
    assert tok.normalize(normal) == normal


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(TOKENIZERS))
def test_any_ids_decode_to_a_normal_score(data, tok):
    ids = data.draw(st.lists(st.integers(0, tok.vocab_size - 1), max_size=300))
    score = tok.decode(ids)
    assert tok.normalize(score) == score
    assert tok.decode(tok.encode(score)) == score


@pytest.fixture(scope="module")
def oneills_sample(oneills_paths):
    from composer.io import load

    return load(next(p for p in oneills_paths if p.name == "0487-0500.abc"))


def test_round_trip_oneills_tunes(oneills_sample):
    assert len(oneills_sample) >= 10
    for score in oneills_sample:
        ids = TOK.encode(score)
        decoded = TOK.decode(ids)
        assert decoded == TOK.normalize(score) and TOK.encode(decoded) == ids, score.title
        assert [n.pitch for n in decoded.notes] == [n.pitch for n in score.notes], score.title
        steps = np.rint(score.ticks_to_seconds([n.start for n in score.notes]) * 100).astype(int) * 10
        assert [n.start for n in decoded.notes] == steps.tolist(), score.title


def test_round_trip_bach_chorale():
    from music21 import corpus

    from composer.io.musicxml import stream_to_score

    score = stream_to_score(corpus.parse("bach/bwv66.6"), "bwv66.6")
    ids = TOK.encode(score)
    decoded = TOK.decode(ids)
    assert decoded == TOK.normalize(score) and TOK.encode(decoded) == ids
    assert len({(n.pitch, n.start) for n in score.notes}) < len(score.notes)  # it has unisons between voices
    assert len(decoded.notes) == len(score.notes)
    assert TOK.decode(TOK.transpose_ids(ids, -3)) == TOK.normalize(score.transpose(-3))


def test_decoded_ids_survive_a_midi_file(tmp_path, oneills_sample):
    from composer.io import load, save_midi

    multi = Score([Note(60, 0, 480, 80), Note(36, 0, 480, 100, 0, True), Note(67, 240, 480, 70, 40)])
    for score in [multi, *oneills_sample[:3]]:
        ids = TOK.encode(score)
        path = save_midi(TOK.decode(ids), tmp_path / "piece.mid", force=True)
        assert TOK.encode(load(path)[0]) == ids


def test_registry_and_saved_json():
    pytest.importorskip("composer.tokenize.metric")
    pytest.importorskip("composer.tokenize.abc")
    from composer.tokenize import Tokenizer

    tok = Tokenizer.create("performance", time_step_ms=20, max_shift_steps=10, velocity_bins=8)
    assert tok == COARSE and Tokenizer.from_dict(tok.to_dict()) == tok


def test_all_oneills_tunes(oneills_scores):
    """Every one of O'Neill's 2,009 tunes round-trips exactly, and no note is lost (monophonic tunes)."""
    for score in oneills_scores:
        ids = TOK.encode(score)
        decoded = TOK.decode(ids)
        assert decoded == TOK.normalize(score) and TOK.encode(decoded) == ids, score.title
        assert len(decoded.notes) == len(score.notes), score.title
    assert len(oneills_scores) == 2009
