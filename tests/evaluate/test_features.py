"""Per-piece features: exact answers on hand-built pieces, invariances, and O'Neill's tunes."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from composer.evaluate.features import FEATURES, NOTE_LENGTH_CLASSES, length_classes, piece_features
from composer.score import KeySignature, Note, Score, TimeSignature

TPQ = 480
C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def melody(pitches: list[int], beats: float = 1.0, key: tuple[int, str] | None = (0, "major"), start: int = 0) -> Score:
    """Consecutive notes of `beats` each, in 4/4, optionally with a key signature."""
    step = int(beats * TPQ)
    keys = [KeySignature(0, *key)] if key else []
    notes = [Note(p, start + i * step, step) for i, p in enumerate(pitches)]
    return Score(notes=notes, tpq=TPQ, time_signatures=[TimeSignature(0, 4, 4)], key_signatures=keys)


def test_c_major_scale_exact_values() -> None:
    f = piece_features(melody(C_MAJOR))
    assert f["pitch_in_scale_rate"] == 1.0
    assert f["scale_consistency"] == 1.0
    assert f["pitch_count"] == 8
    assert f["pitch_class_count"] == 7
    assert f["pitch_range"] == 12
    assert f["avg_pitch_interval"] == pytest.approx(12 / 7)
    assert f["note_count"] == 8
    assert f["avg_ioi"] == 1.0
    quarter = [n for n, _ in NOTE_LENGTH_CLASSES].index("quarter")
    assert f["note_length_histogram"].tolist() == [1.0 if i == quarter else 0.0 for i in range(12)]
    assert f["note_length_transitions"][quarter, quarter] == 1.0
    assert f["empty_beat_rate"] == 0.0
    assert f["polyphony"] == 1.0
    assert f["pitch_class_histogram"].tolist() == [2 / 8, 0, 1 / 8, 0, 1 / 8, 1 / 8, 0, 1 / 8, 0, 1 / 8, 0, 1 / 8]
    steps = [(0, 2), (2, 4), (4, 5), (5, 7), (7, 9), (9, 11), (11, 0)]
    expected = np.zeros((12, 12))
    for a, b in steps:
        expected[a, b] = 1 / 7
    np.testing.assert_allclose(f["pitch_class_transitions"], expected)
    assert f["pitch_entropy"] == pytest.approx(3.0)
    assert f["pitch_class_entropy"] == pytest.approx(-(0.25 * math.log2(0.25) + 6 * 0.125 * math.log2(0.125)))
    assert f["groove_consistency"] == 1.0  # two bars of four quarters


def test_chromatic_scale_in_scale_rate() -> None:
    chromatic = list(range(60, 73))  # C4..C5: 13 notes, 8 of them (C twice) in C major
    f = piece_features(melody(chromatic))
    assert f["pitch_in_scale_rate"] == pytest.approx(8 / 13)
    assert f["scale_consistency"] == pytest.approx(8 / 13)
    assert f["pitch_class_count"] == 12
    assert f["pitch_count"] == 13
    assert f["avg_pitch_interval"] == 1.0
    no_key = piece_features(melody(chromatic, key=None))
    assert no_key["pitch_in_scale_rate"] == pytest.approx(8 / 13)


def test_key_signature_modes_pick_their_diatonic_scale() -> None:
    e_dorian = [64, 66, 67, 69, 71, 73, 74, 76]  # E F# G A B C# D E: the notes of D major
    assert piece_features(melody(e_dorian, key=(4, "dorian")))["pitch_in_scale_rate"] == 1.0
    # In E minor (G major's notes) the C# is out: 7 of 8.
    assert piece_features(melody(e_dorian, key=(4, "minor")))["pitch_in_scale_rate"] == pytest.approx(7 / 8)
    # Scale consistency ignores the key: D major fits every note.
    assert piece_features(melody(e_dorian, key=(4, "minor")))["scale_consistency"] == 1.0


def test_triad_held_four_beats_has_polyphony_three() -> None:
    triad = Score(notes=[Note(p, 0, 4 * TPQ) for p in (60, 64, 67)], tpq=TPQ, time_signatures=[TimeSignature(0, 4, 4)])
    f = piece_features(triad)
    assert f["polyphony"] == 3.0
    assert f["pitch_count"] == 3
    assert f["empty_beat_rate"] == 0.0
    assert f["note_length_histogram"][0] == 1.0  # all whole notes
    assert math.isnan(f["avg_pitch_interval"])  # one onset: the melody has one note
    assert math.isnan(f["groove_consistency"])  # one bar


def test_polyphony_counts_one_pitch_once_and_ignores_silence() -> None:
    overlapping = Score(notes=[Note(60, 0, 2 * TPQ), Note(60, TPQ, 2 * TPQ)], tpq=TPQ)
    assert piece_features(overlapping)["polyphony"] == 1.0
    # Two voices for one beat, then one voice for one beat, a beat of silence, one voice: (2+1+1)/3.
    notes = [Note(60, 0, TPQ), Note(64, 0, 2 * TPQ), Note(67, 3 * TPQ, TPQ)]
    f = piece_features(Score(notes=notes, tpq=TPQ))
    assert f["polyphony"] == pytest.approx(4 / 3)
    assert f["empty_beat_rate"] == pytest.approx(1 / 4)


def test_empty_bar_gives_half_empty_beats() -> None:
    f = piece_features(melody([60, 62, 64, 65], start=4 * TPQ))  # bar 1 silent, bar 2 four quarters
    assert f["empty_beat_rate"] == 0.5


def test_groove_and_bar_repetition() -> None:
    same_rhythm = melody([60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79])  # three bars of quarters
    f = piece_features(same_rhythm)
    assert f["groove_consistency"] == 1.0
    assert f["bar_repetition_rate"] == 0.0
    assert f["bar_self_similarity"] == 0.0
    repeated = piece_features(melody([60, 62, 64, 65] * 4))
    assert repeated["bar_repetition_rate"] == 0.75
    assert repeated["bar_self_similarity"] == 1.0
    # A bar of quarters then a bar of eighths: onset patterns differ at 4 of 48 grid positions.
    notes = [Note(60, i * TPQ, TPQ) for i in range(4)] + [Note(62, 4 * TPQ + i * TPQ // 2, TPQ // 2) for i in range(8)]
    mixed = piece_features(Score(notes=notes, tpq=TPQ, time_signatures=[TimeSignature(0, 4, 4)]))
    assert mixed["groove_consistency"] == pytest.approx(1 - 4 / 48)


def test_bars_follow_the_time_signature() -> None:
    notes = [Note(60 + (i % 3), i * TPQ, TPQ) for i in range(9)]  # 3/4: three identical bars
    f = piece_features(Score(notes=notes, tpq=TPQ, time_signatures=[TimeSignature(0, 3, 4)]))
    assert f["bar_repetition_rate"] == pytest.approx(2 / 3)
    f44 = piece_features(Score(notes=notes, tpq=TPQ))  # no time signature: 4/4, bars differ
    assert f44["bar_repetition_rate"] == 0.0


def test_length_classes_nearest() -> None:
    names = [n for n, _ in NOTE_LENGTH_CLASSES]
    beats = [4, 2, 1, 0.5, 0.25, 3, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3, 8, 0.05, 0.9]
    got = [names[i] for i in length_classes(np.array(beats))]
    assert got == names + ["whole", "16th", "quarter"]


def test_drums_are_ignored_and_empty_scores_do_not_crash() -> None:
    drums = [Note(36, i * TPQ, TPQ, is_drum=True) for i in range(8)]
    with_drums = melody(C_MAJOR).replace(notes=list(melody(C_MAJOR).notes) + drums)
    a, b = piece_features(with_drums), piece_features(melody(C_MAJOR))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    empty = piece_features(Score())
    assert empty["note_count"] == 0
    assert empty["pitch_class_histogram"].tolist() == [0.0] * 12
    assert math.isnan(empty["pitch_in_scale_rate"])


def test_feature_table_matches_values() -> None:
    f = piece_features(melody(C_MAJOR))
    assert [s.name for s in FEATURES] == list(f)
    shapes = {"scalar": (), "histogram": (12,), "matrix": (12, 12)}
    for spec in FEATURES:
        assert np.shape(f[spec.name]) == shapes[spec.kind], spec.name
        assert spec.doc


def test_resolution_and_transposition_invariance() -> None:
    piece = melody([60, 64, 62, 67, 65, 69, 67, 72, 71, 72], beats=0.5)
    base = piece_features(piece)
    coarse = piece_features(piece.resample(96))
    up = piece_features(piece.transpose(5))
    for name, value in base.items():
        np.testing.assert_allclose(coarse[name], value, err_msg=name)
        if "class" not in name:
            np.testing.assert_allclose(up[name], value, err_msg=name)
    np.testing.assert_allclose(np.roll(base["pitch_class_histogram"], 5), up["pitch_class_histogram"])


def test_oneills_tunes(oneills_paths) -> None:
    from composer.io import load

    tunes = load(oneills_paths[0])
    assert len(tunes) == 50
    t = time.perf_counter()
    feats = [piece_features(s) for s in tunes]
    per_piece = (time.perf_counter() - t) / len(tunes)
    assert per_piece < 0.01, f"{per_piece * 1000:.2f} ms per piece"
    in_scale = np.array([f["pitch_in_scale_rate"] for f in feats])
    assert in_scale.mean() > 0.95 and in_scale.min() > 0.7
    assert np.mean([f["polyphony"] for f in feats]) < 1.05
    assert all(f["note_length_histogram"].sum() == pytest.approx(1.0) for f in feats)
    assert all(np.isfinite(f["groove_consistency"]) for f in feats)
