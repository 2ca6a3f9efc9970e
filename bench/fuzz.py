"""The long fuzz run with figures: cases per family, outcomes, time per case, the slowest cases.

    python bench/fuzz.py                       # the long mode: 10,000 cases (as pytest --fuzz-long)
    python bench/fuzz.py --scale 0.1 --jobs 2  # a tenth of it, on two processes

Every case loads or raises a ComposerError; anything else is a crash, and a case over --hang
seconds a hang. Exits 1 when there is either. Cases are the tests' own (tests/fuzz_inputs.py), so a
case number reproduces: `make_case(family, i, midi, tunes)`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fuzz_inputs import make_case, midi_seeds, oneills_tunes, run_case  # noqa: E402

LONG_MODE = {"midi_mut": 4000, "midi_hostile": 2000, "abc_mut": 3000, "abc_random": 1000}  # = test_long_fuzz


def run_slice(family: str, cases: range, seed: int = 0) -> list[tuple[str, int, str, float, str]]:
    """(family, case, outcome, seconds, message) for each case of one slice of a family."""
    with tempfile.TemporaryDirectory() as tmp:
        midi, tunes = midi_seeds(Path(tmp), tunes=8), oneills_tunes(30)  # the seeds of tests/test_fuzz.py
        rows = []
        for i in cases:
            data, suffix = make_case(family, i, midi, tunes, seed)
            out = run_case(data, suffix, Path(tmp))
            rows.append((family, i, out.kind, out.seconds, out.message[:160]))
        return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="share of the long mode's cases to run")
    ap.add_argument("--jobs", type=int, default=2, help="processes")
    ap.add_argument("--seed", type=int, default=0, help="another seed gives 10,000 other cases")
    ap.add_argument("--hang", type=float, default=2.0, help="seconds past which a case counts as a hang")
    args = ap.parse_args()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    slices = [(f, range(a, min(a + 100, int(n * args.scale)))) for f, n in LONG_MODE.items()
              for a in range(0, int(n * args.scale), 100)]
    rows: list[tuple[str, int, str, float, str]] = []
    started = time.perf_counter()
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), "{task.fields[rate]:.0f} cases/s",
               TimeRemainingColumn())
    with ProcessPoolExecutor(args.jobs) as pool, Progress(*columns) as bar:
        task = bar.add_task("fuzz", total=sum(len(r) for _, r in slices), rate=0.0)
        for done in pool.map(run_slice, *zip(*slices, strict=True), [args.seed] * len(slices)):
            rows.extend(done)
            bar.update(task, advance=len(done), rate=len(rows) / (time.perf_counter() - started))
    wall = time.perf_counter() - started
    print(f"{len(rows):,} cases (seed {args.seed}) in {wall:.0f} s on {args.jobs} processes")
    print(f"{'family':<14}{'cases':>7}  {'median ms':>9}  {'max s':>6}  outcomes")
    for family in LONG_MODE:
        mine = [r for r in rows if r[0] == family]
        if mine:
            times = [r[3] for r in mine]
            kinds = ", ".join(f"{k} {n}" for k, n in Counter(r[2] for r in mine).most_common())
            print(f"{family:<14}{len(mine):>7}  {statistics.median(times) * 1e3:>9.1f}  {max(times):>6.2f}  {kinds}")
    crashes = [r for r in rows if r[2].startswith("CRASH")]
    hangs = [r for r in rows if r[3] > args.hang]
    print(f"crashes: {len(crashes)}; cases over {args.hang:g} s: {len(hangs)}")
    for r in sorted(rows, key=lambda r: -r[3])[:5]:
        print(f"  slowest: {r[0]} #{r[1]} {r[3]:.2f} s {r[2]}: {r[4][:100]}")
    for r in crashes[:20]:
        print(f"  CRASH {r[0]} #{r[1]}: {r[2]} {r[4]}")
    return 1 if crashes or hangs else 0


if __name__ == "__main__":
    sys.exit(main())
