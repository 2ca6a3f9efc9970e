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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from composer.errors import InputError, OutputError, TokenizeError
from composer.files import atomic_write_bytes, atomic_write_text
from composer.io import load, save_midi
from composer.render.abc import abc_tune
from composer.render.notation import musicxml_bytes
from composer.render.pianoroll import piano_roll_png
from composer.score import Score, TempoChange, bar_starts

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
SUFFIXES = (".mid", ".midi", ".musicxml", ".xml", ".abc", ".wav", ".png")
SYNTHS = ("auto", "fluidsynth", "sine")
INSTALL_HINT = "install it for real instruments: apt-get install fluidsynth (or pip install 'composer[audio]')"

__all__ = ["RenderConfig", "RenderedPiece", "find_soundfont", "piano_roll_png", "render", "render_audio",
           "render_batch", "render_page"]


@dataclass(frozen=True)
class RenderConfig:
    """How scores become sound and files; the defaults are what `composer compose` and `render` use."""

    folk_program: int = 0  # GM program for ABC tunes (all program 0): Acoustic Grand Piano, clear at reel speed
    soundfont: str | None = None  # else $COMPOSER_SOUNDFONT, Debian's FluidR3_GM / TimGM6mb, pretty_midi's
    synth: str = "auto"  # auto: fluidsynth (program, then pyfluidsynth), else sine waves with a warning
    sample_rate: int = 44100
    synth_timeout_s: float = 120.0
    target_rms_db: float = -20.0  # loudness every WAV is brought to, so variations compare by ear
    peak: float = 0.89  # -1 dBFS ceiling on that gain
    tail_seconds: float = 1.0  # release kept after the last note ends

    def __post_init__(self) -> None:
        if self.synth not in SYNTHS:
            raise InputError(f"synth must be one of {', '.join(SYNTHS)}, not {self.synth!r}")
        if not 0 <= self.folk_program <= 127:
            raise InputError(f"folk_program is a General MIDI program 0-127, not {self.folk_program}")


@dataclass(frozen=True)
class RenderedPiece:
    """One variation as written by `render_batch`: its files and a few facts for the page."""

    title: str
    midi: Path
    wav: Path | None = None
    png: Path | None = None
    facts: dict = field(default_factory=dict)
    abc: Path | None = None


def render(score: Score, path: str | Path, *, program: int | None = None, qpm: float | None = None,
           force: bool = False, seed_end_tick: int = 0, config: RenderConfig | None = None) -> Path:
    """Write `score` as .mid, .musicxml, .wav or .png (by the extension of `path`); returns the path.

    `program` sets every (non-drum) instrument, `qpm` replaces the tempo map, `seed_end_tick` shades
    the seed on a piano roll. InputError for an unknown extension, OutputError for an existing file.
    """
    path = Path(path)
    config = config or RenderConfig()
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"cannot render to {path.suffix or 'a name without extension'!r}; "
                         f"use one of {', '.join(SUFFIXES)}", path)
    if not force and path.exists():
        raise OutputError("already exists; pass --force (force=True) to overwrite it", path)
    if suffix == ".abc":
        return atomic_write_text(path, abc_tune(score), force=True)
    score = playable(score, program, qpm, config)
    if suffix in (".mid", ".midi"):
        return save_midi(score, path, force=True)
    if suffix in (".musicxml", ".xml"):
        return atomic_write_bytes(path, musicxml_bytes(score, path))
    if suffix == ".wav":
        audio, _ = render_audio(score, config)
        return atomic_write_bytes(path, _encode_wav(audio, config.sample_rate))
    return atomic_write_bytes(path, piano_roll_png(score, seed_end_tick))


def playable(score: Score, program: int | None = None, qpm: float | None = None,
             config: RenderConfig | None = None) -> Score:
    """The score with the instrument and tempo a listener gets: ABC tunes take `config.folk_program`."""
    config = config or RenderConfig()
    if program is None and _is_folk(score) and all(n.program == 0 for n in score.notes):
        program = config.folk_program
    if program is not None:
        if not 0 <= program <= 127:
            raise InputError(f"program is a General MIDI program 0-127, not {program}")
        score = score.replace(notes=[n if n.is_drum else n._replace(program=program) for n in score.notes])
    if qpm is not None:
        if not 10 <= qpm <= 1000:
            raise InputError(f"qpm {qpm} is not a playable tempo (10-1000 quarter notes per minute)")
        score = score.replace(tempos=[TempoChange(0, float(qpm))])
    return score


def _is_folk(score: Score) -> bool:
    return "abc_key" in score.metadata or score.source.lower().endswith(".abc")


# --- audio -----------------------------------------------------------------------------------
def find_soundfont(config: RenderConfig | None = None) -> Path | None:
    """A General MIDI soundfont: the config's, $COMPOSER_SOUNDFONT, Debian's, or the one pretty_midi ships."""
    import pretty_midi

    config = config or RenderConfig()
    candidates = [config.soundfont or "", os.environ.get("COMPOSER_SOUNDFONT", ""), *SOUNDFONTS,
                  str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")]
    if config.soundfont and not Path(config.soundfont).is_file():
        raise InputError("soundfont not found", config.soundfont)
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def render_audio(score: Score, config: RenderConfig | None = None) -> tuple[np.ndarray, str]:
    """The score as float32 audio (N, 2) at `config.sample_rate`, trimmed and loudness-normalised,
    and the name of the synthesiser used ("fluidsynth", "pyfluidsynth" or "sine")."""
    config = config or RenderConfig()
    soundfont = find_soundfont(config)
    program = shutil.which("fluidsynth") if config.synth != "sine" else None
    if program and soundfont:
        audio, used = _fluidsynth(score, program, soundfont, config), "fluidsynth"
    elif config.synth != "sine" and soundfont and _has_pyfluidsynth():
        audio, used = _pretty_midi_audio(score, config, soundfont), "pyfluidsynth"
    else:
        if config.synth == "fluidsynth":
            raise OutputError(f"fluidsynth or a soundfont is missing; {INSTALL_HINT}")
        if config.synth == "auto" and not _SINE_WARNED:
            _SINE_WARNED.append(True)  # once per process, not once per file
            warnings.warn(f"fluidsynth not found: rendering with plain sine waves (pretty_midi.synthesize); "
                          f"{INSTALL_HINT}", stacklevel=3)
        audio, used = _pretty_midi_audio(score, config, None), "sine"
    end = score.duration_seconds + config.tail_seconds
    return _normalise(_trim(audio, end, config.sample_rate), config), used


_SINE_WARNED: list[bool] = []


def _has_pyfluidsynth() -> bool:
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def _fluidsynth(score: Score, program: str, soundfont: Path, config: RenderConfig) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        mid, out = save_midi(score, Path(tmp) / "in.mid"), Path(tmp) / "out.wav"
        command = [program, "-ni", "-q", "-o", "synth.dynamic-sample-loading=1",  # load only the samples it plays
                   "-g", "0.5", "-T", "wav", "-F", str(out), "-r", str(config.sample_rate), str(soundfont), str(mid)]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=config.synth_timeout_s)
            with wave.open(str(out)) as w:
                frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
                return frames.reshape(-1, w.getnchannels()).astype(np.float32) / 32768
        except subprocess.TimeoutExpired:
            raise OutputError(f"fluidsynth took over {config.synth_timeout_s:.0f} s; "
                              "raise RenderConfig.synth_timeout_s for long pieces") from None
        except subprocess.CalledProcessError as e:
            tail = (e.stderr or b"").decode(errors="replace").strip()[-300:]
            raise OutputError(f"fluidsynth failed with {soundfont}: {tail or 'exit ' + str(e.returncode)}") from None
        except (OSError, wave.Error) as e:
            raise OutputError(f"fluidsynth wrote no readable audio ({e})") from None


def _pretty_midi_audio(score: Score, config: RenderConfig, soundfont: Path | None) -> np.ndarray:
    """pretty_midi's synthesis: through pyfluidsynth with a soundfont, else its sine waves."""
    import pretty_midi

    with tempfile.TemporaryDirectory() as tmp:
        pm = pretty_midi.PrettyMIDI(str(save_midi(score, Path(tmp) / "in.mid")))
    if soundfont is None:
        mono = pm.synthesize(fs=config.sample_rate)
    else:
        mono = pm.fluidsynth(fs=config.sample_rate, sf2_path=str(soundfont))
    mono = np.asarray(mono, dtype=np.float32)
    return np.stack([mono, mono], axis=1)


def _trim(audio: np.ndarray, seconds: float, rate: int) -> np.ndarray:
    """Cut trailing silence and anything past `seconds`, with a 20 ms fade so the cut does not click."""
    level = np.abs(audio).max(axis=1) if audio.size else np.zeros(0)
    loud = np.flatnonzero(level > 1e-3 * max(float(level.max(initial=0.0)), 1e-9))
    end = min(int(seconds * rate), int(loud[-1]) + 1 if loud.size else 0)
    audio = audio[:end].copy()
    fade = min(len(audio), int(0.02 * rate))
    if fade:
        audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return audio


def _normalise(audio: np.ndarray, config: RenderConfig) -> np.ndarray:
    """Bring the RMS to `target_rms_db`, never letting the peak pass `config.peak`."""
    if not audio.size:
        return audio
    rms, peak = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))), float(np.abs(audio).max())
    if peak == 0:
        return audio
    gain = min(10 ** (config.target_rms_db / 20) / rms, config.peak / peak)
    return (audio * gain).astype(np.float32)


def _encode_wav(audio: np.ndarray, rate: int) -> bytes:
    """16-bit PCM WAV bytes of float audio (N, channels) in -1..1."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(audio.shape[1] if audio.ndim == 2 else 1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.round(np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


# --- batches and the listening page -----------------------------------------------------------------
def render_batch(scores: list[Score], out_dir: str | Path, *, stem: str = "variation", wav: bool = True,
                 png: bool = True, html: bool = True, seed_end_ticks: list[int] | None = None,
                 force: bool = False, config: RenderConfig | None = None) -> list[RenderedPiece]:
    """Write each score as stem-NN.mid (+ .wav, .png) into `out_dir`, and index.html to listen.

    Without `force`, names already taken get a -2, -3 … suffix, so nothing is ever overwritten. The WAVs
    are synthesised in threads (one fluidsynth process each) while the piano rolls are drawn.
    """
    out_dir, config = Path(out_dir), config or RenderConfig()
    suffixes = [".mid", ".abc"] + [".wav"] * wav + [".png"] * png
    seed_ends = list(seed_end_ticks or []) + [0] * len(scores)
    bases = [out_dir / f"{stem}-{i:02d}" for i in range(1, len(scores) + 1)]
    if not force:
        bases = [_free_base(out_dir, base.name, suffixes) for base in bases]
    scores = [playable(score, config=config) for score in scores]
    with ThreadPoolExecutor(max_workers=max(1, min(len(scores), os.cpu_count() or 1))) as synths:
        audio = [synths.submit(render, score, base.with_suffix(".wav"), force=force, config=config) if wav else None
                 for score, base in zip(scores, bases, strict=True)]
        pieces = []
        for score, base, seed_end in zip(scores, bases, seed_ends, strict=False):
            midi = render(score, base.with_suffix(".mid"), force=force, config=config)
            abc = _abc_file(score, base.with_suffix(".abc"), force, config)
            png_path = render(score, base.with_suffix(".png"), force=force, config=config,
                              seed_end_tick=seed_end) if png else None
            pieces.append(RenderedPiece(score.title or base.name, midi, None, png_path, piece_facts(score), abc))
        pieces = [replace(piece, wav=job.result() if job else None) for piece, job in zip(pieces, audio, strict=True)]
    if html:
        name = "index.html" if force else _free_base(out_dir, "index", [".html"]).name + ".html"
        render_page(pieces, out_dir, title=out_dir.resolve().name, name=name, force=force,
                    seeded=any(seed_ends[: len(scores)]))
    return pieces


def _abc_file(score: Score, path: Path, force: bool, config: RenderConfig) -> Path | None:
    """The tune as .abc, or None where ABC cannot write it (drums, several instruments, a meter or mode
    the abc scheme does not know): the other files still come."""
    if not score.notes or any(n.is_drum or n.program != score.notes[0].program for n in score.notes):
        return None
    try:
        return render(score, path, force=force, config=config)
    except TokenizeError:
        return None


def _free_base(folder: Path, stem: str, suffixes: list[str]) -> Path:
    """`folder/stem`, or stem-2, stem-3 …: the first for which no file with any of `suffixes` exists."""
    base, n = folder / stem, 2
    while any(base.with_name(base.name + s).exists() for s in suffixes):
        base, n = folder / f"{stem}-{n}", n + 1
    return base


def piece_facts(score: Score) -> dict:
    """Key, meter, tune type, bars, notes and seconds: what a listener wants to know at a glance."""
    ts, ks = score.time_signature, score.key_signature
    seconds = score.duration_seconds
    return {"key": ks.name if ks else "—", "meter": f"{ts.numerator}/{ts.denominator}" if ts else "—",
            "type": score.tune_type or "—", "bars": len(bar_starts(score)), "notes": len(score.notes),
            "duration": f"{int(seconds // 60)}:{seconds % 60:04.1f}"}


def render_page(pieces: list[RenderedPiece], out_dir: str | Path, title: str = "compositions",
                name: str = "index.html", force: bool = False, seeded: bool = True) -> Path:
    """A self-contained HTML page (inline CSS, relative links): per piece a player, its piano roll, its files.

    `seeded`: the pieces continue a seed, shaded on their piano rolls (the page says so only then)."""
    out_dir = Path(out_dir)
    page = out_dir / name

    def link(p: Path) -> str:
        return html.escape(Path(os.path.relpath(Path(p).resolve(), out_dir.resolve())).as_posix(), quote=True)

    rows = []
    for p in pieces:
        facts = "".join(f"<span><b>{html.escape(str(k))}</b> {html.escape(str(v))}</span>" for k, v in p.facts.items())
        files = " ".join(f'<a href="{link(f)}">{f.suffix[1:]}</a>' for f in (p.midi, p.abc, p.wav) if f)
        audio = f'<audio controls preload="none" src="{link(p.wav)}"></audio>' if p.wav else ""
        roll = f'<img src="{link(p.png)}" alt="piano roll of {html.escape(p.title)}">' if p.png else ""
        label = html.escape(p.midi.stem)
        abc = (f'<details><summary>ABC</summary><pre>{html.escape(p.abc.read_text(encoding="utf-8"))}</pre></details>'
               if p.abc else "")
        rows.append(f'<section><h2>{label} <small>{html.escape(p.title)}</small></h2>'
                    f'<p class="facts">{facts}<span>{files}</span></p>{audio}{roll}{abc}</section>')
    about_rolls = ("On each piano roll the shaded part, up to the red line, is the seed; the rest is new." if seeded
                   else "Every note shown is new music (no seed is included).")
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
section{{border-top:1px solid #ddd;padding:1em 0}}h2{{font-size:1.1em;margin:0 0 .3em}}small{{color:#666}}
.facts span{{margin-right:1.2em}}audio{{width:100%}}img{{max-width:100%;display:block;margin-top:.5em}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>{len(pieces)} piece(s) written by composer. {about_rolls}</p>
{chr(10).join(rows)}
</body></html>
"""
    return atomic_write_text(page, doc, force=force)


def render_file(path: str | Path, suffixes: list[str], *, program: int | None = None, qpm: float | None = None,
                force: bool = False, config: RenderConfig | None = None) -> list[Path]:
    """Render every piece of a file `composer.io.load` reads beside it, once per suffix; a file of several
    tunes gives name-01, name-02 …. Never writes onto the input itself."""
    path = Path(path)
    scores = load(path)
    jobs = []
    for i, score in enumerate(scores, start=1):
        stem = path.stem if len(scores) == 1 else f"{path.stem}-{i:02d}"
        jobs += [(score, path.with_name(stem + suffix)) for suffix in suffixes]
    for _, out in jobs:
        if out.resolve() == path.resolve():
            raise InputError(f"rendering {out.suffix} would overwrite the input itself; choose another format", path)
        if out.exists() and not force:
            raise OutputError("already exists; pass --force (force=True) to overwrite it", out)
    return [render(score, out, program=program, qpm=qpm, force=force, config=config) for score, out in jobs]
