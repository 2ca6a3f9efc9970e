"""MIDI reading (symusic) and writing (pretty_midi): exact ticks, maps, limits, bad input."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import mido
import pytest

from composer.errors import ComposerError, InputError, LimitError, OutputError
from composer.io import load, save_midi
from composer.io.limits import ReadLimits
from composer.io.midi import load_midi
from composer.score import KeySignature, Note, Score, TempoChange, TimeSignature


def _write(path: Path, tracks: list[list[mido.Message]], *, type_: int = 1, tpq: int = 96) -> Path:
    mid = mido.MidiFile(type=type_, ticks_per_beat=tpq)
    for events in tracks:
        mid.tracks.append(mido.MidiTrack(events))
    mid.save(str(path))
    return path


def _on(note: int, dt: int, ch: int = 0, vel: int = 90) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=vel, channel=ch, time=dt)


def _off(note: int, dt: int, ch: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, velocity=0, channel=ch, time=dt)


def test_type1_multitrack_tempo_and_meter_changes(tmp_path: Path) -> None:
    conductor = [
        mido.MetaMessage("set_tempo", tempo=500_000, time=0),
        mido.MetaMessage("time_signature", numerator=6, denominator=8, time=0),
        mido.MetaMessage("key_signature", key="Em", time=0),
        mido.MetaMessage("set_tempo", tempo=400_000, time=192),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=96),
        mido.MetaMessage("key_signature", key="Bb", time=0),
    ]
    flute = [
        mido.Message("program_change", program=73, channel=0, time=0),
        _on(62, 0),
        _off(62, 48),
        _on(64, 0),
        _off(64, 250),
    ]
    bass = [
        mido.Message("program_change", program=32, channel=1, time=0),
        _on(38, 10, ch=1, vel=64),
        _off(38, 300, ch=1),
    ]
    drums = [_on(36, 0, ch=9, vel=100), _off(36, 24, ch=9), _on(42, 72, ch=9), _off(42, 24, ch=9)]
    path = _write(tmp_path / "band.mid", [conductor, flute, bass, drums])
    (score,) = load(path)
    assert score.tpq == 96
    assert score.notes == (  # in time order, then by pitch
        Note(36, 0, 24, 100, 0, True),
        Note(62, 0, 48, 90, 73, False),
        Note(38, 10, 300, 64, 32, False),
        Note(64, 48, 250, 90, 73, False),
        Note(42, 96, 24, 90, 0, True),
    )
    assert score.tempos == (TempoChange(0, 120.0), TempoChange(192, 150.0))
    assert score.time_signatures == (TimeSignature(0, 6, 8), TimeSignature(288, 3, 4))
    assert score.key_signatures == (KeySignature(0, 4, "minor"), KeySignature(288, 10, "major"))
    assert score.source == str(path)
    with pytest.raises(LimitError, match="3 tracks"):
        load_midi(path, ReadLimits(max_tracks=2))


def test_type0_channels_become_programs_and_drums(tmp_path: Path) -> None:
    events = [
        mido.Message("program_change", program=40, channel=2, time=0),
        _on(69, 0, ch=2),
        _on(35, 0, ch=9),
        _off(35, 120, ch=9),
        _off(69, 120, ch=2),
    ]
    (score,) = load(_write(tmp_path / "t0.midi", [events], type_=0, tpq=480))
    assert score.tpq == 480
    assert score.notes == (Note(35, 0, 120, 90, 0, True), Note(69, 0, 240, 90, 40, False))


def test_round_trip_keeps_notes_and_maps_exactly(tmp_path: Path) -> None:
    notes = [Note(60 + i % 7, i * 37, 17 + i % 5, 30 + i, program=i % 3 * 20) for i in range(60)]
    notes += [Note(60, 5, 100), Note(60, 50, 10), Note(38, 7, 3, 99, 0, True)]  # same-pitch overlap, drum
    score = Score(
        notes=notes,
        tpq=384,
        tempos=[TempoChange(0, 96.0), TempoChange(500, 140.0), TempoChange(1200, 75.0)],
        time_signatures=[TimeSignature(0, 7, 8), TimeSignature(1344, 2, 4)],
        key_signatures=[KeySignature(0, 2, "major"), KeySignature(700, 9, "minor")],
    )
    path = save_midi(score, tmp_path / "rt.mid")
    (back,) = load(path)
    assert back.notes == score.notes
    assert back.tpq == 384
    assert back.tempos == score.tempos
    assert back.time_signatures == score.time_signatures
    assert back.key_signatures == score.key_signatures


def test_modal_key_is_written_as_its_relative_major(tmp_path: Path) -> None:
    score = Score(notes=[Note(62, 0, 480)], key_signatures=[KeySignature(0, 9, "dorian")])
    (back,) = load(save_midi(score, tmp_path / "ador.mid"))
    assert back.key_signatures == (KeySignature(0, 7, "major"),)


def test_bach_chorale_round_trip(tmp_path: Path) -> None:
    from music21 import corpus

    from composer.io.musicxml import stream_to_score

    score = stream_to_score(corpus.parse("bach/bwv66.6"), "bwv66.6")
    assert score.metadata["parts"] == 4
    assert len(score.notes) > 150
    (back,) = load(save_midi(score, tmp_path / "bwv66.6.mid"))
    assert back.notes == score.notes
    assert back.tpq == 480


def test_save_refuses_overwrite_without_force_and_bad_pitch(tmp_path: Path) -> None:
    score = Score(notes=[Note(60, 0, 10)])
    path = save_midi(score, tmp_path / "a.mid")
    with pytest.raises(OutputError, match="already exists"):
        save_midi(score, path, force=False)
    with pytest.raises(OutputError, match="pitch"):
        save_midi(Score(notes=[Note(130, 0, 10)]), tmp_path / "b.mid")


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[bytes, type]]:
    good = (tmp_path / "good.mid").read_bytes()
    rng = random.Random(7)
    return {
        "empty.mid": (b"", InputError),
        "truncated.mid": (good[:30], InputError),
        "random.mid": (bytes(rng.randrange(256) for _ in range(2000)), InputError),
        "header-only.mid": (good[:14], InputError),
        "text.mid": (b"X:1\nT:not midi\nK:D\nABc|\n", InputError),
        "huge-length.mid": (good[:14] + b"MTrk\xff\xff\xff\xff" + good[22:], InputError),
    }


def test_bad_midi_raises_input_error_naming_the_file(tmp_path: Path) -> None:
    save_midi(Score(notes=[Note(60, i * 10, 10) for i in range(20)]), tmp_path / "good.mid")
    for name, (data, error) in _bad_inputs(tmp_path).items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(error) as info:
            load(path)
        assert str(path) in str(info.value), name


def test_a_cut_off_midi_file_is_called_truncated(tmp_path: Path) -> None:
    good = (save_midi(Score(notes=[Note(60, i * 10, 10) for i in range(20)]), tmp_path / "good.mid")).read_bytes()
    path = tmp_path / "cut.mid"
    for data, reason in ((good[:30], r"track 1 declares [\d,]+ bytes but only 8 follow"),
                         (good[:18], "ends inside a chunk header"),
                         (good[:14] + b"\x07" * 100, "malformed MIDI")):  # garbage, not a cut: no claim of truncation
        path.write_bytes(data)
        with pytest.raises(InputError, match=reason):
            load(path)


def test_mutated_midi_only_ever_raises_composer_errors(tmp_path: Path) -> None:
    save_midi(Score(notes=[Note(60 + i % 12, i * 10, 10, program=i % 2) for i in range(40)]), tmp_path / "good.mid")
    good = (tmp_path / "good.mid").read_bytes()
    rng = random.Random(11)
    path = tmp_path / "mutant.mid"
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data[: rng.randrange(14, len(data) + 1)]))
        try:
            load(path)
        except ComposerError as e:
            assert str(path) in str(e)


def test_absurd_tempo_and_limits(tmp_path: Path) -> None:
    fast = _write(tmp_path / "fast.mid", [[mido.MetaMessage("set_tempo", tempo=10, time=0), _on(60, 0), _off(60, 10)]])
    with pytest.raises(LimitError, match="tempo"):
        load(fast)
    many = _write(tmp_path / "many.mid", [[m for i in range(300) for m in (_on(60, 0), _off(60, 1))]])
    with pytest.raises(LimitError, match="300 notes"):
        load_midi(many, ReadLimits(max_notes=299))
    long = _write(tmp_path / "long.mid", [[_on(60, 0), _off(60, 96 * 2 * 60 * 60 * 3)]])
    with pytest.raises(LimitError, match="lasts"):
        load(long)
    with pytest.raises(LimitError, match="bytes"):
        load_midi(many, ReadLimits(max_file_bytes=100))


def test_midi_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """A few MB of running-status note pairs (millions of notes) is refused before Python notes exist."""
    pair = bytes([0x00, 60, 90, 0x00, 60, 0])  # delta, note_on 60 (running status), delta, velocity-0 off
    body = bytes([0x00, 0x90, 60, 90, 0x00, 60, 0]) + pair * 600_000 + b"\x00\xff\x2f\x00"
    data = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + (96).to_bytes(2, "big")
    data += b"MTrk" + len(body).to_bytes(4, "big") + body
    path = tmp_path / "bomb.mid"
    path.write_bytes(data)
    start = time.perf_counter()
    with pytest.raises(LimitError, match="notes"):
        load(path)
    assert time.perf_counter() - start < 2.0


def test_load_rejects_unknown_missing_and_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown file type"):
        load(tmp_path / "tune.wav")
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "missing.mid")
    folder = tmp_path / "folder.mid"
    os.mkdir(folder)
    with pytest.raises(InputError, match="not a file"):
        load(folder)


def test_time_signatures_midi_cannot_hold_are_left_out(tmp_path):
    """music21 gives partial ABC bars meters like 1/6; MIDI only stores power-of-two denominators."""
    score = Score([Note(60, 0, 480)], time_signatures=[(0, 4, 4), (480, 1, 6)])
    assert load(save_midi(score, tmp_path / "odd.mid"))[0].time_signatures == (TimeSignature(0, 4, 4),)
