"""Both schemes against the score as read (not `normalize(score)`): every note's pitch, onset, length,
bar index and position survive decode(encode(score)) on MIDI files written the way other tools write
them, on Bach chorales written to MIDI, and on O'Neill tunes written by abc2midi."""

from __future__ import annotations

import random
import shutil
import subprocess
from fractions import Fraction as F
from pathlib import Path

import pytest

from composer.io import load, save_midi
from composer.tokenize import Tokenizer
from tests.io.midi_makers import Part, Plan, chorale, chords, melody, mismatch, random_plan, write

SCHEMES = {name: Tokenizer.create(name) for name in ("metric", "performance")}


def round_trip_problems(path: Path) -> dict[str, str]:
    """Scheme → why the file's music did not come back (absent when it did)."""
    (score,) = load(path)
    out = {}
    for name, tok in SCHEMES.items():
        ids = tok.encode(score)
        back = tok.decode(ids)
        assert tok.encode(back) == ids
        problem = mismatch(score, back, name)
        if problem:
            out[name] = problem
    return out


def test_mismatch_sees_a_note_moved_out_of_its_bar(tmp_path: Path) -> None:
    plan = Plan([Part("Flute", [(62, F(5, 2), F(1, 2)), (64, F(3), F(1))], 73)], (6, 8))  # a leading rest
    (score,) = load(write(plan, tmp_path / "rest.mid"))
    moved = score.replace(notes=[n._replace(start=n.start - 960) for n in score.notes])  # what the old decode did
    assert "differ" in mismatch(score, moved, "metric") and "differ" in mismatch(score, moved, "performance")
    assert mismatch(score, score, "metric") is None


@pytest.mark.parametrize("style", ["short bar", "padded", "unmarked"])
@pytest.mark.parametrize("tpq,midi_type", [(480, 1), (960, 0), (1024, 1)])
def test_pickups_however_written(tmp_path: Path, style: str, tpq: int, midi_type: int) -> None:
    rng = random.Random(tpq)
    tune = melody(rng, 8, F(4), F(1), [F(1, 2), F(1, 2), F(1), F(1, 4)])
    plan = Plan([Part("Fiddle", tune, 40)], (4, 4), F(1), style, tpq=tpq, midi_type=midi_type)
    assert round_trip_problems(write(plan, tmp_path / "reel.mid")) == {}


def test_leading_rest_held_chords_unisons_and_melody_with_chords(tmp_path: Path) -> None:
    rng = random.Random(7)
    plans = [
        Plan([Part("Fiddle", melody(rng, 4, F(3), F(0), [F(1, 2)], start=F(5, 2)), 40)], (6, 8), tpq=960),
        Plan([Part("Lead", melody(rng, 6, F(4), F(0), [F(1)]), 73, 0), Part("Pad", chords(6, F(4), F(0), hold=6), 89, 1)],
             tpq=1024),
        Plan([Part("Lead", melody(rng, 4, F(4), F(0), [F(9, 2), F(11, 2)]), 73, 0)], tpq=480),  # 4.5 and 5.5 beats
        Plan(chorale(rng, 8, F(4), F(1)), pickup=F(1), midi_type=0),
        Plan([Part("Tune", melody(rng, 8, F(3), F(1, 2), [F(1, 2)]), 22, 0), Part("Guitar", chords(8, F(3), F(1, 2)), 24, 1)],
             (6, 8), F(1, 2), "padded", gate=F(19, 20)),
    ]
    for i, plan in enumerate(plans):
        assert round_trip_problems(write(plan, tmp_path / f"{i}.mid")) == {}, i


def test_random_files_from_other_tools(tmp_path: Path) -> None:
    rng = random.Random(2026)
    bad = {}
    for i in range(60):
        plan = random_plan(rng)
        problems = round_trip_problems(write(plan, tmp_path / f"{i}.mid"))
        if problems:
            bad[i] = (plan.meter, plan.pickup, plan.pickup_style, problems)
    assert bad == {}


def test_bach_chorales_through_composers_corpus_builder(tmp_path: Path) -> None:
    from music21 import corpus

    from composer.io.musicxml import stream_to_score

    for name in ("bach/bwv66.6", "bach/bwv269", "bach/bwv347"):
        path = save_midi(stream_to_score(corpus.parse(name), name), tmp_path / f"{name[5:]}.mid")
        problems = round_trip_problems(path)
        repaired = SCHEMES["performance"].normalize(load(path)[0]).metadata["overlaps_repaired"]
        assert "metric" not in problems, name
        # performance cannot tell a nested overlap of one pitch (the later note ending first) from a
        # crossing one; normalize counts the notes it re-pairs
        assert problems.get("performance", "0 of").startswith(f"{repaired} of"), name


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed (apt-get install abcmidi)")
def test_oneill_tunes_written_by_abc2midi(tmp_path: Path) -> None:
    seeds = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"
    for abc in sorted(seeds.glob("*.abc")):
        out = tmp_path / f"{abc.stem}.mid"
        subprocess.run(["abc2midi", str(abc), "1", "-o", str(out), "-silent", "-NGRA", "-NGUI"],
                       check=True, capture_output=True, timeout=30)
        assert round_trip_problems(out) == {}, abc.name
