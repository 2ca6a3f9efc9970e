"""Build training and test corpora from music21's shipped corpus, and the bundled seeds' MIDI files.

`build_oneills` copies O'Neill's Music of Ireland (1850 tunes, 39 ABC files) into a folder, and with
`midi=True` also writes every tune as MIDI into `<out>-midi/`; `copy_abc("ryans", …)` copies Ryan's Mammoth
Collection (1,059 fiddle tunes, one ABC file each, every one typed reel/jig/hornpipe/…); `build_bach` writes the 371 Bach
chorales as multi-voice MIDI; `build_seeds` regenerates midi_corpus/seeds/*.mid from the .abc.
Every builder skips outputs that already exist, so an interrupted build resumes where it stopped.
Run as `python -m composer.corpus.build {oneills,ryans,bach,seeds} [OUT]` or `composer corpus build`.
"""

from __future__ import annotations

import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from composer.errors import ComposerError, InputError
from composer.files import atomic_write_bytes, atomic_write_text
from composer.io import load, load_report, save_midi
from composer.io.musicxml import stream_to_score

SEEDS = Path(__file__).resolve().parents[2] / "midi_corpus" / "seeds"
BUILDERS = ("oneills", "ryans", "bach", "seeds")
ABC_FOLDERS = {"oneills": "oneills1850", "ryans": "ryansMammoth"}  # music21 corpus folder of each ABC collection


@dataclass(frozen=True)
class BuildReport:
    """Outputs written, outputs already there, and sources that failed with their reasons."""

    out_dir: str
    written: int
    skipped_existing: int
    failed: tuple[tuple[str, str], ...] = ()

    def summary(self) -> str:
        return (f"{self.out_dir}: {self.written} written, {self.skipped_existing} already there, "
                f"{len(self.failed)} failed")


def abc_paths(folder: str) -> list[Path]:
    """The ABC files of one folder of music21's corpus (e.g. 'oneills1850'), sorted."""
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getPaths(fileExtensions=("abc",)) if Path(p).parent.name == folder)


def oneills_paths() -> list[Path]:
    """The 39 ABC files of O'Neill's Music of Ireland in music21's corpus, sorted."""
    return abc_paths(ABC_FOLDERS["oneills"])


_TWO_FOUR = re.compile(r"^M:\s*2/4\s*$", re.M)
_SIXTEENTHS = re.compile(r"^L:\s*1/16\s*$", re.M)
_REEL_TIME = re.compile(r"^R:\s*(reel|hornpipe)s?\s*$", re.M | re.I)


def in_cut_time(text: str) -> str:
    """A reel or hornpipe written in 2/4 with sixteenths (Ryan's way) rewritten in cut time with eighths
    (O'Neill's way): the same music, each bar one bar, every note twice the written value."""
    if not (_REEL_TIME.search(text) and _TWO_FOUR.search(text) and _SIXTEENTHS.search(text)):
        return text
    return _SIXTEENTHS.sub("L:1/8", _TWO_FOUR.sub("M:C|", text, count=1), count=1)


def copy_abc(name: str, out: str | Path, midi: bool = False, workers: int | None = None) -> BuildReport:
    """Copy the ABC files of collection `name` into `out`; with `midi`, also write each tune to `<out>-midi/`.

    Ryan's reels and hornpipes in 2/4 are written in cut time (`in_cut_time`), as O'Neill's are."""
    out = Path(out)
    sources = abc_paths(ABC_FOLDERS[name])
    if not sources:
        raise InputError(f"music21's corpus has no {ABC_FOLDERS[name]} files; is the corpus installed?")
    written = skipped = 0
    for src in sources:
        dest = out / src.name
        text = src.read_bytes()
        if name == "ryans":
            text = in_cut_time(text.decode("latin-1")).encode("latin-1")
        if dest.exists() and dest.read_bytes() == text:
            skipped += 1
            continue
        atomic_write_bytes(dest, text)
        written += 1
    report = BuildReport(str(out), written, skipped)
    if not midi:
        return report
    midi_report = tunes_to_midi([out / s.name for s in sources], Path(f"{out}-midi"), workers)
    return BuildReport(f"{out} (+ {midi_report.out_dir})", written + midi_report.written,
                       skipped + midi_report.skipped_existing, midi_report.failed)


def build_oneills(out: str | Path, midi: bool = False, workers: int | None = None) -> BuildReport:
    """Copy O'Neill's 39 ABC files into `out`; with `midi`, also write each tune to `<out>-midi/`."""
    return copy_abc("oneills", out, midi, workers)


def tunes_to_midi(paths: list[Path], out: Path, workers: int | None = None) -> BuildReport:
    """Write every tune of each file as `<out>/<stem>-NNN.mid`; a `.<stem>.done` marker skips finished files."""
    out.mkdir(parents=True, exist_ok=True)
    todo = [p for p in paths if not (out / f".{p.stem}.done").exists()]
    results: list[tuple[int, list[tuple[str, str]]]] = []
    if todo:
        with ProcessPoolExecutor(min(workers or os.cpu_count() or 1, len(todo))) as pool:
            results = list(pool.map(_file_to_midi, todo, [out] * len(todo)))
    written = sum(n for n, _ in results)
    failed = tuple(f for _, fs in results for f in fs)
    return BuildReport(str(out), written, len(paths) - len(todo), failed)


def _file_to_midi(path: Path, out: Path) -> tuple[int, list[tuple[str, str]]]:
    try:
        scores, problems = load_report(path)
    except ComposerError as e:
        return 0, [(str(path), e.problem)]
    failed = [(str(path), p.removeprefix(f"{path}: ")) for p in problems]
    written = 0
    for i, score in enumerate(scores):
        try:
            save_midi(score, out / f"{path.stem}-{i:03d}.mid")
            written += 1
        except ComposerError as e:
            failed.append((f"{path}#{i}", e.problem))
        except Exception as e:  # a writer bug must cost one tune, not the build
            failed.append((f"{path}#{i}", f"unexpected {type(e).__name__}: {e}"[:200]))
    atomic_write_text(out / f".{path.stem}.done", f"{written}\n")
    return written, failed


def build_bach(out: str | Path, limit: int | None = None) -> BuildReport:
    """Write music21's Bach chorales (371, Riemenschneider order) as `<out>/<bwv>.mid`, skipping existing ones."""
    from music21 import corpus

    out = Path(out)
    names = list(corpus.chorales.Iterator(returnType="filename"))[:limit]
    written = skipped = 0
    failed: list[tuple[str, str]] = []
    for name in names:
        dest = out / f"{name.split('/')[-1]}.mid"
        if dest.exists():
            skipped += 1
            continue
        try:
            score = stream_to_score(corpus.parse(name), source=name)
            save_midi(score, dest)
            written += 1
        except ComposerError as e:
            failed.append((name, e.problem))
        except Exception as e:  # music21 raises many types on odd encodings
            failed.append((name, f"{type(e).__name__}: {e}"[:200]))
    return BuildReport(str(out), written, skipped, tuple(failed))


def build_seeds(folder: str | Path = SEEDS, force: bool = False) -> BuildReport:
    """Write `<stem>.mid` next to each seed `<stem>.abc` (its first tune), skipping existing ones unless `force`."""
    folder = Path(folder)
    written = skipped = 0
    failed: list[tuple[str, str]] = []
    for abc in sorted(folder.glob("*.abc")):
        dest = abc.with_suffix(".mid")
        if dest.exists() and not force:
            skipped += 1
            continue
        try:
            save_midi(load(abc)[0], dest)
            written += 1
        except ComposerError as e:
            failed.append((str(abc), e.problem))
    return BuildReport(str(folder), written, skipped, tuple(failed))


def build(name: str, out: str | Path | None = None, midi: bool = False, force: bool = False) -> BuildReport:
    """Run one builder by name ('oneills', 'ryans', 'bach', 'seeds'); `out` is required except for seeds.

    Outputs already present are kept; `force` rewrites the seeds' MIDI (delete a folder to rebuild it).
    """
    if name not in BUILDERS:
        raise InputError(f"unknown corpus {name!r}; choose one of {', '.join(BUILDERS)}")
    if name == "seeds":
        return build_seeds(out or SEEDS, force=force)
    if out is None:
        raise InputError(f"corpus {name!r} needs an output folder (--out)")
    return copy_abc(name, out, midi=midi) if name in ABC_FOLDERS else build_bach(out)


def main(argv: list[str] | None = None) -> int:
    """`python -m composer.corpus.build NAME [OUT] [--midi] [--force]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    flags = {a for a in args if a.startswith("--")}
    rest = [a for a in args if not a.startswith("--")]
    if not rest:
        print(f"usage: python -m composer.corpus.build {{{','.join(BUILDERS)}}} [OUT] [--midi] [--force]")
        return 2
    try:
        report = build(rest[0], rest[1] if len(rest) > 1 else None, "--midi" in flags, "--force" in flags)
    except ComposerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    for src, reason in report.failed:
        print(f"  failed {src}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
