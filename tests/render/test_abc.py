"""ABC out: repeat signs and endings kept, read back by music21 (composer.load) and abc2midi as the same notes."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pretty_midi
import pytest

import composer
from composer.render import render_batch
from composer.render.abc import abc_tune
from composer.render.pianoroll import heard_parts
from composer.tokenize import Tokenizer

SEEDS = sorted((Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds").glob("*.abc"))
FORM = Tokenizer.create("metric", form=True)


def _heard(path: Path):
    """A seed as the form model decodes it: notes as heard, with its written form."""
    return FORM.decode(FORM.encode(composer.load(path)[0]))


def _beats(path: Path, swing: bool) -> list[tuple[float, int]]:
    m = pretty_midi.PrettyMIDI(str(path))
    beat = (lambda t: float(int(t))) if swing else (lambda t: round(t * 12) / 12)  # abc2midi swings hornpipes
    return sorted((beat(m.time_to_tick(n.start) / m.resolution), n.pitch) for i in m.instruments for n in i.notes)


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_abc_out_keeps_the_form_and_reads_back_as_the_same_notes(path, tmp_path):
    tune = _heard(path)
    text = abc_tune(tune, "A tune", number=3)
    lines = text.splitlines()
    assert [x[:2] for x in lines[:7]] == ["X:", "T:", "M:", "L:", "Q:", "R:", "K:"] and lines[0] == "X:3"
    assert "|:" in text and ":|" in text
    (tmp_path / "t.abc").write_text(text)
    back = composer.load(tmp_path / "t.abc")[0]
    assert [(n.pitch, n.start, n.duration) for n in back.notes] == [(n.pitch, n.start, n.duration) for n in tune.notes]


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed (apt-get install abcmidi)")
def test_abc2midi_plays_the_abc_as_the_mid(tmp_path):
    pieces = render_batch([_heard(p) for p in SEEDS], tmp_path, wav=False, png=False, html=False)
    for piece in pieces:
        out = tmp_path / f"{piece.abc.stem}-abc2midi.mid"
        subprocess.run(["abc2midi", str(piece.abc), "-o", str(out), "-silent", "-NGRA", "-NGUI"], check=True,
                       capture_output=True, timeout=30)
        swing = "R:hornpipe" in piece.abc.read_text()
        ours, theirs = _beats(piece.midi, swing), _beats(out, swing)
        common = sum((Counter(ours) & Counter(theirs)).values())  # a note struck twice in a beat counts twice
        assert 2 * common / (len(ours) + len(theirs)) >= 0.99, piece.abc.name


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed (apt-get install abcmidi)")
def test_a_part_repeated_after_a_double_bar_opens_with_a_repeat_sign(tmp_path):
    """`|| C :|` repeats C for composer and music21 but sends abc2midi back to the last `|:`: ABC out writes `|: C :|`."""
    source = tmp_path / "source.abc"
    source.write_text("X:1\nT:t\nM:4/4\nL:1/8\nR:reel\nK:D\n|: DEFG ABcd | efga bagf :| d2d2 A2A2 | FAdA F4 || "
                      "fedc BAGF | EDCE D4 :|\n")
    (tune,) = composer.load(source)
    assert len(tune.notes) == 16 * 2 + 9 + 13 * 2  # A twice, B once, C twice
    (piece,) = render_batch([tune], tmp_path, wav=False, png=False, html=False)
    text = piece.abc.read_text()
    assert "|: fedc" in text and text.count("|:") == 2, text
    out = tmp_path / "abc2midi.mid"
    subprocess.run(["abc2midi", str(piece.abc), "-o", str(out), "-silent"], check=True, capture_output=True, timeout=30)
    assert _beats(out, swing=False) == _beats(piece.midi, swing=False)


def test_the_page_shows_the_abc_and_the_roll_marks_the_parts(tmp_path):
    tune = _heard(SEEDS[1])
    assert [label for label, _ in heard_parts(tune)] == ["A", "A", "B", "B"]
    pieces = render_batch([tune], tmp_path, wav=False, png=True, html=True)
    assert pieces[0].abc == tmp_path / "variation-01.abc"
    page = (tmp_path / "index.html").read_text()
    assert "<summary>ABC</summary>" in page and "variation-01.abc" in page


def test_a_score_without_form_is_written_out_bar_after_bar():
    tune = Tokenizer.create("metric").normalize(composer.load(SEEDS[0])[0])
    text = abc_tune(tune)
    assert ":|" not in text and text.rstrip().endswith("|]")
    assert heard_parts(tune) == []


def _with_marks(ids: list[int], marks: dict[int, tuple[list[str], list[str]]]) -> list[int]:
    """`ids` with FORM marks put into bar k (counted from 0): head values after its BAR, tail values at its end."""
    table, out, bar = FORM.table, [], -1
    for token in ids:
        if table.kinds[token] in ("BAR", "EOS") and bar >= 0:
            out += [table.id("FORM", v) for v in marks.get(bar, ([], []))[1]]
        out.append(token)
        if table.kinds[token] == "BAR":
            bar += 1
            out += [table.id("FORM", v) for v in marks.get(bar, ([], []))[0]]
    return out


def test_marks_that_leave_a_written_bar_unplayed_are_written_out_as_heard(tmp_path):
    """A sampled `|1 … :|` followed by another `|1` bar (the studio's continuation of rng seed 65) leaves that bar
    unplayed: the ABC is the tune as heard, bar after bar, not an error."""
    plain = Tokenizer.create("metric").encode(composer.load(SEEDS[0])[0])
    bars = sum(FORM.table.kinds[t] == "BAR" for t in plain)
    tune = FORM.decode(_with_marks(plain, {bars - 2: (["|1"], [":|"]), bars - 1: (["|1"], [])}))
    assert min(tune.form.first_playing()) < 0 and tune.form.repeats
    text = abc_tune(tune)
    assert ":|" not in text
    (tmp_path / "t.abc").write_text(text)
    back = composer.load(tmp_path / "t.abc")[0]
    assert [(n.pitch, n.start, n.duration) for n in back.notes] == [(n.pitch, n.start, n.duration) for n in tune.notes]
