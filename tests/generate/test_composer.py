"""Composing with the shipped default model: seeds, conditioning, reproducibility, files people open."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import mido
import pretty_midi
import pytest

import composer
from composer.cli import main as cli_main
from composer.generate.composer import DEFAULT_CHECKPOINT, Composer

SEEDS = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"


@pytest.fixture(scope="module")
def default() -> Composer:
    assert DEFAULT_CHECKPOINT.exists(), "the shipped model checkpoints/default.pt must be in the repo"
    return Composer.load(device="cpu")


def run(args: list[str]) -> int:
    try:
        cli_main(args)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def seed_notes(c: Composer, seed: composer.Score) -> tuple:
    return c.tokenizer.normalize(seed).notes


def test_abc_seed_opens_every_variation_unchanged(default: Composer) -> None:
    seed = composer.load(SEEDS / "kesh.abc")[0]
    outs = default.compose(SEEDS / "kesh.abc", n=3, bars=8, rng_seed=1)
    expected = seed_notes(default, seed)
    for out in outs:
        assert out.notes[: len(expected)] == expected
        new = out.notes[len(expected):]
        assert new, "the model wrote nothing after the seed"
        assert min(n.start for n in new) >= max(n.start for n in expected)
        assert out.metadata["seed_end_tick"] == default.tokenizer.normalize(seed).end_tick
        assert out.title.startswith("The Kesh")
    assert len({out.notes for out in outs}) == 3  # three different variations


def test_polyphonic_midi_seed_works(default: Composer, tmp_path: Path) -> None:
    from music21 import corpus

    from composer.io.musicxml import stream_to_score

    chorale = stream_to_score(corpus.parse("bach/bwv66.6"), "bwv66.6")
    path = composer.save_midi(chorale, tmp_path / "bwv66.mid")
    seed = composer.load(path)[0]
    outs = default.compose(path, n=2, bars=4, rng_seed=2)
    expected = seed_notes(default, seed)
    assert max(len({n.start for n in expected}), 1) < len(expected)  # chords: several notes per onset
    for out in outs:
        assert out.notes[: len(expected)] == expected
        assert len(out.notes) > len(expected)


def test_rng_seed_makes_output_reproducible(default: Composer) -> None:
    a = default.compose(SEEDS / "cooleys.abc", n=2, bars=4, rng_seed=5)
    b = default.compose(SEEDS / "cooleys.abc", n=2, bars=4, rng_seed=5)
    c = default.compose(SEEDS / "cooleys.abc", n=2, bars=4, rng_seed=6)
    assert [x.notes for x in a] == [x.notes for x in b]
    assert [x.notes for x in a] != [x.notes for x in c]


def test_a_jig_in_g_from_labels_alone(default: Composer) -> None:
    outs = default.compose(n=4, bars=8, tune_type="jig", key="G", meter="6/8", rng_seed=3)
    for out in outs:
        assert out.time_signatures[0][1:] == (6, 8)
        assert out.key_signature.name == "G major"
        assert out.tune_type == "jig"
        bars = sum(1 for i in out.metadata["ids"] if default.tokenizer.table.kinds[i] == "BAR")
        assert 1 <= bars <= 8
        assert len(out.notes) >= 8


def test_bars_limit_counts_new_bars(default: Composer) -> None:
    seed_ids = default.seed(SEEDS / "drowsy_maggie.abc").ids
    for bars in (2, 6):
        for ids in default.compose_ids(seed_ids, n=4, bars=bars, rng_seed=bars):
            tail = ids[len(seed_ids):]
            assert ids[: len(seed_ids)] == seed_ids
            assert sum(default.tokenizer.table.kinds[i] == "BAR" for i in tail) <= bars


def test_out_of_range_seed_is_moved_with_a_warning(default: Composer) -> None:
    seed = composer.load(SEEDS / "kesh.abc")[0].transpose(48)  # far above the piano's top
    with pytest.warns(UserWarning, match="octave"):
        outs = default.compose(seed, n=1, bars=2, rng_seed=0)
    low, high = default.tokenizer.config.pitch_low, default.tokenizer.config.pitch_high
    assert all(low <= n.pitch <= high for n in outs[0].notes)
    assert len(outs[0].notes) >= len(composer.load(SEEDS / "kesh.abc")[0].notes) // 2


def test_continuation_alone_starts_at_zero(default: Composer) -> None:
    (out,) = default.compose(SEEDS / "kesh.abc", n=1, bars=4, rng_seed=4, include_seed=False)
    assert out.notes and min(n.start for n in out.notes) >= 0
    assert out.metadata["seed_end_tick"] == 0


def test_cli_compose_writes_files_that_every_reader_opens(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run(["compose", "--n", "2", "--bars", "4", "--rng-seed", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    mids = sorted(folder.glob("*.mid"))
    assert len(mids) == 2 and str(folder) in printed
    from music21 import converter

    for mid in mids:
        notes = composer.load(mid)[0].notes
        assert sum(len(i.notes) for i in pretty_midi.PrettyMIDI(str(mid)).instruments) == len(notes)
        assert sum(m.type == "note_on" and m.velocity > 0 for m in mido.MidiFile(mid)) == len(notes)
        assert len(converter.parse(str(mid)).flatten().notes) > 0
    page = (folder / "index.html").read_text()
    for ref in re.findall(r'(?:href|src)="([^"#:]+)"', page):
        assert (folder / ref).exists(), ref
    # a second run never overwrites the first
    assert run(["compose", "--n", "1", "--bars", "2", "--rng-seed", "1", "--out", str(tmp_path), "--no-wav"]) == 0
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_each_row_draws_its_own_header_when_only_the_type_is_asked(default: Composer) -> None:
    """Asking for 40 reels gives reels in more than one meter/key (one draw per row, not one per batch)."""
    outs = default.compose(n=40, bars=2, tune_type="reel", rng_seed=1)
    assert len(outs) == 40 and all(o.tune_type == "reel" for o in outs)
    headers = {(o.time_signatures[0][1:], o.key_signature.name) for o in outs}
    assert len(headers) >= 2
    again = default.compose(n=40, bars=2, tune_type="reel", rng_seed=1)
    assert [o.notes for o in outs] == [o.notes for o in again]

