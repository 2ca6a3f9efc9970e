"""MusicXML out keeps a tune's form: repeat barlines and ending brackets, read back as the very notes heard."""

from __future__ import annotations

from pathlib import Path

import pytest

import composer
from composer.render import render
from composer.tokenize import Tokenizer

SEEDS = sorted((Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds").glob("*.abc"))
FORM = Tokenizer.create("metric", form=True)


@pytest.mark.parametrize("path", SEEDS[:4], ids=lambda p: p.stem)
def test_musicxml_keeps_repeats_and_voltas(path, tmp_path):
    tune = FORM.decode(FORM.encode(composer.load(path)[0]))
    out = render(tune, tmp_path / "t.musicxml")
    text = out.read_text()
    assert '<repeat direction="backward"' in text
    assert ("<ending " in text) == any(m.endings for m in tune.form.marks)
    back = composer.load(out)[0]  # music21 reads the marks; composer's reader plays them in order
    assert [(n.pitch, n.start, n.duration) for n in back.notes] == [(n.pitch, n.start, n.duration) for n in tune.notes]
