"""Corpus builders (O'Neill's, Bach chorales, seeds) and the bundled seed tunes themselves."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from composer.corpus.build import build, build_bach, build_oneills, build_seeds, oneills_paths, tunes_to_midi
from composer.errors import InputError
from composer.io import load

SEEDS = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"
SEED_TYPES = {
    "kesh": ("jig", "6/8", "G major"),
    "irish_washerwoman": ("jig", "6/8", "G major"),
    "drowsy_maggie": ("reel", "4/4", "E dorian"),
    "soldiers_joy": ("reel", "4/4", "D major"),
    "cooleys": ("reel", "4/4", "E dorian"),
    "boys_of_bluehill": ("hornpipe", "4/4", "D major"),
    "sailors_hornpipe": ("hornpipe", "4/4", "D major"),
    "give_us_a_drink_of_water": ("slip jig", "9/8", "G major"),
}


@pytest.mark.parametrize("stem", sorted(SEED_TYPES))
def test_seed_tune_parses_with_whole_bars_and_matches_its_midi(stem):
    text = (SEEDS / f"{stem}.abc").read_text()
    assert text.startswith("% ") and "public domain" in text.lower()
    for field in "XTRMLK":
        assert re.search(rf"^{field}:", text, re.MULTILINE), f"{stem}.abc lacks {field}:"
    [score] = load(SEEDS / f"{stem}.abc")
    tune_type, meter, key = SEED_TYPES[stem]
    ts = score.time_signature
    assert (score.tune_type, f"{ts.numerator}/{ts.denominator}", score.key_signature.name) == (tune_type, meter, key)
    bar = score.tpq * 4 * ts.numerator // ts.denominator
    assert score.end_tick % bar == 0 and score.end_tick // bar in (16, 32)
    [midi] = load(SEEDS / f"{stem}.mid")
    assert [n[:3] for n in midi.notes] == [n[:3] for n in score.notes]


def test_build_seeds_writes_midi_once(tmp_path):
    for stem in ("kesh", "cooleys"):
        shutil.copy(SEEDS / f"{stem}.abc", tmp_path)
    first = build_seeds(tmp_path)
    assert (first.written, first.skipped_existing, first.failed) == (2, 0, ())
    assert load(tmp_path / "kesh.mid")[0].notes == load(SEEDS / "kesh.mid")[0].notes
    assert build_seeds(tmp_path).skipped_existing == 2
    assert build_seeds(tmp_path, force=True).written == 2


def test_build_oneills_copies_the_39_files_idempotently(tmp_path):
    first = build_oneills(tmp_path / "o")
    assert (first.written, first.skipped_existing) == (39, 0)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [p.name for p in oneills_paths()]
    src = next(p for p in oneills_paths() if p.name == "0731-0731.abc")
    assert (tmp_path / "o" / "0731-0731.abc").read_bytes() == src.read_bytes()
    again = build_oneills(tmp_path / "o")
    assert (again.written, again.skipped_existing) == (0, 39)


def test_tunes_to_midi_writes_each_tune_and_resumes(tmp_path, oneills_paths):
    src = [p for p in oneills_paths if p.name in ("0731-0731.abc", "0626-0635.abc")]
    report = tunes_to_midi(src, tmp_path / "m", workers=1)
    assert (report.written, report.failed) == (11, ())
    mids = sorted(p.name for p in (tmp_path / "m").glob("*.mid"))
    assert mids[0] == "0626-0635-000.mid" and mids[-1] == "0731-0731-000.mid" and len(mids) == 11
    assert load(tmp_path / "m" / "0731-0731-000.mid")[0].notes == load(src[1])[0].notes
    assert tunes_to_midi(src, tmp_path / "m", workers=1).skipped_existing == 2


def test_build_bach_writes_four_voice_midi(tmp_path):
    report = build_bach(tmp_path, limit=2)
    assert (report.written, report.failed) == (2, ())
    assert sorted(p.name for p in tmp_path.glob("*.mid")) == ["bwv269.mid", "bwv347.mid"]
    [score] = load(tmp_path / "bwv269.mid")
    starts = {}
    for n in score.notes:
        starts.setdefault(n.start, set()).add(n.pitch)
    assert max(len(p) for p in starts.values()) == 4  # soprano, alto, tenor, bass together
    assert build_bach(tmp_path, limit=2).skipped_existing == 2


def test_build_refuses_unknown_names_and_missing_out():
    with pytest.raises(InputError, match="unknown corpus"):
        build("mozart", "x")
    with pytest.raises(InputError, match="--out"):
        build("bach")


def test_ryans_copies_every_typed_tune_and_resumes(tmp_path):
    first = build("ryans", tmp_path / "ryans")
    assert first.written == 1059 and not first.failed
    assert build("ryans", tmp_path / "ryans").skipped_existing == 1059
    tune = load(tmp_path / "ryans" / "42dHighlandRegimentStrathspey.abc")[0]
    assert tune.tune_type == "strathspey" and len(tune.notes) > 50


def test_reels_in_two_four_are_written_in_cut_time_with_the_same_notes():
    from composer.corpus.build import in_cut_time

    ryans = "X:1\nT:A Reel\nR:reel\nM:2/4\nL:1/16\nK:D\nABcd efge|dcBA F2D2|\n"
    cut = in_cut_time(ryans)
    assert "M:C|" in cut and "L:1/8" in cut and cut.count("M:") == 1
    a, b = load_text(ryans), load_text(cut)
    assert [n.pitch for n in a.notes] == [n.pitch for n in b.notes]
    assert [2 * n.duration for n in a.notes] == [n.duration for n in b.notes]
    jig = "X:1\nT:A Jig\nR:jig\nM:2/4\nL:1/16\nK:D\nABcd efge|\n"
    assert in_cut_time(jig) == jig  # only reels and hornpipes are moved


def load_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.abc"
        path.write_text(text)
        return load(path)[0]
