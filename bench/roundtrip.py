"""Round-trip figures for issue 15 (bar lines in the right place): the share of real-world MIDI files
whose music survives decode(encode(score)) exactly in each scheme, and the share of tunes with a
pickup whose written MIDI puts every downbeat on a bar line.

    python bench/roundtrip.py [--random 400] [--chorales 371] [--oneills 2009] [--pickups 400]

"Exact" is judged against the score as read, not against `normalize(score)`: the same notes (pitch;
onset and length within one grid step: 1/12 beat for metric, 10 ms for performance) and the same bar
index and position for every note (tests/io/midi_makers.py, `mismatch`). The sets:

- random: files written with mido the way DAWs and notation programs write them (type 0/1, a conductor
  track, 480/960/1024 tpq, pickups as a short first bar, a padded bar or unmarked, leading rests,
  held chords of 20+ beats, four parts with unisons, melody + chords), seeded;
- chorales: music21's Bach chorales written to MIDI by composer's corpus builder (`build_bach`'s
  path: stream_to_score + save_midi) and by music21's own MIDI writer;
- oneills: O'Neill's tunes written by abc2midi (skipped when it is not installed).

Pickups: the bundled seed tunes and O'Neill's tunes with a pickup, read from ABC and written with
save_midi, read back by music21 (unquantised; the default quantiser is counted too): the first full bar must
start with the downbeat note at offset 0.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/io/midi_makers.py: the file writers and the comparison

from composer.errors import ComposerError  # noqa: E402
from composer.io import load, save_midi  # noqa: E402
from composer.tokenize import Tokenizer  # noqa: E402
from tests.io.midi_makers import mismatch, random_plan, write  # noqa: E402

SCHEMES = ("metric", "performance")


def exact_shares(files: list[Path], label: str) -> dict[str, float]:
    """Print and return the share of files each scheme round-trips exactly, with the first failures."""
    toks = {name: Tokenizer.create(name) for name in SCHEMES}
    exact, failures, repaired, read = Counter(), {name: [] for name in SCHEMES}, 0, 0
    for path in files:
        try:
            (score,) = load(path)
        except ComposerError as e:
            print(f"  unreadable: {e}")
            continue
        read += 1
        for name, tok in toks.items():
            problem = mismatch(score, tok.decode(tok.encode(score)), name)
            exact[name] += problem is None
            if problem and len(failures[name]) < 3:
                failures[name].append(f"{path.name}: {problem}")
        repaired += toks["performance"].normalize(score).metadata["overlaps_repaired"] > 0
    shares = {name: exact[name] / max(read, 1) for name in SCHEMES}
    print(f"{label}: {read} files; exact: " + ", ".join(f"{n} {exact[n]}/{read} ({100 * shares[n]:.2f} %)" for n in SCHEMES)
          + f"; files performance reports overlaps_repaired in: {repaired}")
    for name in SCHEMES:
        for line in failures[name]:
            print(f"    {name} ✗ {line}")
    return shares


def random_files(n: int, folder: Path) -> list[Path]:
    rng = random.Random(15)
    return [write(random_plan(rng), folder / f"plan-{i:04d}.mid") for i in range(n)]


def chorale_files(n: int, folder: Path, writer: str) -> list[Path]:
    """Chorales as MIDI, written by composer (stream_to_score + save_midi) or by music21 itself."""
    from music21 import corpus

    from composer.io.musicxml import stream_to_score

    out = []
    for name in list(corpus.chorales.Iterator(returnType="filename"))[:n]:
        dest = folder / f"{writer}-{name.split('/')[-1]}.mid"
        try:
            parsed = corpus.parse(name)
            if writer == "composer":
                save_midi(stream_to_score(parsed, name), dest)
            else:
                parsed.write("midi", fp=str(dest))
            out.append(dest)
        except Exception as e:  # music21 raises many types on odd encodings; count, don't stop
            print(f"  {writer} could not write {name}: {type(e).__name__}: {e}"[:160])
    return out


def abc2midi_files(n: int, folder: Path) -> list[Path]:
    """O'Neill's tunes written by abc2midi, one file per tune."""
    from music21 import corpus

    for abc in sorted(Path(p) for p in corpus.getPaths(fileExtensions=("abc",)) if "oneills1850" in str(p)):
        copy = shutil.copy(abc, folder / abc.name)  # abc2midi writes <stem><X:>.mid beside its input
        subprocess.run(["abc2midi", copy, "-silent", "-NGRA", "-NGUI"], capture_output=True, timeout=120, check=False)
    return sorted(folder.glob("*.mid"))[:n]


def pickup_tunes(n: int) -> list:
    """The bundled seed tunes and the first `n` of O'Neill's tunes that have a pickup, as Scores."""
    from music21 import corpus

    from composer.io import load_report

    tunes = [load(p)[0] for p in sorted((ROOT / "midi_corpus" / "seeds").glob("*.abc"))]
    for abc in sorted(Path(p) for p in corpus.getPaths(fileExtensions=("abc",)) if "oneills1850" in str(p)):
        if n <= 0:
            break
        picked = [t for t in load_report(abc)[0] if t.metadata.get("pickup_ticks")][:n]
        tunes += picked
        n -= len(picked)
    return tunes


def music21_downbeat(path: Path, tune, pickup: int, quantize: bool) -> bool:
    """Whether music21, reading the MIDI file (quantised to its 1/4·1/3-beat grid or not), starts the first full bar
    at the pickup's length with the downbeat note at offset 0."""
    from music21 import converter

    downbeat = next(n for n in tune.notes if n.start >= pickup)
    chord = max(n.pitch for n in tune.notes if n.start == downbeat.start)
    part = converter.parse(str(path), quantizePost=quantize).parts[0]
    bar = tune.time_signature.bar_beats if tune.time_signature else 4.0
    full = next((m for m in part.getElementsByClass("Measure") if abs(m.duration.quarterLength - bar) < 1e-6), None)
    first = full.notes.first() if full is not None else None
    return first is not None and abs(first.offset) < 1e-6 and max(p.midi for p in first.pitches) == chord \
        and abs(full.offset - pickup / tune.tpq) < 1e-6


def downbeats_on_bar_lines(tunes: list, folder: Path) -> float:
    """Share of tunes whose MIDI, read back by music21, starts its first full bar with the downbeat note (music21's
    unquantised reading; its default quantiser is counted too, and cannot hold 5- or 9-tuplet notes)."""
    import pretty_midi

    good, quantised, bad, beats = 0, 0, [], 0
    for i, tune in enumerate(tunes):
        path = save_midi(tune, folder / f"tune-{i}.mid")
        pickup = tune.metadata.get("pickup_ticks") or 0
        pm = pretty_midi.PrettyMIDI(str(path))
        bars = pm.get_downbeats()
        beats += abs(bars[1 if pickup else 0] - pm.tick_to_time(pickup * pm.resolution // tune.tpq)) < 1e-6
        ok = music21_downbeat(path, tune, pickup, quantize=False)
        on_grid = music21_downbeat(path, tune, pickup, quantize=True)
        good += ok
        quantised += on_grid
        if not on_grid and len(bad) < 3:
            bad.append(tune.title)
    share = good / max(len(tunes), 1)
    print(f"pickups: {good}/{len(tunes)} tunes ({100 * share:.1f} %) write MIDI whose first full bar starts on the "
          f"downbeat (music21 reading it back, unquantised)")
    print(f"         {quantised}/{len(tunes)} with music21's default quantiser (1/4 and 1/3 beat)"
          + (f"; not: {bad}" if bad else ""))
    print(f"         {beats}/{len(tunes)} have pretty_midi's first full-bar downbeat exactly on the first downbeat note")
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random", type=int, default=400, help="random files from other tools")
    parser.add_argument("--chorales", type=int, default=371, help="Bach chorales (per writer)")
    parser.add_argument("--oneills", type=int, default=2009, help="O'Neill tunes written by abc2midi")
    parser.add_argument("--pickups", type=int, default=400, help="O'Neill tunes with a pickup to write and check")
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        exact_shares(random_files(args.random, folder), "random files from other tools")
        if args.chorales:
            exact_shares(chorale_files(args.chorales, folder, "composer"), "chorales written by composer")
            exact_shares(chorale_files(args.chorales, folder, "music21"), "chorales written by music21")
        if args.oneills and shutil.which("abc2midi"):
            (folder / "abc2midi").mkdir()
            exact_shares(abc2midi_files(args.oneills, folder / "abc2midi"), "O'Neill tunes written by abc2midi")
        elif args.oneills:
            print("abc2midi is not installed (apt-get install abcmidi): O'Neill's MIDI set skipped")
        downbeats_on_bar_lines(pickup_tunes(args.pickups), folder)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
