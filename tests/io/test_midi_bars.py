"""MIDI keeps the bar grid: pickups written as a short first bar and read back as pickups, leading
rests, held chords, unisons across tracks, on files written the way other tools write them."""

from __future__ import annotations

import random
from fractions import Fraction as F
from pathlib import Path

import pretty_midi
import pytest

from composer.io import load, save_midi
from composer.score import Note, Score, bar_grid
from tests.io.midi_makers import Part, Plan, chorale, chords, melody, random_plan, write

SEEDS = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"


def bars_of(score: Score) -> list[tuple[int, int, F]]:
    """(pitch, bar index, position in beats) of every note, as composer reads the file's grid."""
    bars, offsets = bar_grid(score, [n.start for n in score.notes])
    return sorted((n.pitch, int(b), F(int(o), score.tpq)) for n, b, o in zip(score.notes, bars, offsets, strict=True))


def first_full_bar(path: Path) -> tuple[float, int, float]:
    """music21's reading of a MIDI file: (length, first note's pitch, its offset) of the first full bar."""
    from music21 import converter

    part = converter.parse(str(path)).parts[0]
    measures = list(part.getElementsByClass("Measure"))
    meter = measures[0].getContextByClass("TimeSignature") if len(measures) < 2 else measures[1].timeSignature
    full = next(m for m in measures if m.duration.quarterLength == (meter or measures[0].timeSignature).barDuration.quarterLength)
    first = full.notes.first()
    return full.duration.quarterLength, max(p.midi for p in first.pitches), first.offset


def test_cooleys_pickup_is_written_as_a_short_first_bar(tmp_path: Path) -> None:
    (score,) = load(SEEDS / "cooleys.abc")  # D2 | EBBA B2 EB | …
    assert score.metadata["pickup_ticks"] == 480 and score.notes[0].start == 0
    path = save_midi(score, tmp_path / "cooleys.mid")
    pm = pretty_midi.PrettyMIDI(str(path))
    assert [(t.numerator, t.denominator) for t in pm.time_signature_changes] == [(1, 4), (4, 4)]
    downbeat = pm.get_downbeats()[1]
    assert pm.instruments[0].notes[1].start == pytest.approx(downbeat)  # the E after the pickup
    assert first_full_bar(path) == (4.0, 64, 0.0)
    back = load(path)[0]
    assert back.notes == score.notes and back.metadata["pickup_ticks"] == 480
    assert [t[1:] for t in back.time_signatures] == [(4, 4)]


@pytest.mark.parametrize("name", sorted(p.name for p in SEEDS.glob("*.abc")))
def test_every_seed_tune_writes_its_downbeats_on_bar_lines(tmp_path: Path, name: str) -> None:
    (score,) = load(SEEDS / name)
    path = save_midi(score, tmp_path / "tune.mid")
    pickup = score.metadata.get("pickup_ticks") or 0
    downbeat = next(n for n in score.notes if n.start >= pickup)
    chord = [n.pitch for n in score.notes if n.start == downbeat.start]
    assert first_full_bar(path)[1:] == (max(chord), 0.0)
    assert bars_of(load(path)[0]) == bars_of(score)


def test_a_pickup_no_meter_can_measure_pads_the_first_bar(tmp_path: Path) -> None:
    third = 160  # a triplet eighth's pickup at tpq 480
    score = Score([Note(62, 0, third), Note(64, third, 480)], time_signatures=[(0, 2, 4)], metadata={"pickup_ticks": third})
    back = load(save_midi(score, tmp_path / "triplet.mid"))[0]
    assert back.metadata["pickup_ticks"] == 0 and [n.start for n in back.notes] == [960 - third, 960]
    assert [b for _, b, _ in bars_of(back)] == [0, 1]


def jig(style: str, tpq: int, midi_type: int) -> Plan:
    rng = random.Random(6)
    tune = melody(rng, 8, F(3), F(1, 2), [F(1, 2), F(1, 2), F(3, 2)])
    return Plan([Part("Whistle", tune, 78, 0)], (6, 8), F(1, 2), style, tpq=tpq, midi_type=midi_type, key="G")


@pytest.mark.parametrize("style", ["short bar", "padded", "unmarked"])
@pytest.mark.parametrize("tpq,midi_type", [(480, 1), (960, 0), (1024, 1)])
def test_the_files_bar_grid_is_kept_however_a_pickup_is_written(tmp_path: Path, style: str, tpq: int, midi_type: int) -> None:
    plan = jig(style, tpq, midi_type)
    (score,) = load(write(plan, tmp_path / "jig.mid"))
    assert bars_of(score) == plan.expected()
    assert (score.metadata["pickup_ticks"] == tpq // 2) == (style == "short bar")
    again = load(save_midi(score, tmp_path / "again.mid"))[0]
    assert again.notes == score.notes and bars_of(again) == bars_of(score)


def test_leading_rests_held_chords_and_unisons_across_four_tracks(tmp_path: Path) -> None:
    rng = random.Random(3)
    rest = Plan([Part("Fiddle", melody(rng, 4, F(3), F(0), [F(1, 2)], start=F(5, 2)), 40, 0)], (6, 8), tpq=960)
    held = Plan([Part("Lead", melody(rng, 6, F(4), F(0), [F(1)]), 73, 0),
                 Part("Pad", chords(6, F(4), F(0), hold=6), 89, 1)], tpq=1024)
    choir = Plan(chorale(rng, 6, F(4), F(1)), pickup=F(1), midi_type=0)
    for i, plan in enumerate((rest, held, choir)):
        (score,) = load(write(plan, tmp_path / f"{i}.mid"))
        assert bars_of(score) == plan.expected()
        assert len(score.notes) == sum(len(p.notes) for p in plan.parts)
    assert max(n.duration for n in load(tmp_path / "1.mid")[0].notes) == 24 * 1024
    notes = load(tmp_path / "2.mid")[0].notes
    assert len({(n.pitch, n.start) for n in notes}) < len(notes)  # unisons between parts are all read


def test_random_files_from_other_tools_keep_their_bars(tmp_path: Path) -> None:
    rng = random.Random(15)
    for i in range(40):
        plan = random_plan(rng)
        (score,) = load(write(plan, tmp_path / f"{i}.mid"))
        assert bars_of(score) == plan.expected(), (i, plan.meter, plan.pickup, plan.pickup_style)


@pytest.mark.parametrize("name", ["cooleys.abc", "give_us_a_drink_of_water.abc"])
def test_musicxml_writes_a_pickup_as_an_uncounted_measure_zero(tmp_path: Path, name: str) -> None:
    from music21 import converter

    from composer.render.notation import musicxml_bytes

    (score,) = load(SEEDS / name)
    path = tmp_path / "tune.musicxml"
    path.write_bytes(musicxml_bytes(score))
    assert b'<measure implicit="yes" number="0">' in path.read_bytes()
    zero, one = list(converter.parse(str(path)).parts[0].getElementsByClass("Measure"))[:2]
    assert zero.duration.quarterLength == score.metadata["pickup_ticks"] / 480
    assert one.number == 1 and one.duration.quarterLength == score.time_signature.bar_beats
    assert one.notes.first().offset == 0 and one.notes.first().pitch.midi == next(n for n in score.notes if n.start == score.metadata["pickup_ticks"]).pitch
    back = load(path)[0]
    assert back.notes == score.notes and back.metadata["pickup_ticks"] == score.metadata["pickup_ticks"]


@pytest.mark.parametrize("title", ["THE BRINK OF THE WHITE ROCKS", "HAVE YOU BEEN AT CARRICK?"])
def test_a_pickup_of_nine_or_five_tuplet_notes_keeps_its_bar_line(tmp_path: Path, title: str) -> None:
    """O'Neill's 83 and 94 open on a (9 and a (5 run: a pickup of 3/8 and 1/2 beat in 1/24- and 1/10-beat notes.
    music21's default quantiser (1/4 and 1/3 beat) cannot hold such notes, so it is read unquantised."""
    from music21 import converter, corpus

    (abc,) = [p for p in corpus.getPaths(fileExtensions=("abc",)) if p.name == "0051-0100.abc"]
    score = next(t for t in load(abc) if t.title == title)  # the first setting
    pickup = score.metadata["pickup_ticks"]
    assert pickup in (180, 240) and score.tpq == 480
    path = save_midi(score, tmp_path / "tune.mid")
    measures = list(converter.parse(str(path), quantizePost=False).parts[0].getElementsByClass("Measure"))
    assert measures[0].duration.quarterLength == pickup / score.tpq
    assert measures[1].offset == pickup / score.tpq and measures[1].duration.quarterLength == 3.0
    downbeat = next(n for n in score.notes if n.start == pickup)
    assert measures[1].notes.first().offset == 0 and downbeat.pitch in [p.midi for p in measures[1].notes.first().pitches]
    assert bars_of(load(path)[0]) == bars_of(score)
