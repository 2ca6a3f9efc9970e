"""ABC reading through music21: exact notes of real O'Neill tunes, repeats, endings, ties, chords, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from composer.errors import ComposerError, InputError, LimitError
from composer.io import abc, load, load_report
from composer.io.abc import normalize_tune_type, parse_abc_text, without_spanners
from composer.score import KeySignature, Note, TempoChange, TimeSignature

SIXTEENTH = 120  # ticks at tpq 480

SMALL = """X:5
T:Test tune
R:Double Jig
M:6/8
L:1/8
Q:3/8=100
K:Ador
E|:A2B {d}c2d|[ce]3 e2-e:|
|:g3 f2e|1 d3 c2B:|2 d6||
"""


@pytest.fixture(scope="module")
def first_file(oneills_paths: list[Path]):
    return load_report(oneills_paths[0])


def _by_time(score) -> list[tuple[int, int, int]]:
    return sorted((n.start, n.pitch, n.duration) for n in score.notes)


def test_first_oneills_file_holds_50_tunes(first_file) -> None:
    scores, problems = first_file
    assert problems == []
    assert len(scores) == 50
    assert [s.metadata["x"] for s in scores[:3]] == ["1", "2", "3"]
    assert [s.title for s in scores[:3]] == ["The Enchanted Valley", "Fare You Well", "The Little Heathy Hill"]
    assert all(s.tpq == 480 for s in scores)
    # Only tune 25 has onsets off the 480-tick grid: a run of nine 1/36-beat notes (9 does not divide 480).
    assert [(s.metadata["x"], s.metadata["inexact_ticks"]) for s in scores if s.metadata["inexact_ticks"]] == [
        ("25", 12)
    ]


def test_enchanted_valley_first_bars(first_file) -> None:
    """K:Gm M:2/4 L:1/16 — `G3-A (Bcd=e) | f4 (g2dB) | ({d}c3-B) G2-E2 |`: the tie joins two pitches,
    so both stay notes; the grace {d} is dropped."""
    tune = first_file[0][0]
    assert tune.key_signatures == (KeySignature(0, 7, "minor"),)
    assert tune.time_signatures[0] == TimeSignature(0, 2, 4)
    assert tune.tempos == (TempoChange(0, 120.0),)
    assert tune.tune_type is None
    assert tune.metadata["meter"] == "2/4" and tune.metadata["key"] == "G minor"
    s = SIXTEENTH
    assert _by_time(tune)[:14] == [
        (0, 67, 3 * s), (3 * s, 69, s), (4 * s, 70, s), (5 * s, 72, s), (6 * s, 74, s), (7 * s, 76, s),
        (8 * s, 77, 4 * s), (12 * s, 79, 2 * s), (14 * s, 74, s), (15 * s, 70, s),
        (16 * s, 72, 3 * s), (19 * s, 70, s), (20 * s, 67, 2 * s), (22 * s, 63, 2 * s),
    ]  # fmt: skip


def test_repeats_and_endings_expand(oneills_paths: list[Path]) -> None:
    """Tune 97 (`… :| |: … |1 … :|2 … ||`): 48 notes played twice, then 43 + 9 + 43 + 12 → 203 (112 written)."""
    text = oneills_paths[1].read_text()
    (tune,) = parse_abc_text(text[text.index("X: 97") : text.index("X: 98")], "0051-0100.abc")
    assert tune.metadata["repeats_expanded"] is True
    assert len(tune.notes) == 48 * 2 + 43 + 9 + 43 + 12
    assert tune.end_tick == int(125.5 * 480)


def test_small_tune_exact_notes_ties_chords_graces_endings() -> None:
    (tune,) = parse_abc_text(SMALL, "small.abc")
    assert tune.tune_type == "jig"
    assert tune.key_signatures == (KeySignature(0, 9, "dorian"),)
    assert tune.tempos == (TempoChange(0, 150.0),)
    assert tune.time_signatures == (TimeSignature(0, 6, 8),)
    assert tune.metadata | {"piece": 0} == tune.metadata
    assert tune.metadata["x"] == "5" and tune.metadata["tempo_from"] == "Q:"
    e = 240  # an eighth note
    a_part = [(0, 69, 2 * e), (2 * e, 71, e), (3 * e, 72, 2 * e), (5 * e, 74, e), (6 * e, 72, 3 * e), (6 * e, 76, 3 * e), (9 * e, 76, 3 * e)]  # fmt: skip
    b_common = [(0, 79, 3 * e), (3 * e, 78, 2 * e), (5 * e, 76, e)]
    expected = [(0, 64, e)]
    expected += [(t + e, p, d) for t, p, d in a_part] + [(t + 13 * e, p, d) for t, p, d in a_part]
    expected += [(t + 25 * e, p, d) for t, p, d in b_common] + [
        (31 * e, 74, 3 * e),
        (34 * e, 72, 2 * e),
        (36 * e, 71, e),
    ]
    expected += [(t + 37 * e, p, d) for t, p, d in b_common] + [(43 * e, 74, 6 * e)]
    assert _by_time(tune) == sorted(expected)
    assert all(n == Note(n.pitch, n.start, n.duration) for n in tune.notes)  # velocity 80, program 0


def test_real_chord_tune(oneills_paths: list[Path]) -> None:
    text = oneills_paths[2].read_text()
    (tune,) = parse_abc_text(text[text.index("X: 135") : text.index("X: 136")], "0101-0200.abc")
    starts = [n.start for n in tune.notes]
    assert max(starts.count(t) for t in set(starts)) == 2  # [b2B2] sounds two notes at once


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Double Jig", "jig"), ("slipjig", "slip jig"), ("Slip Jig", "slip jig"), ("Reel", "reel"), ("Reels", "reel"),
     ("hornpipe", "hornpipe"), ("", None), (None, None), (" AIR ", "air")],
)  # fmt: skip
def test_tune_type_normalisation(text: str | None, expected: str | None) -> None:
    assert normalize_tune_type(text) == expected


def test_default_tempo_follows_tune_type_and_meter_symbols() -> None:
    (reel,) = parse_abc_text("X:1\nT:r\nR:reel\nM:C|\nL:1/8\nK:D\nABcd efga|\n")
    assert reel.tempos == (TempoChange(0, 200.0),) and reel.metadata["tempo_from"] == "default"
    assert reel.time_signatures == (TimeSignature(0, 2, 2),)
    (common,) = parse_abc_text("X:1\nT:c\nM:C\nL:1/8\nK:Emix\nABcd efga|\n")
    assert common.tempos == (TempoChange(0, 120.0),)
    assert common.time_signatures == (TimeSignature(0, 4, 4),)
    assert common.key_signatures == (KeySignature(0, 4, "mixolydian"),)


def test_one_broken_tune_costs_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "three.abc"
    path.write_text(SMALL + "\nX:6\nT:Broken\nL:1/8\nK:D\nA/0 B|\n\n" + SMALL.replace("X:5", "X:7"))
    scores, problems = load_report(path)
    assert [s.metadata["x"] for s in scores] == ["5", "7"]
    assert len(problems) == 1 and str(path) in problems[0] and "X:6 (Broken)" in problems[0]
    assert len(load(path)) == 2


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ("", InputError, "empty file"),
        ("X:1\nT:junk\nK:D\n@@@ ### !!!\n", InputError, "no notes"),
        ("X:1\nT:junk\nL:1/8\nK:D\n[[[[\n", InputError, "Bad chord"),
        ("X:1\nT:fast\nL:1/8\nQ:1/4=100000\nK:D\nABc|\n", LimitError, "tempo"),
        ("X:1\nT:still\nL:1/8\nQ:1/4=0\nK:D\nABc|\n", InputError, "X:1"),
        ("X:1\nT:huge\nL:1/8\nK:D\n" + "ABcd " * 50_000 + "\n", LimitError, "characters"),
        ("X:1\nT:wide\nM:999/1\nL:1/8\nK:D\nABcd|efga|bagf|\n", LimitError, "meter 999/1 is out of range"),
        ("X:1\nT:inline\nM:2/4\nL:1/8\nK:D\nABcd|[M:9999999/1]efga|bagf|\n", LimitError, "meter 9999999/1"),
        ("X:1\nT:long\nM:2/4\nL:1/8\nK:D\nABcd|e99999999|bagf|\n", LimitError, "a bar 25,000,000 times as long as its meter"),
        ("X:1\nT:rest\nM:3/4\nL:1/16\nK:D\nA12|A257|A12|\n", LimitError, "overflowing its meter by 245/4 quarter"),
    ],
)
def test_bad_abc_raises_composer_errors_naming_the_file(tmp_path: Path, body: str, error: type, words: str) -> None:
    path = tmp_path / "bad.abc"
    path.write_text(body)
    with pytest.raises(error, match=words) as info:
        load(path)
    assert str(path) in str(info.value)


def test_binary_named_abc(tmp_path: Path) -> None:
    path = tmp_path / "x.abc"
    path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    with pytest.raises(ComposerError, match="binary"):
        load(path)


def test_repeat_without_start_goes_back_to_previous_section(oneills_paths: list[Path]) -> None:
    """Morgan Rattler (X:1046): nine 24-beat parts end in `:|` with no `|:`, one 48-beat part in `||`.

    Each `:|` repeats only its own part (music21 alone replays the tune from the top each time,
    ~30× longer): 9 × 48 + 48 = 480 beats, plus the half-beat pickup replayed with part one.
    """
    text = next(p for p in oneills_paths if p.name == "1031-1115.abc").read_text()
    (tune,) = parse_abc_text(text[text.index("X: 1046") : text.index("X: 1047")], "1031-1115.abc")
    assert tune.tune_type == "jig" and tune.metadata["repeats_expanded"] is True
    assert tune.end_tick == 481 * 480


def _oneills_tune(oneills_paths: list[Path], file: str, x: int):
    text = next(p for p in oneills_paths if p.name == file).read_text()
    (tune,) = parse_abc_text(text[text.index(f"X: {x}") : text.index(f"X: {x + 1}")], file)
    return tune


def test_unclosed_start_repeat_is_ignored():
    (tune,) = parse_abc_text("X:1\nT:open\nM:4/4\nL:1/4\nK:G\nGABc|:defg|gfed|]\n")
    assert tune.metadata["repeats_expanded"] is True and len(tune.notes) == 12


@pytest.mark.parametrize(("body", "notes"), [
    ("|: DEFG ABcd :| efga bagf |]", 8 * 2 + 8),  # no plain bar line at all
    ("|: DEFG ABcd | DEFG ABcd :| efga bagf |]", 16 * 2 + 8),  # one plain bar line
    ("|: DEFG ABcd :| |: efga bagf :|", 8 * 2 + 8 * 2),
])
def test_a_short_tune_written_with_repeat_signs_is_repeated(body: str, notes: int) -> None:
    """music21 makes measures only for two plain bar lines or more; repeat signs are bar lines too."""
    (tune,) = parse_abc_text(f"X:1\nT:short\nM:4/4\nL:1/8\nK:D\n{body}\n")
    assert len(tune.notes) == notes and tune.form is not None
    assert [n.start for n in tune.notes[:9]] == [240 * i for i in range(9)]


@pytest.mark.parametrize(("file", "x", "beats"), [
    # `||z|…[1 … :|[2`, a first ending music21 split in two (its re-barring left the `:|` outside the
    # bracket) and three 8-bar parts: AABBCC of 6/8 bars plus the half-beat pickup; music21 refuses it
    ("0759-0810.abc", 769, 48 * 3 + 0.5),
    # `[2 … :|`: a transcriber's repeat sign closing the second ending; AABB, not music21's replay from the top
    ("0951-0981.abc", 958, 32 * 3),
    # `d2 d2 d2:|` overflows its bar; the `:|` music21 moved to the split-off bar still repeats the part
    ("1577-1624.abc", 1603, 32 * 4),
])
def test_repeats_unfold_as_players_read_them(oneills_paths: list[Path], file: str, x: int, beats: float) -> None:
    tune = _oneills_tune(oneills_paths, file, x)
    assert tune.metadata["repeats_expanded"] is True
    assert tune.end_tick == beats * 480


def test_without_spanners_drops_slurs_and_hairpins_only() -> None:
    text = 'X:1\nT:a (b)\nK:D\n(3abc (de) "(G)"f !crescendo(!g !crescendo)! [K:(x)] !trill!A % (c)\n((AB))|\n'
    assert without_spanners(text) == 'X:1\nT:a (b)\nK:D\n(3abc  de  "(G)"f  g   [K:(x)] !trill!A % (c)\n  AB  |\n'


def test_stripping_slurs_keeps_notes_and_mends_broken_rhythm(oneills_paths: list[Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Slurs carry no notes (and music21 is cubic in a long unclosed one): tunes read the same without them,
    except that music21 drops a broken rhythm next to a slur mark: X:8 `G>(BA/G/)` is G. B/ A/ G/ (Bb: D minor)."""
    text = next(p for p in oneills_paths if p.name == "0001-0050.abc").read_text()
    tunes = abc.split_tunes(text)
    stripped = [s.notes for s in parse_abc_text(text)]
    monkeypatch.setattr(abc, "without_spanners", lambda tune: tune)
    as_written = [s.notes for s in parse_abc_text(text)]
    beside_slur = [bool(re.search(r"[<>]\s*[()]", t)) for t in tunes]
    assert sum(bool(re.search(r"\((?!\d)", t)) for t in tunes) >= 30 and beside_slur.count(False) >= 40
    assert all(a == b for a, b, odd in zip(stripped, as_written, beside_slur, strict=True) if not odd)
    g, b = stripped[7][-8:-6]  # X:8, bar `cAF G>(BA/G/) | FDD D2 ||`
    assert (g.pitch, g.duration, b.pitch, b.duration) == (67, 360, 70, 120)
    assert as_written[7][-8].duration == 240  # music21 on the text as written
