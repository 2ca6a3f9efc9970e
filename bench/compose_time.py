"""`composer compose` with no arguments, timed against earlier commits in the same run, and checked for the same music.

    python bench/compose_time.py [--base 9601a4e] [--before 738a956] [--repeats 3] [--rng-seed 1]

Each revision is checked out (git worktree, detached, under a temporary folder) and run as a fresh process with
this venv's Python, alternating revisions so a noisy machine slows them all alike. Prints the median wall time of
each, the ratio to each earlier revision, and whether this tree's .mid and .wav files are byte-identical to
`--before`'s for the same `--rng-seed` (the speed work must not change the music).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from composer.io import load
from composer.score import bar_starts

ROOT = Path(__file__).resolve().parents[1]


def checkout(rev: str, folder: Path) -> Path:
    """A detached worktree of `rev` under `folder` (the working tree itself for "HEAD" with local changes)."""
    if rev == "here":
        return ROOT
    tree = folder / rev
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True,
                   capture_output=True)
    return tree


def compose_once(tree: Path, out: Path, rng_seed: int) -> float:
    """Seconds for one `python -m composer compose --rng-seed S --out OUT`, run from `tree`."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "composer", "compose", "--rng-seed", str(rng_seed), "--out", str(out)],
                   cwd=tree, check=True, capture_output=True)
    return time.perf_counter() - start


def same_music(a: Path, b: Path) -> tuple[int, int]:
    """(identical, compared) .mid and .wav files between two compose outputs."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.suffix in (".mid", ".wav"))
    same = sum((b / f).exists() and (a / f).read_bytes() == (b / f).read_bytes() for f in files)
    return same, len(files)


def bars_written(out: Path) -> int:
    """Bars in the variations written (from their MIDI files), to compare revisions that compose different lengths."""
    return sum(len(bar_starts(load(p)[0])) for p in sorted(out.rglob("variation-*.mid")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="9601a4e", help="the commit the issue timed (11.9 s then)")
    parser.add_argument("--before", default="738a956", help="the commit before this speed work")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rng-seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        revs = {"base " + args.base: args.base, "before " + args.before: args.before, "this tree": "here"}
        trees = {name: checkout(rev, folder) for name, rev in revs.items()}
        try:
            times: dict[str, list[float]] = {name: [] for name in trees}
            for r in range(args.repeats):
                for name, tree in trees.items():
                    times[name].append(compose_once(tree, folder / f"out-{r}" / name.split()[0], args.rng_seed))
                    print(f"  run {r + 1}: {name:<16} {times[name][-1]:6.2f} s", flush=True)
            here = statistics.median(times["this tree"])
            print(f"\n{'revision':<18} {'median s':>9} {'bars':>6} {'this tree is':>14}")
            for name, t in times.items():
                bars = bars_written(folder / "out-0" / name.split()[0])
                print(f"{name:<18} {statistics.median(t):9.2f} {bars:6d} {statistics.median(t) / here:13.2f}x")
            same, total = same_music(folder / "out-0" / "this", folder / "out-0" / "before")
            print(f"\nsame music as {args.before} for --rng-seed {args.rng_seed}: {same}/{total} .mid/.wav files "
                  "byte-identical")
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                                   capture_output=True)


if __name__ == "__main__":
    main()
