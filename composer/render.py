"""Scores to things people open: .mid, .musicxml, .wav (fluidsynth), piano-roll .png, an HTML page.

`render(score, path)` picks the format by extension; `render_batch` writes a set of variations and
their listening page. Every write is atomic and refuses to overwrite unless `force`.
"""

from __future__ import annotations

import html
import io
import os
import shutil
import subprocess
import tempfile
import warnings
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from composer.errors import InputError, OutputError
from composer.files import atomic_write_bytes, atomic_write_text, unique_path
from composer.score import Score, TempoChange, pitch_name

FOLK_PROGRAM = 0  # Acoustic Grand Piano: the clearest voice in the small GM soundfonts
SAMPLE_RATE = 44100
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")


@dataclass(frozen=True)
class RenderedPiece:
    """One variation as written by `render_batch`: its files and a few facts for the page."""

    title: str
    midi: Path
    wav: Path | None = None
    png: Path | None = None
    facts: dict = field(default_factory=dict)


def render(score: Score, path: str | Path, *, program: int | None = None, qpm: float | None = None,
           force: bool = False, seed_end_tick: int = 0) -> Path:
    """Write `score` as .mid, .musicxml, .wav or .png (by the extension of `path`)."""
    path = Path(path)
    if not force and path.exists():
        raise OutputError("already exists; pass --force (force=True) to overwrite it", path)
    score = _playable(score, program, qpm)
    suffix = path.suffix.lower()
    if suffix in (".mid", ".midi"):
        from composer.io import save_midi

        return save_midi(score, path, force=force)
    if suffix in (".musicxml", ".xml"):
        return _write_musicxml(score, path)
    if suffix == ".wav":
        return atomic_write_bytes(path, _wav_bytes(score))
    if suffix == ".png":
        return atomic_write_bytes(path, piano_roll_png(score, seed_end_tick))
    raise InputError(f"cannot render to {path.suffix or 'a file without extension'}; use .mid .musicxml .wav .png", path)


def _playable(score: Score, program: int | None, qpm: float | None) -> Score:
    """The score with the instrument and tempo a listener gets (folk tunes default to FOLK_PROGRAM)."""
    if program is not None:
        score = score.replace(notes=[n._replace(program=program) for n in score.notes if not n.is_drum]
                              + [n for n in score.notes if n.is_drum])
    if qpm is not None:
        score = score.replace(tempos=[TempoChange(0, float(qpm))])
    return score


# --- audio -----------------------------------------------------------------------------------
def find_soundfont() -> Path | None:
    """A General MIDI soundfont: $COMPOSER_SOUNDFONT, Debian's, or the one pretty_midi ships."""
    candidates = [os.environ.get("COMPOSER_SOUNDFONT", "")] + list(SOUNDFONTS)
    import pretty_midi

    candidates.append(str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"))
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def _wav_bytes(score: Score) -> bytes:
    """16-bit stereo WAV of the score: fluidsynth when installed, else pretty_midi's sine synthesis."""
    soundfont, fluidsynth = find_soundfont(), shutil.which("fluidsynth")
    if fluidsynth and soundfont:
        audio = _fluidsynth(score, fluidsynth, soundfont)
    else:
        warnings.warn("fluidsynth not found: rendering with plain sine waves; install it for real "
                      "instruments (apt-get install fluidsynth)", stacklevel=3)
        audio = _pretty_midi_synth(score)
    return _encode_wav(_normalise(audio))


def _fluidsynth(score: Score, program: str, soundfont: Path) -> np.ndarray:
    from composer.io import save_midi

    with tempfile.TemporaryDirectory() as tmp:
        mid, out = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        save_midi(score, mid)
        seconds = score.duration_seconds + 30
        subprocess.run([program, "-ni", "-q", "-g", "0.6", "-F", str(out), "-r", str(SAMPLE_RATE), str(soundfont), str(mid)],
                       check=True, capture_output=True, timeout=max(60, seconds))
        with wave.open(str(out)) as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
            audio = frames.reshape(-1, w.getnchannels()).astype(np.float32) / 32768
    return _trim(audio, score.duration_seconds)


def _pretty_midi_synth(score: Score) -> np.ndarray:
    import pretty_midi

    from composer.io import save_midi

    with tempfile.TemporaryDirectory() as tmp:
        mid = save_midi(score, Path(tmp) / "in.mid")
        mono = pretty_midi.PrettyMIDI(str(mid)).synthesize(fs=SAMPLE_RATE).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def _trim(audio: np.ndarray, seconds: float) -> np.ndarray:
    """Keep the music plus at most one second of release after the last note."""
    return audio[: int((seconds + 1.0) * SAMPLE_RATE)]


def _normalise(audio: np.ndarray) -> np.ndarray:
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return audio * (0.89 / peak) if peak > 0 else audio


def _encode_wav(audio: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(audio.shape[1] if audio.ndim == 2 else 1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


# --- pictures and notation -----------------------------------------------------------------------
def piano_roll_png(score: Score, seed_end_tick: int = 0) -> bytes:
    """A piano roll: beats across, pitch names up, bar lines, the seed shaded; PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notes = score.note_array()
    beats = score.end_tick / score.tpq if len(notes) else 4.0
    fig, ax = plt.subplots(figsize=(min(max(6.0, beats / 4), 24.0), 4.0), dpi=100)
    if len(notes):
        starts, lengths, pitches = notes[:, 1] / score.tpq, notes[:, 2] / score.tpq, notes[:, 0]
        ax.barh(pitches, lengths, left=starts, height=0.8, color=matplotlib.colormaps["viridis"](notes[:, 3] / 127),
                edgecolor="black", linewidth=0.3)
        lo, hi = int(pitches.min()) - 2, int(pitches.max()) + 2
        ticks = [p for p in range(lo, hi + 1) if p % 12 in (0, 7) or hi - lo < 14]
        ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
        ax.set_ylim(lo, hi)
    for bar in _bar_lines(score, beats):
        ax.axvline(bar, color="0.6", linewidth=0.6, zorder=0)
    if seed_end_tick:
        ax.axvspan(0, seed_end_tick / score.tpq, color="0.85", zorder=-1, label="seed")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlim(0, max(beats, 1.0))
    ax.set_xlabel("beats (quarter notes); grey lines: bars")
    ax.set_title(score.title or "composition", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _bar_lines(score: Score, beats: float) -> list[float]:
    """Bar-line positions in beats from the time-signature map (4/4 when there is none)."""
    sigs = list(score.time_signatures) or []
    pickup = int(score.metadata.get("pickup_ticks", 0) or 0) / score.tpq
    lines, t, i = [], pickup, 0
    length = sigs[0].bar_beats if sigs else 4.0
    while t <= beats and len(lines) < 2000:
        while i + 1 < len(sigs) and sigs[i + 1].tick / score.tpq <= t + 1e-9:
            i += 1
            length = sigs[i].bar_beats
        lines.append(t)
        t += length
    return lines


def _write_musicxml(score: Score, path: Path) -> Path:
    """MusicXML through music21 (opens in MuseScore), written to a temp file and renamed."""
    from fractions import Fraction

    from music21 import chord, key, meter, note, stream, tempo

    part = stream.Part()
    if score.time_signature:
        part.insert(0, meter.TimeSignature(f"{score.time_signature.numerator}/{score.time_signature.denominator}"))
    if score.key_signature:
        part.insert(0, key.Key(pitch_name(score.key_signature.tonic)[:-1], score.key_signature.mode))
    if score.tempos:
        part.insert(0, tempo.MetronomeMark(number=score.tempos[0].qpm))
    by_onset: dict[tuple[int, int], list[int]] = {}
    for n in score.notes:
        by_onset.setdefault((n.start, n.duration), []).append(n.pitch)
    for (start, duration), pitches in sorted(by_onset.items()):
        element = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(pitches)
        element.quarterLength = Fraction(duration, score.tpq)
        part.insert(Fraction(start, score.tpq), element)
    s = stream.Score([part])
    if score.title:
        from music21 import metadata

        s.metadata = metadata.Metadata(title=score.title)
    with tempfile.TemporaryDirectory(dir=path.parent if path.parent.exists() else None) as tmp:
        written = Path(s.write("musicxml", fp=str(Path(tmp) / "out.musicxml")))
        return atomic_write_bytes(path, written.read_bytes())


# --- batches and the listening page -----------------------------------------------------------------
def render_batch(scores: list[Score], out_dir: str | Path, *, stem: str = "variation", wav: bool = True,
                 png: bool = True, html: bool = True, seed_end_ticks: list[int] | None = None,
                 force: bool = False) -> list[RenderedPiece]:
    """Write each score as stem-NN.mid (+ .wav, .png) into `out_dir`, and index.html to listen."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pieces = []
    for i, score in enumerate(scores, start=1):
        base = unique_path(out_dir, f"{stem}-{i:02d}", ".mid") if not force else out_dir / f"{stem}-{i:02d}.mid"
        score = _playable(score, None, None)
        midi = render(score, base, force=force)
        wav_path = render(score, base.with_suffix(".wav"), force=force) if wav else None
        png_path = render(score, base.with_suffix(".png"), force=force,
                          seed_end_tick=(seed_end_ticks or [0] * len(scores))[i - 1]) if png else None
        pieces.append(RenderedPiece(score.title or f"{stem} {i}", midi, wav_path, png_path, _facts(score)))
    if html:
        render_page(pieces, out_dir, title=out_dir.name, force=force)
    return pieces


def _facts(score: Score) -> dict:
    ts, ks = score.time_signature, score.key_signature
    return {"key": ks.name if ks else "—", "meter": f"{ts.numerator}/{ts.denominator}" if ts else "—",
            "type": score.tune_type or "—", "notes": len(score.notes),
            "seconds": round(score.duration_seconds, 1)}


def render_page(pieces: list[RenderedPiece], out_dir: str | Path, title: str = "compositions",
                name: str = "index.html", force: bool = False) -> Path:
    """A self-contained HTML page: one row per piece with a player, its piano roll and its files."""
    out_dir = Path(out_dir)
    rows = []
    for p in pieces:
        facts = " · ".join(f"{k} {html.escape(str(v))}" for k, v in p.facts.items())
        audio = f'<audio controls preload="none" src="{p.wav.name}"></audio>' if p.wav else ""
        roll = f'<img src="{p.png.name}" alt="piano roll of {html.escape(p.title)}">' if p.png else ""
        links = " ".join(f'<a href="{f.name}">{f.suffix[1:]}</a>' for f in (p.midi, p.wav) if f)
        rows.append(f"<section><h2>{html.escape(p.title)}</h2><p>{facts} — {links}</p>{audio}{roll}</section>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
section{{border-top:1px solid #ddd;padding:1em 0}}img{{max-width:100%;display:block;margin-top:.5em}}
audio{{width:100%}}h2{{font-size:1.1em;margin:0}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{len(pieces)} piece(s) by composer. Shaded: the seed; the rest is new.</p>
{''.join(rows)}</body></html>"""
    return atomic_write_text(out_dir / name, page, force=force)
