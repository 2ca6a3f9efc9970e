"""Rendering real O'Neill tunes to .mid, .musicxml, .wav, .png and a listening page, read back by other libraries."""

from __future__ import annotations

import shutil
import wave
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from composer.cli import main
from composer.errors import InputError, OutputError
from composer.io import load
from composer.io.abc import parse_abc_text
from composer.render import RenderConfig, find_soundfont, render, render_audio, render_batch, render_page
from composer.render import write as rendering
from composer.score import Note, Score, TempoChange, TimeSignature, bar_starts

HAS_FLUIDSYNTH = shutil.which("fluidsynth") is not None and find_soundfont() is not None
TWO_TUNES = """X:1
T:Two Bars
M:2/4
L:1/8
K:D
DEFG|ABcd|]

X:2
T:Three Bars
M:3/4
L:1/4
K:Ador
ABc|dcB|A3|]
"""


@pytest.fixture(scope="module")
def tunes(oneills_paths: list[Path]) -> list[Score]:
    """The first three tunes of O'Neill's 0001-0050.abc ("The Enchanted Valley" is the first)."""
    return load(oneills_paths[0])[:3]


@pytest.fixture(scope="module")
def tune(tunes: list[Score]) -> Score:
    assert tunes[0].title == "The Enchanted Valley" and len(tunes[0].notes) == 121
    return tunes[0]


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
        return frames.astype(np.float64) / 32768, w.getframerate()


# --- .mid ------------------------------------------------------------------------------------------
def test_midi_reads_back_the_same_notes_in_pretty_midi_mido_and_music21(tune, tmp_path):
    import mido
    import pretty_midi
    from music21 import converter

    path = render(tune, tmp_path / "tune.mid")
    pitches = [n.pitch for n in tune.notes]  # a melody: one note at a time, in time order

    pm = pretty_midi.PrettyMIDI(str(path))
    pm_notes = sorted((n for inst in pm.instruments for n in inst.notes), key=lambda n: n.start)
    assert [n.pitch for n in pm_notes] == pitches
    assert pm_notes[-1].end == pytest.approx(tune.duration_seconds, abs=1e-3)

    onsets = [m.note for m in mido.MidiFile(str(path)) if m.type == "note_on" and m.velocity > 0]
    assert onsets == pitches

    m21 = [n.pitch.midi for n in converter.parse(str(path)).flatten().notes]
    assert m21 == pitches


def test_program_and_tempo_can_be_set(tune, tmp_path):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(render(tune, tmp_path / "violin.mid", program=40, qpm=90)))
    assert {inst.program for inst in pm.instruments} == {40}
    assert pm.get_tempo_changes()[1].tolist() == pytest.approx([90.0])
    assert pm.get_end_time() == pytest.approx(tune.duration_seconds * 120 / 90, abs=1e-3)


def test_folk_tunes_take_the_configured_program_and_midi_keeps_its_own(tune, tmp_path):
    import pretty_midi

    config = RenderConfig(folk_program=73)
    pm = pretty_midi.PrettyMIDI(str(render(tune, tmp_path / "flute.mid", config=config)))
    assert {inst.program for inst in pm.instruments} == {73}
    midi_score = load(tmp_path / "flute.mid")[0].replace(notes=[n._replace(program=0) for n in tune.notes])
    pm = pretty_midi.PrettyMIDI(str(render(midi_score, tmp_path / "piano.mid", config=config)))
    assert {inst.program for inst in pm.instruments} == {0}
    with pytest.raises(InputError, match="0-127"):
        RenderConfig(folk_program=128)


# --- .musicxml -------------------------------------------------------------------------------------
def test_musicxml_parses_with_the_same_pitches_meter_key_and_title(tune, tmp_path):
    from music21 import converter

    path = render(tune, tmp_path / "tune.musicxml")
    parsed = converter.parse(str(path))
    flat = parsed.flatten()
    assert [n.pitch.midi for n in flat.notes] == [n.pitch for n in tune.notes]
    assert sum(n.quarterLength for n in flat.notes) == sum(n.duration for n in tune.notes) / tune.tpq
    assert flat.getElementsByClass("KeySignature")[0].sharps == -2  # G minor: B♭ and E♭, not G♭
    assert flat.getElementsByClass("TimeSignature")[0].ratioString == "2/4"
    assert "<work-title>The Enchanted Valley</work-title>" in path.read_text()
    assert len(parsed.parts[0].getElementsByClass("Measure")) >= 24


def test_musicxml_of_a_bach_chorale_keeps_every_voice(tmp_path):
    from music21 import converter, corpus

    chorale = load(corpus.getWork("bach/bwv66.6"))[0]
    parsed = converter.parse(str(render(chorale, tmp_path / "bwv66.musicxml")))
    onsets = [n for n in parsed.flatten().notes if n.tie is None or n.tie.type == "start"]  # not tied halves
    got = sorted(p.midi for n in onsets for p in n.pitches)
    assert got == sorted(n.pitch for n in chorale.notes)
    assert len(parsed.parts) == 3  # four voices; two that move together share a staff as chords
    first_bar = parsed.parts[0].getElementsByClass("Measure").first()
    assert (first_bar.paddingLeft, first_bar.duration.quarterLength) == (3.0, 1.0)  # the one-beat pickup


def test_musicxml_skips_meters_notation_cannot_write(oneills_paths, tmp_path):
    from music21 import converter

    (path,) = [p for p in oneills_paths if p.name == "1376-1475.abc"]
    (text,) = [t for t in path.read_text().split("\nX:") if "T: Johnny Has Gone To France" in t]
    (johnny,) = parse_abc_text("X:" + text, source=str(path))
    assert {(t.numerator, t.denominator) for t in johnny.time_signatures} == {(2, 2), (1, 6)}  # as ABC reads it
    parsed = converter.parse(str(render(johnny, tmp_path / "johnny.musicxml")))  # music21 raised on the 1/6 bars
    onsets = [n for n in parsed.flatten().notes if n.tie is None or n.tie.type == "start"]
    assert [n.pitch.midi for n in onsets] == [n.pitch for n in johnny.notes]
    assert {t.ratioString for t in parsed.flatten().getElementsByClass("TimeSignature")} == {"2/2"}


# --- .wav --------------------------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_FLUIDSYNTH, reason="fluidsynth or a General MIDI soundfont is not installed")
def test_wav_through_fluidsynth_is_loud_enough_and_as_long_as_the_tune(tune, tmp_path):
    audio, rate = read_wav(render(tune, tmp_path / "tune.wav"))
    assert rate == 44100 and audio.shape[1] == 2
    seconds, rms = len(audio) / rate, float(np.sqrt(np.mean(audio**2)))
    assert abs(seconds - tune.duration_seconds) < 1.5  # 23.875 s of music plus the last note's release
    assert 0.05 < rms < 0.11  # brought to -20 dBFS RMS
    assert np.abs(audio).max() <= 0.9
    _, used = render_audio(tune.replace(notes=tune.notes[:8]))
    assert used == "fluidsynth"


def test_wav_without_fluidsynth_falls_back_to_sine_waves_and_says_so(tune, tmp_path, monkeypatch):
    monkeypatch.setattr(rendering.shutil, "which", lambda name: None)
    monkeypatch.setattr(rendering, "_has_pyfluidsynth", lambda: False)
    with pytest.warns(UserWarning, match=r"fluidsynth not found.*sine.*apt-get install fluidsynth"):
        path = render(tune, tmp_path / "sine.wav")
    audio, rate = read_wav(path)
    assert abs(len(audio) / rate - tune.duration_seconds) < 1.5
    assert float(np.sqrt(np.mean(audio**2))) > 0.05
    with pytest.raises(OutputError, match="fluidsynth"):
        render_audio(tune, RenderConfig(synth="fluidsynth"))
    with pytest.raises(InputError, match="soundfont not found"):
        find_soundfont(RenderConfig(soundfont=str(tmp_path / "missing.sf2")))


def test_trailing_silence_is_trimmed_and_loudness_normalised():
    rate, config = 1000, RenderConfig(sample_rate=1000)
    tone = np.sin(np.linspace(0, 200 * np.pi, 2 * rate, dtype=np.float32))[:, None].repeat(2, axis=1) * 0.01
    audio = np.concatenate([tone, np.zeros((5 * rate, 2), np.float32)])
    trimmed = rendering._normalise(rendering._trim(audio, 10.0, rate), config)
    assert len(trimmed) == pytest.approx(2 * rate, abs=2)
    assert float(np.sqrt(np.mean(trimmed.astype(np.float64) ** 2))) == pytest.approx(0.1, rel=0.05)
    assert len(rendering._trim(audio, 1.5, rate)) == 1500


# --- .png ------------------------------------------------------------------------------------------
def test_piano_roll_is_a_real_picture_and_shows_the_seed(tune, tmp_path):
    from matplotlib.image import imread

    plain = render(tune, tmp_path / "plain.png")
    seeded = render(tune, tmp_path / "seeded.png", seed_end_tick=8 * tune.tpq)
    assert plain.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plain.stat().st_size > 20_000
    pixels = imread(str(plain))[..., :3]
    assert (pixels.min(axis=2) < 0.9).mean() > 0.02  # notes, lines and labels, not a blank page
    assert not np.array_equal(imread(str(seeded))[..., :3], pixels)


def test_bar_lines_follow_the_meter_map_and_the_pickup():
    notes = [Note(60, 0, 480 * 10)]
    assert bar_starts(Score(notes, time_signatures=[TimeSignature(0, 2, 4)])) == [0, 960, 1920, 2880, 3840]
    changed = Score(notes, time_signatures=[TimeSignature(0, 2, 4), TimeSignature(1920, 3, 4)])
    assert bar_starts(changed) == [0, 960, 1920, 3360]
    pickup = Score(notes, time_signatures=[TimeSignature(0, 6, 8)], metadata={"pickup_ticks": 480})
    assert bar_starts(pickup) == [0, 480, 1920, 3360]
    assert bar_starts(Score(notes)) == [0, 1920, 3840]  # 4/4 when there is no meter


# --- batches and the page ------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.links += [(tag, v) for k, v in attrs if k in ("href", "src") and v]


def page_links(page: Path) -> list[tuple[str, str]]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.links


def test_batch_writes_variations_and_a_page_whose_links_all_exist(tunes, tmp_path):
    small = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")  # loads faster than FluidR3_GM
    config = RenderConfig(soundfont=str(small) if small.is_file() else None, synth="auto" if HAS_FLUIDSYNTH else "sine")
    pieces = render_batch(tunes[:2], tmp_path, seed_end_ticks=[1920, 0], config=config)
    assert [p.midi.name for p in pieces] == ["variation-01.mid", "variation-02.mid"]
    assert [p.title for p in pieces] == ["The Enchanted Valley", "Fare You Well"]
    assert pieces[0].facts == {"key": "G minor", "meter": "2/4", "type": "—", "bars": 25, "notes": 121,
                               "duration": "0:23.9"}
    links = page_links(tmp_path / "index.html")
    assert sorted(tag for tag, _ in links) == ["a"] * 6 + ["audio"] * 2 + ["img"] * 2  # .mid, .abc, .wav each
    assert all((tmp_path / link).is_file() for _, link in links)
    assert {link for tag, link in links if tag == "img"} == {"variation-01.png", "variation-02.png"}
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "G minor" in text and "2/4" in text and "<style>" in text and "http" not in text

    before = (tmp_path / "variation-01.wav").read_bytes()
    again = render_batch(tunes[:1], tmp_path, wav=False, png=False, config=config)
    assert again[0].midi.name == "variation-01-2.mid" and (tmp_path / "index-2.html").is_file()
    assert (tmp_path / "variation-01.wav").read_bytes() == before
    with pytest.raises(OutputError, match="already exists"):
        render_page(pieces, tmp_path)


def test_batch_wavs_made_in_threads_are_those_made_one_at_a_time_and_their_errors_come_through(tunes, tmp_path,
                                                                                               monkeypatch):
    config = RenderConfig(synth="sine", sample_rate=8000)
    pieces = render_batch(tunes[:3], tmp_path / "batch", png=False, html=False, config=config)
    for piece, tune in zip(pieces, tunes[:3], strict=True):
        assert piece.wav.read_bytes() == render(tune, tmp_path / f"{piece.midi.stem}.wav", config=config).read_bytes()

    def broken(score, config=None):
        raise OutputError("fluidsynth failed with x.sf2: exit 1")

    monkeypatch.setattr(rendering, "render_audio", broken)
    with pytest.raises(OutputError, match="fluidsynth failed"):
        render_batch(tunes[:2], tmp_path / "broken", png=False, html=False, config=config)
    assert not list((tmp_path / "broken").glob("*.wav"))


# --- errors and the command -----------------------------------------------------------------------------
def test_unknown_extension_and_existing_files_are_refused(tune, tmp_path):
    with pytest.raises(InputError, match=r"\.ogg"):
        render(tune, tmp_path / "tune.ogg")
    path = render(tune, tmp_path / "tune.mid")
    path.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="already exists"):
        render(tune, path)
    assert path.read_bytes() == b"keep me"
    assert render(tune, path, force=True).read_bytes()[:4] == b"MThd"
    with pytest.raises(InputError, match="qpm"):
        render(Score([Note(60, 0, 480)], tempos=[TempoChange(0, 100)]), tmp_path / "x.mid", qpm=0)


def test_render_command_writes_one_file_per_tune_beside_the_input(tmp_path, capsys):
    abc = tmp_path / "two.abc"
    abc.write_text(TWO_TUNES)
    main(["render", str(abc), "--mid", "--png"])
    out = capsys.readouterr().out.split("\n")
    names = ["two-01.mid", "two-01.png", "two-02.mid", "two-02.png"]
    assert [line.rsplit("/", 1)[-1] for line in out if line] == names
    assert [n.pitch for n in load(tmp_path / "two-02.mid")[0].notes] == [69, 71, 72, 74, 72, 71, 69]
    with pytest.raises(SystemExit) as exit_info:
        main(["render", str(abc), "--png"])
    assert exit_info.value.code == 1 and "already exists" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["render", str(tmp_path / "two-01.mid"), "--mid", "--force"])
    assert "overwrite the input" in capsys.readouterr().err
