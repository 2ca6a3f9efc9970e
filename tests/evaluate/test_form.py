"""Form statistics: known answers on hand-built tunes, on the bundled seeds, and in `evaluate --generated`."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from composer.evaluate.form import (
    FormConfig,
    form_features,
    form_side_by_side,
    form_summary,
    form_table,
    score_bars,
)
from composer.evaluate.run import GenerateConfig, evaluate_generated, summary_lines
from composer.io import load, save_midi
from composer.score import (
    BarMarks,
    Form,
    KeySignature,
    Note,
    Score,
    TimeSignature,
    key_name_to_signature,
    main_beats,
    play_order,
)
from tests.conftest import SEEDS

TPQ = 480
EIGHTH = TPQ // 2
D_MAJOR = [62, 64, 66, 67, 69, 71, 73, 74]


def phrase(seed: int, bars: int = 8, per_bar: int = 8) -> list[list[int]]:
    """`bars` bars of `per_bar` random D-major pitches."""
    rng = np.random.default_rng(seed)
    return [[D_MAJOR[i] for i in rng.integers(0, 8, size=per_bar)] for _ in range(bars)]


def piece(bars: list[list[int]], meter: tuple[int, int] = (4, 4), key: str = "D", pickup: tuple[int, ...] = (),
          step: int = EIGHTH, last: tuple[int, int] | None = None) -> Score:
    """Eighth notes bar by bar after an optional pickup of eighths; `last` = (pitch, tick in the last bar)
    replaces the last bar's notes by one note there."""
    notes = [Note(p, i * step, step) for i, p in enumerate(pickup)]
    start = len(pickup) * step
    bar_ticks = meter[0] * 4 * TPQ // meter[1]
    for b, pitches in enumerate(bars):
        at = start + b * bar_ticks
        if last is not None and b == len(bars) - 1:
            notes.append(Note(last[0], at + last[1], step))
        else:
            notes += [Note(p, at + i * step, step) for i, p in enumerate(pitches)]
    return Score(notes=notes, tpq=TPQ, time_signatures=[TimeSignature(0, *meter)],
                 key_signatures=[key_name_to_signature(key)], metadata={"pickup_ticks": start})


def test_an_aabb_tune_has_a_part_played_again() -> None:
    a, b = phrase(1), phrase(2)
    f = form_features(piece(a + a + b + b), FormConfig(analyse_key=False))
    assert f["bars"] == 32 and f["part_repeated"] and f["part_repeated_at_boundary"]
    assert f["bar_repetition"] >= 0.5 and f["parts"] == "AABB" and f["part_lengths"] == [8] * 4
    assert "analysed_tonic" not in f


def test_second_endings_and_a_part_played_again_off_the_part_grid() -> None:
    a, b = phrase(1), phrase(2)
    first, second = a, a[:7] + [phrase(3, 1)[0]]  # a second ending: the last bar differs
    f = form_features(piece(first + second + b + b), FormConfig(analyse_key=False))
    assert f["part_repeated"] and f["parts"] == "AABB"
    shifted = form_features(piece(phrase(4, 3) + a + a), FormConfig(analyse_key=False))  # A starts at bar 4
    assert shifted["part_repeated"] and not shifted["part_repeated_at_boundary"]
    assert shifted["parts"] == "ABC" and shifted["part_lengths"] == [8, 8, 3]


def test_six_of_eight_equal_bars_is_a_part_played_again_five_is_not() -> None:
    a, other = phrase(1), phrase(9)
    six = a[:6] + other[6:]
    five = a[:5] + other[5:]
    assert form_features(piece(a + six), FormConfig(analyse_key=False))["part_repeated"]
    assert not form_features(piece(a + five), FormConfig(analyse_key=False))["part_repeated"]
    assert form_features(piece(a + five), FormConfig(min_equal_bars=5, analyse_key=False))["part_repeated"]
    assert form_features(piece(a + six), FormConfig(analyse_key=False))["parts"] == "AB"  # 2 bars differ: not "AA"


def test_a_random_walk_repeats_nothing() -> None:
    rng = np.random.default_rng(0)
    walk = (62 + np.cumsum(rng.choice([-2, -1, 1, 2], size=32 * 8))).tolist()
    f = form_features(piece([walk[i:i + 8] for i in range(0, len(walk), 8)]), FormConfig(analyse_key=False))
    assert not f["part_repeated"] and f["bar_repetition"] < 0.1 and f["parts"] == "ABCD"


def test_bars_compare_notes_at_the_same_places() -> None:
    a = phrase(1, 1)[0]
    moved = piece([a, a])
    late = moved.replace(notes=[n._replace(start=n.start + EIGHTH) if n.start >= 8 * EIGHTH else n
                                for n in moved.notes])
    assert form_features(moved, FormConfig(analyse_key=False))["bar_repetition"] == 0.5
    assert form_features(late, FormConfig(analyse_key=False))["bar_repetition"] == 0.0
    starts, bars = score_bars(piece([a, a], pickup=(74,)))
    assert starts == [EIGHTH, EIGHTH + 8 * EIGHTH] and bars[0] == bars[1]  # the pickup bar is left out
    assert len(bars[0]) == 8 and bars[0][0] == (0, a[0], 6)  # (position, pitch, duration) on 12 steps a beat


@pytest.mark.parametrize(("meter", "beats"), [((4, 4), (0, 2)), ((2, 2), (0, 2)), ((6, 8), (0, 1.5)),
                                              ((9, 8), (0, 1.5, 3)), ((3, 4), (0,)), ((2, 4), (0, 1)),
                                              ((12, 8), (0, 1.5, 3, 4.5))])
def test_main_beats(meter: tuple[int, int], beats: tuple[float, ...]) -> None:
    assert main_beats(*meter) == beats


def test_last_note_on_a_main_beat_after_a_pickup_and_in_six_eight() -> None:
    bars = phrase(1, 4)
    on_three = piece(bars, pickup=(69,), last=(62, 4 * EIGHTH))  # beat 3 of the last 4/4 bar
    assert form_features(on_three, FormConfig(analyse_key=False))["last_on_main_beat"] is True
    assert form_features(on_three.replace(metadata={}), FormConfig(analyse_key=False))["last_on_main_beat"] is False
    on_two = piece(bars, pickup=(69,), last=(62, 2 * EIGHTH))
    assert form_features(on_two, FormConfig(analyse_key=False))["last_on_main_beat"] is False
    jig = phrase(1, 4, per_bar=6)
    assert form_features(piece(jig, (6, 8), last=(62, 3 * EIGHTH)), FormConfig(analyse_key=False))["last_on_main_beat"]
    assert not form_features(piece(jig, (6, 8), last=(62, 2 * EIGHTH)),
                             FormConfig(analyse_key=False))["last_on_main_beat"]
    only_pickup = piece([], pickup=(62, 64))  # the last note sits in the pickup bar: on the last eighth of a full bar
    assert form_features(only_pickup, FormConfig(analyse_key=False))["last_on_main_beat"] is False


def test_a_meter_change_moves_the_bar_lines_and_the_main_beats() -> None:
    reel, jig = phrase(1, 2), phrase(2, 2, per_bar=6)
    notes = [Note(p, b * 8 * EIGHTH + i * EIGHTH, EIGHTH) for b, bar in enumerate(reel) for i, p in enumerate(bar)]
    notes += [Note(p, 16 * EIGHTH + b * 6 * EIGHTH + i * EIGHTH, EIGHTH) for b, bar in enumerate(jig)
              for i, p in enumerate(bar[:4] if b else bar)]  # the last 6/8 bar: 4 eighths, the last at 1.5 beats
    score = Score(notes=notes, tpq=TPQ, time_signatures=[TimeSignature(0, 4, 4), TimeSignature(16 * EIGHTH, 6, 8)],
                  key_signatures=[KeySignature(0, 2)])
    starts, bars = score_bars(score)
    assert starts == [0, 8 * EIGHTH, 16 * EIGHTH, 22 * EIGHTH] and len(bars[2]) == 6
    assert form_features(score, FormConfig(analyse_key=False))["last_on_main_beat"] is True


def test_an_empty_piece_has_no_form() -> None:
    f = form_features(Score())
    assert f["bars"] == 0 and not f["part_repeated"] and math.isnan(f["bar_repetition"]) and f["parts"] == ""
    assert f["ends_on_tonic"] is None and f["last_on_main_beat"] is None and f["analysed_tonic"] is None
    s = form_summary([Score()])
    assert s["n"] == 1 and math.isnan(s["ends_on_tonic"]) and form_table({"empty": s})[2].count("–") == 4
    assert s["parts"] == {"no bars": 1}


def test_ends_on_the_tonic_of_the_mode() -> None:
    bars = phrase(1, 2)
    assert form_features(piece(bars, key="Ador", last=(69, 0)), FormConfig(analyse_key=False))["ends_on_tonic"]
    assert not form_features(piece(bars, key="Ador", last=(67, 0)), FormConfig(analyse_key=False))["ends_on_tonic"]
    assert form_features(piece(bars, key="D", last=(74, 0)), FormConfig(analyse_key=False))["ends_on_tonic"]
    keyless = piece(bars, last=(62, 0)).replace(key_signatures=())
    assert form_features(keyless)["ends_on_tonic"] is None and form_features(keyless)["tonic_matches"] is None


def test_music21_names_the_tonic_of_a_tune_in_d() -> None:
    arpeggios = [[62, 66, 69, 74, 69, 66, 62, 66], [67, 71, 74, 71, 69, 73, 76, 73]] * 4 + [[62] * 8]
    f = form_features(piece(arpeggios, key="D"))
    assert f["analysed_tonic"] == "D" and f["tonic_matches"] is True
    g = form_features(piece(arpeggios, key="G"))  # the notes say D, the signature says G
    assert g["analysed_tonic"] == "D" and g["tonic_matches"] is False


def written_form(bar_ticks: int) -> Form:
    """A part of 8 bars played twice, another of 8 played twice, a last one of 4."""
    repeated = [BarMarks(start_repeat=True), *[BarMarks()] * 6, BarMarks(end_repeat=2)]
    marks = tuple(repeated * 2 + [BarMarks()] * 4)
    order = play_order(marks)
    return Form(marks, tuple(order), tuple(k * bar_ticks for k in range(len(order) + 1)))


def test_a_written_form_gives_the_parts() -> None:
    score = piece(phrase(1) * 2)
    score = score.replace(form=written_form(4 * TPQ))
    f = form_features(score, FormConfig(analyse_key=False))
    assert f["parts"] == "AABBC" and f["part_lengths"] == [8, 8, 4] and f["parts_written"]
    assert f["part_repeated"]  # still measured on the notes as heard


@pytest.mark.parametrize("name", ["cooleys", "kesh"])
def test_real_aabb_tunes(name: str) -> None:
    score = load(SEEDS / f"{name}.abc")[0]
    f = form_features(score)
    assert f["bars"] == 32 and f["part_repeated"] and f["part_repeated_at_boundary"] and f["parts"] == "AABB"
    assert f["bar_repetition"] >= 0.5
    assert f["ends_on_tonic"] and f["last_on_main_beat"] and f["tonic_matches"]
    assert f["key_tonic"] == {"cooleys": "E", "kesh": "G"}[name]  # Cooley's is in E dorian


def test_midi_keeps_the_repeats_and_the_pickup_but_not_the_mode(tmp_path: Path) -> None:
    score = load(SEEDS / "cooleys.abc")[0]
    back = load(save_midi(score, tmp_path / "cooleys.mid"))[0]
    f = form_features(back)
    assert f["part_repeated"] and f["parts"] == "AABB"
    assert back.key_signature == KeySignature(0, 2, "major")  # E dorian is written as D major
    assert not f["ends_on_tonic"]  # E is not D: MIDI's key signature has no modes
    assert f["last_on_main_beat"] == form_features(score)["last_on_main_beat"]  # the pickup bar comes back


def test_summary_and_table() -> None:
    a, b = phrase(1), phrase(2)
    aabb = piece(a + a + b + b, last=(62, 0)).replace(tune_type="reel")
    walk = piece(phrase(3, 16), last=(64, EIGHTH)).replace(tune_type="jig")
    s = form_summary([aabb, walk], FormConfig(analyse_key=False))
    assert s["n"] == 2 and s["part_repeated"] == 0.5 and s["ends_on_tonic"] == 0.5
    assert s["last_on_main_beat"] == 0.5 and s["mean_bars"] == 24 and s["parts"] == {"AABB": 1, "AB": 1}
    assert math.isnan(s["tonic_matches"])
    both = form_side_by_side([aabb.replace(metadata={**aabb.metadata, "asked_type": "jig"})], [aabb, walk],
                             FormConfig(analyse_key=False))
    assert set(both["by_type"]) == {"jig"} and both["by_type"]["jig"]["reference"]["n"] == 1
    table = form_table({"generated": both["generated"], "reference": both["reference"]})
    assert table[2].split("|")[1].strip() == "1" and table[3].split("|")[3].strip() == "0.50"
    assert table[-1] == "reference: parts {'AABB': 1, 'AB': 1}"


def test_evaluate_generated_reports_form_side_by_side(tmp_path: Path) -> None:
    for folder, names in (("gen", ["cooleys", "drowsy_maggie"]), ("ref", ["kesh", "cooleys"])):
        (tmp_path / folder).mkdir()
        for name in names:
            shutil.copy(SEEDS / f"{name}.abc", tmp_path / folder)
    done = evaluate_generated(tmp_path / "gen", tmp_path / "ref", tmp_path / "eval")
    form = json.loads((tmp_path / "eval" / "report.json").read_text())["summary"]["form"]
    assert form["generated"]["part_repeated"] == 0.5 and form["reference"]["part_repeated"] == 1.0
    assert form["by_type"]["reel"]["generated"]["n"] == 2 and form["by_type"]["reel"]["reference"]["n"] == 1
    lines = summary_lines(done["summary"])
    assert any(line.startswith("reference reel ") for line in lines) and any("part again" in line for line in lines)


def test_evaluate_generated_from_a_checkpoint_carries_the_form_table(tmp_path: Path) -> None:
    from composer.tokenize import Tokenizer
    from tests.evaluate.test_classifier import typed_corpus
    from tests.evaluate.test_likelihood import save_tiny

    data = typed_corpus(tmp_path / "corpus", n_each=12)
    ckpt = save_tiny(tmp_path / "m.pt", Tokenizer.create("metric"))
    done = evaluate_generated(ckpt, data, tmp_path / "eval", config=GenerateConfig(n=4, bars=2))
    form = json.loads((tmp_path / "eval" / "report.json").read_text())["summary"]["form"]
    assert form["generated"]["n"] == 4 and form["reference"]["n"] == 6
    assert set(form["by_type"]) <= {"jig", "reel"} and sum(p["generated"]["n"] for p in form["by_type"].values()) == 4
    assert any(line.startswith("generated ") for line in summary_lines(done["summary"]))
