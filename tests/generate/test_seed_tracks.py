"""Seeds of several tracks or parts: the melody is chosen by a documented rule (or --track) and one
line says what was dropped; the seed's tempo map is kept exactly; a composition keeps its bar lines."""

from __future__ import annotations

import random
import warnings
from fractions import Fraction as F
from pathlib import Path

import pretty_midi
import pytest

import composer
from composer.cli import main as cli_main
from composer.errors import InputError
from composer.generate.composer import Composer
from composer.generate.seeds import melody_seed
from tests.io.midi_makers import Part, Plan, chorale, chords, melody, write

SEEDS = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"


@pytest.fixture(scope="module")
def default() -> Composer:
    return Composer.load(device="cpu")


def band(tmp_path: Path, midi_type: int = 1) -> tuple[Path, Plan]:
    rng = random.Random(4)
    plan = Plan([Part("Guitar", chords(6, F(4), F(1)), 24, 1), Part("Flute", melody(rng, 6, F(4), F(1), [F(1, 2), F(1)]), 73, 0)],
                pickup=F(1), tempos=[(F(0), 120.0), (F(9), 96.5)], midi_type=midi_type)
    return write(plan, tmp_path / f"band{midi_type}.mid"), plan


@pytest.mark.parametrize("midi_type", [0, 1])
def test_the_melody_track_is_chosen_and_the_rest_named(tmp_path: Path, midi_type: int) -> None:
    path, plan = band(tmp_path, midi_type)
    chords_track = 1 if midi_type == 1 else 2  # a type 0 file is split by channel: the flute's 0 comes first
    with pytest.warns(UserWarning, match=rf"kept track {3 - chords_track} .*\(25 notes\), the melody.*dropped "
                                         rf"{chords_track} .*\(18 notes\)") as caught:
        seed = melody_seed(path)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert sorted(n.pitch for n in seed.notes) == sorted(p for p, _, _ in plan.parts[1].notes)
    with pytest.warns(UserWarning, match="chosen with --track"):
        assert len(melody_seed(path, track=chords_track).notes) == 18
    with pytest.raises(InputError, match="--track 3: this file has 2 track"):
        melody_seed(path, track=3)


def test_four_voices_give_the_soprano(tmp_path: Path) -> None:
    plan = Plan(chorale(random.Random(5), 6, F(4), F(0)), midi_type=1)
    with pytest.warns(UserWarning, match="kept track 1 'Soprano'"):
        seed = melody_seed(write(plan, tmp_path / "choir.mid"))
    assert len(seed.notes) == len(plan.parts[0].notes)


def test_musicxml_parts_give_the_highest_voice_and_one_track_stays_whole(tmp_path: Path) -> None:
    from music21 import corpus

    from composer.io.musicxml import stream_to_score

    path = Path(corpus.getWork("bach/bwv66.6"))
    with pytest.warns(UserWarning, match="4 parts; kept the highest voice"):
        top = melody_seed(path)
    assert len({n.start for n in top.notes}) == len(top.notes)
    chorale_score = stream_to_score(corpus.parse("bach/bwv66.6"), "bwv66.6")
    own = composer.save_midi(chorale_score, tmp_path / "bwv66.mid")  # composer's writer: one part, unisons split off
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(melody_seed(own).notes) == len(chorale_score.notes)


def test_the_seed_tempo_map_is_kept_exactly(default: Composer, tmp_path: Path) -> None:
    path, _ = band(tmp_path)
    with pytest.warns(UserWarning):
        (out,) = default.compose(path, n=1, bars=2, rng_seed=1)
    assert out.tempos == ((0, 120.0), (9 * 480, 96.5))
    (plain,) = default.compose(SEEDS / "kesh.abc", n=1, bars=2, rng_seed=1)
    assert [t.qpm for t in plain.tempos] == [composer.load(SEEDS / "kesh.abc")[0].tempos[0].qpm]


def test_a_continuation_keeps_its_pickup_and_bar_lines(default: Composer, tmp_path: Path) -> None:
    from music21 import converter

    (out,) = default.compose(SEEDS / "cooleys.abc", n=1, bars=4, rng_seed=2)
    assert out.metadata["pickup_ticks"] == 480
    pm = pretty_midi.PrettyMIDI(str(composer.save_midi(out, tmp_path / "c.mid")))
    assert [(t.numerator, t.denominator) for t in pm.time_signature_changes] == [(1, 4), (4, 4)]
    measures = list(converter.parse(str(tmp_path / "c.mid")).parts[0].getElementsByClass("Measure"))
    assert measures[1].duration.quarterLength == 4.0 and measures[1].notes.first().offset == 0.0
    (alone,) = default.compose(SEEDS / "cooleys.abc", n=1, bars=4, rng_seed=2, include_seed=False)
    seed_end = out.metadata["seed_end_tick"]
    assert alone.metadata["pickup_ticks"] == (480 - seed_end) % 1920


def test_cli_track_option(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path, _ = band(tmp_path)
    args = ["compose", str(path), "--track", "1", "--n", "1", "--bars", "2", "--no-wav", "--no-png", "--no-html",
            "--rng-seed", "1", "--out", str(tmp_path / "out")]
    try:
        cli_main(args)
    except SystemExit as e:
        assert not e.code
    out, err = capsys.readouterr()
    assert "wrote 1 variation" in out
    assert "warning: " in err and "kept track 1 'Guitar'" in err  # one clean line, as the CLI prints warnings


def test_track_without_a_seed_file_is_refused(default: Composer) -> None:
    with pytest.raises(InputError, match="there is no seed"):
        default.seed(None, track=1)
    with pytest.raises(InputError, match="a MIDI seed"):
        default.seed(SEEDS / "kesh.abc", track=1)
