"""ABC text tokenizer: exact ids, spelling, a real O'Neill reel, text music21 reads, repairs, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composer.errors import TokenizeError
from composer.score import KeySignature, Note, Score, TempoChange, TimeSignature
from composer.tokenize import Tokenizer
from composer.tokenize.abc import ABC_MODES, AbcTokenizer
from composer.tokenize.abc_spelling import KeySpeller, key_token

TOK = AbcTokenizer()
BOS, EOS = 1, 2


def ids(*tokens: str) -> list[int]:
    return [BOS, *(TOK.vocab.index(t) for t in tokens), EOS]


def jig() -> Score:
    """A 6/8 jig in G with a pickup, an accidental and its cancellation, a rest, a chord, a tie over a bar."""
    n = Note
    notes = [n(62, 0, 240), n(67, 240, 480), n(69, 720, 240), n(71, 960, 240), n(72, 1200, 240), n(74, 1440, 240),
             n(76, 1680, 240), n(73, 1920, 240), n(72, 2160, 240), n(78, 2640, 480),
             n(71, 3120, 720), n(74, 3120, 720), n(62, 3840, 1920)]
    return Score(notes, time_signatures=[TimeSignature(0, 6, 8)], key_signatures=[KeySignature(0, 7, "major")],
                 tune_type="jig", title="A jig", source="jig.abc")


def test_exact_id_layout():
    assert TOK.vocab_size == 257
    assert TOK.table.offsets == {"PAD": 0, "BOS": 1, "EOS": 2, "R": 3, "M": 18, "K": 33, "note": 105, "dur": 217,
                                 "rest": 232, "tie": 233, "broken": 234, "tuplet": 236, "chord": 243, "bar": 245}
    assert TOK.table.id("R", "reel") == 4
    assert TOK.table.id("M", "6/8") == 26
    assert TOK.table.id("K", "Dmaj") == 35 and TOK.table.id("K", "Ador") == 66  # 33 + 2·12 + 9
    assert TOK.table.id("note", "C,") == 105 and TOK.table.id("note", "^c'") == 190
    assert TOK.table.id("note", "b'") == 213
    assert TOK.table.id("dur", "/4") == 217 and TOK.table.id("dur", "3/2") == 220 and TOK.table.id("dur", "2") == 221
    assert TOK.vocab[232:238] == ["rest:z", "tie:-", "broken:>", "broken:<", "tuplet:(2", "tuplet:(3"]
    assert TOK.table.id("bar", "|") == 245 and TOK.table.id("bar", "|]") == 250 and TOK.table.id("bar", ":|2") == 254
    assert TOK.transposition_table(2) is None


def test_registry_and_json():
    pytest.importorskip("composer.tokenize.metric")  # the registry imports every scheme
    assert Tokenizer.create("abc") == TOK
    assert Tokenizer.from_dict(TOK.to_dict()) == TOK


def test_key_names_and_spelling():
    assert [key_token(KeySignature(0, t, m)) for t, m in [(2, "major"), (9, "dorian"), (10, "major"), (6, "minor"),
                                                           (7, "mixolydian"), (5, "lydian"), (4, "phrygian")]] == [
        "Dmaj", "Ador", "Bbmaj", "F#min", "Gmix", "Flyd", "Ephr"]
    d = KeySpeller(KeySignature(0, 2, "major"), {"C", "c", "F", "f", "D", "B", "c'"})
    assert [d.spell(p) for p in (66, 65, 65, 66, 73, 72, 84, 62)] == ["F", "=F", "=F", "^F", "c", "=c", "=c'", "D"]
    d.new_bar()
    assert d.spell(66) == "F" and d.spell(47) is None
    g_minor = KeySpeller(KeySignature(0, 7, "minor"), {"F", "f", "e", "B"})
    assert [g_minor.spell(p) for p in (66, 76, 75, 70, 71)] == ["^F", "=e", "_e", "B", "=B"]


def test_encode_exact_tokens_of_a_small_jig():
    assert TOK.tokens(TOK.encode(jig())) == [
        "BOS", "R:jig", "M:6/8", "K:Gmaj", "note:D", "bar:|",
        "note:G", "dur:2", "note:A", "note:B", "note:c", "note:d", "bar:|",
        "note:e", "note:^c", "note:=c", "rest:z", "note:f", "dur:2", "bar:|",
        "chord:[", "note:B", "note:d", "chord:]", "dur:3", "note:D", "dur:3", "tie:-", "bar:|",
        "note:D", "dur:5", "bar:|]", "EOS"]
    assert TOK.ids_to_abc(TOK.encode(jig()), title="A jig") == (
        "X:1\nT:A jig\nM:6/8\nL:1/8\nR:jig\nK:Gmaj\nD | G2ABcd | e^c=czf2 |  [Bd]3D3- | D5 |]\n")


def test_normalize_and_decode_agree_on_the_jig():
    score = jig()
    norm = TOK.normalize(score)
    assert norm.notes == score.notes  # everything in it is writable
    assert (norm.title, norm.source, norm.tune_type) == ("", "", "jig")
    assert norm.tempos == (TempoChange(0, 180.0),) and norm.key_signatures == (KeySignature(0, 7, "major"),)
    assert TOK.decode(TOK.encode(score)) == norm


def test_a_chord_across_a_bar_line_is_tied_and_read_back_held():
    """`[Bd]3- | [Bd]3` — written tied, read back (composer.io.abc restores the chord ties music21 drops) as one chord."""
    bar_one = [Note(p, 240 * i, 240) for i, p in enumerate([62, 64, 66, 67, 69, 71, 72, 74, 76])]
    held = [Note(71, 2160, 1440), Note(74, 2160, 1440), *(Note(p, 3600 + 240 * i, 240) for i, p in enumerate([67, 69, 71]))]
    score = Score(bar_one + held, time_signatures=[TimeSignature(0, 6, 8)], key_signatures=[KeySignature(0, 2, "major")],
                  tune_type="jig")
    ids = TOK.encode(score, 0)  # bar lines from tick 0: the chord crosses the second
    assert "[Bd]3-|[Bd]3" in TOK.ids_to_abc(ids).replace(" ", "")
    assert TOK.decode(ids).notes == score.notes


def test_decoded_text_reads_back_in_plain_music21():
    from music21 import converter

    text = TOK.ids_to_abc(TOK.encode(jig()))
    parsed = converter.parse(text, format="abc").stripTies()
    got = [(float(n.offset), tuple(p.midi for p in n.pitches)) for n in parsed.flatten().notes]
    expected: dict[int, tuple[int, ...]] = {}
    for n in jig().notes:
        expected[n.start] = tuple(sorted((*expected.get(n.start, ()), n.pitch)))
    assert got == [(start / 480, pitches) for start, pitches in sorted(expected.items())]


@pytest.fixture(scope="module")
def oneill_1176() -> list[Score]:
    from music21 import corpus

    from composer.io import load

    path = next(Path(p) for p in corpus.getPaths(fileExtensions=("abc",)) if p.name == "1176-1275.abc")
    return load(path)


def test_oneills_reel_in_d_first_bars(oneill_1176):
    # O'Neill's 1179, "Repeal of the Union": K:D, M:C|, "A2(3FED AD (3FED|(3GFE (cE) dEcE|..."
    score = next(s for s in oneill_1176 if s.title == "Repeal of the Union")
    head = TOK.tokens(TOK.encode(score))[:27]
    assert head == [
        "BOS", "R:reel", "M:2/2", "K:Dmaj", "note:A", "dur:2", "tuplet:(3", "note:F", "note:E", "note:D",
        "note:A", "note:D", "tuplet:(3", "note:F", "note:E", "note:D", "bar:|",
        "tuplet:(3", "note:G", "note:F", "note:E", "note:c", "note:E", "note:d", "note:E", "note:c", "note:E"]


def test_real_oneill_tunes_round_trip(oneill_1176):
    for score in oneill_1176[:25]:
        encoded = TOK.encode(score)
        decoded = TOK.decode(encoded)
        assert decoded == TOK.normalize(score), score.title
        assert TOK.encode(decoded) == encoded, score.title
        assert {n.pitch for n in decoded.notes} == {n.pitch for n in score.notes}


def test_normalize_losses():
    score = Score([Note(60, 0, 480, 100, 5), Note(64, 0, 240), Note(67, 120, 480), Note(36, 0, 240, 90, 0, True)],
                  tempos=[TempoChange(0, 99.0)], tune_type="hop jig", title="t", source="s.mid")
    norm = TOK.normalize(score)
    assert norm.notes == (Note(60, 0, 120), Note(64, 0, 120), Note(67, 120, 480))  # chord cut at next onset
    assert norm.time_signatures == (TimeSignature(0, 4, 4),) and norm.key_signatures == (KeySignature(0, 0, "major"),)
    assert norm.tune_type == "other" and norm.tempos == (TempoChange(0, 120.0),)
    assert TOK.normalize(norm) == norm and TOK.decode(TOK.encode(score)) == norm
    assert TOK.encode(Score()) == ids("R:none", "M:4/4", "K:Cmaj")
    assert TOK.decode(ids("R:none", "M:4/4", "K:Cmaj")) == TOK.normalize(Score())


def test_encode_refuses_what_it_cannot_write():
    with pytest.raises(TokenizeError, match="s.abc.*13 ticks"):
        TOK.encode(Score([Note(60, 0, 13)], source="s.abc"))
    with pytest.raises(TokenizeError, match="outside the note range"):
        TOK.encode(Score([Note(30, 0, 240)]))
    with pytest.raises(TokenizeError, match="locrian"):
        TOK.encode(Score([Note(60, 0, 240)], key_signatures=[KeySignature(0, 11, "locrian")]))
    with pytest.raises(TokenizeError, match="meter 11/8"):
        TOK.encode(Score([Note(60, 0, 240)], time_signatures=[TimeSignature(0, 11, 8)]))
    with pytest.raises(TokenizeError, match="outside the vocabulary"):
        TOK.decode([BOS, 999])


def test_repairs_of_ill_formed_sequences():
    bad = ids("M:6/8", "dur:2", "note:A", "dur:2", "dur:3", "chord:]", "chord:[", "chord:]", "tuplet:(3", "note:B",
              "bar:|", "bar:|", "note:c", "broken:>", "bar:|", "K:Dmaj", "chord:[", "note:d", "note:f", "rest:z",
              "tie:-", "M:3/4", "note:e", "tie:-")
    assert TOK.ids_to_abc(bad) == "X:1\nT:\nM:6/8\nL:1/8\nK:Dmaj\nA2B | c |  [df]ze\n"
    assert TOK.decode(bad).notes == (Note(69, 0, 480), Note(71, 480, 240), Note(73, 720, 240), Note(74, 960, 240),
                                     Note(78, 960, 240), Note(76, 1440, 240))  # time order
    assert TOK.ids_to_abc(ids("bar:|:", "note:A", "bar::|", "bar:[2", "note:B", "bar:|]")).endswith(
        "K:Cmaj\n|: A :|  [2 B |]\n")
    # music21 makes measures, and so expands repeats, only with two or more plain `|` in the body
    repeat = TOK.decode(ids("bar:|:", "note:A", "dur:8", "bar:|", "note:c", "dur:8", "bar::|", "note:B", "dur:8",
                            "bar:|", "note:A", "dur:8"))
    assert [n.pitch for n in sorted(repeat.notes, key=lambda n: n.start)] == [69, 72, 69, 72, 71, 69]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(3, 256), max_size=60))
def test_decode_of_any_ids_gives_a_score_or_a_tokenize_error(body):
    try:
        score = TOK.decode([BOS, *body, EOS])
    except TokenizeError:
        return
    assert all(n.duration > 0 for n in score.notes)


_DURS = [60, 120, 180, 240, 360, 480, 720, 960, 1200, 1440]


@st.composite
def scores(draw) -> Score:
    meter = draw(st.sampled_from(TOK.config.meters))
    key = KeySignature(0, draw(st.integers(0, 11)), draw(st.sampled_from(ABC_MODES)))
    notes, t = [], draw(st.sampled_from([0, 240, 480]))
    for _ in range(draw(st.integers(1, 24))):
        d = draw(st.sampled_from(_DURS))
        kind = draw(st.sampled_from(["note", "note", "note", "rest", "chord", "triplet"]))
        if kind == "triplet":
            notes += [Note(draw(st.integers(48, 95)), t + 160 * k, 160) for k in range(3)]
            d = 480
        elif kind != "rest":
            pitches = draw(st.lists(st.integers(48, 95), min_size=2 if kind == "chord" else 1, max_size=3, unique=True))
            notes += [Note(p, t, d) for p in pitches]
        t += d
    tune_type = draw(st.sampled_from([None, "reel", "jig", "air"]))
    return Score(notes, time_signatures=[TimeSignature(0, *map(int, meter.split("/")))], key_signatures=[key],
                 tune_type=tune_type)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scores())
def test_round_trip_of_random_scores(score):
    encoded = TOK.encode(score)
    decoded = TOK.decode(encoded)
    assert decoded == TOK.normalize(score)
    assert TOK.encode(decoded) == encoded
    assert {n.pitch for n in decoded.notes} == {n.pitch for n in score.notes}


def test_all_oneills_tunes_encode(oneills_scores):
    """≥ 99 % of O'Neill's tunes encode, and re-encoding their normal form gives the same ids (the
    decode side, which re-parses ABC text with music21, runs over every tune under --slow)."""
    encodable = 0
    for score in oneills_scores:
        try:
            encoded = TOK.encode(score)
        except TokenizeError:
            continue
        encodable += 1
        assert TOK.encode(TOK.normalize(score)) == encoded, score.title
    assert encodable >= 0.99 * len(oneills_scores)


@pytest.mark.slow
def test_all_oneills_tunes(oneills_scores):
    encodable = 0
    for score in oneills_scores:
        try:
            encoded = TOK.encode(score)
        except TokenizeError:
            continue
        encodable += 1
        assert TOK.decode(encoded) == TOK.normalize(score), score.title
    assert encodable >= 0.99 * len(oneills_scores)
