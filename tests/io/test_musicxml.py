"""MusicXML reading and music21 stream conversion on a real Bach chorale."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer.errors import InputError
from composer.io import load
from composer.io.musicxml import stream_to_score
from composer.score import KeySignature, TimeSignature


@pytest.fixture(scope="module")
def chorale():
    from music21 import corpus

    return corpus.parse("bach/bwv66.6")


def test_chorale_parts_stay_separate_notes(chorale) -> None:
    score = stream_to_score(chorale, "bwv66.6")
    assert score.tpq == 480
    assert score.metadata["parts"] == 4
    written = sum(len(p.flatten().notes) for p in chorale.parts)
    tie_ends = sum(1 for p in chorale.parts for n in p.flatten().notes if n.tie is not None and n.tie.type == "stop")
    assert (written, tie_ends, len(score.notes)) == (165, 2, 163)  # a tied pair is one note
    assert score.key_signatures == (KeySignature(0, 6, "minor"),)  # F# minor
    assert score.time_signatures == (TimeSignature(0, 4, 4),)
    first_beat = sorted((n.start, n.pitch, n.duration) for n in score.notes)[:4]
    # Pickup eighth: bass A2… tenor A3, alto E4 (a quarter), soprano C#5; tenor and bass in unison on A3.
    assert first_beat == [(0, 57, 240), (0, 57, 240), (0, 64, 480), (0, 73, 240)]
    assert all(n.program == 0 and n.velocity == 80 for n in score.notes)


@pytest.mark.parametrize("suffix", [".musicxml", ".xml", ".mxl"])
def test_musicxml_files_load_like_the_stream(chorale, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bwv66.6{suffix}"
    chorale.write("mxl" if suffix == ".mxl" else "musicxml", fp=str(path))
    (score,) = load(path)
    assert score.notes == stream_to_score(chorale).notes
    assert score.source == str(path)


@pytest.mark.parametrize(
    "body", [b"<score-partwise><part id='P1'><measure>", b"not xml at all \x00\x01", b"PK\x03\x04broken zip"]
)
def test_bad_musicxml_raises_input_error(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / ("bad.mxl" if body.startswith(b"PK") else "bad.musicxml")
    path.write_bytes(body)
    with pytest.raises(InputError) as info:
        load(path)
    assert str(path) in str(info.value)


def test_repeats_and_endings_unfold_in_musicxml_as_in_abc(tmp_path: Path) -> None:
    """MusicXML keeps its ending brackets in the score, not the part: the unfolding must find them."""
    from composer.io.abc import abc_to_stream, parse_abc_text

    abc = "X:1\nT:endings\nM:4/4\nL:1/4\nK:G\n|:GABc|1 dedB:|2 g4|]\n"
    (from_abc,) = parse_abc_text(abc)
    path = tmp_path / "endings.musicxml"
    abc_to_stream(abc).write("musicxml", fp=str(path))
    (from_xml,) = load(path)
    assert from_xml.metadata["repeats_expanded"] is True
    assert [n.pitch for n in from_xml.notes] == [n.pitch for n in from_abc.notes] == \
        [67, 69, 71, 72, 74, 76, 74, 71, 67, 69, 71, 72, 79]
    assert [n.start for n in from_xml.notes] == [n.start for n in from_abc.notes]
