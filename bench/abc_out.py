"""Do the .abc files composer writes read back as the .mid beside them? For every variation-NN.abc under
the given folders: abc2midi's MIDI and music21 (through composer.load) against the .mid, note F1 on
(onset in beats, pitch) — onsets to the beat for hornpipes, which abc2midi swings.

    python bench/abc_out.py compositions/reel compositions/jig …
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pretty_midi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import composer  # noqa: E402


def notes_of(path: Path, swing: bool) -> list[tuple[float, int]]:
    """(onset in beats, pitch) of every note of a MIDI file."""
    m = pretty_midi.PrettyMIDI(str(path))
    beat = (lambda t: float(int(t))) if swing else (lambda t: round(t * 12) / 12)  # abc2midi rounds triplets to its ticks
    return sorted((beat(m.time_to_tick(n.start) / m.resolution), n.pitch) for i in m.instruments for n in i.notes)


def f1(a: list, b: list) -> float:
    """F1 of two note lists as multisets: a note repeated within a beat counts each time it sounds."""
    common = sum((Counter(a) & Counter(b)).values())
    return 2 * common / max(len(a) + len(b), 1)


def main() -> None:
    files = sorted(p for folder in sys.argv[1:] for p in Path(folder).glob("variation-*.abc"))
    have_abc2midi = shutil.which("abc2midi") is not None
    parsed_a = parsed_m = good_a = good_m = 0
    with tempfile.TemporaryDirectory() as tmp:
        for abc in files:
            swing = "R:hornpipe" in abc.read_text()
            ours = notes_of(abc.with_suffix(".mid"), swing)
            out = Path(tmp) / f"{abc.parent.name}-{abc.stem}.mid"
            if have_abc2midi:
                run = subprocess.run(["abc2midi", str(abc), "-o", str(out), "-silent", "-NGRA", "-NGUI"],
                                     capture_output=True, timeout=30)
                if run.returncode == 0 and out.exists():
                    parsed_a += 1
                    good_a += f1(ours, notes_of(out, swing)) >= 0.99
            try:
                back = composer.load(abc)[0]
            except composer.ComposerError:
                continue
            parsed_m += 1
            mid = composer.load(abc.with_suffix(".mid"))[0]
            good_m += [(n.pitch, n.start * 480 // back.tpq) for n in back.notes] == [
                (n.pitch, n.start * 480 // mid.tpq) for n in mid.notes]
    n = len(files)
    print(f"{n} .abc files: abc2midi reads {parsed_a}/{n}, its notes match the .mid (F1 ≥ 0.99) in {good_a}/{n}; "
          f"music21 reads {parsed_m}/{n}, the very notes of the .mid in {good_m}/{n}")


if __name__ == "__main__":
    main()
